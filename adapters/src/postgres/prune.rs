//! Audit retention: `identity_audit` rows older than a cutoff deleted in
//! batches, each batch its own short transaction found through the
//! `occurred_at` index, so that the service's appends (which only insert)
//! never wait for it and no lock is held for long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

/// What a prune removed and what it kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Rows deleted.
    pub removed: u64,
    /// Everything older than this was deleted.
    pub cutoff: DateTime<Utc>,
    /// The oldest row left, if any.
    pub oldest_kept: Option<DateTime<Utc>>,
}

const BATCH: &str = "DELETE FROM identity_audit
     WHERE id IN (SELECT id FROM identity_audit WHERE occurred_at < $1 LIMIT $2)";

/// Deletes the rows older than `older_than` (from the database's clock),
/// `batch_size` at a time; `on_batch` hears the running total after each.
///
/// # Errors
/// When a statement fails; the batches deleted before stay deleted and a rerun
/// goes on from there.
pub async fn prune_audit(
    client: &Client,
    older_than: Duration,
    batch_size: i64,
    on_batch: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<PruneReport> {
    let seconds = older_than.as_secs_f64();
    let cutoff: DateTime<Utc> = client
        .query_one("SELECT now() - make_interval(secs => $1)", &[&seconds])
        .await?
        .try_get(0)?;
    let statement = client.prepare(BATCH).await?;
    let mut removed = 0;
    loop {
        let deleted = client
            .execute(&statement, &[&cutoff, &batch_size.max(1)])
            .await?;
        removed += deleted;
        on_batch(removed);
        if deleted < batch_size.max(1) as u64 {
            break;
        }
    }
    let oldest_kept = client
        .query_one("SELECT min(occurred_at) FROM identity_audit", &[])
        .await?
        .try_get(0)?;
    Ok(PruneReport {
        removed,
        cutoff,
        oldest_kept,
    })
}
