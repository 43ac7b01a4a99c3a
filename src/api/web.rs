//! The compose page, served by the server itself on the gRPC port: `GET /` answers the page's
//! HTML and `GET /assets/...` its script and style sheet, all embedded in the binary at build
//! time from `web/dist/` (built by `npm run build` in `web/`; see docs/grpc-web.md), so
//! `mailtips serve` works from any directory and needs no proxy.
//!
//! [`WebPageLayer`] sits in front of the gRPC-web translation: it answers only `GET`/`HEAD`
//! requests for the page's own paths and hands every other request (gRPC, gRPC-web, CORS
//! preflights, health, reflection) to the inner service untouched. gRPC never uses `GET`, so
//! nothing the page answers can shadow an RPC.

use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tonic::body::Body;
use tower::{Layer, Service};

/// One embedded file of the page.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The built page. `index.html` is also answered at `/`.
const ASSETS: [Asset; 3] = [
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/dist/index.html"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/dist/assets/app.js"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/dist/assets/app.css"),
    },
];

/// The page loads only its own script and style and talks only to its own origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// The page's response for `method` and `path`, or `None` when the request is not for the
/// page (it then goes on to gRPC).
fn page_response(method: &Method, path: &str) -> Option<Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    if path == "/favicon.ico" {
        // Browsers ask for it on every load; no icon, and no error in the console either.
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Some(response);
    }
    let asset = asset(path)?;
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(asset.body.to_owned())
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
    // Revalidate on every load so a new server version is picked up at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(response)
}

/// Adds the compose page in front of a gRPC service; `enabled = false` (config
/// `server.web_page = false`) passes every request through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebPageLayer {
    enabled: bool,
}

impl WebPageLayer {
    /// A layer that serves the page when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }
}

impl<S> Layer<S> for WebPageLayer {
    type Service = WebPage<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebPage {
            inner,
            enabled: self.enabled,
        }
    }
}

/// The service made by [`WebPageLayer`].
#[derive(Debug, Clone)]
pub(crate) struct WebPage<S> {
    inner: S,
    enabled: bool,
}

impl<S> Service<Request<Body>> for WebPage<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, S::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if self.enabled
            && let Some(response) = page_response(req.method(), req.uri().path())
        {
            return Box::pin(std::future::ready(Ok(response)));
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_the_page_paths_on_get_and_head() {
        for path in ["/", "/index.html", "/assets/app.js", "/assets/app.css"] {
            let r = page_response(&Method::GET, path).expect(path);
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        let icon = page_response(&Method::GET, "/favicon.ico").unwrap();
        assert_eq!(icon.status(), StatusCode::NO_CONTENT);
        let head = page_response(&Method::HEAD, "/").unwrap();
        assert_eq!(
            head.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        // gRPC paths, other files and POSTs go on to gRPC.
        assert!(page_response(&Method::POST, "/").is_none());
        assert!(page_response(&Method::GET, "/mailtips.v1.MailTipsService/GetMailTips").is_none());
        assert!(page_response(&Method::GET, "/assets/../Cargo.toml").is_none());
    }

    #[test]
    fn embedded_page_references_its_assets() {
        let html = asset("/").unwrap().body;
        assert!(html.contains("/assets/app.js"), "{html}");
        assert!(html.contains("/assets/app.css"), "{html}");
        assert!(!asset("/assets/app.js").unwrap().body.is_empty());
    }
}
