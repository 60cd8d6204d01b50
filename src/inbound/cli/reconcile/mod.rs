//! `identity-link reconcile`: runs a pass against the configured database and
//! Kratos, prints the report, and optionally writes the gauges for
//! node_exporter's textfile collector (a CLI run's own registry dies with it).

mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use prometheus::{IntGauge, Registry, TextEncoder};

use self::report::{render_json, render_table};
use crate::inbound::cli::Failure;
use crate::process::config::{IdentitySource, Settings};
use crate::process::wiring;
use crate::usecases::metrics::Metrics;
use crate::usecases::reconcile::{reconcile, ReconcileOptions, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// A table for people, or one JSON object with an array per finding kind.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Update drifted users' email and names from Kratos (audited); an email
    /// already held by another user is refused and reported.
    #[arg(long)]
    pub sync_profiles: bool,
    /// With WRITE_BACK_EXTERNAL_ID on: write the user's id as `external_id` to
    /// every linked identity that lacks it (`external_id_mismatch`); what
    /// Kratos refuses now is queued for `serve`'s write-back worker.
    #[arg(long)]
    pub sync_external_ids: bool,
    /// After a complete run, write its gauges to this file in Prometheus text
    /// format (atomically; for node_exporter's textfile collector).
    #[arg(long, env = "RECONCILE_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// Runs the command: 0 when the pass completed (findings or not), 1 when it
/// could not, 2 without a database or a Kratos to compare.
///
/// # Errors
/// A [`Failure`] saying which exit code it deserves.
pub async fn run_command(settings: &Settings, args: ReconcileArgs) -> Result<(), Failure> {
    if settings.database_url.is_none() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "reconcile needs --database-url (DATABASE_URL): the in-memory store holds no users to compare"
        )));
    }
    if matches!(settings.identities, IdentitySource::Demo) {
        return Err(Failure::Usage(anyhow::anyhow!(
            "reconcile needs --kratos-admin-url (KRATOS_ADMIN_URL) or --kratos-fixture: \
             comparing users with the bundled demo identities would report every user as orphaned"
        )));
    }
    let app = wiring::build(settings, Metrics::new()).await?;
    let options = ReconcileOptions {
        sync_profiles: args.sync_profiles,
        sync_external_ids: args.sync_external_ids,
    };
    let spinner =
        crate::process::terminal::spinner("reconcile: comparing users with Kratos identities");
    let result = reconcile(&app, options).await;
    spinner.finish_and_clear();
    app.audit.flush().await;
    let report = result.map_err(|error| {
        Failure::Runtime(anyhow::anyhow!("reconcile could not complete: {error}"))
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        ReportFormat::Table => render_table(&report, &mut out),
        ReportFormat::Json => render_json(&report, &mut out),
    }
    .and_then(|()| out.flush())
    .map_err(|error| Failure::Runtime(anyhow::anyhow!("cannot write the report: {error}")))?;
    if let Some(path) = &args.metrics_file {
        write_metrics_file(path, &app.metrics, &report).map_err(|error| {
            Failure::Runtime(error.context(format!("cannot write {}", path.display())))
        })?;
    }
    Ok(())
}

/// Writes the findings gauges and the time of this successful run to `path`,
/// through a temporary file renamed into place.
///
/// # Errors
/// When the file cannot be written.
pub fn write_metrics_file(path: &Path, metrics: &Metrics, report: &Report) -> anyhow::Result<()> {
    let registry = Registry::new_custom(Some("identity_link".into()), None)?;
    registry.register(Box::new(metrics.reconcile_findings.clone()))?;
    let finished = IntGauge::new(
        "reconcile_last_success_timestamp_seconds",
        "When the last complete reconcile run finished (Unix time).",
    )?;
    finished.set(report.finished_at.timestamp());
    registry.register(Box::new(finished))?;
    let text = TextEncoder::new().encode_to_string(&registry.gather())?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
