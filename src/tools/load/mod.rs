//! The load tool behind `mailtips load` and the `load` bench: a real tonic client that drives
//! `GetMailTips` (or `WatchMailTips`, first message) with drafts drawn from a directory, at a
//! fixed concurrency, for a bounded number of requests and a bounded time, optionally at a
//! target rate, and reports throughput, latency percentiles and counts per gRPC status.
//!
//! It only ever talks to the one target it is given. Latencies are kept exactly (one `u32` of
//! microseconds per request) and sorted at the end, so percentiles are exact, not bucketed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::directory::file::Snapshot;
use crate::domain::address::AddressRules;

mod drafts;
mod run;

use drafts::grpc_frame;
pub use drafts::{AddressBook, DraftMix};
pub use run::{Latency, LoadOptions, Report, connect, run};

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid target {target:?}: {source}")]
    Target {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("{0}")]
    Options(String),
}

/// `mailtips load`: drive a running server with drafts drawn from a directory file and report
/// req/s, latency percentiles and gRPC status counts.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server to load; nothing else is contacted.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// The directory file drafts are drawn from (e.g. written by gen-directory).
    #[arg(long)]
    pub directory: PathBuf,
    /// Requests in flight at once.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub concurrency: usize,
    /// HTTP/2 connections to spread them over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Stop after this many requests (the run also stops at --duration).
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    pub requests: u64,
    /// Stop after this long, e.g. 30s (the run also stops at --requests).
    #[arg(long, short = 'z', default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Target requests per second (default: as fast as the server answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Recipients per draft.
    #[arg(long, default_value_t = 10)]
    pub recipients: usize,
    /// Share of external recipients (0..1).
    #[arg(long, default_value_t = 0.1)]
    pub external: f64,
    /// Share of unknown internal recipients (0..1).
    #[arg(long, default_value_t = 0.05)]
    pub unknown: f64,
    /// Share of group recipients (0..1).
    #[arg(long, default_value_t = 0.1)]
    pub group: f64,
    /// Distinct drafts to cycle through.
    #[arg(long, default_value_t = 1000)]
    pub pool: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Per-request deadline.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Call WatchMailTips and time its first message instead.
    #[arg(long)]
    pub watch: bool,
    /// A bearer token every call carries, for a server that requires authentication. Its
    /// drafts must then be the token owner's: see docs/load-testing.md.
    #[command(flatten)]
    pub token: crate::tools::tips::TokenArgs,
    /// TLS for an `https://` target: the CA to trust (default: the system's), and a client
    /// certificate.
    #[command(flatten)]
    pub tls: crate::tools::tips::TlsArgs,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the first draft as a gRPC length-prefixed message to this file (a request body
    /// for h2load, see docs/load-testing.md) and exit without sending anything.
    #[arg(long)]
    pub write_frame: Option<PathBuf>,
}

/// Runs `mailtips load`.
///
/// # Errors
/// An unreadable directory file, a draft mix that cannot be drawn, or a server that cannot be
/// reached.
pub async fn command(args: Args) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(&args.directory)
        .with_context(|| format!("while reading {}", args.directory.display()))?;
    let snapshot = Snapshot::parse(
        &text,
        &args.directory.display().to_string(),
        AddressRules::default(),
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
        std::fs::write(path, grpc_frame(&drafts[0]))
            .with_context(|| format!("while writing {}", path.display()))?;
        return Ok(());
    }
    let tls = args.tls.client_config(&args.target)?;
    let opts = LoadOptions {
        tls,
        target: args.target,
        concurrency: args.concurrency,
        connections: args.connections,
        requests: args.requests,
        duration: args.duration,
        rate: args.rate,
        timeout: args.timeout,
        watch: args.watch,
        authorization: args.token.header()?.map(|mut v| {
            v.set_sensitive(true);
            v
        }),
    };
    let report = run(&opts, Arc::new(drafts)).await?;
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("while writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The load commands in docs/reliability.md parse as written.
    #[test]
    fn the_documented_flood_commands_parse() {
        #[derive(clap::Parser)]
        struct Load {
            #[command(flatten)]
            args: super::Args,
        }
        let doc = include_str!("../../../docs/reliability.md");
        let block = doc
            .split("```sh\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a sh block");
        let commands = block.replace("\\\n", " ");
        let mut n = 0;
        for line in commands.lines().filter(|l| l.starts_with("mailtips load")) {
            let words = line
                .trim_end_matches('&')
                .split_whitespace()
                .skip(1)
                .map(|w| w.trim_matches('\''));
            <Load as clap::Parser>::try_parse_from(words).unwrap_or_else(|e| panic!("{line}: {e}"));
            n += 1;
        }
        assert_eq!(n, 2);
    }
}
