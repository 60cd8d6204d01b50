//! A run's session: lock, run row, staging table, and the walk over users.

mod facts;

use std::pin::Pin;

use async_trait::async_trait;
use futures::StreamExt;
use identity_link_ports::{
    BackfillSession, BeginError, ResolutionStatus, RunEnd, RunPlan, StagedKey, StoreError,
    Strategy, UserFacts, UserId, UserRef,
};
use serde_json::{Map, Value};
use tokio_postgres::{Client, RowStream, Statement};
use uuid::Uuid;

use super::{column, connect, lock, BACKFILL_LOCK_KEY};
use crate::postgres::store_error;
use facts::{facts_for_sql, facts_row, fold, walk_sql};

/// Temporary tables live in session-local buffers; a generous limit keeps a
/// large staging table in memory (it spills to disk beyond). Must be set
/// before the session touches any temporary table.
const SESSION_SETUP: &str = "SET temp_buffers = '128MB'; SET work_mem = '64MB';
    CREATE TEMP TABLE backfill_stage (
        email_key text     NOT NULL,
        auth_id   uuid     NOT NULL,
        verified  boolean  NOT NULL,
        active    boolean  NOT NULL,
        usable    boolean  NOT NULL,
        keys      smallint NOT NULL
    );";

/// Lookups stage a few rows per batch and read them back by key: index them.
const LOOKUP_INDEXES: &str = "CREATE INDEX ON backfill_stage (email_key);
    CREATE INDEX ON backfill_stage (auth_id);";

const STAGE_SQL: &str =
    "INSERT INTO backfill_stage (email_key, auth_id, verified, active, usable, keys)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::bool[], $4::bool[], $5::bool[], $6::int2[])";

struct Walk {
    /// `None` once every row was read.
    rows: Option<Pin<Box<RowStream>>>,
    pending: Option<UserFacts>,
}

pub(super) struct PostgresSession {
    client: Client,
    plan: RunPlan,
    walk: Option<Walk>,
    stage_statement: Option<Statement>,
}

impl PostgresSession {
    pub(super) async fn open(url: &str, plan: &RunPlan) -> Result<Self, BeginError> {
        let client = connect(url).await?;
        client
            .batch_execute(SESSION_SETUP)
            .await
            .map_err(store_error)?;
        if plan.strategy == Strategy::Lookup {
            client
                .batch_execute(LOOKUP_INDEXES)
                .await
                .map_err(store_error)?;
        }
        if !plan.dry_run {
            lock(&client).await?.map_err(BeginError::Busy)?;
            // Holding the lock, no other run is alive: a run still marked
            // running was interrupted.
            client
                .execute(
                    "UPDATE user_authid_backfill_runs
                        SET outcome = 'interrupted',
                            failure = 'its process ended before the run finished'
                      WHERE outcome = 'running'",
                    &[],
                )
                .await
                .map_err(store_error)?;
            client
                .execute(
                    "INSERT INTO user_authid_backfill_runs
                            (run_id, strategy, options, backend_pid, backend_start)
                     SELECT $1, $2, $3, pid, backend_start
                       FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                    &[&plan.id.as_uuid(), &plan.strategy.as_str(), &plan.options],
                )
                .await
                .map_err(store_error)?;
        }
        Ok(Self {
            client,
            plan: plan.clone(),
            walk: None,
            stage_statement: None,
        })
    }
}

#[async_trait]
impl BackfillSession for PostgresSession {
    async fn unlinked_count(&mut self) -> Result<u64, StoreError> {
        let row = self
            .client
            .query_one("SELECT count(*) FROM users WHERE auth_id IS NULL", &[])
            .await
            .map_err(store_error)?;
        let count: i64 = column(&row, 0)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn stage(&mut self, keys: &[StagedKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let emails: Vec<&str> = keys.iter().map(|k| k.email_key.as_str()).collect();
        let auth_ids: Vec<Uuid> = keys.iter().map(|k| k.auth_id.as_uuid()).collect();
        let verified: Vec<bool> = keys.iter().map(|k| k.verified).collect();
        let active: Vec<bool> = keys.iter().map(|k| k.active).collect();
        let usable: Vec<bool> = keys.iter().map(|k| k.usable).collect();
        let counts: Vec<i16> = keys
            .iter()
            .map(|k| i16::try_from(k.keys).unwrap_or(i16::MAX))
            .collect();
        let statement = match &self.stage_statement {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(STAGE_SQL).await.map_err(store_error)?;
                self.stage_statement.insert(statement).clone()
            }
        };
        self.client
            .execute(
                &statement,
                &[&emails, &auth_ids, &verified, &active, &usable, &counts],
            )
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn open_walk(&mut self) -> Result<(), StoreError> {
        // Temporary tables get no statistics by themselves; the planner needs
        // them to choose hash joins over the whole staging table.
        self.client
            .batch_execute("ANALYZE backfill_stage")
            .await
            .map_err(store_error)?;
        let rows = self
            .client
            .query_raw(walk_sql().as_str(), std::iter::empty::<&str>())
            .await
            .map_err(store_error)?;
        self.walk = Some(Walk {
            rows: Some(Box::pin(rows)),
            pending: None,
        });
        Ok(())
    }

    async fn next_facts(&mut self, max: usize) -> Result<Vec<UserFacts>, StoreError> {
        let walk = self
            .walk
            .as_mut()
            .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("no walk is open")))?;
        let mut users = Vec::with_capacity(max);
        while users.len() < max.max(1) {
            // A finished row stream must not be polled again.
            let Some(rows) = walk.rows.as_mut() else {
                break;
            };
            match rows.next().await {
                Some(row) => {
                    let row = facts_row(&row.map_err(store_error)?)?;
                    users.extend(fold(&mut walk.pending, row));
                }
                None => {
                    walk.rows = None;
                    users.extend(walk.pending.take());
                }
            }
        }
        Ok(users)
    }

    async fn unlinked_users(
        &mut self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserRef>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT id, email FROM users
                  WHERE auth_id IS NULL AND ($1::uuid IS NULL OR id > $1)
                  ORDER BY id LIMIT $2",
                &[&after.map(|id| id.as_uuid()), &i64::from(limit)],
            )
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(UserRef {
                    id: UserId::new(row.try_get(0).map_err(store_error)?),
                    email: row.try_get(1).map_err(store_error)?,
                })
            })
            .collect()
    }

    async fn facts_for(&mut self, users: &[UserId]) -> Result<Vec<UserFacts>, StoreError> {
        let ids: Vec<Uuid> = users.iter().map(UserId::as_uuid).collect();
        let rows = self
            .client
            .query(facts_for_sql().as_str(), &[&ids])
            .await
            .map_err(store_error)?;
        let mut pending = None;
        let mut facts = Vec::with_capacity(users.len());
        for row in &rows {
            facts.extend(fold(&mut pending, facts_row(row)?));
        }
        facts.extend(pending);
        Ok(facts)
    }

    async fn finish(self: Box<Self>, end: RunEnd) -> Result<(), StoreError> {
        let Self {
            client, plan, walk, ..
        } = *self;
        // A walk cut short leaves its query running; the session's end stops it.
        drop(walk);
        if plan.dry_run {
            return Ok(());
        }
        let rows = client
            .query(
                "SELECT resolution_status, count(*) FROM user_authid_backfill_audit
                  WHERE run_id = $1 GROUP BY resolution_status",
                &[&plan.id.as_uuid()],
            )
            .await
            .map_err(store_error)?;
        let mut counts: Map<String, Value> = ResolutionStatus::ALL
            .iter()
            .map(|status| (status.as_str().to_owned(), Value::from(0)))
            .collect();
        let mut linked = 0_i64;
        for row in &rows {
            let status: String = row.try_get(0).map_err(store_error)?;
            let count: i64 = row.try_get(1).map_err(store_error)?;
            if status == ResolutionStatus::Linked.as_str() {
                linked = count;
            }
            counts.insert(status, Value::from(count));
        }
        let (outcome, failure) = match &end {
            RunEnd::Finished => ("finished", None),
            RunEnd::Failed(reason) => ("failed", Some(reason.as_str())),
        };
        client
            .execute(
                "UPDATE user_authid_backfill_runs
                    SET finished_at = now(), outcome = $2, failure = $3, counts = $4
                  WHERE run_id = $1",
                &[
                    &plan.id.as_uuid(),
                    &outcome,
                    &failure,
                    &Value::Object(counts),
                ],
            )
            .await
            .map_err(store_error)?;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&BACKFILL_LOCK_KEY])
            .await
            .map_err(store_error)?;
        if linked > 0 {
            tidy_users(&client, linked).await;
        }
        Ok(())
    }
}

/// After a run that linked `linked` users: their rows were rewritten, and
/// until autovacuum comes round the statistics still say nobody is linked, so
/// plans that filter on the link (reconcile, admin lists and counts) would be
/// chosen on that: `ANALYZE`. When the run rewrote as many rows as make
/// autovacuum vacuum a table (50 + 20 % of its rows), `VACUUM` too, now rather
/// than when autovacuum comes round: until then every index holds the old
/// versions beside the new, and an admin search reads both (at a million
/// users, 19 ms against 8.5 ms after the vacuum, which took 3 s). Best
/// effort: it needs the table's owner, and skips the table while autovacuum
/// holds it rather than waiting.
async fn tidy_users(client: &Client, linked: i64) {
    let rows: f64 = match client
        .query_one(
            "SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'users'::regclass",
            &[],
        )
        .await
    {
        Ok(row) => row.try_get(0).unwrap_or(0.0),
        Err(_) => 0.0,
    };
    let vacuum = linked as f64 > 50.0 + 0.2 * rows;
    let (command, done) = if vacuum {
        tracing::info!(
            linked,
            "vacuuming users: the backfill rewrote a large share of its rows"
        );
        (
            "VACUUM (ANALYZE, SKIP_LOCKED) users",
            "vacuumed and analyzed",
        )
    } else {
        ("ANALYZE (SKIP_LOCKED) users", "analyzed")
    };
    let started = std::time::Instant::now();
    match client.batch_execute(command).await {
        Ok(()) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "users table {done} after the backfill"
        ),
        Err(error) => tracing::debug!(%error, "the users table was not {done} after the backfill"),
    }
}
