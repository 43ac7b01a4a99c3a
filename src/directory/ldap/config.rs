//! The `[directory.ldap]` section: where the directory is, how to bind, timeouts, batching, the
//! attribute preset with per-attribute overrides, and where group metrics come from.
//!
//! The bind password is never in this struct's text form: only the *place* it is read from
//! (a file or an environment variable) is configured, and [`Secret`] hides the value from
//! `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;

use super::mapping::{Mapping, MappingError};

/// The LDAP backend's settings. Every key has a default except `url` and `base_dn`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// Accept any server certificate (test set-ups only).
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// PEM file of the CA(s) that sign the LDAP servers' certificates; absent: the system's
    /// trust store (which `SSL_CERT_FILE` / `SSL_CERT_DIR` can point elsewhere).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Where searches start, e.g. `dc=contoso,dc=com`.
    pub base_dn: String,
    /// The DN to bind as; absent = anonymous.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// A file holding the bind password (trailing newline ignored).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// An environment variable holding the bind password.
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// TCP connect (and TLS handshake) timeout.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Timeout of one LDAP operation (bind, one search page, one modify).
    #[serde(default = "default_operation_timeout", with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// After a failed connect, how long requests go without trying again (they are answered
    /// from the cache or pending meanwhile).
    #[serde(default = "default_reconnect_delay", with = "humantime_serde")]
    pub reconnect_delay: Duration,
    /// Connections to the server, each multiplexing many requests, used round-robin.
    #[serde(default = "default_connections")]
    pub connections: NonZeroUsize,
    /// Addresses per search: a draft's addresses go out as one OR filter per chunk.
    #[serde(default = "default_chunk")]
    pub addresses_per_search: NonZeroUsize,
    /// Page size of paged searches (RFC 2696) for the group graph.
    #[serde(default = "default_page")]
    pub page_size: NonZeroUsize,
    /// The attribute names: `openldap` or `active-directory`. Read through
    /// [`LdapConfig::mapping`], which compiles it with `attributes` once.
    #[serde(default)]
    preset: Preset,
    /// Per-attribute overrides of the preset, e.g. `{ primary_address = "userPrincipalName" }`;
    /// keys are listed in docs/ldap.md.
    #[serde(default)]
    attributes: BTreeMap<String, AttributeNames>,
    /// Where servers get group metrics: `compute` (expand groups themselves) or `stored`
    /// (read the counts the `mailtips metrics` job wrote back to the group entries).
    #[serde(default)]
    pub group_metrics: MetricsSource,
    /// How the request path finds the groups a sender (or caller) belongs to, nested ones
    /// included: `walk`, `member-of` or `in-chain` (docs/ldap.md).
    #[serde(default)]
    pub group_membership: Membership,
    /// With `member-of`: the longest the groups above nested groups are used before they are
    /// read again (one paged search; from half this age in the background).
    #[serde(default = "default_nesting_refresh", with = "humantime_serde")]
    pub group_nesting_refresh: Duration,
    /// `preset` with `attributes`, compiled by the first [`LdapConfig::mapping`] call (config
    /// validation at start-up) and shared by clones of this config.
    #[serde(skip)]
    compiled: CompiledMapping,
}

/// The compiled mapping, or why it was refused, once compiled.
#[derive(Clone, Default)]
struct CompiledMapping(OnceLock<Result<Arc<Mapping>, MappingError>>);

impl fmt::Debug for CompiledMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0.get() {
            None => "not compiled",
            Some(Ok(_)) => "compiled",
            Some(Err(_)) => "refused",
        })
    }
}

/// One or several attribute names for a logical attribute.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum AttributeNames {
    One(String),
    Many(Vec<String>),
}

impl AttributeNames {
    /// The names as a list.
    pub(crate) fn to_vec(&self) -> Vec<String> {
        match self {
            AttributeNames::One(s) => vec![s.clone()],
            AttributeNames::Many(v) => v.clone(),
        }
    }
}

/// The attribute name presets (docs/ldap.md).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// `inetOrgPerson` / `groupOfNames` plus the `mailtips*` auxiliary classes of
    /// `ldap/mailtips.schema`.
    #[default]
    Openldap,
    /// Exchange's attribute names in Active Directory.
    ActiveDirectory,
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openldap" => Ok(Preset::Openldap),
            "active-directory" => Ok(Preset::ActiveDirectory),
            _ => Err(format!(
                "unknown preset {s:?} (use openldap or active-directory)"
            )),
        }
    }
}

/// Where servers get group metrics.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MetricsSource {
    /// Each server expands the groups itself.
    #[default]
    Compute,
    /// Read the counts stored on the group entries by `mailtips metrics`.
    Stored,
}

/// How a sender's groups (nested ones included) are found: what a cold draft with a
/// restricted or moderated recipient costs beyond its lookup search.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Membership {
    /// One search per nesting level for groups whose `member` holds the last level: works
    /// with any server.
    #[default]
    Walk,
    /// The lookup search also asks for the `member_of` attribute, the direct groups the
    /// server keeps (OpenLDAP's memberof overlay, Active Directory's `memberOf`); the groups
    /// above them come from an index of nested groups read every `group_nesting_refresh`:
    /// no search per draft. An entry returned without it is walked.
    MemberOf,
    /// One search with Active Directory's in-chain matching rule
    /// (`member:1.2.840.113556.1.4.1941:=`), which follows every nesting level.
    InChain,
}

fn default_nesting_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_operation_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_reconnect_delay() -> Duration {
    Duration::from_millis(250)
}
fn default_connections() -> NonZeroUsize {
    NonZeroUsize::new(2).expect("non-zero")
}
fn default_chunk() -> NonZeroUsize {
    NonZeroUsize::new(250).expect("non-zero")
}
fn default_page() -> NonZeroUsize {
    NonZeroUsize::new(500).expect("non-zero")
}

/// A password: readable by the code that binds, invisible to `Debug` and logs.
#[derive(Clone, Default)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret text, for the bind call only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why the bind password could not be read. Never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read bind_password_file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} (bind_password_env) is not set or not UTF-8")]
    Env(String),
}

impl LdapConfig {
    /// Whether binding sends the password over an unencrypted connection: a plaintext
    /// `ldap://` URL without StartTLS, with a bind DN.
    pub(crate) fn sends_password_in_clear(&self) -> bool {
        self.bind_dn.is_some()
            && !self.starttls
            && self
                .url
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("ldap://"))
    }

    /// Cross-field rules; the key and why on error.
    ///
    /// # Errors
    /// The offending key and a message.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = self.url.to_ascii_lowercase();
        if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
            return Err((
                "directory.ldap.url",
                "must start with ldap:// or ldaps://".into(),
            ));
        }
        if self.starttls && url.starts_with("ldaps://") {
            return Err((
                "directory.ldap.starttls",
                "StartTLS is for ldap:// URLs; ldaps:// is TLS already".into(),
            ));
        }
        if self.tls_skip_verify && self.tls_ca_file.is_some() {
            return Err((
                "directory.ldap.tls_ca_file",
                "tls_ca_file and tls_skip_verify exclude each other".into(),
            ));
        }
        if self.base_dn.trim().is_empty() {
            return Err(("directory.ldap.base_dn", "must not be empty".into()));
        }
        if self.bind_password_file.is_some() && self.bind_password_env.is_some() {
            return Err((
                "directory.ldap.bind_password_file",
                "set bind_password_file or bind_password_env, not both".into(),
            ));
        }
        if self.bind_dn.is_none()
            && (self.bind_password_file.is_some() || self.bind_password_env.is_some())
        {
            return Err((
                "directory.ldap.bind_dn",
                "a bind password needs a bind_dn".into(),
            ));
        }
        if self.connect_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err((
                "directory.ldap.operation_timeout",
                "timeouts must be above zero".into(),
            ));
        }
        if self.group_nesting_refresh.is_zero() {
            return Err((
                "directory.ldap.group_nesting_refresh",
                "must be above zero".into(),
            ));
        }
        if self.connections.get() > 64 {
            return Err(("directory.ldap.connections", "at most 64".into()));
        }
        if self.page_size.get() > i32::MAX as usize {
            return Err(("directory.ldap.page_size", "too large".into()));
        }
        self.mapping()
            .map_err(|e| ("directory.ldap.attributes", e.to_string()))?;
        Ok(())
    }

    /// The attribute mapping: `preset` with the `attributes` overrides, compiled on the first
    /// call (config validation, at start-up) and shared by every later call and clone.
    ///
    /// # Errors
    /// [`MappingError`] for an unknown key or a bad attribute name.
    pub(crate) fn mapping(&self) -> Result<Arc<Mapping>, MappingError> {
        self.compiled
            .0
            .get_or_init(|| Mapping::compile(self.preset, &self.attributes).map(Arc::new))
            .clone()
    }

    /// Reads the bind password from its file or environment variable (empty when neither).
    ///
    /// # Errors
    /// [`SecretError`] naming the file or variable, never the value.
    pub(crate) fn bind_password(&self) -> Result<Secret, SecretError> {
        if let Some(path) = &self.bind_password_file {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                path: path.clone(),
                source,
            })?;
            return Ok(Secret(text.trim_end_matches(['\n', '\r']).to_owned()));
        }
        if let Some(var) = &self.bind_password_env {
            return std::env::var(var)
                .map(Secret)
                .map_err(|_| SecretError::Env(var.clone()));
        }
        Ok(Secret::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_in_debug() {
        let s = Secret("hunter2".to_owned());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn mapping_is_compiled_once_and_shared_by_clones() {
        let base = "url = \"ldap://x\"\nbase_dn = \"dc=x\"\n";
        let c: LdapConfig = toml::from_str(&format!(
            "{base}attributes = {{ primary_address = \"userPrincipalName\" }}\n"
        ))
        .unwrap();
        assert_eq!(format!("{:?}", c.compiled), "not compiled");
        assert!(c.validate().is_ok());
        let copy = c.clone();
        assert_eq!(format!("{:?}", copy.compiled), "compiled");
        assert!(Arc::ptr_eq(&c.mapping().unwrap(), &copy.mapping().unwrap()));
        assert_eq!(
            copy.mapping().unwrap().primary_address,
            ["userPrincipalName"]
        );

        let bad: LdapConfig =
            toml::from_str(&format!("{base}attributes = {{ qouta = \"x\" }}\n")).unwrap();
        let (key, message) = bad.validate().unwrap_err();
        assert_eq!(key, "directory.ldap.attributes");
        assert_eq!(
            message,
            MappingError::UnknownKey("qouta".into()).to_string()
        );
        assert_eq!(bad.mapping(), Err(MappingError::UnknownKey("qouta".into())));
    }
}
