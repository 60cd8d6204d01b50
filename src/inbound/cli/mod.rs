//! The command line: parses, validates, runs one command, maps failures to
//! exit codes (0 success, 2 bad usage or configuration, 1 runtime failure).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::inbound::{graphql, rest};
use crate::process::config::{Config, Settings};
use crate::process::{telemetry, terminal};
use crate::usecases::export::ExportFormat;

mod audit_prune;
mod backfill;
mod health_probe;
mod import_bar;
mod migrate;
mod reconcile;
mod serve;
mod users;

#[derive(Parser)]
#[command(
    name = "identity-link",
    version,
    about = "Keeps users linked one-to-one to their Ory Kratos identities."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    /// Print only the result (stdout) and errors (stderr): no progress, no logs.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr: -v the command's own debug logs, -vv every library's too.
    /// RUST_LOG overrides -q and -v; NO_COLOR turns colours off.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (migrates first unless --no-migrate).
    Serve,
    /// Apply pending schema migrations and exit.
    Migrate {
        /// List applied and pending migrations instead of applying them.
        #[arg(long)]
        status: bool,
    },
    /// Manage application users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Write users with their auth_id to stdout.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Only users linked to an identity.
        #[arg(long, conflicts_with = "unlinked")]
        linked: bool,
        /// Only users not linked to an identity.
        #[arg(long)]
        unlinked: bool,
    },
    /// Exit 0 when the server's /health/ready answers 200, else 1 saying why.
    Health {
        /// Readiness URL (a base URL gets /health/ready); default: --listen on loopback.
        #[arg(long, env = "HEALTH_URL")]
        url: Option<String>,
    },
    /// Print the REST OpenAPI document (JSON).
    Openapi,
    /// Print the admin GraphQL schema (SDL).
    GraphqlSchema,
    /// Report orphaned users, unlinked identities and profile drift between users and Kratos.
    Reconcile(reconcile::ReconcileArgs),
    /// Link unlinked users to Kratos identities by email; `report` and `revert` runs.
    Backfill(backfill::BackfillCommand),
    /// Manage the audit trail (`identity_audit`).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Delete audit rows older than a duration, in short batches, safe while the service runs.
    Prune(audit_prune::PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add existing (unlinked) users from CSV (email,first_name,last_name[,avatar_url]) or a JSON array.
    Import {
        /// The CSV or JSON file.
        file: PathBuf,
    },
}

/// A failure and the exit code it deserves.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or configuration: nothing was changed (exit 2).
    Usage(anyhow::Error),
    /// The command failed while running (exit 1).
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::Runtime(error)
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.config.validate() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let kind = match cli.command {
        Command::Serve => telemetry::CommandKind::Service,
        _ => telemetry::CommandKind::OneShot,
    };
    let traces = telemetry::init_for(
        settings.log_format,
        kind,
        telemetry::Verbosity::from_flags(cli.quiet, cli.verbose),
    );
    terminal::init(!cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            traces.shutdown();
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(run(cli.command, settings));
    // Outside the runtime: the span exporter blocks while it flushes.
    traces.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            tracing::error!(error = telemetry::one_line(&error), "command failed");
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs one command with validated settings.
///
/// # Errors
/// A [`Failure`] saying which exit code it deserves.
pub async fn run(command: Command, settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Openapi => {
            println!("{}", rest::openapi_json());
            Ok(())
        }
        Command::GraphqlSchema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Health { url } => {
            let target =
                health_probe::target(url.as_deref(), settings.listen).map_err(Failure::Usage)?;
            health_probe::probe(&target).await?;
            println!("ready: {target}");
            Ok(())
        }
        Command::Serve => serve::run(settings).await,
        Command::Reconcile(args) => reconcile::run_command(&settings, args).await,
        Command::Backfill(command) => backfill::run(&settings, command).await,
        Command::Migrate { status } => migrate::run(&settings, status).await,
        Command::Users {
            command: UsersCommand::Import { file },
        } => users::import(&settings, &file).await,
        Command::Audit {
            command: AuditCommand::Prune(args),
        } => audit_prune::run(&settings, &args).await,
        Command::Export {
            format,
            linked,
            unlinked,
        } => {
            let linked = match (linked, unlinked) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            users::export(&settings, format, linked).await
        }
    }
}
