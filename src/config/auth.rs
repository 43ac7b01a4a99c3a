//! The `[auth]` section: who may call (bearer tokens from trusted issuers, trusted services by
//! client certificate, or nobody checked at all), and the per-caller anti-harvest budget.
//! docs/security.md explains each key.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use serde::Deserialize;

/// Whether callers must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Every call to the mail tips service needs a bearer token or a trusted client
    /// certificate.
    #[default]
    Required,
    /// Anyone may ask as anyone (loopback demos, or a network the administrator vouches for).
    None,
}

/// The `[auth]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Recipient lookups per minute per caller (also the burst): the anti-harvest budget.
    pub recipients_per_minute: NonZeroU32,
    /// Trusted token issuers, one table each.
    pub jwt: Vec<JwtIssuerConfig>,
    /// Services that authenticate with a client certificate.
    pub trusted_service: Vec<TrustedServiceConfig>,
}

/// The default budget: three full drafts of 1,000 recipients in a burst, 50 a second after
/// that; a person composing mail never meets it, a harvester within a second or two.
pub const DEFAULT_RECIPIENTS_PER_MINUTE: u32 = 3000;

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Required,
            recipients_per_minute: NonZeroU32::new(DEFAULT_RECIPIENTS_PER_MINUTE)
                .expect("non-zero"),
            jwt: Vec::new(),
            trusted_service: Vec::new(),
        }
    }
}

/// One trusted token issuer (`[[auth.jwt]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// The `aud` a token must hold for this service.
    pub audience: String,
    /// A JWKS file with the issuer's public keys (relative to the config file).
    pub jwks_file: Option<PathBuf>,
    /// An `https://` URL serving the issuer's JWKS. With neither, OpenID Connect discovery.
    pub jwks_url: Option<String>,
    /// The claim holding the caller's mail address.
    #[serde(default = "email")]
    pub address_claim: String,
    /// PEM CA certificates trusted for the issuer's HTTPS besides the system's.
    pub tls_ca_file: Option<PathBuf>,
}

fn email() -> String {
    "email".to_owned()
}

/// A service that asks on behalf of its users (`[[auth.trusted_service]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedServiceConfig {
    /// A DNS name its client certificate holds (subjectAltName).
    pub name: String,
    /// It may ask as any sender in these domains (subdomains included).
    pub sender_domains: Vec<String>,
    /// Its own budget; default: the `[auth]` budget times 100 (it speaks for many people).
    pub recipients_per_minute: Option<NonZeroU32>,
}

impl AuthConfig {
    /// Cross-field rules of the section.
    ///
    /// # Errors
    /// The offending key and why.
    pub(crate) fn validate(&self, max_recipients: u32) -> Result<(), (&'static str, String)> {
        if self.recipients_per_minute.get() < max_recipients {
            return Err((
                "auth.recipients_per_minute",
                format!(
                    "{} is below org.max_recipients_per_request ({max_recipients}): a full draft could never pass",
                    self.recipients_per_minute
                ),
            ));
        }
        if self.mode == AuthMode::Required && self.jwt.is_empty() && self.trusted_service.is_empty()
        {
            return Err((
                "auth",
                "mode = \"required\" needs at least one [[auth.jwt]] issuer or [[auth.trusted_service]]"
                    .into(),
            ));
        }
        for j in &self.jwt {
            if !j.issuer.starts_with("https://") && j.jwks_file.is_none() && j.jwks_url.is_none() {
                return Err((
                    "auth.jwt.issuer",
                    format!(
                        "{:?}: discovery needs an https:// issuer (or set jwks_file or jwks_url)",
                        j.issuer
                    ),
                ));
            }
            if j.jwks_file.is_some() && j.jwks_url.is_some() {
                return Err((
                    "auth.jwt.jwks_url",
                    "set jwks_file or jwks_url, not both".into(),
                ));
            }
            if let Some(u) = &j.jwks_url
                && !u.starts_with("https://")
            {
                return Err(("auth.jwt.jwks_url", format!("{u:?} is not an https:// URL")));
            }
            if j.audience.is_empty() {
                return Err(("auth.jwt.audience", "must not be empty".into()));
            }
            if j.address_claim.is_empty() {
                return Err(("auth.jwt.address_claim", "must not be empty".into()));
            }
        }
        for s in &self.trusted_service {
            if s.name.is_empty() {
                return Err(("auth.trusted_service.name", "must not be empty".into()));
            }
            if s.sender_domains.is_empty() {
                return Err((
                    "auth.trusted_service.sender_domains",
                    format!("{}: list at least one domain", s.name),
                ));
            }
        }
        Ok(())
    }
}

/// The mode in force: as written, or with no `[auth]` section, `none` on a loopback address.
///
/// # Errors
/// A message saying how to configure authentication, when there is no `[auth]` section and
/// the server listens beyond loopback.
pub(crate) fn effective_mode(
    auth: Option<&AuthConfig>,
    listen: SocketAddr,
) -> Result<AuthMode, String> {
    match auth {
        Some(a) => Ok(a.mode),
        None if listen.ip().is_loopback() => Ok(AuthMode::None),
        None => Err(format!(
            "listening on {listen} (beyond loopback) without an [auth] section: anyone who can \
             reach the port could read the directory. Add [auth] with [[auth.jwt]] issuers or \
             [[auth.trusted_service]] entries (docs/security.md), or write mode = \"none\" in \
             [auth] to serve without authentication on purpose"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_auth_section_is_anonymous_only_on_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(effective_mode(None, at("127.0.0.1:1")), Ok(AuthMode::None));
        assert_eq!(effective_mode(None, at("[::1]:1")), Ok(AuthMode::None));
        assert!(effective_mode(None, at("0.0.0.0:1")).is_err());
        assert!(effective_mode(None, at("192.0.2.1:1")).is_err());
        let none = AuthConfig {
            mode: AuthMode::None,
            ..AuthConfig::default()
        };
        assert_eq!(
            effective_mode(Some(&none), at("0.0.0.0:1")),
            Ok(AuthMode::None)
        );
    }
}
