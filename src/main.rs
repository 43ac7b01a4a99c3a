//! The `mailtips` binary: parses the command line and calls into the library, where each
//! subcommand's arguments live with the code that runs it.

use clap::{Parser, Subcommand};
use mailtips::api::server;
use mailtips::tools::{admin, load, synth, tips};

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
    Serve(server::ServeArgs),
    /// Check a config file (and its directory file, or that its LDAP directory answers) and exit.
    CheckConfig(admin::CheckConfigArgs),
    /// Compute group metrics once from LDAP and write them back to the group entries (for
    /// servers with directory.ldap.group_metrics = "stored"); run it on a schedule.
    Metrics(admin::MetricsArgs),
    /// Print a directory file (default: the embedded demo) as LDIF for slapadd/ldapadd.
    ExportLdif(admin::ExportLdifArgs),
    /// Ask a running server for a draft's tips and print them.
    Tips(tips::Args),
    /// Write a deterministic synthetic organisation in the directory file format.
    GenDirectory(synth::Args),
    /// Drive a running server with drafts drawn from a directory file and report req/s,
    /// latency percentiles and gRPC status counts.
    Load(load::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    // `serve` logs as its config's [log] section says, once it has read it.
    if !matches!(command, Command::Serve(_)) {
        mailtips::telemetry::logs::init(Default::default());
    }
    match command {
        Command::Serve(args) => server::serve_command(args).await?,
        Command::CheckConfig(args) => admin::check_config(&args).await?,
        Command::Metrics(args) => admin::metrics(&args).await?,
        Command::ExportLdif(args) => admin::export_ldif(&args)?,
        Command::Tips(args) => tips::run(args).await?,
        Command::GenDirectory(args) => synth::run(&args)?,
        Command::Load(args) => load::command(args).await?,
    }
    Ok(())
}
