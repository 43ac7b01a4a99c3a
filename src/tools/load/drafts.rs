//! The drafts a load run sends: an address book drawn from a directory file, a deterministic
//! mix of internal, unknown, external and group recipients, and the wire form of one request
//! for generic HTTP/2 tools.

use super::LoadError;
use crate::api::pb;
use crate::directory::file::Snapshot;
use crate::domain::EntryKind;
use crate::tools::synth::SplitMix64;

/// How the drafts are made.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftMix {
    /// Recipients per draft.
    pub recipients: usize,
    /// Share of recipients that are external (a contact or a one-off external address).
    pub external: f64,
    /// Share of internal addresses that no directory object has.
    pub unknown: f64,
    /// Share of recipients that are groups.
    pub group: f64,
    /// Distinct drafts to cycle through.
    pub pool: usize,
    /// `message_size_bytes` of every draft (0 = unknown).
    pub message_size: u64,
    pub seed: u64,
}

impl Default for DraftMix {
    fn default() -> Self {
        Self {
            recipients: 10,
            external: 0.1,
            unknown: 0.05,
            group: 0.1,
            pool: 1000,
            message_size: 0,
            seed: 1,
        }
    }
}

/// The addresses drafts are drawn from.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    pub mailboxes: Vec<String>,
    pub groups: Vec<String>,
    pub contacts: Vec<String>,
}

impl AddressBook {
    /// Every object's primary address, sorted so that a seed gives the same drafts each run.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut book = Self::default();
        for e in snapshot.objects() {
            let list = match e.kind {
                EntryKind::Mailbox => &mut book.mailboxes,
                EntryKind::Group => &mut book.groups,
                EntryKind::Contact => &mut book.contacts,
            };
            list.push(e.primary.as_str().to_owned());
        }
        book.mailboxes.sort();
        book.groups.sort();
        book.contacts.sort();
        book
    }

    /// `mix.pool` distinct requests.
    ///
    /// # Errors
    /// [`LoadError::Options`] when the book has no mailbox to send from.
    pub fn drafts(&self, mix: &DraftMix) -> Result<Vec<pb::GetMailTipsRequest>, LoadError> {
        if self.mailboxes.is_empty() {
            return Err(LoadError::Options(
                "the directory has no mailbox to send from".into(),
            ));
        }
        let mut rng = SplitMix64::new(mix.seed);
        let pick = |rng: &mut SplitMix64, v: &[String]| v[rng.below(v.len())].clone();
        let internal_domain = self.mailboxes[0]
            .rsplit_once('@')
            .map_or("contoso.com", |(_, d)| d)
            .to_owned();
        let mut drafts = Vec::with_capacity(mix.pool.max(1));
        for n in 0..mix.pool.max(1) {
            let sender = pick(&mut rng, &self.mailboxes);
            let recipients = (0..mix.recipients)
                .map(|j| {
                    let address = if rng.chance(mix.external) {
                        if !self.contacts.is_empty() && rng.chance(0.5) {
                            pick(&mut rng, &self.contacts)
                        } else {
                            format!("someone{}@external{}.example", rng.below(1_000_000), j % 7)
                        }
                    } else if rng.chance(mix.group) && !self.groups.is_empty() {
                        pick(&mut rng, &self.groups)
                    } else if rng.chance(mix.unknown) {
                        format!("nobody{n}.{j}@{internal_domain}")
                    } else {
                        pick(&mut rng, &self.mailboxes)
                    };
                    let field = match rng.below(10) {
                        0..=6 => pb::RecipientField::To,
                        7..=8 => pb::RecipientField::Cc,
                        _ => pb::RecipientField::Bcc,
                    };
                    pb::Recipient {
                        address,
                        field: field as i32,
                    }
                })
                .collect();
            drafts.push(pb::GetMailTipsRequest {
                sender,
                recipients,
                message_size_bytes: mix.message_size,
                ..Default::default()
            });
        }
        Ok(drafts)
    }
}

/// `request` as one gRPC message on the wire: a zero compression flag, the big-endian length,
/// then the protobuf bytes. What generic HTTP/2 tools (h2load) send as the body.
pub(crate) fn grpc_frame(request: &pb::GetMailTipsRequest) -> Vec<u8> {
    let body = prost::Message::encode_to_vec(request);
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_follow_the_mix() {
        let book = AddressBook {
            mailboxes: (0..100).map(|i| format!("m{i}@contoso.com")).collect(),
            groups: vec!["g@contoso.com".into()],
            contacts: vec!["c@partner.example".into()],
        };
        let mix = DraftMix {
            recipients: 50,
            pool: 20,
            external: 0.0,
            unknown: 0.0,
            group: 0.0,
            ..DraftMix::default()
        };
        let d = book.drafts(&mix).unwrap();
        assert_eq!(d.len(), 20);
        assert!(d.iter().all(|r| r.recipients.len() == 50));
        assert!(
            d.iter()
                .flat_map(|r| &r.recipients)
                .all(|r| book.mailboxes.contains(&r.address))
        );
        assert_eq!(d, book.drafts(&mix).unwrap(), "deterministic");
        let all_ext = book
            .drafts(&DraftMix {
                external: 1.0,
                ..mix.clone()
            })
            .unwrap();
        assert!(
            all_ext
                .iter()
                .flat_map(|r| &r.recipients)
                .all(|r| !r.address.ends_with("@contoso.com"))
        );
        assert!(AddressBook::default().drafts(&mix).is_err());
    }
}
