//! The request path: resolves a validated draft against the directory in one batch, reads group
//! metrics from their cache, and hands the facts to the pure rules. Knows nothing of gRPC.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::directory::{Directory, Lookup};
use crate::domain::Policy;
use crate::domain::address::Address;
use crate::domain::rules::{self, RecipientFacts, SenderFacts};
use crate::domain::{Draft, Entry, EntryKind, Evaluation, TipKind};
use crate::metrics::MetricsStore;

/// A source of the current time, injectable for tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Evaluates drafts against one directory and one metrics cache.
pub struct MailTips<D> {
    directory: D,
    metrics: Arc<MetricsStore>,
    policy: Policy,
    clock: Clock,
}

impl<D: Directory> MailTips<D> {
    pub fn new(directory: D, metrics: Arc<MetricsStore>, policy: Policy) -> Self {
        Self {
            directory,
            metrics,
            policy,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn directory(&self) -> &D {
        &self.directory
    }

    /// Evaluates `draft` now. Directory failures never fail the call: the tips that needed the
    /// directory come back as pending.
    // Debug level: at the default `info` filter a span per request (with its formatted field)
    // was measurable on the request path.
    #[tracing::instrument(level = "debug", skip_all, fields(recipients = draft.recipients.len()))]
    pub async fn evaluate(&self, draft: &Draft) -> Evaluation {
        // One batch: the sender plus every distinct well-formed recipient address.
        let mut index: HashMap<&Address, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(draft.recipients.len() + 1, Default::default());
        let mut batch: Vec<Address> = Vec::with_capacity(draft.recipients.len() + 1);
        for a in std::iter::once(&draft.sender).chain(
            draft
                .recipients
                .iter()
                .filter_map(|r| r.address.as_ref().ok()),
        ) {
            index.entry(a).or_insert_with(|| {
                batch.push(a.clone());
                batch.len() - 1
            });
        }
        // Per address: a cache may know some of the draft while the backend is down.
        let found = self.directory.lookup(&batch).await;
        let resolution = |a: &Address| match index.get(a).and_then(|&i| found.get(i)) {
            Some(found) => found.clone(),
            // A backend that answered fewer addresses than asked.
            None => Lookup::Unknown,
        };
        let recipients: Vec<RecipientFacts> = draft
            .recipients
            .iter()
            .map(|r| {
                let resolution = match &r.address {
                    Ok(a) => resolution(a),
                    Err(_) => Lookup::NotFound,
                };
                let metrics = match &resolution {
                    Lookup::Found(e) if e.kind == EntryKind::Group => self.metrics.get(&e.id),
                    _ => None,
                };
                RecipientFacts {
                    resolution,
                    metrics,
                }
            })
            .collect();

        let mut sender = SenderFacts {
            entry: match resolution(&draft.sender) {
                Lookup::Found(e) => Some(e),
                _ => None,
            },
            lookup_failed: !matches!(
                index.get(&draft.sender).and_then(|&i| found.get(i)),
                Some(Lookup::Found(_) | Lookup::NotFound)
            ),
            groups: None,
        };
        // The sender's groups are needed only when some recipient restricts or moderates.
        if let Some(entry) = &sender.entry {
            let needs_groups = self.policy.enabled.intersect(draft.wanted).iter().any(|k| {
                matches!(
                    k,
                    TipKind::RestrictedRecipient | TipKind::ModeratedRecipient
                )
            }) && recipients.iter().any(|f| match &f.resolution {
                Lookup::Found(e) => has_sender_lists(e),
                _ => false,
            });
            if needs_groups {
                match self.directory.member_of(&entry.id).await {
                    Ok(groups) => sender.groups = Some(groups),
                    Err(e) => {
                        tracing::warn!(error = %e, "sender's groups unknown; restrictions pending")
                    }
                }
            }
        }
        rules::evaluate(&self.policy, draft, &sender, &recipients, (self.clock)())
    }
}

fn has_sender_lists(e: &Entry) -> bool {
    !e.restrictions.accept_only_from.is_empty()
        || !e.restrictions.reject_from.is_empty()
        || e.moderation.as_ref().is_some_and(|m| m.enabled)
}
