//! Assembles and runs the server: picks and wires the directory backend the config names
//! ([`Backend`]), then serves the mail tips service, `grpc.health.v1`, server reflection (v1
//! and v1alpha), gRPC-web with CORS and the compose page ([`crate::api::web`]) on one port,
//! with the background group metrics job beside them. `main`, the tests and the benches all
//! start the server through [`serve`] or [`serve_backend`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::conn::TrackLayer;
use super::listener::{self, Connections};
use super::tls::{TlsError, TlsFiles};
use crate::api::access::{Access, Budget};
use crate::api::auth::{AuthLayer, Authenticator};
use crate::api::handler::GrpcService;
use crate::api::pb;
use crate::api::shutdown::Shutdown;
use crate::config::auth::{self, AuthMode};
use crate::config::{Config, ConfigError};
use crate::directory::file::DirectoryFileError;
use crate::directory::ldap::LdapSetupError;
use crate::directory::{CachedDirectory, Directory, FileDirectory, GroupSource, LdapDirectory};
use crate::metrics::MetricsStore;
use crate::service::MailTips;

/// The encoded descriptor set of `mailtips.proto`, served by reflection.
pub(crate) const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("mailtips_descriptor");

/// Why the server could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("while loading the directory: {0}")]
    DirectoryFile(#[from] DirectoryFileError),
    #[error("while setting up the LDAP directory: {0}")]
    Ldap(#[from] LdapSetupError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("while binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("while installing a signal handler: {0}")]
    Signal(std::io::Error),
    #[error("reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("{0}")]
    Auth(String),
    #[error("while reading an issuer's keys: {0}")]
    AuthKeys(#[from] crate::api::auth::jwks::KeysError),
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// `mailtips serve`: with no `--config`, the embedded demo organisation on 127.0.0.1:50051.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The TOML config file (see examples/mailtips.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Override server.listen, e.g. 0.0.0.0:50051.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// Runs `mailtips serve` until SIGTERM or Ctrl-C.
///
/// # Errors
/// [`ServerError`] when the config, the directory or the listener is refused.
pub async fn serve_command(args: ServeArgs) -> Result<(), ServerError> {
    let mut config = Config::load_or_demo(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    crate::telemetry::logs::init(config.log.format);
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServerError::Signal)?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    serve(config, listener, shutdown).await
}

/// The directory backend a config names, wired as the server runs it.
#[derive(Clone)]
pub enum Backend {
    /// A directory file (or the embedded demo), reloaded on `SIGHUP`.
    File(Arc<FileDirectory>),
    /// An LDAP directory behind the cache.
    Ldap(CachedDirectory<LdapDirectory>),
}

impl From<Arc<FileDirectory>> for Backend {
    fn from(directory: Arc<FileDirectory>) -> Self {
        Self::File(directory)
    }
}

impl From<CachedDirectory<LdapDirectory>> for Backend {
    fn from(directory: CachedDirectory<LdapDirectory>) -> Self {
        Self::Ldap(directory)
    }
}

impl Backend {
    /// Opens the backend `config` names: `[directory.ldap]` behind `[directory.cache]`, else
    /// `directory.file`, else the embedded demo organisation. LDAP is not contacted yet (a
    /// server starts while its directory is down); a directory file is read and validated.
    ///
    /// # Errors
    /// [`ServerError`] for a bad directory file or LDAP settings.
    pub(crate) fn open(config: &Config) -> Result<Self, ServerError> {
        let rules = config.address_rules();
        if let Some(ldap) = &config.directory.ldap {
            let ldap = LdapDirectory::new(ldap.clone(), rules)?;
            return Ok(Self::Ldap(CachedDirectory::new(
                ldap,
                config.directory.cache.clone(),
                config.org.refresh_interval,
            )));
        }
        Ok(Self::File(Arc::new(match &config.directory.file {
            Some(path) => FileDirectory::load(path, rules)?,
            None => FileDirectory::demo(rules),
        })))
    }
}

/// Opens the backend `config` names and serves until `shutdown` resolves.
///
/// # Errors
/// [`ServerError`] when the directory is refused or the listener fails.
pub(crate) async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let backend = Backend::open(&config)?;
    serve_backend(config, backend, listener, shutdown).await
}

/// Serves `backend` until `shutdown` resolves: what [`serve`] does once the backend is open,
/// for tests and benches that keep a handle on the backend (to reload it, count its searches
/// or set its clock).
///
/// # Errors
/// [`ServerError`] when the listener fails.
pub async fn serve_backend(
    config: Config,
    backend: Backend,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let tls = match config.server.tls.clone() {
        Some(files) => Some(Arc::new(TlsFiles::load(files)?)),
        None => None,
    };
    match backend {
        Backend::File(directory) => {
            let file = Some(directory.clone());
            run(listener, config, directory, file, tls, shutdown).await
        }
        Backend::Ldap(directory) => run(listener, config, directory, None, tls, shutdown).await,
    }
}

/// Serves until `shutdown` resolves. Starts the group metrics job (at once, then every
/// `org.group_metrics_interval`) when group metrics are on, and reloads the config, `file` (a
/// directory file backend) and `tls` (the certificates) on SIGHUP (`api::reload`).
///
/// # Errors
/// [`ServerError`] when the listener fails.
async fn run<D: Directory + GroupSource + Clone>(
    listener: TcpListener,
    config: Config,
    directory: D,
    file: Option<Arc<FileDirectory>>,
    tls: Option<Arc<TlsFiles>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listen = listener.local_addr().unwrap_or(config.server.listen);
    let mode = auth::effective_mode(config.auth.as_ref(), listen).map_err(ServerError::Auth)?;
    startup_warnings(&config, mode, listen);
    let authenticator = Arc::new(Authenticator::new(
        config.auth.as_ref(),
        mode,
        config.address_rules(),
    )?);
    let budget = Arc::new(Budget::new(
        config.auth.as_ref(),
        config.org.max_recipients_per_request.get(),
    ));
    let housekeeping = tokio::spawn(budget.clone().housekeeping());
    let access = Arc::new(Access {
        budget,
        auth: authenticator.clone(),
    });
    let metrics = Arc::new(MetricsStore::default());
    // Bound before anything is spawned: a busy admin port fails start-up cleanly.
    let ready = (config.org.group_metrics_enabled, metrics.clone());
    let ready: super::admin::Ready = Arc::new(move || !ready.0 || ready.1.is_ready());
    let admin = match config.server.admin_listen {
        Some(addr) => Some(
            super::admin::start(addr, ready)
                .await
                .map_err(|source| ServerError::Bind { addr, source })?,
        ),
        None => None,
    };
    let metrics_job = config.org.group_metrics_enabled.then(|| {
        tokio::spawn(
            metrics
                .clone()
                .run_schedule(directory.clone(), config.org.group_metrics_interval),
        )
    });
    let tips = Arc::new(MailTips::new(directory, metrics, config.policy()));
    let stop = Shutdown::new();
    let grpc = GrpcService::new(tips.clone(), access, &config, stop.clone());
    let admit = grpc.admit_layer();
    let origins = super::browser::AllowedOrigins::new(&config);
    let reloader = super::reload::Reloader::new(
        &config,
        tips,
        grpc.edge(),
        origins.clone(),
        file,
        tls.clone(),
    );
    let reload = super::reload::on_sighup(reloader).map_err(ServerError::Signal)?;
    let service = pb::mail_tips_service_server::MailTipsServiceServer::new(grpc);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::mail_tips_service_server::MailTipsServiceServer<GrpcService<D>>>()
        .await;
    let shutdown = stop.clone().on(shutdown, health_reporter);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc.BadRequest and friends, so that grpcurl decodes error details.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, tls = tls.is_some(), "serving gRPC, gRPC-web and health");
    if config.server.web_page {
        tracing::info!("compose page at {scheme}://{addr}/");
    }
    let browser_layers = tower::ServiceBuilder::new()
        .layer(super::browser::cors(origins.clone()))
        .layer(crate::api::web::WebPageLayer::new(config.server.web_page))
        .layer(tonic_web::GrpcWebLayer::new())
        .into_inner();
    let limits = &config.server.limits;
    let conns = Connections::new(limits.clone());
    let router = tonic::transport::Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .initial_stream_window_size(limits.stream_window)
        .initial_connection_window_size(limits.connection_window)
        .max_frame_size(limits.max_frame_size)
        .http2_max_header_list_size(limits.max_header_list_size)
        .layer(TrackLayer(conns.clone()))
        .layer(super::browser::BrowserOnly(browser_layers))
        // Inside the browser layers: gRPC-web calls are plain gRPC here, and a refusal goes
        // back through the gRPC-web translation and CORS.
        .layer(super::admin::GrpcMetricsLayer)
        .layer(AuthLayer(authenticator))
        .layer(super::deadline::DeadlineLayer)
        // Inside authentication (the caller is known) and the deadline (it bounds the wait
        // for the body): a call refused for load is refused before it is decoded.
        .layer(admit)
        .add_service(service)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    // The accept loop (api::listener) sets TCP_NODELAY: small gRPC frames must leave at once
    // (with Nagle and delayed ACKs a request waited ~40 ms for its response on loopback).
    let grace = config.server.limits.shutdown_grace;
    let result = match tls {
        Some(tls) => {
            let incoming = listener::incoming(listener, conns, tls);
            let serve = router.serve_with_incoming_shutdown(incoming, shutdown);
            stop.within_grace(serve, grace).await
        }
        None => {
            let incoming = listener::incoming(listener, conns, listener::Plain);
            let serve = router.serve_with_incoming_shutdown(incoming, shutdown);
            stop.within_grace(serve, grace).await
        }
    };
    for task in metrics_job.into_iter().chain(admin).chain([reload]) {
        task.abort();
    }
    housekeeping.abort();
    Ok(result?)
}

/// Logs at warn every setting that opens the service beyond its secure defaults.
fn startup_warnings(config: &Config, mode: AuthMode, listen: SocketAddr) {
    if mode == AuthMode::None && !listen.ip().is_loopback() {
        tracing::warn!(%listen, "auth.mode = \"none\": anyone who reaches this port may ask as any sender");
    }
    if mode == AuthMode::Required && config.server.tls.is_none() && !listen.ip().is_loopback() {
        tracing::warn!(%listen, "authentication without [server.tls]: bearer tokens travel in clear");
    }
    if config.server.cors_allowed_origins.iter().any(|o| o == "*") {
        tracing::warn!(
            "server.cors_allowed_origins = [\"*\"]: any web page a user opens may call this service through the user's browser"
        );
    }
    if let Some(ldap) = &config.directory.ldap
        && ldap.sends_password_in_clear()
    {
        tracing::warn!(url = %ldap.url, "directory.ldap: a plaintext ldap:// URL with a bind_dn sends the bind password in clear; use ldaps:// or starttls = true");
    }
}
