//! Synthetic organisations for scale and load tests: `mailtips gen-directory` writes a
//! deterministic directory of a chosen size in the embedded TOML format (docs/directory.md), so
//! the same seed always gives the same file, loadable by the file backend and, later, by
//! `export-ldif`.
//!
//! The shape, for `mailboxes` people and `groups` groups:
//! - `all-staff@` holds every division; divisions (up to 8) hold departments; every mailbox is
//!   in exactly one department (so departments have `mailboxes / (0.3 × groups)` members,
//!   divisions over 10,000 members at 100k mailboxes, and all-staff everyone);
//! - the remaining groups are teams of 3–40 random mailboxes, some with contacts, one-off
//!   external addresses, a nested team (loops included) or a whole department;
//! - shares of mailboxes with automatic replies (HTML and plain, some scheduled), full and
//!   non-enforced quotas, size limits, custom tips (with Japanese translations), accept-only /
//!   reject lists and authenticated-sender requirements; some groups moderated or restricted;
//! - one contact per 20 mailboxes, at partner domains.

use std::fmt::Write as _;

/// The accepted domain of generated organisations.
pub const DOMAIN: &str = "contoso.com";

/// `mailtips gen-directory`: write a deterministic synthetic organisation.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    pub mailboxes: usize,
    #[arg(long, default_value_t = 10_000)]
    pub groups: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The directory file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Also write a config file that serves it (contoso.com internal).
    #[arg(long)]
    pub config_out: Option<std::path::PathBuf>,
}

/// Runs `mailtips gen-directory`.
///
/// # Errors
/// A file that cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let params = GenParams {
        mailboxes: args.mailboxes,
        groups: args.groups,
        seed: args.seed,
    };
    let (text, stats) = generate(&params);
    std::fs::write(&args.out, text)
        .with_context(|| format!("while writing {}", args.out.display()))?;
    if let Some(config) = &args.config_out {
        let dir = std::path::absolute(&args.out).context("while resolving --out")?;
        std::fs::write(config, config_for(&dir.display().to_string()))
            .with_context(|| format!("while writing {}", config.display()))?;
    }
    println!("wrote {}: {stats}", args.out.display());
    Ok(())
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenParams {
    pub mailboxes: usize,
    pub groups: usize,
    pub seed: u64,
}

/// Counts of what was generated, for the command's summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenStats {
    pub mailboxes: usize,
    pub groups: usize,
    pub contacts: usize,
    pub auto_replies: usize,
    pub full_mailboxes: usize,
    pub moderated_groups: usize,
    pub restricted: usize,
    pub custom_tips: usize,
}

impl std::fmt::Display for GenStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self;
        let (m, g, c, ar) = (s.mailboxes, s.groups, s.contacts, s.auto_replies);
        let (full, md) = (s.full_mailboxes, s.moderated_groups);
        let (r, ct) = (s.restricted, s.custom_tips);
        write!(f, "{m} mailboxes, {g} groups, {c} contacts, ")?;
        write!(f, "{ar} automatic replies, {full} full mailboxes, ")?;
        write!(f, "{md} moderated groups, {r} restricted, ")?;
        write!(f, "{ct} custom tips")
    }
}

/// A small deterministic generator (SplitMix64): stable across platforms and releases, which
/// a general-purpose RNG crate does not promise.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

const GIVEN: [&str; 24] = [
    "taro", "hanako", "kenji", "yuki", "akiko", "hiroshi", "naomi", "satoshi", "emi", "daisuke",
    "mai", "kazuki", "anna", "james", "maria", "wei", "olivia", "lucas", "sofia", "noah", "mina",
    "ravi", "elena", "omar",
];
const FAMILY: [&str; 20] = [
    "yamada",
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "ito",
    "watanabe",
    "nakamura",
    "kobayashi",
    "kato",
    "smith",
    "garcia",
    "muller",
    "rossi",
    "chen",
    "kim",
    "nguyen",
    "silva",
    "novak",
    "haddad",
];
const FAMILY_JA: [&str; 20] = [
    "山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤", "Smith",
    "García", "Müller", "Rossi", "Chen", "Kim", "Nguyen", "Silva", "Novák", "Haddad",
];

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The primary address of generated mailbox `i`.
pub fn mailbox_address(i: usize) -> String {
    format!(
        "{}.{}{i}@{DOMAIN}",
        GIVEN[i % GIVEN.len()],
        FAMILY[(i / GIVEN.len()) % FAMILY.len()]
    )
}

fn contact_address(i: usize) -> String {
    format!("ext{i}@partner{}.example", i % 50)
}

fn group_address(name: &str) -> String {
    format!("{name}@{DOMAIN}")
}

/// TOML basic string literal of `s`.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list<I: IntoIterator<Item = String>>(items: I) -> String {
    let mut out = String::from("[");
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&q(&s));
    }
    out.push(']');
    out
}

/// The group layout: names and how many of each level.
struct Layout {
    divisions: usize,
    departments: usize,
    teams: usize,
}

impl Layout {
    fn new(p: &GenParams) -> Self {
        if p.groups == 0 {
            return Self {
                divisions: 0,
                departments: 0,
                teams: 0,
            };
        }
        let rest = p.groups - 1;
        let divisions = (p.groups / 1250).clamp(1, 8).min(rest);
        let departments = (p.groups * 3 / 10).max(1).min(rest - divisions);
        let teams = rest - divisions - departments;
        Self {
            divisions,
            departments,
            teams,
        }
    }

    fn department_of(&self, mailbox: usize) -> Option<usize> {
        (self.departments > 0).then(|| mailbox % self.departments)
    }
}

fn division_name(k: usize) -> String {
    group_address(&format!("division-{k}"))
}
fn department_name(d: usize) -> String {
    group_address(&format!("dept-{d}"))
}
fn team_name(t: usize) -> String {
    group_address(&format!("team-{t}"))
}

const AUTO_REPLY_HTML: &str = "<html><body><p>お疲れ様です。出張のため、メールの確認が遅れます。\
お急ぎの件はチームの共有アドレスまでご連絡ください。</p><p>I am travelling this week and will read \
mail with a delay. For anything urgent please contact my team &lt;team@contoso.com&gt;. Thank you \
for your patience &amp; understanding; I will answer every message when I am back in the office.</p>\
</body></html>";
const AUTO_REPLY_PLAIN: &str = "I am out of the office until Monday and will reply when I am back.";
const AUTO_REPLY_EXTERNAL: &str =
    "<p>Thank you for your message. I am out of the office and will reply on my return.</p>";

/// Generates the organisation as the text of a directory file.
pub fn generate(p: &GenParams) -> (String, GenStats) {
    let mut rng = SplitMix64::new(p.seed);
    let layout = Layout::new(p);
    let contacts = p.mailboxes / 20;
    let mut stats = GenStats {
        mailboxes: p.mailboxes,
        groups: p.groups,
        contacts,
        ..GenStats::default()
    };
    let mut out = String::with_capacity(p.mailboxes * 120 + p.groups * 400);
    let _ = writeln!(
        out,
        "# Synthetic organisation: {} mailboxes, {} groups, {} contacts, seed {}.\n\
         # Generated by `mailtips gen-directory`; format: docs/directory.md.\n",
        p.mailboxes, p.groups, contacts, p.seed
    );

    // Mailboxes.
    for i in 0..p.mailboxes {
        let given = GIVEN[i % GIVEN.len()];
        let fam = (i / GIVEN.len()) % FAMILY.len();
        let _ = writeln!(out, "[[mailbox]]\naddress = {}", q(&mailbox_address(i)));
        let _ = writeln!(
            out,
            "name = {}",
            q(&format!("{} {} {i}", FAMILY_JA[fam], capitalised(given)))
        );
        if rng.chance(0.3) {
            let _ = writeln!(out, "proxy_addresses = [{}]", q(&format!("u{i}@{DOMAIN}")));
        }
        if rng.chance(0.1) {
            let quota: u64 = 2 << 30;
            let full = rng.chance(0.2);
            let usage = if full { quota } else { quota / 2 };
            let enforced = !(full && rng.chance(0.1));
            if full && enforced {
                stats.full_mailboxes += 1;
            }
            let _ = writeln!(out, "quota = {quota}\nusage = {usage}");
            if !enforced {
                out.push_str("quota_enforced = false\n");
            }
        }
        if rng.chance(0.03) {
            out.push_str("max_send_size = \"20MB\"\n");
        }
        if rng.chance(0.03) {
            out.push_str("max_receive_size = \"10MB\"\n");
        }
        if rng.chance(0.01) {
            out.push_str("require_authenticated_senders = true\n");
            stats.restricted += 1;
        }
        if rng.chance(0.005) {
            if let Some(d) = layout.department_of(i) {
                let _ = writeln!(out, "accept_only_from = [{}]", q(&department_name(d)));
                stats.restricted += 1;
            }
        } else if rng.chance(0.005) && p.mailboxes > 1 {
            let other = rng.below(p.mailboxes);
            if other != i {
                let _ = writeln!(out, "reject_from = [{}]", q(&mailbox_address(other)));
                stats.restricted += 1;
            }
        }
        if rng.chance(0.05) {
            stats.auto_replies += 1;
            out.push_str("[mailbox.auto_reply]\n");
            let internal = if rng.chance(0.5) {
                AUTO_REPLY_HTML
            } else {
                AUTO_REPLY_PLAIN
            };
            let _ = writeln!(out, "internal = {}", q(internal));
            match rng.below(3) {
                0 => {}
                1 => {
                    let _ = writeln!(
                        out,
                        "external = {}\nexternal_audience = \"known\"",
                        q(AUTO_REPLY_EXTERNAL)
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "external = {}\nexternal_audience = \"all\"",
                        q(AUTO_REPLY_EXTERNAL)
                    );
                }
            }
            match rng.below(4) {
                0 => out.push_str(
                    "start = 2026-01-01T09:00:00+09:00\nend = 2036-01-01T09:00:00+09:00\n",
                ),
                1 => out.push_str("start = 2020-01-01T00:00:00Z\nend = 2020-01-08T00:00:00Z\n"),
                _ => {}
            }
        }
        if rng.chance(0.01) {
            stats.custom_tips += 1;
            let _ = writeln!(
                out,
                "[mailbox.custom_tip]\ndefault = {}",
                q(&format!(
                    "Mailbox {i} is shared by a team; expect an answer within one business day."
                ))
            );
            if rng.chance(0.5) {
                let _ = writeln!(
                    out,
                    "translations = {{ ja = {} }}",
                    q("このメールボックスはチームで共有しています。1営業日以内に回答します。")
                );
            }
        }
        out.push('\n');
    }

    // Contacts.
    for c in 0..contacts {
        let _ = writeln!(
            out,
            "[[contact]]\naddress = {}\nname = {}",
            q(&contact_address(c)),
            q(&format!("Partner contact {c}"))
        );
        if rng.chance(0.02) {
            stats.custom_tips += 1;
            let _ = writeln!(
                out,
                "[contact.custom_tip]\ndefault = {}",
                q("This contact is outside the organisation.")
            );
        }
        out.push('\n');
    }

    if p.groups == 0 {
        return (out, stats);
    }

    let moderation = |out: &mut String, rng: &mut SplitMix64, bypass: Option<String>| {
        if p.mailboxes == 0 {
            return;
        }
        let moderators = (0..1 + rng.below(2))
            .map(|_| mailbox_address(rng.below(p.mailboxes)))
            .collect::<Vec<_>>();
        let _ = writeln!(out, "[group.moderation]\nmoderators = {}", list(moderators));
        if let Some(b) = bypass {
            let _ = writeln!(out, "bypass = [{}]", q(&b));
        }
    };

    // all-staff: every division.
    let _ = writeln!(
        out,
        "[[group]]\naddress = {}\nname = \"全社員 All staff\"\nmembers = {}\nrequire_authenticated_senders = true",
        q(&group_address("all-staff")),
        list((0..layout.divisions).map(division_name))
    );
    stats.moderated_groups += 1;
    stats.restricted += 1;
    moderation(&mut out, &mut rng, Some(division_name(0)));
    out.push('\n');

    // Divisions: their departments.
    for k in 0..layout.divisions {
        let _ = writeln!(
            out,
            "[[group]]\naddress = {}\nname = {}\nmembers = {}\n",
            q(&division_name(k)),
            q(&format!("Division {k}")),
            list(
                (k..layout.departments)
                    .step_by(layout.divisions)
                    .map(department_name)
            )
        );
    }

    // Departments: their mailboxes.
    for d in 0..layout.departments {
        let _ = writeln!(
            out,
            "[[group]]\naddress = {}\nname = {}\nmembers = {}",
            q(&department_name(d)),
            q(&format!("Department {d}")),
            list(
                (d..p.mailboxes)
                    .step_by(layout.departments)
                    .map(mailbox_address)
            )
        );
        if rng.chance(0.02) {
            stats.custom_tips += 1;
            let _ = writeln!(
                out,
                "[group.custom_tip]\ndefault = {}\ntranslations = {{ ja = {} }}",
                q(&format!(
                    "Department {d}: please use the ticket system for requests."
                )),
                q("依頼はチケットシステムからお願いします。")
            );
        }
        if rng.chance(0.05) {
            stats.moderated_groups += 1;
            moderation(&mut out, &mut rng, None);
        }
        out.push('\n');
    }

    // Teams: random mailboxes, contacts, externals, nested teams and departments.
    for t in 0..layout.teams {
        let mut members: Vec<String> = Vec::new();
        if p.mailboxes > 0 {
            for _ in 0..3 + rng.below(38) {
                members.push(mailbox_address(rng.below(p.mailboxes)));
            }
        }
        if contacts > 0 && rng.chance(0.2) {
            for _ in 0..1 + rng.below(3) {
                members.push(contact_address(rng.below(contacts)));
            }
        }
        if rng.chance(0.1) {
            for j in 0..1 + rng.below(2) {
                members.push(format!("guest{t}-{j}@external{}.example", t % 17));
            }
        }
        if layout.teams > 1 && rng.chance(0.15) {
            // Any other team, earlier or later: nesting loops happen, as in real directories.
            members.push(team_name(rng.below(layout.teams)));
        }
        if layout.departments > 0 && rng.chance(0.05) {
            members.push(department_name(rng.below(layout.departments)));
        }
        members.sort();
        members.dedup();
        let _ = writeln!(
            out,
            "[[group]]\naddress = {}\nname = {}\nmembers = {}",
            q(&team_name(t)),
            q(&format!("Team {t}")),
            list(members)
        );
        if layout.teams > 1 && rng.chance(0.03) {
            stats.restricted += 1;
            let _ = writeln!(
                out,
                "accept_only_from = [{}]",
                q(&team_name(rng.below(layout.teams)))
            );
        } else if rng.chance(0.02) {
            stats.restricted += 1;
            out.push_str("require_authenticated_senders = true\n");
        }
        if rng.chance(0.02) {
            stats.custom_tips += 1;
            let _ = writeln!(
                out,
                "[group.custom_tip]\ndefault = {}",
                q(&format!(
                    "Team {t} works across time zones; replies may take a day."
                ))
            );
        }
        if rng.chance(0.05) {
            stats.moderated_groups += 1;
            let bypass =
                (layout.departments > 0).then(|| department_name(rng.below(layout.departments)));
            moderation(&mut out, &mut rng, bypass);
        }
        out.push('\n');
    }
    (out, stats)
}

/// A config file for a generated directory: the demo settings with `contoso.com` internal and
/// `directory.file` pointing at `directory_file`.
pub(crate) fn config_for(directory_file: &str) -> String {
    format!(
        "# Config for a directory written by `mailtips gen-directory`.\n\
         [directory]\nfile = {}\n\n[org]\nexternal_recipient_tips = true\n\
         max_message_size = \"25MB\"\n\
         internal_domains = [{{ domain = \"{DOMAIN}\", include_subdomains = true }}]\n",
        q(directory_file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::file::Snapshot;
    use crate::directory::{FileDirectory, GroupSource};

    #[test]
    fn deterministic_and_loadable() {
        let p = GenParams {
            mailboxes: 2_000,
            groups: 200,
            seed: 7,
        };
        let (a, stats) = generate(&p);
        let (b, _) = generate(&p);
        assert_eq!(a, b, "same seed, same file");
        assert_ne!(a, generate(&GenParams { seed: 8, ..p }).0);
        let snap = Snapshot::parse(&a, "gen", Default::default()).unwrap();
        assert_eq!(snap.len(), p.mailboxes + p.groups + stats.contacts);
        assert!(stats.auto_replies > 0 && stats.full_mailboxes > 0 && stats.custom_tips > 0);
        assert!(stats.moderated_groups > 0 && stats.restricted > 0);
    }

    #[tokio::test]
    async fn has_large_and_huge_groups() {
        let p = GenParams {
            mailboxes: 30_000,
            groups: 3_000,
            seed: 1,
        };
        let (text, _) = generate(&p);
        let dir = FileDirectory::from_snapshot(
            Snapshot::parse(&text, "gen", Default::default()).unwrap(),
        );
        let m = crate::domain::groups::compute(&dir.group_graph().await.unwrap());
        assert_eq!(m.len(), p.groups);
        let all = m[&crate::domain::EntryId::from("all-staff@contoso.com")];
        assert_eq!(all.total_members as usize, p.mailboxes);
        assert!(m.values().filter(|g| g.total_members > 25).count() > 100);
        assert!(m.values().any(|g| g.external_members > 0));
    }
}
