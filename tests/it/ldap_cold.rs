//! What a cold draft with restricted and moderated recipients costs in LDAP searches, and
//! that the cheaper ways give the same tips: the sender's groups read with its entry
//! (`group_membership = "member-of"`: the memberof overlay's direct groups, the nesting above
//! them from the backend's index) against the walk one nesting level per search, and every
//! uncached moderator of a draft in one search.
//! Through the real gRPC server backed by a real slapd, compared with the same organisation
//! from a directory file.

use mailtips::directory::LdapDirectory;
use mailtips::directory::file::Snapshot;
use std::io::Write as _;

use mailtips::directory::ldap::config::{Membership, Preset};
use mailtips::directory::ldap::ldif;
use mailtips::pb::{self, TipKind};

use crate::support::slapd::*;
use crate::support::*;

/// Nesting three deep with a loop (team-c holds team-a), restrictions naming the outer
/// groups, two moderated lists sharing a moderator, one bypassed by a nested group.
const ORG: &str = r#"
[[mailbox]]
address = "deep@contoso.com"
[[mailbox]]
address = "outsider@contoso.com"
[[mailbox]]
address = "mod1@contoso.com"
[[mailbox]]
address = "mod2@contoso.com"
[[mailbox]]
address = "mod3@contoso.com"
[[mailbox]]
address = "boss@contoso.com"
accept_only_from = ["team-a@contoso.com"]
[[mailbox]]
address = "shut@contoso.com"
reject_from = ["team-b@contoso.com"]

[[group]]
address = "team-a@contoso.com"
members = ["team-b@contoso.com", "mod1@contoso.com"]
[[group]]
address = "team-b@contoso.com"
members = ["team-c@contoso.com"]
[[group]]
address = "team-c@contoso.com"
members = ["deep@contoso.com", "team-a@contoso.com"]
[[group]]
address = "list1@contoso.com"
members = ["outsider@contoso.com"]
moderation = { moderators = ["mod1@contoso.com", "mod2@contoso.com"], bypass = ["team-b@contoso.com"] }
[[group]]
address = "list2@contoso.com"
members = ["outsider@contoso.com"]
moderation = { moderators = ["mod2@contoso.com", "mod3@contoso.com"] }
"#;

const TO: [&str; 4] = [
    "boss@contoso.com",
    "shut@contoso.com",
    "list1@contoso.com",
    "list2@contoso.com",
];

fn org_ldif(preset: Preset, member_of: bool) -> String {
    let snap = Snapshot::parse(ORG, "org", Default::default()).expect("org");
    ldif::export_with(&snap, preset, BASE, member_of).expect("export")
}

fn config() -> mailtips::config::Config {
    let mut c = demo_config();
    // No background metrics job: only the drafts' searches are counted.
    c.org.group_metrics_enabled = false;
    c
}

/// The restriction and moderation tips of each recipient, with the moderators named.
fn verdicts(r: &pb::GetMailTipsResponse) -> Vec<(String, Vec<i32>, Vec<String>)> {
    r.recipients
        .iter()
        .map(|x| {
            let mut kinds: Vec<i32> = x
                .tips
                .iter()
                .map(|t| t.kind)
                .filter(|k| {
                    *k == TipKind::RestrictedRecipient as i32
                        || *k == TipKind::ModeratedRecipient as i32
                })
                .collect();
            kinds.sort_unstable();
            let moderators = x
                .tips
                .iter()
                .find_map(|t| match &t.data {
                    Some(pb::mail_tip::Data::Moderated(m)) => Some(m.moderators.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            (x.address.clone(), kinds, moderators)
        })
        .collect()
}

async fn searches_for(
    server: &TestServer,
    ldap: &LdapDirectory,
    req: pb::GetMailTipsRequest,
) -> (u64, pb::GetMailTipsResponse) {
    let before = ldap.stats().searches;
    let resp = server.tips(req).await;
    (ldap.stats().searches - before, resp)
}

/// Both senders' drafts, cold, over LDAP with `membership`: the searches each cost, checked
/// against the file's tips.
async fn cold_drafts(preset: Preset, membership: Membership, slapd: &Slapd) -> Vec<u64> {
    let mut lc = slapd.ldap_config(preset);
    lc.group_membership = membership;
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let over_ldap = TestServer::over_ldap(config(), ldap.clone()).await;
    let over_file = TestServer::with_directory_file(config(), ORG).await;
    let mut costs = Vec::new();
    for sender in ["deep@contoso.com", "outsider@contoso.com"] {
        let (n, a) = searches_for(&over_ldap, &ldap, draft(sender, &TO)).await;
        let b = over_file.tips(draft(sender, &TO)).await;
        assert_eq!(
            verdicts(&a),
            verdicts(&b),
            "{preset:?} {membership:?}: {sender}"
        );
        for r in &a.recipients {
            assert!(
                !r.pending.contains(&(TipKind::RestrictedRecipient as i32))
                    && !r.pending.contains(&(TipKind::ModeratedRecipient as i32)),
                "{membership:?}: {r:?}"
            );
        }
        costs.push(n);
    }
    // What the file says, spelled out: deep is in team-a and team-b only through nesting.
    let deep = verdicts(&over_file.tips(draft("deep@contoso.com", &TO)).await);
    let moderated = TipKind::ModeratedRecipient as i32;
    let restricted = TipKind::RestrictedRecipient as i32;
    assert_eq!(deep[0].1, Vec::<i32>::new(), "boss accepts team-a");
    assert_eq!(deep[1].1, [restricted], "shut rejects team-b");
    assert_eq!(deep[2].1, Vec::<i32>::new(), "team-b bypasses list1");
    assert_eq!(deep[3].1, [moderated]);
    assert_eq!(deep[3].2, ["mod2@contoso.com", "mod3@contoso.com"]);
    costs
}

async fn member_of_costs_two_searches(preset: Preset) {
    let slapd = Slapd::start_member_of(preset, &org_ldif(preset, true));
    let member_of = cold_drafts(preset, Membership::MemberOf, &slapd).await;
    let walk = cold_drafts(preset, Membership::Walk, &slapd).await;
    eprintln!("{preset:?}: LDAP searches per cold draft, member-of {member_of:?}, walk {walk:?}");
    // slapd has no `distinguishedName` attribute of its own (it is the supertype of every DN
    // attribute, so the AD preset's search by DN finds the objects that *name* the
    // moderators): under slapd the AD preset's moderators fall back to a base search each.
    // Active Directory keeps every object's own DN in it.
    let moderators = match preset {
        Preset::Openldap => 1,
        Preset::ActiveDirectory => 1 + 3,
    };
    // The lookup, the nesting index (read on first use, then every group_nesting_refresh,
    // in the background) and the moderators; the second draft finds the recipients and
    // moderators cached and the sender's groups on its entry.
    assert_eq!(member_of, [1 + 1 + moderators, 1], "member-of");
    // The walk: + team-c, team-b, team-a, and the level that finds only team-c again; the
    // second: the lookup, + list1 and list2, and the level that finds nothing.
    assert_eq!(walk, [1 + moderators + 4, 3], "walk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_of_costs_two_searches_openldap_preset() {
    member_of_costs_two_searches(Preset::Openldap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_of_costs_two_searches_active_directory_preset() {
    member_of_costs_two_searches(Preset::ActiveDirectory).await;
}

/// Without the overlay (no `memberOf` values), `member-of` finds no groups on the entries and
/// walks: slower, never wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_of_without_the_overlay_falls_back_to_the_walk() {
    let slapd = Slapd::start(Preset::Openldap, &org_ldif(Preset::Openldap, false));
    let costs = cold_drafts(Preset::Openldap, Membership::MemberOf, &slapd).await;
    assert_eq!(costs, [6, 3]);
}

/// A moderator DN written differently from the server's spelling of it is not named back by
/// the one search by DN: it gets a base search of its own and is still named in the tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_dn_spelled_differently_is_still_resolved() {
    let ldif = org_ldif(Preset::Openldap, true);
    let exact = format!("mailtipsModeratedBy: cn=mod3@contoso.com,ou=people,{BASE}");
    assert!(ldif.contains(&exact), "{ldif}");
    let spaced = format!("mailtipsModeratedBy: cn=mod3@contoso.com, ou=people, {BASE}");
    let slapd = Slapd::start_member_of(Preset::Openldap, &ldif.replace(&exact, &spaced));
    let mut lc = slapd.ldap_config(Preset::Openldap);
    lc.group_membership = Membership::MemberOf;
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let server = TestServer::over_ldap(config(), ldap.clone()).await;
    let (n, r) = searches_for(&server, &ldap, draft("deep@contoso.com", &TO)).await;
    assert_eq!(verdicts(&r)[3].2, ["mod2@contoso.com", "mod3@contoso.com"]);
    assert_eq!(
        n, 4,
        "lookup, nesting index, moderators by DN, mod3 by base search"
    );
}

/// The overlay set-up docs/ldap.md gives is the one these tests and the scale script run.
#[test]
fn documented_overlay_is_the_tested_one() {
    let read = |p: &str| std::fs::read_to_string(repo(p)).unwrap();
    let (docs, script) = (read("docs/ldap.md"), read("scripts/ldap-scale-run.sh"));
    let fixture = read("tests/it/support/slapd.rs");
    for line in ["moduleload memberof", "overlay memberof", "--member-of"] {
        assert!(docs.contains(line), "{line}");
        assert!(script.contains(line), "{line}");
    }
    assert!(fixture.contains("moduleload memberof") && fixture.contains("overlay memberof"));
}

/// A group put into another over LDAP (the memberof overlay updating `memberOf`) shows in
/// tips once the nesting index is re-read: within `group_nesting_refresh` (1 s here), with
/// the entry cache's TTL cut to match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_changes_show_within_the_refresh() {
    let slapd = Slapd::start_member_of(Preset::Openldap, &org_ldif(Preset::Openldap, true));
    let mut lc = slapd.ldap_config(Preset::Openldap);
    lc.group_membership = Membership::MemberOf;
    lc.group_nesting_refresh = std::time::Duration::from_secs(1);
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let mut c = config();
    c.directory.cache.positive_ttl = std::time::Duration::from_millis(100);
    let server = TestServer::over_ldap(c, ldap).await;
    let boss = || async {
        verdicts(&server.tips(draft("outsider@contoso.com", &TO[..1])).await)[0]
            .1
            .clone()
    };
    assert_eq!(boss().await, [TipKind::RestrictedRecipient as i32]);
    // list1 (which holds outsider) goes into team-a, which boss accepts.
    let change = format!(
        "dn: cn=team-a@contoso.com,ou=groups,{BASE}\nchangetype: modify\nadd: member\n\
         member: cn=list1@contoso.com,ou=groups,{BASE}\n"
    );
    let mut child = std::process::Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &slapd.url,
            "-D",
            &format!("cn=admin,{BASE}"),
            "-w",
        ])
        .arg("admin-secret")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ldapmodify (ldap-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(change.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let accepted = eventually(std::time::Duration::from_secs(20), || async {
        boss().await.is_empty()
    })
    .await;
    assert!(accepted.is_some(), "the new nesting never showed");
}
