//! The layers only browsers need: CORS for gRPC-web callers, applied with the compose page and
//! the gRPC-web translation to every request except native gRPC calls, which skip them.

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::HeaderValue;
use http::header::HeaderName;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;

/// The headers a browser must be allowed to send and to read for gRPC-web.
const REQUEST_HEADERS: [&str; 5] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
];
const EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// The origins gRPC-web callers may come from (`server.cors_allowed_origins`), read on every
/// cross-origin request and swapped whole by a config reload.
#[derive(Clone)]
pub(crate) struct AllowedOrigins(Arc<ArcSwap<Origins>>);

struct Origins {
    any: bool,
    list: Vec<HeaderValue>,
}

impl Origins {
    fn of(config: &Config) -> Self {
        let origins = &config.server.cors_allowed_origins;
        Self {
            any: origins.iter().any(|o| o == "*"),
            list: origins.iter().filter_map(|o| o.parse().ok()).collect(),
        }
    }
}

impl AllowedOrigins {
    pub(crate) fn new(config: &Config) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(Origins::of(config))))
    }

    /// Takes the origins of `config` from the next request on.
    pub(crate) fn set(&self, config: &Config) {
        self.0.store(Arc::new(Origins::of(config)));
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let origins = self.0.load();
        origins.any || origins.list.contains(origin)
    }
}

/// CORS for gRPC-web callers from the origins `origins` allows now. A granted origin is
/// echoed back (with `Vary: Origin`), also under `"*"`, so that a reload can narrow the list.
pub(crate) fn cors(origins: AllowedOrigins) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origins.allows(origin)
        }))
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(24 * 3600))
}

/// Applies the browser-facing layers (CORS, the compose page, gRPC-web) to every request
/// except native gRPC calls (`content-type: application/grpc…`, not `grpc-web`, and no
/// `Origin` header), which go straight to the services: the bulk of the traffic, from mail
/// clients and load tests, does not pay for header checks meant for browsers.
#[derive(Debug, Clone)]
pub(crate) struct BrowserOnly<L>(pub L);

impl<L: Layer<S>, S: Clone> Layer<S> for BrowserOnly<L> {
    type Service = BrowserOnlyService<S, L::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        BrowserOnlyService {
            native: inner.clone(),
            browser: self.0.layer(inner),
        }
    }
}

/// The service of [`BrowserOnly`].
#[derive(Debug, Clone)]
pub(crate) struct BrowserOnlyService<S, B> {
    native: S,
    browser: B,
}

fn is_native_grpc<T>(req: &http::Request<T>) -> bool {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web")
        });
    grpc && !req.headers().contains_key(http::header::ORIGIN)
}

impl<S, B, Req, Res> Service<http::Request<Req>> for BrowserOnlyService<S, B>
where
    S: Service<http::Request<Req>, Response = Res>,
    B: Service<http::Request<Req>, Response = Res, Error = S::Error>,
{
    type Response = Res;
    type Error = S::Error;
    type Future = tower::util::future::EitherResponseFuture<S::Future, B::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both must be ready: the next request may take either path.
        match (self.native.poll_ready(cx)?, self.browser.poll_ready(cx)?) {
            (Poll::Ready(()), Poll::Ready(())) => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    }

    fn call(&mut self, req: http::Request<Req>) -> Self::Future {
        let mut route: tower::util::Either<&mut S, &mut B> = if is_native_grpc(&req) {
            tower::util::Either::Left(&mut self.native)
        } else {
            tower::util::Either::Right(&mut self.browser)
        };
        route.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::is_native_grpc;

    fn req(content_type: Option<&str>, origin: bool) -> http::Request<()> {
        let mut b = http::Request::post("/mailtips.v1.MailTipsService/GetMailTips");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        if origin {
            b = b.header("origin", "http://example.test");
        }
        b.body(()).unwrap()
    }

    #[test]
    fn only_native_grpc_without_origin_skips_the_browser_layers() {
        assert!(is_native_grpc(&req(Some("application/grpc"), false)));
        assert!(is_native_grpc(&req(Some("application/grpc+proto"), false)));
        assert!(!is_native_grpc(&req(Some("application/grpc"), true)));
        assert!(!is_native_grpc(&req(
            Some("application/grpc-web+proto"),
            false
        )));
        assert!(!is_native_grpc(&req(
            Some("application/grpc-web-text"),
            false
        )));
        assert!(!is_native_grpc(&req(None, false)));
        assert!(!is_native_grpc(&req(Some("text/html"), false)));
    }
}
