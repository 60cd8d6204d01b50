//! The command line: parses, validates, runs one command, maps failures to
//! exit codes (0 success, 2 bad usage or configuration, 1 runtime failure).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use identity_link_ports::UserFilter;

use crate::inbound::rest::Exposure;
use crate::inbound::{graphql, rest, serve};
use crate::process::config::{Config, Settings};
use crate::process::{telemetry, terminal, wiring};
use crate::usecases::export::{export, ExportFormat};
use crate::usecases::import::{import_file_with, ImportError};
use crate::usecases::metrics::Metrics;

pub mod audit_prune;
mod backfill;
mod health_probe;
mod import_bar;
mod reconcile;

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
        Command::Serve => run_serve(settings).await,
        Command::Reconcile(args) => reconcile::run_command(&settings, args).await,
        Command::Backfill(command) => backfill::run(&settings, command).await,
        Command::Migrate { status } => run_migrate(&settings, status).await,
        Command::Users {
            command: UsersCommand::Import { file },
        } => run_import(&settings, &file).await,
        Command::Audit {
            command: AuditCommand::Prune(args),
        } => run_prune(&settings, &args).await,
        Command::Export {
            format,
            linked,
            unlinked,
        } => {
            let filter = UserFilter {
                linked: match (linked, unlinked) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                search: None,
            };
            let users = wiring::user_store(&settings).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let spinner = terminal::spinner("exporting users");
            let count = export(users.as_ref(), &filter, format, &mut out, &|written| {
                spinner.set_message(format!("exporting users: {written}"));
            })
            .await;
            spinner.finish_and_clear();
            tracing::info!(users = count?, "export finished");
            Ok(())
        }
    }
}

async fn run_serve(settings: Settings) -> Result<(), Failure> {
    crate::inbound::serve::exposure::warn(&settings);
    // Installed first, so a stop signal during startup or right after the
    // listeners answer is a graceful stop, never the default kill.
    let stop = serve::stop_signal();
    let app = wiring::build(&settings, Metrics::new()).await?;
    let mut listeners = Vec::new();
    match settings.internal_listen {
        Some(internal) => {
            listeners.push(
                serve::bind(settings.listen, Exposure::Public)
                    .await
                    .map_err(Failure::Usage)?,
            );
            listeners.push(
                serve::bind(internal, Exposure::Internal)
                    .await
                    .map_err(Failure::Usage)?,
            );
        }
        None => listeners.push(
            serve::bind(settings.listen, Exposure::All)
                .await
                .map_err(Failure::Usage)?,
        ),
    }
    for bound in &listeners {
        tracing::info!(addr = %bound.addr, exposure = ?bound_exposure(bound), identities = %app.identities.describe(), "listening");
    }
    serve::run(app, settings, listeners, stop).await?;
    Ok(())
}

fn bound_exposure(bound: &serve::Bound) -> Exposure {
    bound.exposure()
}

async fn run_migrate(settings: &Settings, status: bool) -> Result<(), Failure> {
    let Some(url) = settings.database_direct_url() else {
        return Err(Failure::Usage(anyhow::anyhow!(
            "migrate needs --database-url (DATABASE_URL); the in-memory store has no schema"
        )));
    };
    let mut out = std::io::stdout().lock();
    if status {
        let search = identity_link_adapters::postgres::search_index_in_use(url).await?;
        for migration in identity_link_adapters::postgres::migration_status(url).await? {
            let state = migration
                .applied_on
                .as_deref()
                .map_or("pending".to_owned(), |at| format!("applied {at}"));
            writeln!(
                out,
                "V{:<4} {:<32} {state}",
                migration.version, migration.name
            )
            .map_err(anyhow::Error::from)?;
        }
        writeln!(out, "{search}").map_err(anyhow::Error::from)?;
    } else {
        let migrated = identity_link_adapters::postgres::migrate(url).await?;
        if migrated.applied.is_empty() {
            let version = migrated
                .version
                .map_or(String::new(), |version| format!(" (V{version})"));
            writeln!(out, "schema is up to date{version}").map_err(anyhow::Error::from)?;
        }
        for migration in migrated.applied {
            writeln!(out, "applied V{} {}", migration.version, migration.name)
                .map_err(anyhow::Error::from)?;
        }
        for line in wiring::collision_report(&migrated.email_collisions) {
            writeln!(out, "WARNING: {line}").map_err(anyhow::Error::from)?;
        }
        writeln!(out, "{}", migrated.search_index).map_err(anyhow::Error::from)?;
    }
    Ok(())
}

async fn run_prune(settings: &Settings, args: &audit_prune::PruneArgs) -> Result<(), Failure> {
    let Some(url) = settings.database_direct_url() else {
        return Err(Failure::Usage(anyhow::anyhow!(
            "audit prune needs --database-url (DATABASE_URL); the in-memory audit is not kept"
        )));
    };
    // Migrates first (unless --no-migrate), as every command on the database.
    wiring::database(settings).await?;
    let client = identity_link_adapters::postgres::parse_url(url, settings.database_timeout)?
        .connect()
        .await?;
    audit_prune::run(&client, args).await?;
    Ok(())
}

async fn run_import(settings: &Settings, file: &std::path::Path) -> Result<(), Failure> {
    let users = wiring::user_store(settings).await?;
    let bar = import_bar::ImportBar::new();
    let imported = import_file_with(users.as_ref(), file, &bar).await;
    bar.finish();
    let report = match imported {
        Ok(report) => report,
        Err(ImportError::BadFile(reason)) => return Err(Failure::Usage(anyhow::anyhow!(reason))),
        Err(ImportError::Read(reason)) => return Err(Failure::Runtime(anyhow::anyhow!(reason))),
        Err(ImportError::Store(error)) => return Err(Failure::Runtime(error.into())),
    };
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").map_err(|error| Failure::Runtime(error.into()))
    };
    write(&mut out, format!("added:   {}", report.added))?;
    write(
        &mut out,
        format!("skipped: {} (email already present)", report.skipped),
    )?;
    write(&mut out, format!("invalid: {}", report.invalid_count()))?;
    for row in &report.invalid {
        write(&mut out, format!("  {}: {}", row.location, row.reason))?;
    }
    if report.invalid_unlisted > 0 {
        write(
            &mut out,
            format!("  … and {} more invalid rows", report.invalid_unlisted),
        )?;
    }
    Ok(())
}
