//! The accept loop: every TCP connection passes the connection cap, then its TLS handshake
//! (bounded by `handshake_timeout`, on its own task so a slow one delays nobody), and reaches
//! tonic as a [`Conn`] that closes itself when idle. Connections past the cap are closed at
//! once (after closing the longest-idle connection instead when there is one), and counted in
//! a log line written at most every [`LOG_EVERY`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::conn::Conn;
use super::tls::TlsFiles;
use crate::config::LimitsConfig;

/// How often, at most, refused connections are logged.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Descriptors kept free for everything but client connections (LDAP, files, logs).
const RESERVED_DESCRIPTORS: u64 = 64;

/// The open connections: the cap, and each established connection's request state, by peer
/// address (which tells connections to one listener apart).
pub(crate) struct Connections {
    pub(crate) limits: LimitsConfig,
    max: usize,
    open: AtomicUsize,
    pub(crate) by_peer: DashMap<SocketAddr, Arc<ConnState>>,
    refused: AtomicU64,
    evicted: AtomicU64,
    accept_errors: AtomicU64,
    epoch: Instant,
}

/// One established connection's requests, shared by its [`Conn`] and the request layer.
#[derive(Default)]
pub(crate) struct ConnState {
    /// Requests open now (from their headers until their response ends).
    pub(crate) active: AtomicU32,
    /// Requests ended so far; a change restarts the idle clock.
    pub(crate) ended: AtomicU64,
    /// When the last request ended (or the connection began), ms after `Connections::epoch`.
    idle_since_ms: AtomicU64,
    /// Set to close this connection (to make room for a new one).
    pub(crate) evict: AtomicBool,
    /// Woken on eviction: the task reading the connection while it is idle.
    pub(crate) waker: std::sync::Mutex<Option<Waker>>,
}

/// A place under the cap, given back when dropped.
pub(crate) struct Slot(Arc<Connections>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    /// Connection bookkeeping for `limits`; the cap is lowered to what the process's
    /// descriptor limit leaves room for.
    pub(crate) fn new(limits: LimitsConfig) -> Arc<Self> {
        let configured = limits.max_connections as usize;
        let max = descriptor_room().map_or(configured, |room| configured.min(room));
        if max < configured {
            tracing::info!(
                configured,
                max,
                "server.limits.max_connections lowered to fit the open-file limit (ulimit -n)"
            );
        }
        Arc::new(Self {
            limits,
            max: max.max(1),
            open: AtomicUsize::new(0),
            by_peer: DashMap::new(),
            refused: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for a new connection: under the cap, or by closing the connection idle the
    /// longest. `None`: refuse it.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let before = self.open.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(self.clone());
        if before < self.max || self.evict_idlest() {
            return Some(slot);
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Marks the connection idle the longest for closing and wakes it; false when none is idle.
    fn evict_idlest(&self) -> bool {
        let idlest = self
            .by_peer
            .iter()
            .filter(|c| c.active.load(Ordering::Relaxed) == 0 && !c.evict.load(Ordering::Relaxed))
            .min_by_key(|c| c.idle_since_ms.load(Ordering::Relaxed))
            .map(|c| c.value().clone());
        let Some(state) = idlest else { return false };
        if state.evict.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(waker) = state.waker.lock().ok().and_then(|mut w| w.take()) {
            waker.wake();
        }
        self.evicted.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Registers an established connection from `peer`.
    pub(crate) fn register(&self, peer: SocketAddr) -> Arc<ConnState> {
        let state = Arc::new(ConnState::default());
        state.idle_since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.by_peer.insert(peer, state.clone());
        state
    }

    /// Forgets a closed connection.
    pub(crate) fn unregister(&self, peer: SocketAddr, state: &Arc<ConnState>) {
        self.by_peer.remove_if(&peer, |_, s| Arc::ptr_eq(s, state));
    }

    /// A request on `state`'s connection ended.
    pub(crate) fn request_ended(&self, state: &ConnState) {
        state.idle_since_ms.store(self.now_ms(), Ordering::Relaxed);
        state.ended.fetch_add(1, Ordering::Release);
        state.active.fetch_sub(1, Ordering::AcqRel);
    }

    /// Logs what was refused since the last line, if anything.
    fn log_refusals(&self) {
        let refused = self.refused.swap(0, Ordering::Relaxed);
        let evicted = self.evicted.swap(0, Ordering::Relaxed);
        let accept_errors = self.accept_errors.swap(0, Ordering::Relaxed);
        if refused + evicted + accept_errors > 0 {
            tracing::warn!(
                refused,
                idle_closed = evicted,
                accept_errors,
                open = self.open.load(Ordering::Relaxed),
                max = self.max,
                "connection cap (server.limits.max_connections) reached in the last {}s",
                LOG_EVERY.as_secs()
            );
        }
    }
}

/// The descriptors this process may still open for connections (`RLIMIT_NOFILE` less a
/// reserve); `None` when unlimited or unknown.
fn descriptor_room() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    usize::try_from(limit.rlim_cur.saturating_sub(RESERVED_DESCRIPTORS)).ok()
}

/// What turns an accepted TCP connection into the IO tonic serves: nothing, or TLS.
pub(crate) trait Handshake: Clone + Send + Sync + 'static {
    type Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Connected + Unpin + Send + 'static;
    fn handshake(&self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// Plaintext: the TCP connection as it is.
#[derive(Clone)]
pub(crate) struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;
    async fn handshake(&self, tcp: TcpStream) -> io::Result<TcpStream> {
        Ok(tcp)
    }
}

impl Handshake for Arc<TlsFiles> {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    async fn handshake(&self, tcp: TcpStream) -> io::Result<Self::Io> {
        self.accept(tcp).await
    }
}

/// Accepts connections on `listener` until the returned stream is dropped.
pub(crate) fn incoming<H: Handshake>(
    listener: TcpListener,
    conns: Arc<Connections>,
    handshake: H,
) -> ReceiverStream<io::Result<Conn<H::Io>>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut log = tokio::time::interval(LOG_EVERY);
        loop {
            let (tcp, peer) = tokio::select! {
                () = tx.closed() => break,
                _ = log.tick() => { conns.log_refusals(); continue }
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, most likely: wait for some to close.
                        tracing::debug!(error = %e, "accept failed");
                        conns.accept_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = conns.admit() else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (tx, conns, handshake) = (tx.clone(), conns.clone(), handshake.clone());
            tokio::spawn(async move {
                let limit = conns.limits.handshake_timeout;
                match tokio::time::timeout(limit, handshake.handshake(tcp)).await {
                    Ok(Ok(io)) => {
                        let _ = tx.send(Ok(Conn::new(io, peer, slot, conns))).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
