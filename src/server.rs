//! Assembles and runs the server: the mail tips service, `grpc.health.v1`, server reflection
//! (v1 and v1alpha), gRPC-web with CORS and the compose page ([`crate::web`]), all on one port;
//! plus the background group metrics job. `main` and the tests both call [`run`].

use std::future::Future;
use std::task::{Context, Poll};

use std::sync::Arc;
use tower::{Layer, Service};

use http::header::HeaderName;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::directory::Directory;
use crate::grpc::GrpcService;
use crate::metrics::MetricsStore;
use crate::pb;
use crate::service::MailTips;

/// The encoded descriptor set of `mailtips.proto`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("mailtips_descriptor");

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The headers a browser must be allowed to send and to read for gRPC-web.
const REQUEST_HEADERS: [&str; 5] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
];
const EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

fn cors(config: &Config) -> CorsLayer {
    let origins = &config.server.cors_allowed_origins;
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(24 * 3600))
}

/// Serves until `shutdown` resolves. Starts the group metrics job (at once, then every
/// `org.group_metrics_interval`) when group metrics are on.
///
/// # Errors
/// [`ServerError`] when the listener fails.
pub async fn run<D: Directory + Clone>(
    listener: TcpListener,
    config: Config,
    directory: D,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let metrics = Arc::new(MetricsStore::default());
    let metrics_job = config.org.group_metrics_enabled.then(|| {
        tokio::spawn(
            metrics
                .clone()
                .run_schedule(directory.clone(), config.org.group_metrics_interval),
        )
    });
    let tips = Arc::new(MailTips::new(directory, metrics, config.policy()));
    let service =
        pb::mail_tips_service_server::MailTipsServiceServer::new(GrpcService::new(tips, &config));

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::mail_tips_service_server::MailTipsServiceServer<GrpcService<D>>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving gRPC, gRPC-web and health");
    if config.server.web_page
        && let Ok(addr) = listener.local_addr()
    {
        tracing::info!("compose page at http://{addr}/");
    }
    let browser_layers = tower::ServiceBuilder::new()
        .layer(cors(&config))
        .layer(crate::web::WebPageLayer::new(config.server.web_page))
        .layer(tonic_web::GrpcWebLayer::new())
        .into_inner();
    let result = tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(BrowserOnly(browser_layers))
        .add_service(service)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // No Nagle: small gRPC frames must leave at once (with Nagle and delayed ACKs a
        // request waited ~40 ms for its response on loopback; see BENCHMARKS.md).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    if let Some(job) = metrics_job {
        job.abort();
    }
    Ok(result?)
}

/// Applies the browser-facing layers (CORS, the compose page, gRPC-web) to every request
/// except native gRPC calls (`content-type: application/grpc…`, not `grpc-web`, and no
/// `Origin` header), which go straight to the services: the bulk of the traffic, from mail
/// clients and load tests, does not pay for header checks meant for browsers.
#[derive(Debug, Clone)]
pub struct BrowserOnly<L>(pub L);

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
pub struct BrowserOnlyService<S, B> {
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
