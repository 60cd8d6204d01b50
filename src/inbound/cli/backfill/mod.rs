//! `identity-link backfill [flags]`, `backfill report`, `backfill revert --run`.

mod output;
mod progress;

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use identity_link_ports::{ReportError, RevertError, RunId, Strategy};
use uuid::Uuid;

use self::output::Format;
use self::progress::Progress;
use crate::inbound::cli::Failure;
use crate::process::config::{IdentitySource, Settings};
use crate::process::wiring;
use crate::usecases::backfill::{self, BackfillOptions};
use crate::usecases::metrics::Metrics;

/// `backfill`: runs a backfill unless a subcommand says otherwise.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackfillCommand {
    #[command(subcommand)]
    pub action: Option<BackfillAction>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackfillAction {
    /// Counts per resolution_status of a run (default: the latest).
    Report {
        /// The run to report on.
        #[arg(long = "run", env = "BACKFILL_RUN_ID")]
        run: Option<Uuid>,
        #[arg(long, env = "BACKFILL_FORMAT", value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Removes exactly the links a run made that are still unchanged (audited).
    Revert {
        /// The run to revert.
        #[arg(long = "run", env = "BACKFILL_RUN_ID")]
        run: Uuid,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Page through every Kratos identity (Kratos calls grow with identities, not users).
    List,
    /// One credentials_identifier query per user (small sets).
    Lookup,
}

/// Flags of a run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// How identities are found.
    #[arg(long, env = "BACKFILL_STRATEGY", value_enum, default_value_t = StrategyArg::List)]
    pub strategy: StrategyArg,
    /// Write nothing; print the report the run would produce.
    #[arg(long, env = "BACKFILL_DRY_RUN")]
    pub dry_run: bool,
    /// Identities per Kratos list call (at most 500).
    #[arg(long, env = "BACKFILL_PAGE_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub page_size: u32,
    /// Users per transaction.
    #[arg(long, env = "BACKFILL_BATCH_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Batches written at once (lookup: also Kratos calls at once); at most the
    /// pool size. Default: 2 for list (each batch is a core's worth of index
    /// maintenance on the database server; more writers contend for the
    /// search index's pending list), 4 for lookup (which waits on Kratos).
    #[arg(long, env = "BACKFILL_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: Option<u32>,
    /// Also link identities that have the user's email as an unverified address
    /// (by default such matches are reported `unverified` and left alone). A
    /// credentials identifier alone never links.
    #[arg(
        long,
        env = "BACKFILL_ALLOW_UNVERIFIED",
        conflicts_with = "require_verified"
    )]
    pub allow_unverified: bool,
    /// Link verified addresses only: the default; accepted for older scripts.
    #[arg(long, env = "BACKFILL_REQUIRE_VERIFIED")]
    pub require_verified: bool,
    /// Summary as a table, or as one JSON object with the run id and the counts.
    #[arg(long, env = "BACKFILL_FORMAT", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl RunArgs {
    pub fn options(&self) -> BackfillOptions {
        let strategy = match self.strategy {
            StrategyArg::List => Strategy::List,
            StrategyArg::Lookup => Strategy::Lookup,
        };
        BackfillOptions {
            strategy,
            dry_run: self.dry_run,
            page_size: self.page_size,
            batch_size: self.batch_size as usize,
            concurrency: self
                .concurrency
                .map_or(BackfillOptions::default_concurrency(strategy), |n| {
                    n as usize
                }),
            allow_unverified: self.allow_unverified,
        }
    }
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| Failure::Runtime(error.into()))
}

/// Runs `backfill` and its subcommands.
///
/// # Errors
/// `Usage` (exit 2) without a database, for an unknown run or bad flags;
/// `Runtime` (exit 1) when the run cannot go on.
pub async fn run(settings: &Settings, command: BackfillCommand) -> Result<(), Failure> {
    if settings.database_url.is_none() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "backfill needs --database-url (DATABASE_URL): runs, audit rows and links live in Postgres"
        )));
    }
    let args = &command.run;
    if command.action.is_none() {
        if matches!(settings.identities, IdentitySource::Demo) {
            return Err(Failure::Usage(anyhow::anyhow!(
                "backfill needs --kratos-admin-url (KRATOS_ADMIN_URL) or --kratos-fixture (KRATOS_FIXTURE_PATH)"
            )));
        }
        let concurrency = args.options().concurrency;
        if concurrency > settings.database_pool_size {
            return Err(Failure::Usage(anyhow::anyhow!(
                "--concurrency {concurrency} exceeds --database-pool-size {}: each batch in flight needs a connection",
                settings.database_pool_size
            )));
        }
    }
    let app = wiring::build(settings, Metrics::new()).await?;
    let Some(store) = app.backfill.clone() else {
        return Err(Failure::Usage(anyhow::anyhow!(
            "backfill needs --database-url"
        )));
    };
    match command.action {
        None => {
            let progress = Progress::for_command();
            let summary = backfill::run(&app, store.as_ref(), &args.options(), &progress)
                .await
                .map_err(|error| Failure::Runtime(error.into()))?;
            print(&output::summary(&summary, args.format))
        }
        Some(BackfillAction::Report { run, format }) => {
            let report = store
                .report(run.map(RunId::new))
                .await
                .map_err(|error| match error {
                    ReportError::UnknownRun(_) => Failure::Usage(error.into()),
                    ReportError::Store(error) => Failure::Runtime(error.into()),
                })?;
            print(&output::report(report.as_ref(), format))
        }
        Some(BackfillAction::Revert { run }) => {
            let run = RunId::new(run);
            let outcome =
                store
                    .revert(run, args.batch_size)
                    .await
                    .map_err(|error| match error {
                        RevertError::UnknownRun(_) => Failure::Usage(error.into()),
                        RevertError::Busy(_) | RevertError::Store(_) => {
                            Failure::Runtime(error.into())
                        }
                    })?;
            tracing::info!(run_id = %run, reverted = outcome.reverted, changed = outcome.changed.len(), "backfill revert finished");
            print(&output::revert(run, &outcome))
        }
    }
}
