//! The directory file's format as parsed: the raw serde types of its TOML (`[[mailbox]]`,
//! `[[group]]` and `[[contact]]` tables; docs/directory.md), and the parse itself, cut into
//! pieces parsed in parallel for big files. Nothing here is checked beyond TOML and serde:
//! `build.rs` validates.

use std::collections::HashMap;

use serde::Deserialize;

use super::DirectoryFileError;
use crate::domain::{ByteSize, ExternalAudience};

/// A directory file: its three lists of objects, in file order.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) mailbox: Vec<RawEntry>,
    #[serde(default)]
    pub(super) group: Vec<RawEntry>,
    #[serde(default)]
    pub(super) contact: Vec<RawEntry>,
}

/// One object as written; which fields its kind may have is checked when building.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    pub(super) address: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) proxy_addresses: Vec<String>,
    // Mailboxes.
    pub(super) quota: Option<ByteSize>,
    pub(super) usage: Option<ByteSize>,
    pub(super) quota_enforced: Option<bool>,
    pub(super) max_send_size: Option<ByteSize>,
    pub(super) auto_reply: Option<RawAutoReply>,
    // Mailboxes, beyond Exchange.
    #[serde(default)]
    pub(super) send_from: Vec<RawSendFrom>,
    pub(super) forwarding_address: Option<String>,
    #[serde(default)]
    pub(super) shared: bool,
    #[serde(default)]
    pub(super) send_as: Vec<String>,
    #[serde(default)]
    pub(super) send_on_behalf: Vec<String>,
    // Groups.
    pub(super) members: Option<Vec<String>>,
    // Everyone.
    pub(super) max_receive_size: Option<ByteSize>,
    pub(super) custom_tip: Option<RawCustomTip>,
    #[serde(default)]
    pub(super) accept_only_from: Vec<String>,
    #[serde(default)]
    pub(super) reject_from: Vec<String>,
    #[serde(default)]
    pub(super) require_authenticated_senders: bool,
    pub(super) moderation: Option<RawModeration>,
}

/// A mailbox's `auto_reply` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAutoReply {
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    #[serde(default)]
    pub(super) internal: String,
    #[serde(default)]
    pub(super) external: String,
    #[serde(default)]
    pub(super) external_audience: ExternalAudience,
    pub(super) start: Option<toml::value::Datetime>,
    pub(super) end: Option<toml::value::Datetime>,
}

/// One `send_from` entry: an address in another domain the mailbox may send as.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSendFrom {
    pub(super) address: String,
    #[serde(default)]
    pub(super) outbound_gateway: bool,
}

/// A `custom_tip` table: the default text and translations by language code.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCustomTip {
    #[serde(default)]
    pub(super) default: String,
    #[serde(default)]
    pub(super) translations: HashMap<String, String>,
}

/// A `moderation` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModeration {
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    #[serde(default)]
    pub(super) moderators: Vec<String>,
    #[serde(default)]
    pub(super) bypass: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The headers at which a directory file may be cut into pieces that parse on their own.
const ENTRY_HEADERS: [&str; 3] = ["[[mailbox]]", "[[group]]", "[[contact]]"];
/// Entries per piece: small enough that one piece's TOML document tree is a few megabytes.
const ENTRIES_PER_PIECE: usize = 2048;

/// Parses the file's TOML into raw entries.
///
/// A big file is parsed in pieces cut at entry headers (`[[mailbox]]` alone on a line), on up
/// to four threads, so that start-up never holds the whole file's TOML document tree in
/// memory at once (at 100k mailboxes that tree, not the directory, set the peak RSS). The
/// pieces are used only when every one parses; on any error, or when the text before the
/// first header holds anything but comments, the whole text is parsed at once, so errors and
/// their line numbers are exactly those of the plain parse.
fn parse_raw(text: &str) -> Result<RawFile, toml::de::Error> {
    if let Some(pieces) = pieces(text) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4)
            .min(pieces.len());
        let per_thread = pieces.len().div_ceil(threads);
        let parsed: Vec<Result<RawFile, toml::de::Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pieces
                .chunks(per_thread)
                .map(|run| {
                    scope.spawn(move || {
                        let mut out = RawFile::default();
                        for piece in run {
                            let p: RawFile = toml::from_str(piece)?;
                            out.append(p);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("directory parser thread panicked"))
                .collect()
        });
        if parsed.iter().all(Result::is_ok) {
            let mut raw = RawFile::default();
            for p in parsed.into_iter().flatten() {
                raw.append(p);
            }
            return Ok(raw);
        }
    }
    toml::from_str(text)
}

/// The text cut before every `ENTRIES_PER_PIECE`-th entry header, or `None` when the file is
/// small or has content before its first header.
fn pieces(text: &str) -> Option<Vec<&str>> {
    let mut cuts = Vec::new();
    let mut headers = 0usize;
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if ENTRY_HEADERS.contains(&trimmed) {
            if headers > 0 && headers.is_multiple_of(ENTRIES_PER_PIECE) {
                cuts.push(offset);
            }
            headers += 1;
        } else if headers == 0 {
            let t = trimmed.trim_start();
            if !(t.is_empty() || t.starts_with('#')) {
                return None;
            }
        }
        offset += line.len();
    }
    if cuts.is_empty() {
        return None;
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        pieces.push(&text[start..cut]);
        start = cut;
    }
    pieces.push(&text[start..]);
    Some(pieces)
}

impl RawFile {
    fn append(&mut self, other: RawFile) {
        self.mailbox.extend(other.mailbox);
        self.group.extend(other.group);
        self.contact.extend(other.contact);
    }
}

/// Parses the file's TOML into raw entries; a TOML error names the file (`source`).
pub(super) fn parse_toml(text: &str, source: &str) -> Result<RawFile, DirectoryFileError> {
    parse_raw(text).map_err(|e| DirectoryFileError {
        path: source.to_owned(),
        entry: None,
        field: None,
        message: e.to_string().trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::file::Snapshot;
    use crate::domain::address::AddressRules;

    fn parse(s: &str) -> Result<Snapshot, DirectoryFileError> {
        Snapshot::parse(s, "dir.toml", AddressRules::default())
    }

    #[test]
    fn big_files_parse_in_pieces_to_the_same_directory() {
        let (text, _) = crate::tools::synth::generate(&crate::tools::synth::GenParams {
            mailboxes: 3 * ENTRIES_PER_PIECE,
            groups: 300,
            seed: 3,
        });
        assert!(pieces(&text).unwrap().len() > 2);
        let in_pieces = parse(&text).unwrap();
        let whole: RawFile = toml::from_str(&text).unwrap();
        let mut raw = parse_raw(&text).unwrap();
        assert_eq!(raw.mailbox.len(), whole.mailbox.len());
        assert_eq!(raw.group.len(), whole.group.len());
        assert_eq!(raw.contact.len(), whole.contact.len());
        for (a, b) in raw.mailbox.drain(..).zip(&whole.mailbox) {
            assert_eq!(a.address, b.address);
        }
        assert_eq!(
            in_pieces.len(),
            3 * ENTRIES_PER_PIECE + 300 + 3 * ENTRIES_PER_PIECE / 20
        );
        assert_eq!(in_pieces.graph.groups.len(), 300);

        // An error in a late piece is reported exactly as the plain parse reports it.
        let bad = format!("{text}[[mailbox]]\naddress = \"late@contoso.com\"\nqouta = 1\n");
        let plain = match toml::from_str::<RawFile>(&bad) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("the bad file parsed"),
        };
        assert_eq!(
            parse(&bad).unwrap_err().message,
            plain.trim_end().to_owned()
        );
        // Content before the first header: no pieces.
        assert!(pieces(&format!("x = 1\n{text}")).is_none());
    }
}
