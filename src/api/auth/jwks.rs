//! An issuer's signing keys: read from a JWKS file, fetched from a JWKS URL, or found through
//! OpenID Connect discovery (`<issuer>/.well-known/openid-configuration`), always over HTTPS.
//! Keys are cached; a token naming an unknown `kid` (key rotation at the issuer) or keys older
//! than an hour make the next token fetch them again, at most once per [`MIN_REFETCH`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

// Tokio's clock, so that tests can pause and advance it.
use tokio::time::Instant;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::config::auth::JwtIssuerConfig;

/// The shortest time between two fetches of one issuer's keys: tokens with made-up `kid`s
/// cannot make the server hammer the issuer.
pub(super) const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again at the next token (keys the issuer withdrew stop
/// being accepted within the hour).
const MAX_AGE: Duration = Duration::from_secs(3600);
/// A fetch (discovery and JWKS each) gives up after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS or discovery document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// One verification key of an issuer.
pub(super) struct Key {
    pub(super) decoding: DecodingKey,
    /// The algorithm the JWK pins (`alg`), if it does.
    pub(super) alg: Option<Algorithm>,
}

/// Why an issuer's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{0}")]
    Setup(String),
}

enum Source {
    File(PathBuf),
    Url(String),
    /// Discovery from the issuer; the JWKS URL it names is remembered.
    Discovery(String),
}

struct Fetched {
    keys: HashMap<Option<String>, Arc<Key>>,
    at: Option<Instant>,
}

/// The cached keys of one issuer.
pub(super) struct IssuerKeys {
    source: Source,
    client: reqwest::Client,
    fetched: ArcSwap<Fetched>,
    /// Held while fetching: one fetch at a time per issuer.
    fetching: tokio::sync::Mutex<()>,
}

impl IssuerKeys {
    /// The key source `config` names; a JWKS file is read now.
    ///
    /// # Errors
    /// [`KeysError`] for an unreadable or bad JWKS file, or a bad CA file.
    pub(super) fn new(config: &JwtIssuerConfig) -> Result<Self, KeysError> {
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(f), _) => Source::File(f.clone()),
            (None, Some(u)) => Source::Url(u.clone()),
            (None, None) => Source::Discovery(format!(
                "{}/.well-known/openid-configuration",
                config.issuer.trim_end_matches('/')
            )),
        };
        let this = Self {
            source,
            client: http_client(config.tls_ca_file.as_ref())?,
            fetched: ArcSwap::from_pointee(Fetched {
                keys: HashMap::new(),
                at: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        };
        if let Source::File(path) = &this.source {
            let keys = read_file(path)?;
            this.fetched.store(Arc::new(Fetched {
                keys,
                at: Some(Instant::now()),
            }));
        }
        Ok(this)
    }

    /// The key named `kid` (or the only key, for a token without `kid`), fetching the keys
    /// again when it is unknown or the keys are old, as [`MIN_REFETCH`] allows.
    pub(super) async fn key(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        let current = self.fetched.load();
        let fresh = current.at.is_some_and(|t| t.elapsed() < MAX_AGE);
        if fresh && let Some(k) = pick(&current.keys, kid) {
            return Some(k);
        }
        let may_fetch = current.at.is_none_or(|t| t.elapsed() >= MIN_REFETCH);
        if may_fetch {
            self.refetch(current.at).await;
        }
        pick(&self.fetched.load().keys, kid)
    }

    /// Fetches the keys unless another task did since `seen`; a failure keeps the old keys
    /// (and is retried no sooner than [`MIN_REFETCH`]).
    async fn refetch(&self, seen: Option<Instant>) {
        let _one = self.fetching.lock().await;
        let current = self.fetched.load_full();
        if current.at != seen {
            return;
        }
        let result = match &self.source {
            Source::File(path) => read_file(path),
            Source::Url(url) => self.fetch_jwks(url).await,
            Source::Discovery(url) => match self.discover(url).await {
                Ok(jwks_url) => self.fetch_jwks(&jwks_url).await,
                Err(e) => Err(e),
            },
        };
        let keys = match result {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "issuer keys fetched");
                keys
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch an issuer's keys; keeping the old ones");
                current.keys.clone()
            }
        };
        self.fetched.store(Arc::new(Fetched {
            keys,
            at: Some(Instant::now()),
        }));
    }

    async fn get(&self, url: &str) -> Result<serde_json::Value, KeysError> {
        let fail = |message: String| KeysError::Fetch {
            url: url.to_owned(),
            message,
        };
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(fail(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
    }

    async fn discover(&self, url: &str) -> Result<String, KeysError> {
        let doc = self.get(url).await?;
        doc.get("jwks_uri")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| KeysError::Fetch {
                url: url.to_owned(),
                message: "no jwks_uri in the discovery document".into(),
            })
    }

    async fn fetch_jwks(&self, url: &str) -> Result<HashMap<Option<String>, Arc<Key>>, KeysError> {
        let doc = self.get(url).await?;
        let set: JwkSet = serde_json::from_value(doc).map_err(|e| KeysError::Fetch {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        Ok(keys_of(set))
    }
}

/// The key for `kid`; a token without `kid` may use a set of exactly one key.
fn pick(keys: &HashMap<Option<String>, Arc<Key>>, kid: Option<&str>) -> Option<Arc<Key>> {
    match kid {
        Some(kid) => keys.get(&Some(kid.to_owned())).cloned(),
        None if keys.len() == 1 => keys.values().next().cloned(),
        None => None,
    }
}

fn read_file(path: &PathBuf) -> Result<HashMap<Option<String>, Arc<Key>>, KeysError> {
    let fail = |message: String| KeysError::File {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let keys = keys_of(set);
    if keys.is_empty() {
        return Err(fail(
            "no usable signing key (RSA, EC or OKP public keys)".into(),
        ));
    }
    Ok(keys)
}

/// The usable verification keys of a set: public RSA, EC and OKP keys meant for signatures.
/// Symmetric (`oct`) keys are skipped: HMAC keys are never accepted.
fn keys_of(set: JwkSet) -> HashMap<Option<String>, Arc<Key>> {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    set.keys
        .into_iter()
        .filter(|jwk: &Jwk| {
            !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
                && !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
        })
        .map(full_length_coordinates)
        .filter_map(|jwk| {
            let decoding = DecodingKey::from_jwk(&jwk).ok()?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse().ok());
            Some((jwk.common.key_id.clone(), Arc::new(Key { decoding, alg })))
        })
        .collect()
}

/// `jwk` with an EC key's coordinates left-padded with zeros to the curve's length. RFC 7518
/// (6.2.1.2) wants them full length, but some providers drop leading zero bytes: Debian's
/// glewlwyd 2.7 publishes a 31-byte coordinate for about 1 key in 128, and every token signed
/// with such a key would be refused as a bad signature.
fn full_length_coordinates(mut jwk: Jwk) -> Jwk {
    use base64::Engine as _;
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if let AlgorithmParameters::EllipticCurve(ec) = &mut jwk.algorithm {
        let size = match ec.curve {
            EllipticCurve::P256 => 32,
            EllipticCurve::P384 => 48,
            EllipticCurve::P521 => 66,
            EllipticCurve::Ed25519 => return jwk,
        };
        for coordinate in [&mut ec.x, &mut ec.y] {
            if let Ok(bytes) = b64.decode(coordinate.as_bytes())
                && bytes.len() < size
            {
                let mut full = vec![0u8; size - bytes.len()];
                full.extend_from_slice(&bytes);
                *coordinate = b64.encode(full);
            }
        }
    }
    jwk
}

/// An HTTPS-only client trusting the system's roots and `ca_file`.
fn http_client(ca_file: Option<&PathBuf>) -> Result<reqwest::Client, KeysError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let fail = |message: String| KeysError::File {
            path: path.clone(),
            message,
        };
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
            roots
                .add(cert.map_err(|e| fail(e.to_string()))?)
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| KeysError::Setup(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| KeysError::Setup(e.to_string()))
}

/// An error with its sources, for a log line that says why a fetch failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ID token and the JWKS that glewlwyd published for its key, whose `y` coordinate
    /// lost its leading zero byte (31 bytes): the key is padded back and the token verifies.
    #[test]
    fn a_short_ec_coordinate_is_padded_to_the_curve_length() {
        let jwks = r#"{"keys":[{"kty":"EC","x":"optRT-id9a1Y-iEp8TRoJbLc5Y-RP8-pdr5_UNgisQs","y":"VBVTIJQjkrowz9kyce0WwA48Yh8MJcaFkXMvaw3DIA","crv":"P-256","kid":"kiC8ncLlJxcsOf3Vs1ehttMGArjGpVqE76RSq6NyKQM","alg":"ES256"}]}"#;
        let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiIsImtpZCI6ImtpQzhuY0xsSnhjc09mM1ZzMWVodHRNR0FyakdwVnFFNzZSU3E2TnlLUU0ifQ.eyJzdWIiOiJqa2VUZWtISmlVYUlXYmdHZDhya3h1SGNJTVJRRllsTiIsImVtYWlsIjoidGFyb0Bjb250b3NvLmNvbSIsImlzcyI6Imh0dHBzOi8vMTI3LjAuMC4xOjM2Nzg1L2FwaS9vaWRjIiwiYXVkIjoibWFpbHRpcHMiLCJleHAiOjE3OTU3MTEyNzYsImlhdCI6MTc5NTcwNzY3NiwiYXV0aF90aW1lIjoxNzk1NzA3Njc2LCJhenAiOiJtYWlsdGlwcyIsIm5vbmNlIjoibjEifQ.TRI3HXnb1_qVL8sx2P4CdZ88Gs_BcjzKn1rY2LbAsfXhF0nMomBX7rRczpnRZrnmPjG20b-X92_ga3O444Y15A";
        let keys = keys_of(serde_json::from_str(jwks).unwrap());
        let key = &keys[&Some("kiC8ncLlJxcsOf3Vs1ehttMGArjGpVqE76RSq6NyKQM".to_owned())];
        let (message, signature) = token.rsplit_once('.').unwrap();
        let verified = jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &key.decoding,
            Algorithm::ES256,
        );
        assert_eq!(verified.ok(), Some(true));
    }

    fn jwks(kids: &[&str]) -> String {
        // Any valid P-256 point will do: the keys are only looked up here, never used.
        let keys: Vec<String> = kids
            .iter()
            .map(|kid| {
                format!(
                    r#"{{"kty":"EC","crv":"P-256","alg":"ES256","kid":"{kid}",
                    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}"#
                )
            })
            .collect();
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_kid_refetches_at_most_every_min_refetch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks(&["old"])).unwrap();
        let config = JwtIssuerConfig {
            issuer: "https://sso.test".into(),
            audience: "mailtips".into(),
            jwks_file: Some(path.clone()),
            jwks_url: None,
            address_claim: "email".into(),
            tls_ca_file: None,
        };
        let keys = IssuerKeys::new(&config).unwrap();
        assert!(keys.key(Some("old")).await.is_some());
        assert!(
            keys.key(None).await.is_some(),
            "the only key, for a token without kid"
        );

        // The issuer rotates: the new key is not fetched before MIN_REFETCH has passed.
        std::fs::write(&path, jwks(&["old", "new"])).unwrap();
        assert!(keys.key(Some("new")).await.is_none());
        tokio::time::advance(MIN_REFETCH - Duration::from_secs(1)).await;
        assert!(keys.key(Some("new")).await.is_none(), "rate limited");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(keys.key(Some("new")).await.is_some(), "fetched again");
        assert!(
            keys.key(None).await.is_none(),
            "two keys: a token must name one"
        );

        // A failed fetch keeps the keys it had.
        std::fs::write(&path, "not json").unwrap();
        tokio::time::advance(MAX_AGE).await;
        assert!(keys.key(Some("old")).await.is_some());
        assert!(keys.key(Some("made-up")).await.is_none());
    }
}
