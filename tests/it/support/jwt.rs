//! A token issuer made in the test: ES256 and Ed25519 keys generated with ring, their JWKS,
//! and tokens signed with `jsonwebtoken`, valid or broken in one chosen way.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://sso.contoso.test/realms/staff";
pub const AUDIENCE: &str = "mailtips";

/// One signing key with its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// The public key's raw bytes (the SEC1 point or the Ed25519 key).
    pub public: Vec<u8>,
}

impl SigningKey {
    /// A new P-256 key for ES256.
    pub fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate");
        let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("key");
        let public = pair.public_key().as_ref().to_vec();
        let (x, y) = public[1..].split_at(32);
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                        "x": B64.encode(x), "y": B64.encode(y)}),
            public,
        }
    }

    /// A new Ed25519 key for EdDSA.
    pub fn ed25519(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("generate");
        let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let public = pair.public_key().as_ref().to_vec();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                        "kid": kid, "x": B64.encode(&public)}),
            public,
        }
    }

    /// A token with these claims, signed with this key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// A JWKS document of `keys`.
pub fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Valid claims for `email`: this issuer and audience, valid from a minute ago for an hour.
pub fn claims(email: &str) -> Value {
    let now = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": email, "email": email,
           "iat": now - 60, "nbf": now - 60, "exp": now + 3600})
}

/// `token` with its payload replaced by `claims`, the signature kept.
pub fn tampered(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims.to_string())
    )
}

/// A token signed with HS256 using `key`'s public key bytes as the HMAC secret: the
/// algorithm-confusion attack.
pub fn hmac_with_public_key(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    let secret = EncodingKey::from_secret(&key.public);
    jsonwebtoken::encode(&header, claims, &secret).expect("sign")
}
