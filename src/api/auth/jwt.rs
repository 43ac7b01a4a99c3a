//! Bearer token verification as an OAuth 2 resource server does it, with `jsonwebtoken`: an
//! allow-list of public-key algorithms (never `none`, never HMAC), the signature against the
//! issuer's keys ([`super::jwks`]), `iss`, `aud`, `exp` and `nbf` with a small leeway, and the
//! caller's address from the issuer's address claim. A verified token is cached under the
//! SHA-256 of its text until it expires, so a caller's steady state costs a hash and a lookup.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};

use super::jwks::{IssuerKeys, KeysError};
use crate::config::auth::JwtIssuerConfig;
use crate::domain::address::{Address, AddressRules};

/// The algorithms a token may be signed with: public-key signatures only.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Clock skew allowed on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;
/// Longer tokens are refused unread.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Verified tokens remembered at most.
const CACHE_ENTRIES: u64 = 100_000;

/// Why a token was refused; the text goes to the caller and the log (never the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("the bearer token is not a JWT")]
    Malformed,
    #[error("the token's algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("the token's issuer {0:?} is not trusted")]
    UnknownIssuer(String),
    #[error("no key of issuer {0:?} matches the token's kid")]
    UnknownKey(String),
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token has no usable address in claim {0:?}")]
    NoAddress(String),
}

struct Issuer {
    config: JwtIssuerConfig,
    keys: IssuerKeys,
}

/// A verified token: the caller's address, until `exp`.
#[derive(Clone)]
struct Verified {
    address: Address,
    expires: SystemTime,
}

/// Verifies bearer tokens of the configured issuers.
pub(crate) struct Verifier {
    issuers: Vec<Issuer>,
    rules: AddressRules,
    cache: moka::sync::Cache<[u8; 32], Verified>,
}

struct UntilExpiry;

impl moka::Expiry<[u8; 32], Verified> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Verified,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(
            value
                .expires
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
        )
    }
}

impl Verifier {
    /// The issuers `configs` name; JWKS files are read now, URLs at the first token.
    ///
    /// # Errors
    /// [`KeysError`] for a bad JWKS or CA file.
    pub(crate) fn new(configs: &[JwtIssuerConfig], rules: AddressRules) -> Result<Self, KeysError> {
        let issuers = configs
            .iter()
            .map(|c| {
                Ok(Issuer {
                    config: c.clone(),
                    keys: IssuerKeys::new(c)?,
                })
            })
            .collect::<Result<_, KeysError>>()?;
        Ok(Self {
            issuers,
            rules,
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .expire_after(UntilExpiry)
                .build(),
        })
    }

    /// The address a valid token names.
    ///
    /// # Errors
    /// [`TokenError`] saying why the token is refused.
    pub(crate) async fn verify(&self, token: &str) -> Result<Address, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let hash: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("32 bytes");
        if let Some(v) = self.cache.get(&hash)
            && v.expires > SystemTime::now()
        {
            return Ok(v.address);
        }
        let (address, expires) = self.verify_uncached(token).await?;
        self.cache.insert(
            hash,
            Verified {
                address: address.clone(),
                expires,
            },
        );
        Ok(address)
    }

    async fn verify_uncached(&self, token: &str) -> Result<(Address, SystemTime), TokenError> {
        // An unknown `alg` (`none` among them) fails to parse: refused like a disallowed one.
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_) => {
                TokenError::Algorithm("of the header".into())
            }
            _ => TokenError::Malformed,
        })?;
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        // Which issuer's keys to verify with: the unverified `iss`, checked again below.
        let iss = unverified_issuer(token).ok_or(TokenError::Malformed)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or_else(|| TokenError::UnknownIssuer(iss.clone()))?;
        let key = issuer
            .keys
            .key(header.kid.as_deref())
            .await
            .ok_or_else(|| TokenError::UnknownKey(iss.clone()))?;
        if key.alg.is_some_and(|a| a != header.alg) {
            return Err(TokenError::Algorithm(format!(
                "{:?} (the key is for another)",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer.config.issuer]);
        validation.set_audience(&[&issuer.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key.decoding,
            &validation,
        )
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let claim = &issuer.config.address_claim;
        let no_address = || TokenError::NoAddress(claim.clone());
        if claim == "email" && claims.get("email_verified") == Some(&serde_json::Value::Bool(false))
        {
            return Err(no_address());
        }
        let address = claims
            .get(claim)
            .and_then(|v| v.as_str())
            .and_then(|s| self.rules.parse(s).ok())
            .ok_or_else(no_address)?;
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| TokenError::Invalid("exp is not a number".into()))?;
        Ok((address, UNIX_EPOCH + Duration::from_secs(exp)))
    }
}

/// The `iss` of a token's payload, read without verifying (only to choose the keys).
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&bytes).ok().map(|i| i.iss)
}
