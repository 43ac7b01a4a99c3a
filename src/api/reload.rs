//! Live reload on `SIGHUP` (`systemctl reload mailtips`): the config file is read and
//! validated again, and what a running server can change is swapped atomically: the
//! organisation's settings and tip switches (the service's policy), the edge's limits and the
//! configuration it advertises, the CORS origins, the directory file's contents and the TLS
//! certificates (new connections get the new ones). Settings it cannot change (listen
//! addresses, the directory backend and its connection, the cache, the compose page, limits,
//! `[auth]`, the log format, the group metrics schedule, address matching) keep their running
//! values and are logged as needing a restart. A bad config keeps the running one, and the
//! log line says why.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::api::browser::AllowedOrigins;
use crate::api::handler::Edge;
use crate::api::tls::TlsFiles;
use crate::config::Config;
use crate::directory::{Directory, FileDirectory};
use crate::service::MailTips;
use crate::telemetry::logs::one_line;

/// What a reload swaps, and the config the server runs with now.
pub(crate) struct Reloader<D> {
    /// The config file; `None` (the embedded demo, a test's config): only the directory
    /// file reloads.
    path: Option<PathBuf>,
    running: Mutex<Config>,
    tips: Arc<MailTips<D>>,
    edge: Arc<ArcSwap<Edge>>,
    origins: AllowedOrigins,
    file: Option<Arc<FileDirectory>>,
    tls: Option<Arc<TlsFiles>>,
}

impl<D: Directory> Reloader<D> {
    pub(crate) fn new(
        config: &Config,
        tips: Arc<MailTips<D>>,
        edge: Arc<ArcSwap<Edge>>,
        origins: AllowedOrigins,
        file: Option<Arc<FileDirectory>>,
        tls: Option<Arc<TlsFiles>>,
    ) -> Self {
        Self {
            path: config.source.clone(),
            running: Mutex::new(config.clone()),
            tips,
            edge,
            origins,
            file,
            tls,
        }
    }

    /// Reloads the config file (when there is one), then the directory file (when the backend
    /// is one), then the TLS certificates (when TLS is on; open connections keep theirs), and
    /// logs the outcome of each on one line.
    pub(crate) fn reload_and_log(&self) {
        if let Some(path) = &self.path {
            match Config::load(path) {
                Ok(new) => {
                    let restart = self.apply(new);
                    if !restart.is_empty() {
                        tracing::warn!(keys = %restart.join(", "), "config changes that need a restart to take effect (running values kept)");
                    }
                    tracing::info!("config reloaded");
                }
                Err(e) => {
                    let error = one_line(&e);
                    tracing::error!(%error, "config reload failed; keeping the running config");
                }
            }
        }
        if let Some(file) = &self.file {
            match file.reload() {
                Ok(n) => tracing::info!(objects = n, "directory reloaded"),
                Err(e) => {
                    let error = one_line(&e);
                    tracing::error!(%error, "directory reload failed; keeping the previous directory");
                }
            }
        }
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificates reloaded"),
                Err(e) => {
                    let error = one_line(&e);
                    tracing::error!(%error, "TLS reload failed; keeping the previous certificates");
                }
            }
        }
    }

    /// Swaps in what can change live from `new`; returns the keys that changed but need a
    /// restart (their running values stay).
    fn apply(&self, new: Config) -> Vec<&'static str> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let (applied, restart) = live_part(&running, new);
        let policy = applied.policy();
        self.edge.store(Arc::new(Edge::new(&policy, &applied)));
        self.origins.set(&applied);
        self.tips.set_policy(policy);
        *running = applied;
        restart
    }
}

/// `new` with every setting that cannot change live put back to its `running` value, and the
/// keys that were put back.
fn live_part(running: &Config, new: Config) -> (Config, Vec<&'static str>) {
    fn differ<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") != format!("{b:?}")
    }
    let (old, org) = (running, &new.org);
    let checks = [
        // CORS origins change live; the rest of [server] does not.
        (
            "server",
            differ(
                &old.server,
                &crate::config::ServerConfig {
                    cors_allowed_origins: old.server.cors_allowed_origins.clone(),
                    ..new.server.clone()
                },
            ),
        ),
        ("directory", differ(&old.directory, &new.directory)),
        ("log", differ(&old.log, &new.log)),
        // The authenticator and budgets are built at start-up (issuers' keys are refetched
        // live when a token names an unknown key).
        ("auth", differ(&old.auth, &new.auth)),
        (
            "org.case_sensitive_local_part",
            old.org.case_sensitive_local_part != org.case_sensitive_local_part,
        ),
        (
            "org.group_metrics_enabled",
            old.org.group_metrics_enabled != org.group_metrics_enabled,
        ),
        (
            "org.group_metrics_interval",
            old.org.group_metrics_interval != org.group_metrics_interval,
        ),
        // The cache's bound on stale answers was set from it.
        (
            "org.refresh_interval",
            old.org.refresh_interval != org.refresh_interval,
        ),
    ];
    let restart = checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect();
    let mut applied = new;
    applied.server = crate::config::ServerConfig {
        cors_allowed_origins: applied.server.cors_allowed_origins.clone(),
        ..old.server.clone()
    };
    applied.directory = old.directory.clone();
    applied.log = old.log.clone();
    applied.auth = old.auth.clone();
    applied.source = old.source.clone();
    let o = &mut applied.org;
    o.case_sensitive_local_part = old.org.case_sensitive_local_part;
    o.group_metrics_enabled = old.org.group_metrics_enabled;
    o.group_metrics_interval = old.org.group_metrics_interval;
    o.refresh_interval = old.org.refresh_interval;
    (applied, restart)
}

/// Runs [`Reloader::reload_and_log`] on every `SIGHUP` until the task is aborted.
///
/// # Errors
/// The signal handler could not be installed.
pub(crate) fn on_sighup<D: Directory + Send + Sync + 'static>(
    reloader: Reloader<D>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reloader.reload_and_log();
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(extra: &str) -> Config {
        let text = format!("[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n{extra}");
        Config::from_toml(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn live_settings_apply_and_the_rest_waits_for_a_restart() {
        let old = config("max_message_size = \"25MB\"\n");
        let mut new = config("max_message_size = \"50MB\"\ncase_sensitive_local_part = true\n");
        new.server.listen = "127.0.0.1:1".parse().unwrap();
        new.tips.auto_reply = false;
        let (applied, restart) = live_part(&old, new);
        assert_eq!(restart, ["server", "org.case_sensitive_local_part"]);
        assert_eq!(applied.org.max_message_size.map(|b| b.0), Some(50_000_000));
        assert!(!applied.tips.auto_reply);
        assert_eq!(applied.server.listen, old.server.listen);
        assert!(!applied.org.case_sensitive_local_part);
    }
}
