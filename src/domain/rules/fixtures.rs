//! Test fixtures shared by the rules' unit tests (and, for the policy and drafts, the request
//! path's): an organisation (contoso.com internal with its
//! subdomains, fabrikam.com remote and internal), entries, drafts, resolved facts, and helpers
//! that evaluate one recipient.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{RecipientFacts, SenderFacts, evaluate};
use crate::domain::address::{Address, AddressRules};
use crate::domain::policy::{DomainRule, Policy, RemoteDomain};
use crate::domain::{
    AutoReply, Draft, DraftRecipient, Entry, EntryKind, ExternalAudience, Field, GroupMetrics,
    Locale, Lookup, ReceiptPolicy, RecipientResult, TipKind, TipSet,
};

const T0: u64 = 1_800_000_000;

pub(super) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0)
}

pub(crate) fn policy() -> Policy {
    Policy {
        enabled: TipSet::ALL,
        large_audience_threshold: 25,
        per_mailbox_cap: 200,
        max_message_bytes: Some(25_000_000),
        refresh_interval: Duration::from_secs(2 * 3600),
        group_metrics: true,
        addresses: AddressRules::default(),
        internal_domains: vec![DomainRule {
            domain: "contoso.com".into(),
            include_subdomains: true,
        }],
        remote_domains: vec![RemoteDomain {
            domain: "fabrikam.com".into(),
            include_subdomains: false,
            internal: true,
        }],
        whole_audience_threshold: 25,
        visible_recipients_threshold: 15,
        read_receipts: ReceiptPolicy::All,
        receipt_allowlist: Vec::new(),
        per_user_outbound_gateways: false,
    }
}

pub(super) fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub(super) fn entry(a: &str, kind: EntryKind) -> Entry {
    let mut e = Entry::new(a, kind, addr(a));
    e.display_name = a.split('@').next().unwrap().into();
    e
}

pub(crate) fn draft(sender: &str, recipients: &[&str]) -> Draft {
    Draft {
        sender: addr(sender),
        recipients: recipients
            .iter()
            .map(|r| DraftRecipient::new((*r).into(), Field::To, AddressRules::default()))
            .collect(),
        message_size: 0,
        reply_all: None,
        wanted: TipSet::ALL,
        locale: Locale::default(),
        read_receipt_requested: false,
    }
}

pub(super) fn found(e: Entry) -> RecipientFacts<'static> {
    RecipientFacts {
        resolution: Cow::Owned(Lookup::Found(Arc::new(e))),
        metrics: None,
    }
}

pub(super) fn group(e: Entry, total: u32, external: u32) -> RecipientFacts<'static> {
    RecipientFacts {
        resolution: Cow::Owned(Lookup::Found(Arc::new(e))),
        metrics: Some(GroupMetrics {
            total_members: total,
            external_members: external,
        }),
    }
}

pub(super) fn not_found() -> RecipientFacts<'static> {
    RecipientFacts {
        resolution: Cow::Owned(Lookup::NotFound),
        metrics: None,
    }
}

pub(crate) fn sender_entry(a: &str) -> SenderFacts {
    SenderFacts {
        entry: Some(Arc::new(entry(a, EntryKind::Mailbox))),
        lookup_failed: false,
        groups: Some(Arc::default()),
    }
}

pub(super) fn eval1(d: &Draft, s: &SenderFacts, f: RecipientFacts) -> RecipientResult {
    evaluate(&policy(), d, s, &[f], now()).recipients.remove(0)
}

pub(super) fn kinds(r: &RecipientResult) -> Vec<TipKind> {
    r.tips.iter().map(|t| t.kind()).collect()
}

pub(super) const ME: &str = "me@contoso.com";

pub(super) fn away(internal: &str, external: &str, audience: ExternalAudience) -> Entry {
    let mut e = entry("away@contoso.com", EntryKind::Mailbox);
    e.auto_reply = Some(Box::new(AutoReply {
        enabled: true,
        internal_message: internal.into(),
        external_message: external.into(),
        external_audience: audience,
        start: None,
        end: None,
    }));
    e
}
