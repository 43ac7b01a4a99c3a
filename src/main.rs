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
    /// Write a deterministic synthetic organisation in the directory file format.
    GenDirectory(GenArgs),
    /// Drive a running server with drafts drawn from a directory file and report req/s,
    /// latency percentiles and gRPC status counts.
    Load(LoadArgs),
}

#[derive(clap::Args)]
struct GenArgs {
    #[arg(long, default_value_t = 100_000)]
    mailboxes: usize,
    #[arg(long, default_value_t = 10_000)]
    groups: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The directory file to write.
    #[arg(long)]
    out: PathBuf,
    /// Also write a config file that serves it (contoso.com internal).
    #[arg(long)]
    config_out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// The server to load; nothing else is contacted.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// The directory file drafts are drawn from (e.g. written by gen-directory).
    #[arg(long)]
    directory: PathBuf,
    /// Requests in flight at once.
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// HTTP/2 connections to spread them over.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Stop after this many requests (the run also stops at --duration).
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    requests: u64,
    /// Stop after this long, e.g. 30s (the run also stops at --requests).
    #[arg(long, short = 'z', default_value = "10s", value_parser = humantime::parse_duration)]
    duration: std::time::Duration,
    /// Target requests per second (default: as fast as the server answers).
    #[arg(long)]
    rate: Option<f64>,
    /// Recipients per draft.
    #[arg(long, default_value_t = 10)]
    recipients: usize,
    /// Share of external recipients (0..1).
    #[arg(long, default_value_t = 0.1)]
    external: f64,
    /// Share of unknown internal recipients (0..1).
    #[arg(long, default_value_t = 0.05)]
    unknown: f64,
    /// Share of group recipients (0..1).
    #[arg(long, default_value_t = 0.1)]
    group: f64,
    /// Distinct drafts to cycle through.
    #[arg(long, default_value_t = 1000)]
    pool: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request deadline.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Call WatchMailTips and time its first message instead.
    #[arg(long)]
    watch: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the first draft as a gRPC length-prefixed message to this file (a request body
    /// for h2load, see docs/load-testing.md) and exit without sending anything.
    #[arg(long)]
    write_frame: Option<PathBuf>,
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
        Command::GenDirectory(args) => gen_directory(&args)?,
        Command::Load(args) => load(args).await?,
    }
    Ok(())
}

fn gen_directory(args: &GenArgs) -> anyhow::Result<()> {
    let params = mailtips::synth::GenParams {
        mailboxes: args.mailboxes,
        groups: args.groups,
        seed: args.seed,
    };
    let (text, stats) = mailtips::synth::generate(&params);
    std::fs::write(&args.out, text)
        .with_context(|| format!("while writing {}", args.out.display()))?;
    if let Some(config) = &args.config_out {
        let dir = std::path::absolute(&args.out).context("while resolving --out")?;
        std::fs::write(
            config,
            mailtips::synth::config_for(&dir.display().to_string()),
        )
        .with_context(|| format!("while writing {}", config.display()))?;
    }
    println!("wrote {}: {stats:?}", args.out.display());
    Ok(())
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    use mailtips::load::{AddressBook, DraftMix, LoadOptions};
    let text = std::fs::read_to_string(&args.directory)
        .with_context(|| format!("while reading {}", args.directory.display()))?;
    let snapshot = mailtips::directory::file::Snapshot::parse(
        &text,
        &args.directory.display().to_string(),
        false,
    )?;
    let mix = DraftMix {
        recipients: args.recipients,
        external: args.external,
        unknown: args.unknown,
        group: args.group,
        pool: args.pool,
        message_size: 0,
        seed: args.seed,
    };
    let drafts = AddressBook::from_snapshot(&snapshot).drafts(&mix)?;
    drop(snapshot);
    if let Some(path) = &args.write_frame {
        std::fs::write(path, mailtips::load::grpc_frame(&drafts[0]))
            .with_context(|| format!("while writing {}", path.display()))?;
        return Ok(());
    }
    let opts = LoadOptions {
        target: args.target,
        concurrency: args.concurrency,
        connections: args.connections,
        requests: args.requests,
        duration: args.duration,
        rate: args.rate,
        timeout: args.timeout,
        watch: args.watch,
    };
    let report = mailtips::load::run(&opts, Arc::new(drafts)).await?;
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("while writing {}", path.display()))?;
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
