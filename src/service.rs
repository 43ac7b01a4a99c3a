//! The request path: resolves a validated draft against the directory in one batch, reads group
//! metrics from their cache, and hands the facts to the pure rules. Knows nothing of gRPC.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::directory::{Directory, DirectoryError, Lookup};
use crate::domain::Policy;
use crate::domain::authz::{self, Asker, Denial, Verdict};
use crate::domain::rules::{self, RecipientFacts, SenderFacts};
use crate::domain::{Draft, Entry, EntryId, EntryKind, Evaluation, TipKind};
use crate::metrics::MetricsStore;

/// A source of the current time, injectable for tests.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Evaluates drafts against one directory and one metrics cache.
pub struct MailTips<D> {
    directory: D,
    metrics: Arc<MetricsStore>,
    /// Swapped whole by a config reload; a draft is evaluated under one policy.
    policy: ArcSwap<Policy>,
    clock: Clock,
}

impl<D: Directory> MailTips<D> {
    pub fn new(directory: D, metrics: Arc<MetricsStore>, policy: Policy) -> Self {
        Self {
            directory,
            metrics,
            policy: ArcSwap::from_pointee(policy),
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Replaces the clock (tests).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The policy drafts are evaluated under now.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    /// Replaces the policy (a config reload); drafts already being evaluated finish under the
    /// old one.
    pub fn set_policy(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
    }

    /// Evaluates `draft` now, for a caller who may ask as anyone (authentication off, tests
    /// and benches). Directory failures never fail the call: the tips that needed the
    /// directory come back as pending.
    pub async fn evaluate(&self, draft: &Draft) -> Evaluation {
        match self.evaluate_as(Asker::Anyone, draft).await {
            Ok(e) => e,
            Err(_) => unreachable!("anyone may ask as any sender"),
        }
    }

    /// Evaluates `draft` now for `asker`, once it may ask as the draft's sender
    /// ([`crate::domain::authz`]). The caller's own address joins the draft's one batch
    /// lookup, so authorization costs no extra directory call unless the sender delegates to
    /// groups (then the caller's groups are asked for).
    ///
    /// # Errors
    /// [`Refusal`] when the caller may not ask as the sender, or the directory cannot say
    /// now whether it may (the one case where a directory failure fails a request: an
    /// authorization that cannot be checked is refused, never assumed).
    // Debug level: at the default `info` filter a span per request (with its formatted field)
    // was measurable on the request path.
    #[tracing::instrument(level = "debug", skip_all, fields(recipients = draft.recipients.len()))]
    pub async fn evaluate_as(
        &self,
        asker: Asker<'_>,
        draft: &Draft,
    ) -> Result<Evaluation, Refusal> {
        crate::telemetry::get().recipients(draft.recipients.len());
        let policy = self.policy.load();
        // One batch: the sender plus every distinct well-formed recipient address, borrowed
        // from the draft. Each address's place in the batch is kept, so it is hashed once.
        let mut numbering = rules::Numbering::with_capacity(draft.recipients.len() + 2);
        let sender_at = numbering.place(&draft.sender);
        let recipients_at: Vec<Option<usize>> = draft
            .recipients
            .iter()
            .map(|r| r.address().ok().map(|a| numbering.place(a)))
            .collect();
        let person_at = match asker {
            Asker::Person(a) if *a != draft.sender => Some(numbering.place(a)),
            _ => None,
        };
        // The map is not held across the lookup.
        let batch = numbering.into_order();
        // Per address: a cache may know some of the draft while the backend is down.
        let found = self.directory.lookup(&batch).await;
        // Borrowed: the draft's lookup outlives the evaluation. A backend that answered fewer
        // addresses than asked leaves the rest unknown.
        let answer = |at: usize| {
            found
                .get(at)
                .map_or(Cow::Owned(Lookup::Unknown), Cow::Borrowed)
        };
        self.authorize(
            asker,
            draft,
            &answer(sender_at),
            person_at.map(|at| answer(at).into_owned()),
        )
        .await?;
        let recipients: Vec<RecipientFacts> = recipients_at
            .iter()
            .map(|&at| {
                let resolution = at.map_or(Cow::Owned(Lookup::NotFound), answer);
                let metrics = match &*resolution {
                    Lookup::Found(e) if e.kind == EntryKind::Group => self.metrics.get_for(e),
                    _ => None,
                };
                RecipientFacts {
                    resolution,
                    metrics,
                }
            })
            .collect();

        let mut sender = SenderFacts {
            entry: match &*answer(sender_at) {
                Lookup::Found(e) => Some(e.clone()),
                _ => None,
            },
            lookup_failed: !matches!(
                found.get(sender_at),
                Some(Lookup::Found(_) | Lookup::NotFound)
            ),
            groups: None,
        };
        // The sender's groups are needed only when some recipient restricts or moderates.
        if let Some(entry) = &sender.entry {
            let needs_groups = policy.enabled.intersect(draft.wanted).iter().any(|k| {
                matches!(
                    k,
                    TipKind::RestrictedRecipient | TipKind::ModeratedRecipient
                )
            }) && recipients.iter().any(|f| match &*f.resolution {
                Lookup::Found(e) => has_sender_lists(e),
                _ => false,
            });
            if needs_groups {
                match self.groups_of(entry).await {
                    Ok(groups) => sender.groups = Some(groups),
                    Err(e) => {
                        tracing::warn!(error = %e, "sender's groups unknown; restrictions pending")
                    }
                }
            }
        }
        // A recipient's place in the batch is its place among the draft's distinct
        // addresses: the draft-level rules count by it.
        Ok(rules::evaluate_placed(
            &policy,
            draft,
            &sender,
            &recipients,
            &recipients_at,
            (self.clock)(),
        ))
    }

    /// Every group holding `entry`: as the lookup returned them with it when it did (no
    /// directory call), else from [`Directory::member_of`].
    async fn groups_of(&self, entry: &Entry) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
        match &entry.groups {
            Some(groups) => Ok(groups.clone()),
            None => self.directory.member_of(&entry.id).await,
        }
    }

    /// Whether `asker` may ask as the draft's sender, given the batch's answers for the
    /// sender and for the caller's own address; asks for the caller's groups only when the
    /// sender delegates to groups.
    async fn authorize(
        &self,
        asker: Asker<'_>,
        draft: &Draft,
        sender: &Lookup,
        caller: Option<Lookup>,
    ) -> Result<(), Refusal> {
        let caller = caller.unwrap_or(Lookup::NotFound);
        let verdict = match authz::authorize(asker, &draft.sender, sender, &caller, None) {
            Verdict::NeedsGroups => {
                let Lookup::Found(entry) = &caller else {
                    unreachable!("groups are asked for a caller in the directory only")
                };
                match self.groups_of(entry).await {
                    Ok(groups) => {
                        authz::authorize(asker, &draft.sender, sender, &caller, Some(&groups))
                    }
                    Err(_) => Verdict::Unknown,
                }
            }
            v => v,
        };
        match verdict {
            Verdict::Allowed => Ok(()),
            Verdict::Denied(d) => Err(Refusal::Denied(d)),
            Verdict::NeedsGroups | Verdict::Unknown => Err(Refusal::Unavailable),
        }
    }
}

/// Why a draft was not evaluated for its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not ask as the draft's sender.
    Denied(Denial),
    /// The directory cannot say now whether the caller may ask as the sender.
    Unavailable,
}

fn has_sender_lists(e: &Entry) -> bool {
    let r = e.restrictions();
    !r.accept_only_from.is_empty()
        || !r.reject_from.is_empty()
        || e.moderation.as_ref().is_some_and(|m| m.enabled)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::domain::address::Address;
    use crate::domain::rules::fixtures::{draft, policy};
    use crate::domain::{Moderation, ReplyAll, Restrictions};

    const TARO: &str = "taro@contoso.com";
    const KENJI: &str = "kenji@contoso.com";
    /// Accepts mail only from members of vips@contoso.com.
    const BOSS: &str = "boss@contoso.com";
    /// A moderated group.
    const LIST: &str = "list@contoso.com";
    const VIPS: &str = "vips@contoso.com";

    /// An in-memory directory that records what it is asked.
    struct Fake {
        entries: HashMap<String, Arc<Entry>>,
        /// Addresses answered `Unknown`.
        unknown: HashSet<&'static str>,
        /// The sender's groups; `None`: `member_of` fails.
        groups: Option<HashSet<EntryId>>,
        lookups: Mutex<Vec<Vec<String>>>,
        member_of: Mutex<Vec<EntryId>>,
    }

    impl Fake {
        fn new() -> Self {
            let entry = |a: &str, kind| Entry::new(a, kind, Address::parse(a).unwrap());
            let mut boss = entry(BOSS, EntryKind::Mailbox);
            boss.restrictions = Restrictions {
                accept_only_from: vec![EntryId::from(VIPS)],
                ..Restrictions::default()
            }
            .boxed();
            let mut list = entry(LIST, EntryKind::Group);
            list.moderation = Some(Box::new(Moderation {
                enabled: true,
                moderators: vec![EntryId::from("mod@contoso.com")],
                moderator_addresses: vec!["mod@contoso.com".into()],
                bypass: Vec::new(),
            }));
            let entries = [
                entry(TARO, EntryKind::Mailbox),
                entry(KENJI, EntryKind::Mailbox),
                boss,
                list,
            ];
            Self {
                entries: entries
                    .into_iter()
                    .map(|e| (e.primary.as_str().to_owned(), Arc::new(e)))
                    .collect(),
                unknown: HashSet::new(),
                groups: Some(HashSet::from([EntryId::from(VIPS)])),
                lookups: Mutex::default(),
                member_of: Mutex::default(),
            }
        }

        fn lookups(&self) -> Vec<Vec<String>> {
            self.lookups.lock().unwrap().clone()
        }

        fn member_of_calls(&self) -> usize {
            self.member_of.lock().unwrap().len()
        }
    }

    impl Directory for Fake {
        async fn lookup(&self, addresses: &[&Address]) -> Vec<Lookup> {
            self.lookups
                .lock()
                .unwrap()
                .push(addresses.iter().map(|a| a.as_str().to_owned()).collect());
            addresses
                .iter()
                .map(|a| match self.entries.get(a.as_str()) {
                    _ if self.unknown.contains(a.as_str()) => Lookup::Unknown,
                    Some(e) => Lookup::Found(e.clone()),
                    None => Lookup::NotFound,
                })
                .collect()
        }

        async fn member_of(&self, id: &EntryId) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
            self.member_of.lock().unwrap().push(id.clone());
            self.groups
                .clone()
                .map(Arc::new)
                .ok_or_else(|| DirectoryError::Unavailable("down".into()))
        }
    }

    fn tips(directory: Fake) -> MailTips<Fake> {
        MailTips::new(directory, Arc::default(), policy()).with_clock(Arc::new(|| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30)
        }))
    }

    fn kinds(tips: &[crate::domain::Tip]) -> Vec<TipKind> {
        tips.iter().map(|t| t.kind()).collect()
    }

    #[tokio::test]
    async fn one_batch_per_draft_with_the_sender_and_every_address_once() {
        let t = tips(Fake::new());
        let e = t
            .evaluate(&draft(
                TARO,
                &[
                    KENJI,
                    "Kenji@Contoso.com",
                    TARO,
                    "not an address",
                    "x@example.net",
                    KENJI,
                ],
            ))
            .await;
        assert_eq!(
            t.directory.lookups(),
            [[TARO, KENJI, "x@example.net"]],
            "one lookup: the sender first, each distinct well-formed address once"
        );
        assert_eq!(t.directory.member_of_calls(), 0);
        assert_eq!(e.recipients.len(), 6);
        for i in [0, 1, 2, 5] {
            assert_eq!(e.recipients[i].resolved, Some(EntryKind::Mailbox), "{i}");
        }
        assert_eq!(e.recipients[3].resolved, None);
        assert!(e.recipients.iter().all(|r| r.pending.is_empty()));
    }

    #[tokio::test]
    async fn whole_audience_above_the_cap_costs_the_one_batch_only() {
        let t = tips(Fake::new());
        let outside: Vec<String> = (0..300).map(|i| format!("p{i}@example.net")).collect();
        let mut to: Vec<&str> = outside.iter().map(String::as_str).collect();
        to.push(KENJI);
        let e = t.evaluate(&draft(TARO, &to)).await;
        assert!(!e.skipped.is_empty(), "above the per-mailbox cap");
        assert!(
            e.draft_tips
                .iter()
                .any(|tip| tip.kind() == TipKind::WholeAudience)
        );
        assert_eq!(
            t.directory.lookups().len(),
            1,
            "one batch lookup, nothing per recipient"
        );
        assert_eq!(t.directory.member_of_calls(), 0);
    }

    #[tokio::test]
    async fn sender_groups_are_asked_only_when_a_recipient_restricts_or_moderates() {
        let t = tips(Fake::new());
        t.evaluate(&draft(
            TARO,
            &[KENJI, "x@example.net", "nobody@contoso.com"],
        ))
        .await;
        assert_eq!(t.directory.member_of_calls(), 0, "nobody restricts");

        // A restricted recipient: the sender's groups (vips) let the mail through.
        let e = t.evaluate(&draft(TARO, &[KENJI, BOSS])).await;
        assert_eq!(
            *t.directory.member_of.lock().unwrap(),
            [EntryId::from(TARO)]
        );
        assert!(e.recipients[1].tips.is_empty() && e.recipients[1].pending.is_empty());

        // A moderated group: asked once more; the sender is no moderator.
        let e = t.evaluate(&draft(TARO, &[LIST])).await;
        assert_eq!(t.directory.member_of_calls(), 2);
        assert_eq!(kinds(&e.recipients[0].tips), [TipKind::ModeratedRecipient]);

        // Neither kind asked for: not asked.
        let mut d = draft(TARO, &[BOSS, LIST]);
        d.wanted = TipKind::ALL
            .into_iter()
            .filter(|k| {
                !matches!(
                    k,
                    TipKind::RestrictedRecipient | TipKind::ModeratedRecipient
                )
            })
            .collect();
        t.evaluate(&d).await;
        assert_eq!(t.directory.member_of_calls(), 2);

        // A sender the directory does not know has no groups to ask for.
        t.evaluate(&draft("stranger@contoso.com", &[BOSS])).await;
        assert_eq!(t.directory.member_of_calls(), 2);
        assert_eq!(t.directory.lookups().len(), 5);
    }

    #[tokio::test]
    async fn groups_returned_with_the_sender_cost_no_directory_call() {
        let mut fake = Fake::new();
        // No member_of answer: only the groups on the entry can let the mail through.
        fake.groups = None;
        let mut taro = (*fake.entries[TARO]).clone();
        taro.groups = Some(Arc::new(HashSet::from([EntryId::from(VIPS)])));
        fake.entries.insert(TARO.to_owned(), Arc::new(taro));
        let t = tips(fake);
        let e = t.evaluate(&draft(TARO, &[BOSS, LIST])).await;
        assert_eq!(t.directory.member_of_calls(), 0);
        let (boss, list) = (&e.recipients[0], &e.recipients[1]);
        assert!(boss.tips.is_empty() && boss.pending.is_empty(), "{boss:?}");
        assert_eq!(kinds(&list.tips), [TipKind::ModeratedRecipient]);
        assert!(!list.pending.contains(TipKind::ModeratedRecipient));
    }

    #[tokio::test]
    async fn unknown_answers_make_tips_pending() {
        let mut fake = Fake::new();
        fake.unknown = HashSet::from([TARO, KENJI]);
        let t = tips(fake);
        let mut d = draft(TARO, &[KENJI, BOSS]);
        d.reply_all = Some(ReplyAll {
            original: vec![Address::parse("other@contoso.com").unwrap()],
        });
        let e = t.evaluate(&d).await;
        let kenji = &e.recipients[0];
        assert_eq!(kenji.resolved, None);
        assert!(kenji.tips.is_empty());
        assert!(kenji.pending.contains(TipKind::InvalidInternalRecipient));
        assert!(kenji.pending.contains(TipKind::AutoReply));
        // The sender is unknown: the draft-level tip that needs the sender waits.
        assert!(e.draft_pending.contains(TipKind::ReplyAllOnBcc));
        // Boss restricts, but the sender's entry is unknown: pending, and no groups asked.
        assert!(
            e.recipients[1]
                .pending
                .contains(TipKind::RestrictedRecipient)
        );
        assert_eq!(t.directory.member_of_calls(), 0);
    }

    #[tokio::test]
    async fn a_failing_member_of_makes_restriction_pending() {
        let mut fake = Fake::new();
        fake.groups = None;
        let t = tips(fake);
        let e = t.evaluate(&draft(TARO, &[BOSS, LIST, KENJI])).await;
        assert_eq!(t.directory.member_of_calls(), 1);
        let (boss, list, kenji) = (&e.recipients[0], &e.recipients[1], &e.recipients[2]);
        assert!(boss.tips.is_empty());
        assert!(boss.pending.contains(TipKind::RestrictedRecipient));
        assert!(list.pending.contains(TipKind::ModeratedRecipient));
        assert!(!kinds(&list.tips).contains(&TipKind::ModeratedRecipient));
        assert!(
            kenji.pending.is_empty(),
            "unrestricted recipients are unaffected"
        );
        assert_eq!(boss.resolved, Some(EntryKind::Mailbox));
    }
}
