//! The TOML configuration file: every organisation setting with its default, the listener,
//! and the directory backend. It builds the domain's [`Policy`] and hands each backend its own
//! settings; it belongs to no backend.
//!
//! Unknown keys are refused (`deny_unknown_fields`), durations are written as `"2h"`, sizes as
//! `"25MB"` or a plain number of bytes, and [`Config::validate`] checks cross-field rules at
//! start-up. `examples/mailtips.toml` documents every key.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::address::AddressRules;
use crate::domain::policy::{DomainRule, RemoteDomain};
use crate::domain::{ByteSize, Policy, TipKind, TipSet};

pub mod auth;
mod beyond_exchange;
mod limits;
mod switches;
mod transport;

pub use beyond_exchange::ReadReceiptsConfig;
pub use limits::LimitsConfig;
pub use switches::TipSwitches;
pub use transport::TlsConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub directory: DirectoryConfig,
    pub org: OrgConfig,
    pub tips: TipSwitches,
    /// Authentication and the anti-harvest budget (docs/security.md). Absent: anonymous on
    /// loopback, refused elsewhere.
    pub auth: Option<auth::AuthConfig>,
    pub log: LogConfig,
    /// The file this config was read from (`None`: the embedded demo or a test's text); a
    /// `SIGHUP` reads it again.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// How the server logs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `"text"` (default) or `"json"`, one object per line.
    pub format: crate::telemetry::logs::LogFormat,
}

/// Where and how the server listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address for gRPC, gRPC-web and health, all on one port.
    pub listen: SocketAddr,
    /// Origins allowed to call over gRPC-web from a browser; `["*"]` allows any (and logs a
    /// warning). Default none: the compose page is same-origin and needs no CORS.
    pub cors_allowed_origins: Vec<String>,
    /// Serve the compose page (`GET /`) on the same port; `false` for deployments that want
    /// only gRPC and gRPC-web.
    pub web_page: bool,
    /// TLS on the listening port; absent: plaintext.
    pub tls: Option<TlsConfig>,
    /// What one connection, one caller and all of them together may hold
    /// (`[server.limits]`).
    pub limits: LimitsConfig,
    /// The admin listener (`/metrics`, `/livez`, `/readyz`); absent or `""`: off.
    #[serde(deserialize_with = "optional_addr")]
    pub admin_listen: Option<SocketAddr>,
}

/// An optional socket address where `""` means none.
fn optional_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            cors_allowed_origins: Vec::new(),
            web_page: true,
            tls: None,
            limits: LimitsConfig::default(),
            admin_listen: None,
        }
    }
}

/// Which directory backs the service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// A directory file (docs/directory.md). Relative paths are relative to the config file.
    /// Absent: the embedded demo organisation.
    pub file: Option<PathBuf>,
    /// An LDAP directory instead of a file (docs/ldap.md).
    pub ldap: Option<crate::directory::ldap::config::LdapConfig>,
    /// The cache in front of the LDAP directory.
    pub cache: crate::directory::cache::CacheConfig,
}

/// Organisation settings: which tips are on, thresholds, limits and domains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgConfig {
    /// Mail tips as a whole.
    pub mail_tips_enabled: bool,
    /// EXTERNAL_RECIPIENT tips and external member counts (Exchange ships this off).
    pub external_recipient_tips: bool,
    /// Background group metrics (LARGE_AUDIENCE and group external counts need them).
    pub group_metrics_enabled: bool,
    /// Mailbox-sourced tips: AUTO_REPLY and MAILBOX_FULL.
    pub mailbox_tips_enabled: bool,
    /// Groups with more members than this get LARGE_AUDIENCE.
    pub large_audience_threshold: u32,
    /// Drafts with more recipients than this skip mailbox-sourced tips.
    pub per_mailbox_evaluation_cap: u32,
    /// Requests with more recipients are refused.
    pub max_recipients_per_request: NonZeroU32,
    /// How often an open draft's tips are recomputed.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// How often group metrics are recomputed in the background.
    #[serde(with = "humantime_serde")]
    pub group_metrics_interval: Duration,
    /// The organisation's maximum message size; absent = no limit.
    pub max_message_size: Option<ByteSize>,
    /// Whether local parts match case-sensitively (default: no, as Exchange).
    pub case_sensitive_local_part: bool,
    /// Accepted (internal) domains.
    pub internal_domains: Vec<DomainRule>,
    /// Remote domains and whether they are treated as internal.
    pub remote_domains: Vec<RemoteDomain>,
    // Beyond Exchange.
    /// Drafts reaching more people than this get WHOLE_AUDIENCE; absent: the large-audience
    /// threshold.
    pub whole_audience_threshold: Option<u32>,
    /// To and Cc with at least this many addresses get RECIPIENTS_VISIBLE.
    pub visible_recipients_threshold: u32,
    /// To whom the organisation's people send read receipts.
    pub read_receipts: ReadReceiptsConfig,
    /// Whether send-from addresses marked with their own outbound gateway send through it.
    pub per_user_outbound_gateways: bool,
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            mail_tips_enabled: true,
            external_recipient_tips: false,
            group_metrics_enabled: true,
            mailbox_tips_enabled: true,
            large_audience_threshold: 25,
            per_mailbox_evaluation_cap: 200,
            max_recipients_per_request: NonZeroU32::new(1000).expect("non-zero"),
            refresh_interval: Duration::from_secs(2 * 3600),
            group_metrics_interval: Duration::from_secs(24 * 3600),
            max_message_size: None,
            case_sensitive_local_part: false,
            internal_domains: Vec::new(),
            remote_domains: Vec::new(),
            whole_audience_threshold: None,
            visible_recipients_threshold: 15,
            read_receipts: ReadReceiptsConfig::default(),
            per_user_outbound_gateways: false,
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
}

/// The embedded demo configuration: what `mailtips serve` runs with no `--config`.
pub(crate) const DEMO_CONFIG: &str = include_str!("../examples/mailtips.toml");

impl Config {
    /// Loads `path`, or the embedded demo configuration when there is none.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the key.
    pub(crate) fn load_or_demo(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None => Self::from_toml(DEMO_CONFIG, Path::new("<embedded demo config>")),
        }
    }

    /// Reads, parses and validates a config file; a relative `directory.file` is resolved
    /// against the config file's folder.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the key.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text, path)?;
        config.source = Some(path.to_owned());
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(file) = &config.directory.file
            && file.is_relative()
        {
            config.directory.file = Some(base.join(file));
        }
        if let Some(file) = config
            .directory
            .ldap
            .as_mut()
            .and_then(|l| l.bind_password_file.as_mut())
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
        for jwt in config.auth.iter_mut().flat_map(|a| a.jwt.iter_mut()) {
            for file in [&mut jwt.jwks_file, &mut jwt.tls_ca_file]
                .into_iter()
                .flatten()
            {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        if let Some(tls) = config.server.tls.as_mut() {
            tls.resolve(base);
        }
        Ok(config)
    }

    /// Parses and validates config text; `path` only names the source in errors.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_owned(),
                key,
                message,
            })?;
        Ok(config)
    }

    /// Cross-field rules serde cannot express.
    ///
    /// # Errors
    /// The offending key and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let org = &self.org;
        if org.refresh_interval < Duration::from_secs(60) {
            return Err(("org.refresh_interval", "must be at least 1m".into()));
        }
        if org.group_metrics_interval < Duration::from_secs(60) {
            return Err(("org.group_metrics_interval", "must be at least 1m".into()));
        }
        if org.per_mailbox_evaluation_cap > org.max_recipients_per_request.get() {
            return Err((
                "org.per_mailbox_evaluation_cap",
                format!(
                    "{} is above org.max_recipients_per_request ({})",
                    org.per_mailbox_evaluation_cap, org.max_recipients_per_request
                ),
            ));
        }
        if org.internal_domains.is_empty() {
            return Err((
                "org.internal_domains",
                "list at least one accepted domain, e.g. [{ domain = \"contoso.com\" }]".into(),
            ));
        }
        if let Some(ldap) = &self.directory.ldap {
            if self.directory.file.is_some() {
                return Err((
                    "directory.file",
                    "set directory.file or [directory.ldap], not both".into(),
                ));
            }
            ldap.validate()?;
            if ldap.group_nesting_refresh > org.refresh_interval {
                return Err((
                    "directory.ldap.group_nesting_refresh",
                    "is longer than org.refresh_interval: tips would be older than the refresh interval".into(),
                ));
            }
        }
        self.directory.cache.validate(org.refresh_interval)?;
        self.validate_beyond_exchange()?;
        if let Some(auth) = &self.auth {
            auth.validate(org.max_recipients_per_request.get())?;
            let client_certs = self
                .server
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca_file.is_some());
            if !auth.trusted_service.is_empty() && !client_certs {
                return Err((
                    "auth.trusted_service",
                    "trusted services authenticate with client certificates: set \
                     [server.tls] client_ca_file"
                        .into(),
                ));
            }
        }
        self.server.limits.validate()?;
        let mut seen = std::collections::HashSet::new();
        let all = org
            .internal_domains
            .iter()
            .map(|d| ("org.internal_domains", &d.domain))
            .chain(
                org.remote_domains
                    .iter()
                    .map(|d| ("org.remote_domains", &d.domain)),
            );
        for (key, domain) in all {
            let probe = format!("x@{domain}");
            if crate::domain::address::Address::parse(&probe).is_err() {
                return Err((key, format!("{domain:?} is not a domain name")));
            }
            if !seen.insert(domain.clone()) {
                return Err((key, format!("{domain:?} is listed twice")));
            }
        }
        for o in &self.server.cors_allowed_origins {
            let origin_shaped = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.contains(char::is_whitespace)
                && http::HeaderValue::from_str(o).is_ok();
            if o != "*" && !origin_shaped {
                return Err((
                    "server.cors_allowed_origins",
                    format!("{o:?}: each origin is \"*\" or an http:// or https:// origin"),
                ));
            }
        }
        Ok(())
    }

    /// How addresses compare in this organisation (`org.case_sensitive_local_part`), for the
    /// policy and for every directory backend.
    pub fn address_rules(&self) -> AddressRules {
        AddressRules {
            case_sensitive_local: self.org.case_sensitive_local_part,
        }
    }

    /// The domain rules in the shape the rules need.
    pub fn policy(&self) -> Policy {
        let org = &self.org;
        let mut enabled = TipSet::EMPTY;
        if org.mail_tips_enabled {
            for k in TipKind::ALL {
                let on = self.tips.get(k)
                    && match k {
                        TipKind::ExternalRecipient => org.external_recipient_tips,
                        TipKind::LargeAudience => org.group_metrics_enabled,
                        k if k.is_mailbox_sourced() => org.mailbox_tips_enabled,
                        _ => true,
                    };
                if on {
                    enabled.insert(k);
                }
            }
        }
        Policy {
            enabled,
            large_audience_threshold: org.large_audience_threshold,
            per_mailbox_cap: org.per_mailbox_evaluation_cap,
            max_message_bytes: org.max_message_size.map(|b| b.0),
            refresh_interval: org.refresh_interval,
            group_metrics: org.group_metrics_enabled,
            addresses: self.address_rules(),
            internal_domains: org.internal_domains.clone(),
            remote_domains: org.remote_domains.clone(),
            whole_audience_threshold: org
                .whole_audience_threshold
                .unwrap_or(org.large_audience_threshold),
            visible_recipients_threshold: org.visible_recipients_threshold,
            read_receipts: org.read_receipts.policy,
            receipt_allowlist: org
                .read_receipts
                .allowlist
                .iter()
                .filter_map(|a| self.address_rules().parse(a).ok())
                .collect(),
            per_user_outbound_gateways: org.per_user_outbound_gateways,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scope;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::from_toml(s, Path::new("test.toml"))
    }

    const MIN: &str = "[org]\ninternal_domains = [{ domain = \"contoso.com\" }]\n";

    #[test]
    fn defaults_follow_spec() {
        let c = parse(MIN).unwrap();
        assert!(c.org.mail_tips_enabled);
        assert!(!c.org.external_recipient_tips);
        assert_eq!(c.org.large_audience_threshold, 25);
        assert_eq!(c.org.per_mailbox_evaluation_cap, 200);
        assert_eq!(c.org.max_recipients_per_request.get(), 1000);
        assert_eq!(c.org.refresh_interval, Duration::from_secs(7200));
        let p = c.policy();
        assert!(!p.enabled.contains(TipKind::ExternalRecipient));
        assert!(p.enabled.contains(TipKind::AutoReply));
    }

    #[test]
    fn example_config_is_valid() {
        let text = DEMO_CONFIG;
        let c = parse(text).unwrap();
        assert!(c.org.external_recipient_tips);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse(&format!("{MIN}large_audience = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `large_audience`"), "{err}");
        assert!(err.contains("test.toml"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse(&format!("{MIN}refresh_interval = \"2 parsecs\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refresh_interval"), "{err}");
        let err = parse(&format!("{MIN}refresh_interval = \"1s\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("org.refresh_interval: must be at least 1m"),
            "{err}"
        );
        let err = parse(&format!("{MIN}max_message_size = \"10 parsecs\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown unit"), "{err}");
        let err = parse(&format!("{MIN}max_recipients_per_request = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_recipients_per_request"), "{err}");
        let err = parse(&format!("{MIN}per_mailbox_evaluation_cap = 5000\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("org.per_mailbox_evaluation_cap"), "{err}");
        let err = parse(&format!("[server]\ncors_allowed_origins = [\"https://mail.contoso.com\", \"https://bad origin\"]\n{MIN}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.cors_allowed_origins: \"https://bad origin\""),
            "{err}"
        );
        let err = parse("[org]\n").unwrap_err().to_string();
        assert!(err.contains("org.internal_domains"), "{err}");
        let err = parse("[org]\ninternal_domains = [{ domain = \"no spaces.com\" }]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a domain name"), "{err}");
    }

    #[test]
    fn ldap_section_is_checked() {
        let ldap =
            "[directory.ldap]\nurl = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=contoso,dc=com\"\n";
        let c = parse(&format!("{MIN}{ldap}preset = \"active-directory\"\n")).unwrap();
        assert!(c.directory.ldap.is_some());
        let err = parse(&format!("{MIN}{ldap}attributes = {{ qouta = \"x\" }}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("directory.ldap.attributes"), "{err}");
        let err = parse(&format!("{MIN}{ldap}bind_password_env = \"X\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind_dn"), "{err}");
        let err = parse(&format!("{MIN}[directory.cache]\npositive_ttl = \"3h\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("directory.cache.positive_ttl"), "{err}");
        let err = parse(&format!(
            "{MIN}[directory.ldap]\nurl = \"http://x\"\nbase_dn = \"dc=x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("directory.ldap.url"), "{err}");
        let c = parse(&format!(
            "{MIN}{ldap}group_membership = \"member-of\"\ngroup_nesting_refresh = \"2h\"\n"
        ))
        .unwrap();
        let l = c.directory.ldap.unwrap();
        assert_eq!(
            l.group_membership,
            crate::directory::ldap::config::Membership::MemberOf
        );
        for bad in ["3h", "0s"] {
            let err = parse(&format!("{MIN}{ldap}group_nesting_refresh = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("directory.ldap.group_nesting_refresh"),
                "{err}"
            );
        }
        let err = parse(&format!("{MIN}{ldap}group_membership = \"nested\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("group_membership"), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(ByteSize::parse("25MB"), Ok(ByteSize(25_000_000)));
        assert_eq!(ByteSize::parse("10 MiB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("512"), Ok(ByteSize(512)));
        assert!(ByteSize::parse("MB").is_err());
        assert!(ByteSize::parse("99999999999999999999GB").is_err());
    }

    #[test]
    fn scopes() {
        let c = parse(
            r#"[org]
internal_domains = [{ domain = "contoso.com", include_subdomains = true }]
remote_domains = [
  { domain = "fabrikam.com", internal = true },
  { domain = "partner.example", include_subdomains = true },
  { domain = "in.partner.example", internal = true },
]"#,
        )
        .unwrap();
        let p = c.policy();
        assert_eq!(p.scope_of("contoso.com"), Scope::Internal);
        assert_eq!(p.scope_of("jp.contoso.com"), Scope::Internal);
        assert_eq!(p.scope_of("notcontoso.com"), Scope::External);
        assert_eq!(p.scope_of("fabrikam.com"), Scope::RemoteInternal);
        assert_eq!(p.scope_of("x.partner.example"), Scope::External);
        assert_eq!(p.scope_of("in.partner.example"), Scope::RemoteInternal);
    }

    #[test]
    fn switches_combine() {
        let c = parse(&format!(
            "{MIN}external_recipient_tips = true\nmailbox_tips_enabled = false\n[tips]\ncustom = false\n"
        ))
        .unwrap();
        let p = c.policy();
        assert!(p.enabled.contains(TipKind::ExternalRecipient));
        assert!(!p.enabled.contains(TipKind::AutoReply));
        assert!(!p.enabled.contains(TipKind::MailboxFull));
        assert!(!p.enabled.contains(TipKind::Custom));
        let off = parse(&format!("{MIN}mail_tips_enabled = false\n")).unwrap();
        assert!(off.policy().enabled.is_empty());
    }
}
