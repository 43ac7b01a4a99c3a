//! The real server on `127.0.0.1:0` over a real socket, for the tests and the benches: any
//! [`Backend`] (a directory file in a temporary folder, the embedded demo, LDAP behind the
//! cache), with a tonic channel to it. Stops when dropped.
//!
//! This file names only the library and its dependencies, so that `benches/load.rs` includes
//! it (`#[path]`) and starts its server exactly as the tests do. Helpers that know the demo
//! organisation live in `support/mod.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mailtips::api::server::{Backend, ServerError, serve_backend};
use mailtips::config::Config;
use mailtips::directory::{CachedDirectory, FileDirectory, LdapDirectory};
use mailtips::pb;
use mailtips::pb::mail_tips_service_client::MailTipsServiceClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig};

/// A directory file in a temporary folder and the directory loaded from it, for tests that
/// rewrite the file and reload it.
pub struct DirectoryFile {
    pub path: PathBuf,
    pub directory: Arc<FileDirectory>,
    _tmp: tempfile::TempDir,
}

/// A running server; stops (and its task is aborted) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    tls: bool,
    channel: Channel,
    file: Option<DirectoryFile>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Serves `backend` with `config` on a free loopback port, on the current runtime.
    pub async fn start(config: Config, backend: impl Into<Backend>) -> Self {
        Self::start_inner(config, backend.into(), None).await
    }

    /// Serves `backend` with `config`, whose `[server.tls]` must be set, and connects over TLS
    /// with `client` (a CA to trust, and a client certificate if any).
    pub async fn start_tls(
        config: Config,
        backend: impl Into<Backend>,
        client: ClientTlsConfig,
    ) -> Self {
        assert!(config.server.tls.is_some(), "start_tls needs [server.tls]");
        Self::start_inner(config, backend.into(), Some(client)).await
    }

    async fn start_inner(
        config: Config,
        backend: Backend,
        client: Option<ClientTlsConfig>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_backend(config, backend, listener, async move {
            let _ = stopped.await;
        }));
        // Connects on first use: tests that never call the server over gRPC hold no
        // connection that a graceful shutdown would wait for.
        let tls = client.is_some();
        let scheme = if tls { "https" } else { "http" };
        let mut endpoint = Channel::from_shared(format!("{scheme}://{addr}")).expect("url");
        if let Some(client) = client {
            endpoint = endpoint.tls_config(client).expect("client TLS settings");
        }
        let channel = endpoint.connect_lazy();
        Self {
            addr,
            tls,
            channel,
            file: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Serves a directory file holding `directory` (TOML), written to a temporary folder and
    /// loaded with `config`'s address rules; [`TestServer::directory_file`] gives it back.
    pub async fn with_directory_file(config: Config, directory: &str) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let path = tmp.path().join("directory.toml");
        std::fs::write(&path, directory).expect("write directory");
        let directory =
            Arc::new(FileDirectory::load(&path, config.address_rules()).expect("valid directory"));
        let mut server = Self::start(config, directory.clone()).await;
        server.file = Some(DirectoryFile {
            path,
            directory,
            _tmp: tmp,
        });
        server
    }

    /// Serves `ldap` behind the cache, with `config`'s cache settings and refresh interval
    /// (as `mailtips serve` wires `[directory.ldap]`).
    pub async fn over_ldap(config: Config, ldap: LdapDirectory) -> Self {
        let cached = CachedDirectory::new(
            ldap,
            config.directory.cache.clone(),
            config.org.refresh_interval,
        );
        Self::start(config, cached).await
    }

    /// `http://127.0.0.1:PORT`, or `https://` over TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// A channel to the server (all clones share one connection).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn client(&self) -> MailTipsServiceClient<Channel> {
        MailTipsServiceClient::new(self.channel())
    }

    /// `GetMailTips`, which must succeed.
    pub async fn tips(&self, req: pb::GetMailTipsRequest) -> pb::GetMailTipsResponse {
        self.client()
            .get_mail_tips(req)
            .await
            .expect("GetMailTips")
            .into_inner()
    }

    /// The directory file of a server started with [`TestServer::with_directory_file`].
    pub fn directory_file(&self) -> &DirectoryFile {
        self.file
            .as_ref()
            .expect("the server was started with_directory_file")
    }

    /// Sends the server its shutdown signal (as SIGTERM does) without waiting for it to end.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Asks the server to shut down gracefully and waits for it; returns how it ended.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        self.begin_stop();
        let task = self.task.take().expect("the server task");
        task.await.expect("server task")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
