//! One connection's limits: [`Conn`], the IO tonic serves, ends a connection that has had no
//! open request for `idle_timeout` (or that the cap evicts), and [`TrackLayer`] counts each
//! request as open from its headers until its response ends and refuses a request body that
//! has not arrived within `request_body_timeout`.
//!
//! `Conn` passes its inner IO's `Connected` info through unchanged, so handlers read the peer
//! as tonic gives it: `request.remote_addr()`, and over TLS `request.peer_certs()`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tonic::body::Body;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use super::listener::{ConnState, Connections, Slot};

/// A served connection: the IO, and what closes it when idle.
pub(crate) struct Conn<IO> {
    io: IO,
    peer: SocketAddr,
    state: Arc<ConnState>,
    conns: Arc<Connections>,
    idle: Pin<Box<Sleep>>,
    ended_seen: u64,
    _slot: Slot,
}

impl<IO> Conn<IO> {
    pub(crate) fn new(io: IO, peer: SocketAddr, slot: Slot, conns: Arc<Connections>) -> Self {
        let state = conns.register(peer);
        let idle = Box::pin(tokio::time::sleep(conns.limits.idle_timeout));
        Self {
            io,
            peer,
            state,
            conns,
            idle,
            ended_seen: 0,
            _slot: slot,
        }
    }

    /// True when the connection is to close: evicted, or idle past the timeout. Arms the idle
    /// timer (and the eviction waker) with `cx` while no request is open.
    fn closing(&mut self, cx: &mut Context<'_>) -> bool {
        if self.state.evict.load(Ordering::Acquire) {
            return true;
        }
        if self.state.active.load(Ordering::Acquire) > 0 {
            return false;
        }
        let ended = self.state.ended.load(Ordering::Acquire);
        if ended != self.ended_seen {
            self.ended_seen = ended;
            let deadline = Instant::now() + self.conns.limits.idle_timeout;
            self.idle.as_mut().reset(deadline);
        }
        if self.idle.as_mut().poll(cx).is_ready() {
            return true;
        }
        if let Ok(mut waker) = self.state.waker.lock() {
            *waker = Some(cx.waker().clone());
        }
        false
    }
}

impl<IO> Drop for Conn<IO> {
    fn drop(&mut self) {
        self.conns.unregister(self.peer, &self.state);
    }
}

impl<IO: Connected> Connected for Conn<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Conn<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closing(cx) {
            // End of stream: the HTTP layer closes the connection as if the peer had.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Conn<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts requests per connection and bounds how long a request body may take.
#[derive(Clone)]
pub(crate) struct TrackLayer(pub(crate) Arc<Connections>);

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            conns: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Track<S> {
    inner: S,
    conns: Arc<Connections>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<Body>> for Track<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let guard = peer(&request)
            .and_then(|p| self.conns.by_peer.get(&p).map(|s| s.value().clone()))
            .map(|state| Open::new(state, self.conns.clone()));
        let limit = self.conns.limits.request_body_timeout;
        let request = request.map(|body| Body::new(Deadline::new(body, limit)));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(
                response
                    .map(|body| Body::new(Holding::new(Body::new(body), guard, Release::AtEnd))),
            )
        })
    }
}

/// The peer address tonic recorded for `request`, over plaintext or TLS.
fn peer<T>(request: &http::Request<T>) -> Option<SocketAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

/// One open request on a connection, closed when dropped.
struct Open {
    state: Arc<ConnState>,
    conns: Arc<Connections>,
}

impl Open {
    fn new(state: Arc<ConnState>, conns: Arc<Connections>) -> Self {
        state.active.fetch_add(1, Ordering::AcqRel);
        Self { state, conns }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.conns.request_ended(&self.state);
    }
}

/// A response body that holds `guard` while it is sent: until the body is dropped
/// ([`Release::AtEnd`]), or only until its first frame is ready ([`Release::AtFirstFrame`]:
/// a unary answer is encoded when first polled).
pub(crate) struct Holding<G> {
    body: Body,
    guard: Option<G>,
    release: Release,
}

/// When a [`Holding`] body lets its guard go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    AtEnd,
    AtFirstFrame,
}

impl<G> Holding<G> {
    pub(crate) fn new(body: Body, guard: G, release: Release) -> Self {
        Self {
            body,
            guard: Some(guard),
            release,
        }
    }
}

impl<G: Send + Unpin + 'static> http_body::Body for Holding<G> {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if frame.is_ready() && self.release == Release::AtFirstFrame {
            self.guard = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that must end within a time limit.
struct Deadline {
    body: Body,
    limit: Duration,
    start: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn new(body: Body, limit: Duration) -> Self {
        Self {
            body,
            limit,
            start: Instant::now(),
            timer: None,
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let (start, limit) = (this.start, this.limit);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(start + limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(tonic::Status::deadline_exceeded(format!(
                "the request body did not arrive within {} (server.limits.request_body_timeout)",
                humantime::format_duration(limit)
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
