//! Reading a run back: its row and its counts per status.

use identity_link_ports::{
    ReportError, ResolutionStatus, RunId, RunReport, RunState, StatusCount, StatusCounts,
    StoreError, Strategy,
};
use tokio_postgres::types::Type;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::postgres::{store_error, PgPool};

/// A run marked running whose session is gone was interrupted.
const RUN_SQL: &str = "SELECT r.run_id, r.strategy, r.options, r.started_at, r.finished_at,
        r.outcome, r.failure,
        r.outcome = 'running' AND NOT EXISTS (
            SELECT 1 FROM pg_stat_activity a
             WHERE a.pid = r.backend_pid AND a.backend_start = r.backend_start) AS gone
   FROM user_authid_backfill_runs r
  WHERE $1::uuid IS NULL OR r.run_id = $1
  ORDER BY r.started_at DESC
  LIMIT 1";

pub(super) async fn report(
    pool: &PgPool,
    run: Option<RunId>,
) -> Result<Option<RunReport>, ReportError> {
    let conn = pool.get().await?;
    let sql = conn.sql();
    let row = sql
        .query_opt(
            &*conn,
            RUN_SQL,
            &[(&run.map(|id| id.as_uuid()), Type::UUID)],
        )
        .await
        .map_err(store_error)?;
    let Some(row) = row else {
        return match run {
            Some(run) => Err(ReportError::UnknownRun(run)),
            None => Ok(None),
        };
    };
    let mut report = run_from_row(&row)?;
    let counts = sql
        .query(
            &*conn,
            "SELECT resolution_status, count(*), count(reverted_at)
               FROM user_authid_backfill_audit WHERE run_id = $1
              GROUP BY resolution_status",
            &[(&report.run.as_uuid(), Type::UUID)],
        )
        .await
        .map_err(store_error)?;
    for row in &counts {
        let status: String = row.try_get(0).map_err(store_error)?;
        let count: i64 = row.try_get(1).map_err(store_error)?;
        let reverted: i64 = row.try_get(2).map_err(store_error)?;
        let status = ResolutionStatus::parse(&status).ok_or_else(|| {
            StoreError::Unknown(anyhow::anyhow!("unknown resolution_status {status}"))
        })?;
        report
            .counts
            .insert(status, u64::try_from(count).unwrap_or(0));
        report.reverted += u64::try_from(reverted).unwrap_or(0);
    }
    Ok(Some(report))
}

fn run_from_row(row: &Row) -> Result<RunReport, StoreError> {
    let strategy: String = row.try_get("strategy").map_err(store_error)?;
    let outcome: String = row.try_get("outcome").map_err(store_error)?;
    let gone: bool = row.try_get("gone").map_err(store_error)?;
    let state = match outcome.as_str() {
        "running" if gone => RunState::Interrupted,
        "running" => RunState::Running,
        "finished" => RunState::Finished,
        "failed" => RunState::Failed,
        _ => RunState::Interrupted,
    };
    let mut counts = StatusCounts::new();
    for status in ResolutionStatus::ALL {
        counts.insert(status, 0);
    }
    Ok(RunReport {
        run: RunId::new(row.try_get::<_, Uuid>("run_id").map_err(store_error)?),
        strategy: Strategy::parse(&strategy).ok_or_else(|| {
            StoreError::Unknown(anyhow::anyhow!("unknown backfill strategy {strategy}"))
        })?,
        options: row.try_get("options").map_err(store_error)?,
        started_at: row.try_get("started_at").map_err(store_error)?,
        finished_at: row.try_get("finished_at").map_err(store_error)?,
        state,
        failure: row.try_get("failure").map_err(store_error)?,
        counts,
        reverted: 0,
    })
}

/// Users per `resolution_status` of one run, or of every run (the operators'
/// `GROUP BY resolution_status` query), ordered by status.
pub(super) async fn status_counts(
    pool: &PgPool,
    run: Option<Uuid>,
) -> Result<Vec<StatusCount>, StoreError> {
    let conn = pool.get().await?;
    let rows = conn
        .sql()
        .query(
            &*conn,
            "SELECT resolution_status, count(*) FROM user_authid_backfill_audit
              WHERE $1::uuid IS NULL OR run_id = $1
              GROUP BY resolution_status ORDER BY resolution_status",
            &[(&run, Type::UUID)],
        )
        .await
        .map_err(store_error)?;
    rows.iter()
        .map(|row| {
            let count: i64 = row.try_get(1).map_err(store_error)?;
            Ok(StatusCount {
                status: row.try_get(0).map_err(store_error)?,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect()
}
