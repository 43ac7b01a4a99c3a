//! Sender authorization from a real slapd, with both presets: the delegations of the auth
//! tests' directory exported to LDIF (`mailtipsSendAs` / `mailtipsSendOnBehalf`, or AD's
//! `publicDelegates`) must allow and deny exactly as the directory file does.

use std::sync::Arc;

use mailtips::directory::ldap::config::{Membership, Preset};
use mailtips::directory::{FileDirectory, LdapDirectory};

use crate::auth::{AuthServer, DIRECTORY, delegations};
use crate::support::jwt::SigningKey;
use crate::support::slapd::{BASE, Slapd};
use crate::support::*;

async fn delegations_from_slapd(preset: Preset, membership: Membership) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("directory.toml");
    std::fs::write(&path, DIRECTORY).unwrap();
    let file = Arc::new(FileDirectory::load(&path, Default::default()).unwrap());
    let ldif = mailtips::directory::ldap::ldif::export_with(
        &file.snapshot(),
        preset,
        BASE,
        membership == Membership::MemberOf,
    )
    .unwrap();
    assert!(
        ldif.contains(match preset {
            Preset::Openldap => "mailtipsSendOnBehalf: ",
            Preset::ActiveDirectory => "publicDelegates: ",
        }),
        "{ldif}"
    );
    let slapd = match membership {
        Membership::MemberOf => Slapd::start_member_of(preset, &ldif),
        _ => Slapd::start(preset, &ldif),
    };
    let mut lc = slapd.ldap_config(preset);
    lc.group_membership = membership;
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let key = SigningKey::es256("k1");
    let s = AuthServer::start_with(&[&key], "", "", |config| async move {
        TestServer::over_ldap(config, ldap).await
    })
    .await;
    delegations(&s, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegations_from_slapd_openldap_preset() {
    delegations_from_slapd(Preset::Openldap, Membership::Walk).await;
}

/// Delegations to groups with the caller's groups read with its entry (memberof overlay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegations_from_slapd_openldap_preset_member_of() {
    delegations_from_slapd(Preset::Openldap, Membership::MemberOf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegations_from_slapd_active_directory_preset() {
    delegations_from_slapd(Preset::ActiveDirectory, Membership::Walk).await;
}
