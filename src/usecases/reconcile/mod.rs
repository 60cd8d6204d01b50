//! Use case: compare both sides and report what rotted — users linked to
//! identities Kratos no longer has, active identities with no user, linked users
//! whose email or names differ from Kratos — optionally syncing the drifted
//! profiles from Kratos.
//!
//! One pass, bounded memory: identities are listed page by page (Kratos
//! `page_size` 500, the next page fetched while the current one is examined);
//! each page costs one store query for the users linked to its identities,
//! which finds unlinked identities and drift. The ids seen are kept as a
//! sorted vector (16 bytes each); the linked users are then streamed in id
//! order and checked against it, which finds orphans.

mod external_ids;
mod findings;
mod scan;
mod sync;
#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, TimeDelta, Utc};
use identity_link_ports::{AuditSource, AuthId, IdentityError, StoreError};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::metrics::Metrics;

use scan::Scan;

pub use external_ids::ExternalIdMismatch;
pub use findings::{
    Differences, DriftedUser, EmailDifference, NameDifference, OrphanedUser, SyncOutcome,
    UnlinkedIdentity,
};

/// Identities per Kratos list call (Kratos's maximum).
pub const IDENTITY_PAGE_SIZE: u32 = 500;
/// Users per store page while looking for orphans.
const USER_PAGE_SIZE: u32 = 1000;
/// Links made after the run started minus this margin (clock skew between the
/// service and the database) may point at identities created after the listing
/// passed their place; such orphan candidates are confirmed with Kratos one by one.
const RECENT_LINK_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// The `kind` labels of the `reconcile_findings` gauge.
pub const KINDS: [&str; 5] = [
    "orphaned_user",
    "unlinked_identity",
    "drifted_user",
    "sync_refused",
    "external_id_mismatch",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Update drifted users' email and names from Kratos.
    pub sync_profiles: bool,
    /// Repair `external_id_mismatch` findings (only looked for with write-back on).
    pub sync_external_ids: bool,
}

/// Why a run could not complete; no report is produced then.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("listing identities from Kratos failed at page {page}: {error}")]
    ListIdentities { page: u64, error: IdentityError },
    #[error("checking whether Kratos still has identity {identity_id} failed: {error}")]
    CheckIdentity {
        identity_id: AuthId,
        error: IdentityError,
    },
    #[error("reading users failed: {0}")]
    Store(#[from] StoreError),
    #[error("syncing profiles stopped after {synced} of {drifted} updates: {error}")]
    Sync {
        synced: u64,
        drifted: u64,
        error: StoreError,
    },
}

/// How many of everything a run saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub identities: u64,
    pub kratos_pages: u64,
    pub linked_users: u64,
    pub orphaned_users: u64,
    pub unlinked_identities: u64,
    pub drifted_users: u64,
    /// Linked users whose identity has no usable email: not compared.
    pub not_compared: u64,
    pub synced: u64,
    pub sync_refused: u64,
    /// Linked identities whose `external_id` is not their user's id (write-back on).
    pub external_id_mismatches: u64,
    /// Of those, written by `--sync-external-ids` during the run.
    pub external_ids_written: u64,
}

/// The outcome of a complete run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The correlation id of the run's audit records.
    pub run_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub sync_profiles: bool,
    pub counts: Counts,
    pub orphaned_users: Vec<OrphanedUser>,
    pub unlinked_identities: Vec<UnlinkedIdentity>,
    pub drifted_users: Vec<DriftedUser>,
    /// Only looked for when `WRITE_BACK_EXTERNAL_ID` is on.
    pub external_id_mismatches: Vec<ExternalIdMismatch>,
}

impl Report {
    pub fn has_findings(&self) -> bool {
        !(self.orphaned_users.is_empty()
            && self.unlinked_identities.is_empty()
            && self.drifted_users.is_empty()
            && self.external_id_mismatches.is_empty())
    }
}

/// Runs one reconcile pass; sets the `reconcile_findings` gauges when it completes.
///
/// # Errors
/// [`ReconcileError`] when Kratos or the store fails (after the Kratos client's
/// retries): the run is abandoned, never reported as complete.
pub async fn reconcile(app: &App, options: ReconcileOptions) -> Result<Report, ReconcileError> {
    let context = CallContext::new(AuditSource::Reconcile);
    let started_at = Utc::now();
    let mut scan = Scan::new(app);
    scan.list_identities().await?;
    scan.find_orphans(started_at - RECENT_LINK_MARGIN).await?;
    let mut report = Report {
        run_id: context.correlation_id,
        started_at,
        finished_at: started_at,
        sync_profiles: options.sync_profiles,
        counts: Counts {
            orphaned_users: scan.orphaned.len() as u64,
            unlinked_identities: scan.unlinked.len() as u64,
            drifted_users: scan.drifted.len() as u64,
            external_id_mismatches: scan.mismatched.len() as u64,
            ..scan.counts
        },
        orphaned_users: scan.orphaned,
        unlinked_identities: scan.unlinked,
        drifted_users: scan.drifted,
        external_id_mismatches: scan.mismatched,
    };
    if options.sync_external_ids {
        report.counts.external_ids_written =
            external_ids::repair(app, &context, &mut report.external_id_mismatches).await;
    }
    if options.sync_profiles {
        let (synced, refused) = sync::sync_profiles(app, &context, &mut report.drifted_users)
            .await
            .map_err(|failure| ReconcileError::Sync {
                synced: failure.synced,
                drifted: report.counts.drifted_users,
                error: failure.error,
            })?;
        report.counts.synced = synced;
        report.counts.sync_refused = refused;
    }
    report.finished_at = Utc::now();
    record_gauges(&app.metrics, &report.counts);
    tracing::info!(
        run_id = %report.run_id,
        identities = report.counts.identities,
        linked_users = report.counts.linked_users,
        orphaned_users = report.counts.orphaned_users,
        unlinked_identities = report.counts.unlinked_identities,
        drifted_users = report.counts.drifted_users,
        synced = report.counts.synced,
        sync_refused = report.counts.sync_refused,
        seconds = (report.finished_at - started_at).as_seconds_f64(),
        "reconcile finished"
    );
    Ok(report)
}

fn record_gauges(metrics: &Metrics, counts: &Counts) {
    let values = [
        counts.orphaned_users,
        counts.unlinked_identities,
        counts.drifted_users,
        counts.sync_refused,
        counts.external_id_mismatches,
    ];
    for (kind, value) in KINDS.into_iter().zip(values) {
        metrics
            .reconcile_findings
            .with_label_values(&[kind])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}
