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
use identity_link_ports::{
    BackfillSession, BackfillStore, BeginError, ReportError, RevertError, RevertOutcome, RunId,
    RunPlan, RunReport, StatusCount, StoreError, Verdict,
};
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

use crate::postgres::{store_error, Database, PgPool, DEFAULT_TIMEOUT};

/// Key of the advisory lock a run or revert holds for its whole session
/// ("identity-link" in ASCII, truncated, like the migration lock).
const BACKFILL_LOCK_KEY: i64 = 0x6964_6c69_6e6b_0002;

/// Backfill runs in Postgres.
#[derive(Clone)]
pub struct PostgresBackfillStore {
    pool: PgPool,
    url: String,
    write_back: bool,
}

impl PostgresBackfillStore {
    /// `url` opens each run's own session; `pool` serves batches and reports.
    pub fn new(pool: PgPool, url: impl Into<String>) -> Self {
        Self {
            pool,
            url: url.into(),
            write_back: false,
        }
    }

    /// Queue the `external_id` write-back of every link a batch makes, in the
    /// batch's transaction (`WRITE_BACK_EXTERNAL_ID`).
    pub fn with_write_back(mut self, write_back: bool) -> Self {
        self.write_back = write_back;
        self
    }
}

/// Reads a column; a type mismatch is a store failure, not a panic.
fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(store_error)
}

/// A connection of its own, outside the pool.
async fn connect(url: &str) -> Result<Client, StoreError> {
    Database::parse(url, DEFAULT_TIMEOUT)
        .map_err(StoreError::Unknown)?
        .connect()
        .await
        .map_err(|error| StoreError::Unavailable(format!("{error:#}")))
}

/// The session holding the backfill lock, and its run if it recorded one.
const HOLDER_SQL: &str = "SELECT a.pid, r.run_id, r.started_at
   FROM pg_locks l
   JOIN pg_stat_activity a ON a.pid = l.pid
   LEFT JOIN user_authid_backfill_runs r
          ON r.backend_pid = a.pid AND r.backend_start = a.backend_start AND r.outcome = 'running'
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid::bigint = ($1::bigint >> 32) AND l.objid::bigint = ($1::bigint & 4294967295)";

/// How long to wait for the lock holder to record its run before naming it anyway.
const HOLDER_PATIENCE: u32 = 20;

/// Takes the backfill lock for this session, or says who holds it.
async fn lock(client: &Client) -> Result<Result<(), String>, StoreError> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&BACKFILL_LOCK_KEY])
        .await
        .map_err(store_error)?;
    let locked: bool = column(&row, 0)?;
    if locked {
        return Ok(Ok(()));
    }
    // A run records itself right after taking the lock: give it a moment.
    let mut holder = None;
    for _ in 0..HOLDER_PATIENCE {
        let row = client
            .query_opt(HOLDER_SQL, &[&BACKFILL_LOCK_KEY])
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            break;
        };
        let pid: i32 = column(&row, 0)?;
        let run: Option<uuid::Uuid> = column(&row, 1)?;
        let started: Option<chrono::DateTime<chrono::Utc>> = column(&row, 2)?;
        if let (Some(run), Some(started)) = (run, started) {
            return Ok(Err(format!(
                "run {run}, started at {}",
                started.to_rfc3339()
            )));
        }
        holder = Some(pid);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Err(match holder {
        Some(pid) => format!("a revert, or a run starting, in database session {pid}"),
        None => "a run or revert that just ended; try again".to_owned(),
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
        batch::apply(&self.pool, run, verdicts, self.write_back).await
    }

    async fn report(&self, run: Option<RunId>) -> Result<Option<RunReport>, ReportError> {
        report::report(&self.pool, run).await
    }

    async fn revert(&self, run: RunId, batch_size: u32) -> Result<RevertOutcome, RevertError> {
        revert::revert(&self.url, run, batch_size).await
    }

    async fn status_counts(&self, run: Option<RunId>) -> Result<Vec<StatusCount>, StoreError> {
        report::status_counts(&self.pool, run.map(|run| run.as_uuid())).await
    }
}
