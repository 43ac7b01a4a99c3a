//! Caller authentication: a tower layer in front of the mail tips service that establishes who
//! calls ([`Caller`]) from a bearer token ([`jwt`], keys from [`jwks`]) or a trusted service's
//! client certificate, and answers `UNAUTHENTICATED` otherwise. Health and reflection stay
//! open (load balancers and tools probe them), and so do the compose page's static files;
//! with `mode = "none"` nothing is checked and callers are anonymous, counted by peer address.

pub(crate) mod jwks;
pub(crate) mod jwt;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::api::caller::Caller;
use crate::config::auth::{AuthConfig, AuthMode};
use crate::domain::address::AddressRules;
use jwks::KeysError;
use jwt::{TokenError, Verifier};

/// The gRPC path prefix of the service that needs authentication.
const GUARDED_PREFIX: &str = "/mailtips.v1.MailTipsService/";

/// A trusted service as the request path sees it.
pub(crate) struct TrustedService {
    pub(crate) name: Arc<str>,
    pub(crate) sender_domains: Vec<String>,
}

/// Who may call, built once from `[auth]`.
pub(crate) struct Authenticator {
    mode: AuthMode,
    verifier: Verifier,
    services: Vec<TrustedService>,
}

/// Why a call was not authenticated; the text goes to the caller and to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error(
        "this service needs a bearer token (authorization: Bearer <JWT>) or a trusted client certificate"
    )]
    Missing,
    #[error("the authorization header is not \"Bearer <JWT>\"")]
    NotBearer,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the client certificate names no trusted service")]
    UnknownService,
}

impl Authenticator {
    /// Builds the authenticator `auth` (in force as `mode`) describes.
    ///
    /// # Errors
    /// [`KeysError`] for a bad JWKS or CA file.
    pub(crate) fn new(
        auth: Option<&AuthConfig>,
        mode: AuthMode,
        rules: AddressRules,
    ) -> Result<Self, KeysError> {
        let default = AuthConfig::default();
        let auth = auth.unwrap_or(&default);
        Ok(Self {
            mode,
            verifier: Verifier::new(&auth.jwt, rules)?,
            services: auth
                .trusted_service
                .iter()
                .map(|s| TrustedService {
                    name: Arc::from(s.name.as_str()),
                    sender_domains: s.sender_domains.clone(),
                })
                .collect(),
        })
    }

    /// The sender domains of the trusted service `name`.
    pub(crate) fn service_domains(&self, name: &str) -> &[String] {
        self.services
            .iter()
            .find(|s| &*s.name == name)
            .map_or(&[], |s| s.sender_domains.as_slice())
    }

    /// Who calls with these client certificates and this `authorization` header.
    async fn authenticate(
        &self,
        certs: Option<Certificates>,
        authorization: Option<http::HeaderValue>,
    ) -> Result<Caller, AuthError> {
        if let Some(certs) = certs {
            return self.service_of(&certs).ok_or(AuthError::UnknownService);
        }
        let Some(value) = authorization else {
            return Err(AuthError::Missing);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NotBearer)?;
        let address = self.verifier.verify(token).await?;
        Ok(Caller::User { address })
    }

    /// The trusted service whose name the end-entity certificate holds as a DNS name.
    fn service_of(&self, certs: &[rustls::pki_types::CertificateDer<'static>]) -> Option<Caller> {
        let cert = webpki::EndEntityCert::try_from(certs.first()?).ok()?;
        self.services
            .iter()
            .find(|s| {
                rustls::pki_types::ServerName::try_from(&*s.name)
                    .is_ok_and(|n| cert.verify_is_valid_for_subject_name(&n).is_ok())
            })
            .map(|s| Caller::Service {
                name: s.name.clone(),
            })
    }
}

type Certificates = Arc<Vec<rustls::pki_types::CertificateDer<'static>>>;

/// The client certificate chain of a TLS connection, as tonic records it.
fn peer_certificates<B>(req: &http::Request<B>) -> Option<Certificates> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    req.extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
        .filter(|c| !c.is_empty())
}

/// The layer that authenticates calls to the mail tips service.
#[derive(Clone)]
pub(crate) struct AuthLayer(pub(crate) Arc<Authenticator>);

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone)]
pub(crate) struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let guarded = self.auth.mode == AuthMode::Required
            && req.uri().path().starts_with(GUARDED_PREFIX)
            && req.method() != http::Method::OPTIONS;
        if !guarded {
            return Box::pin(self.inner.call(req));
        }
        // The instance that was polled ready serves this call; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let certs = peer_certificates(&req);
        let authorization = req.headers().get(http::header::AUTHORIZATION).cloned();
        Box::pin(async move {
            match auth.authenticate(certs, authorization).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(e) => {
                    let peer = Caller::Anonymous {
                        peer: crate::api::audit::peer_ip(req.extensions()),
                    };
                    crate::api::audit::refused(&peer, "unauthenticated", &e.to_string());
                    Ok(tonic::Status::unauthenticated(e.to_string()).into_http())
                }
            }
        })
    }
}
