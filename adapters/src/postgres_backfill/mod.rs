//! Backfill persistence in Postgres (tables of `V3__backfill.sql`).
//!
//! A run has a session of its own: a dedicated connection (not from the pool)
//! holding the backfill advisory lock, so that one run or revert at a time
//! writes, and a temporary staging table of identity match keys that vanishes
//! with the session, also when the process is killed. Batches are written over
//! pooled connections, several at once, each in one transaction.

mod batch;
mod report;
mod revert;
mod session;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use identity_link_ports::{
    BackfillSession, BackfillStore, BeginError, ReportError, RevertError, RevertOutcome, RunId,
    RunPlan, RunReport, StoreError, Verdict,
};
use tokio_postgres::{Client, NoTls};

use crate::postgres::{parse_url, store_error};

/// Key of the advisory lock a run or revert holds for its whole session
/// ("identity-link" in ASCII, truncated, like the migration lock).
const BACKFILL_LOCK_KEY: i64 = 0x6964_6c69_6e6b_0002;

/// Backfill runs in Postgres.
#[derive(Clone)]
pub struct PostgresBackfillStore {
    pool: Pool,
    url: String,
}

impl PostgresBackfillStore {
    /// `url` opens each run's own session; `pool` serves batches and reports.
    pub fn new(pool: Pool, url: impl Into<String>) -> Self {
        Self {
            pool,
            url: url.into(),
        }
    }
}

/// A connection of its own, outside the pool.
async fn connect(url: &str) -> Result<Client, StoreError> {
    let config = parse_url(url, Duration::from_secs(5)).map_err(StoreError::Unknown)?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|error| StoreError::Unavailable(format!("cannot connect: {error}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "backfill session closed");
        }
    });
    Ok(client)
}

/// Takes the backfill lock for this session, or says who holds it.
async fn lock(client: &Client) -> Result<Result<(), String>, StoreError> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&BACKFILL_LOCK_KEY])
        .await
        .map_err(store_error)?
        .get(0);
    if locked {
        return Ok(Ok(()));
    }
    let holder = client
        .query_opt(
            "SELECT run_id, started_at FROM user_authid_backfill_runs
              WHERE outcome = 'running' ORDER BY started_at DESC LIMIT 1",
            &[],
        )
        .await
        .map_err(store_error)?;
    Ok(Err(match holder {
        Some(row) => {
            let run: uuid::Uuid = row.get(0);
            let started: chrono::DateTime<chrono::Utc> = row.get(1);
            format!("run {run}, started at {}", started.to_rfc3339())
        }
        None => "a revert".to_owned(),
    }))
}

#[async_trait]
impl BackfillStore for PostgresBackfillStore {
    async fn begin(&self, plan: &RunPlan) -> Result<Box<dyn BackfillSession>, BeginError> {
        Ok(Box::new(
            session::PostgresSession::open(&self.url, plan).await?,
        ))
    }

    async fn apply_batch(
        &self,
        run: RunId,
        verdicts: Vec<Verdict>,
    ) -> Result<Vec<Verdict>, StoreError> {
        batch::apply(&self.pool, run, verdicts).await
    }

    async fn report(&self, run: Option<RunId>) -> Result<Option<RunReport>, ReportError> {
        report::report(&self.pool, run).await
    }

    async fn revert(&self, run: RunId, batch_size: u32) -> Result<RevertOutcome, RevertError> {
        revert::revert(&self.url, run, batch_size).await
    }
}
