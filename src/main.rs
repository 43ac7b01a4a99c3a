//! The `mailtips` binary: parses the command line and calls into the library.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mailtips::cli::{self, DraftArgs};
use mailtips::config::Config;
use mailtips::directory::ldap::config::Preset;
use mailtips::directory::{CachedDirectory, FileDirectory, LdapDirectory};
use mailtips::pb;

/// Compose-time mail tips over gRPC.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC, gRPC-web, health and reflection. With no --config: the embedded demo
    /// organisation on 127.0.0.1:50051.
    Serve {
        /// The TOML config file (see examples/mailtips.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override server.listen, e.g. 0.0.0.0:50051.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Check a config file (and its directory file, or that its LDAP directory answers) and exit.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Compute group metrics once from LDAP and write them back to the group entries (for
    /// servers with directory.ldap.group_metrics = "stored"); run it on a schedule.
    Metrics {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print a directory file (default: the embedded demo) as LDIF for slapadd/ldapadd.
    ExportLdif {
        /// Attribute names: openldap or active-directory.
        #[arg(long, default_value = "openldap")]
        preset: Preset,
        /// The directory file; absent: the embedded demo organisation.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// The base DN the objects go under.
        #[arg(long, default_value = "dc=contoso,dc=com")]
        base_dn: String,
    },
    /// Ask a running server for a draft's tips and print them.
    Tips {
        /// The server, e.g. http://127.0.0.1:50051.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// The sender address.
        #[arg(long)]
        from: String,
        /// To recipients (repeat, or separate with commas).
        #[arg(long)]
        to: Vec<String>,
        /// Cc recipients.
        #[arg(long)]
        cc: Vec<String>,
        /// Bcc recipients.
        #[arg(long)]
        bcc: Vec<String>,
        /// The message size, e.g. 30MB.
        #[arg(long)]
        size: Option<String>,
        /// The draft is a reply-all; give the original To/Cc with --original-to/--original-cc.
        #[arg(long)]
        reply_all: bool,
        #[arg(long)]
        original_to: Vec<String>,
        #[arg(long)]
        original_cc: Vec<String>,
        /// Language of the texts, e.g. ja.
        #[arg(long, default_value = "")]
        locale: String,
        /// Print the raw response as protobuf debug output too.
        #[arg(long)]
        raw: bool,
    },
}

const DEMO_CONFIG: &str = include_str!("../examples/mailtips.toml");

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p).map_err(anyhow::Error::from),
        None => Config::from_toml(DEMO_CONFIG, std::path::Path::new("<embedded demo config>"))
            .map_err(anyhow::Error::from),
    }
}

fn load_directory(config: &Config) -> anyhow::Result<FileDirectory> {
    let case = config.org.case_sensitive_local_part;
    Ok(match &config.directory.file {
        Some(path) => FileDirectory::load(path, case)?,
        None => FileDirectory::demo(case),
    })
}

fn load_ldap(config: &Config) -> anyhow::Result<Option<LdapDirectory>> {
    config
        .directory
        .ldap
        .clone()
        .map(|l| {
            LdapDirectory::new(l, config.org.case_sensitive_local_part)
                .context("while setting up the LDAP directory")
        })
        .transpose()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { config, listen } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            let listener = tokio::net::TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("while binding {}", config.server.listen))?;
            if let Some(ldap) = load_ldap(&config)? {
                let cached = CachedDirectory::new(
                    ldap,
                    config.directory.cache.clone(),
                    config.org.refresh_interval,
                );
                mailtips::server::run(listener, config, cached, shutdown_signal()).await?;
            } else {
                let directory =
                    Arc::new(load_directory(&config).context("while loading the directory")?);
                spawn_reload_on_sighup(directory.clone())?;
                mailtips::server::run(listener, config, directory, shutdown_signal()).await?;
            }
        }
        Command::CheckConfig { config } => {
            let config = load_config(Some(&config))?;
            if let Some(ldap) = load_ldap(&config)? {
                ldap.check()
                    .await
                    .context("while contacting the LDAP directory")?;
                println!("ok: LDAP directory {ldap:?} answers");
            } else {
                let directory = load_directory(&config).context("while loading the directory")?;
                println!("ok: {} directory objects", directory.snapshot().len());
            }
        }
        Command::Metrics { config } => {
            let config = load_config(Some(&config))?;
            let ldap =
                load_ldap(&config)?.context("the metrics job needs a [directory.ldap] section")?;
            let report = ldap
                .write_group_metrics()
                .await
                .context("while computing and writing group metrics")?;
            println!(
                "ok: {} groups counted, {} updated ({} LDAP searches, {} modifies)",
                report.groups,
                report.written,
                ldap.stats().searches,
                ldap.stats().modifies
            );
        }
        Command::ExportLdif {
            preset,
            directory,
            base_dn,
        } => {
            let snapshot = match &directory {
                Some(path) => FileDirectory::load(path, false)?.snapshot(),
                None => FileDirectory::demo(false).snapshot(),
            };
            let ldif = mailtips::directory::ldap::ldif::export(&snapshot, preset, &base_dn)?;
            print!("{ldif}");
        }
        Command::Tips {
            server,
            from,
            to,
            cc,
            bcc,
            size,
            reply_all,
            original_to,
            original_cc,
            locale,
            raw,
        } => {
            let args = DraftArgs {
                from,
                to,
                cc,
                bcc,
                size,
                reply_all_to: original_to,
                reply_all_cc: original_cc,
                reply_all,
                locale,
            };
            let request = cli::request(&args).map_err(|e| anyhow::anyhow!("--size: {e}"))?;
            let mut client =
                pb::mail_tips_service_client::MailTipsServiceClient::connect(server.clone())
                    .await
                    .with_context(|| format!("while connecting to {server}"))?;
            let response = client
                .get_mail_tips(request.clone())
                .await
                .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
                .into_inner();
            print!("{}", cli::render(&request, &response));
            if raw {
                println!("{response:#?}");
            }
        }
    }
    Ok(())
}

/// Reloads the directory file on SIGHUP; a bad file keeps the old directory.
fn spawn_reload_on_sighup(directory: Arc<FileDirectory>) -> anyhow::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("while installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match directory.reload() {
                Ok(n) => tracing::info!(objects = n, "directory reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "directory reload failed; keeping the previous directory")
                }
            }
        }
    });
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
