//! Administrators' commands: `check-config` (a config file, its directory file, or that its
//! LDAP directory answers), `metrics` (group metrics computed once and written back to LDAP)
//! and `export-ldif` (a directory file as LDIF for slapadd or ldapadd).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::api::server::Backend;
use crate::config::Config;
use crate::directory::ldap::config::Preset;
use crate::directory::{FileDirectory, LdapDirectory};
use crate::domain::address::AddressRules;

/// `mailtips check-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckConfigArgs {
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Checks a config file and its directory and prints what was found.
///
/// # Errors
/// A refused config or directory file, or an LDAP directory that does not answer.
pub async fn check_config(args: &CheckConfigArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    match Backend::open(&config)? {
        Backend::Ldap(cached) => {
            let ldap = cached.backend();
            ldap.check()
                .await
                .context("while contacting the LDAP directory")?;
            println!("ok: LDAP directory {ldap:?} answers");
        }
        Backend::File(directory) => {
            println!("ok: {} directory objects", directory.snapshot().len());
        }
    }
    Ok(())
}

/// `mailtips metrics`.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArgs {
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Computes group metrics once from LDAP and writes the changed counts back.
///
/// # Errors
/// A refused config, no `[directory.ldap]` section, or an LDAP failure.
pub async fn metrics(args: &MetricsArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let ldap = config
        .directory
        .ldap
        .clone()
        .context("the metrics job needs a [directory.ldap] section")?;
    let ldap = LdapDirectory::new(ldap, config.address_rules())
        .context("while setting up the LDAP directory")?;
    let report = ldap
        .write_group_metrics()
        .await
        .context("while computing and writing group metrics")?;
    println!(
        "ok: {} groups counted, {} updated ({} LDAP searches, {} modifies)",
        report.groups,
        report.written,
        ldap.stats().searches,
        ldap.stats().modifies
    );
    Ok(())
}

/// `mailtips export-ldif`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportLdifArgs {
    /// Attribute names: openldap or active-directory.
    #[arg(long, default_value = "openldap")]
    pub preset: Preset,
    /// The directory file; absent: the embedded demo organisation.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// The base DN the objects go under.
    #[arg(long, default_value = "dc=contoso,dc=com")]
    pub base_dn: String,
    /// Also write each object's direct groups as `memberOf`, as OpenLDAP's memberof overlay
    /// keeps them, for `slapadd` (which bypasses overlays) into a server that has it.
    #[arg(long)]
    pub member_of: bool,
}

/// Prints a directory file (default: the embedded demo) as LDIF.
///
/// # Errors
/// A refused directory file, or objects LDIF cannot hold.
pub fn export_ldif(args: &ExportLdifArgs) -> anyhow::Result<()> {
    let rules = AddressRules::default();
    let directory = match &args.directory {
        Some(path) => FileDirectory::load(path, rules)?,
        None => FileDirectory::demo(rules),
    };
    let ldif = crate::directory::ldap::ldif::export_with(
        &directory.snapshot(),
        args.preset,
        &args.base_dn,
        args.member_of,
    )?;
    print!("{ldif}");
    Ok(())
}
