//! The write-back outbox in Postgres (`external_id_writeback` of `V4__webhook.sql`):
//! write-backs queued in the transaction of the link they follow, claimed by
//! workers under a lease, settled by version.

use std::time::Duration;

use async_trait::async_trait;
use identity_link_ports::{AuditSource, AuthId, StoreError, UserId, WriteBack, WriteBackQueue};
use tokio_postgres::types::Type;
use tokio_postgres::Row;
use uuid::Uuid;

use super::sql::{Param, Sql, Target};
use super::{store_error, PgPool};

/// The write-back outbox in Postgres.
#[derive(Clone)]
pub struct PostgresWriteBackQueue {
    pool: PgPool,
}

impl PostgresWriteBackQueue {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Runs `sql` (parameters: auth id, version, then `extra`) on the row of `item`.
    async fn settle(
        &self,
        item: &WriteBack,
        sql: &str,
        extra: &[Param<'_>],
    ) -> Result<bool, StoreError> {
        let conn = self.pool.get().await?;
        let auth_id = item.auth_id.as_uuid();
        let mut params: Vec<Param<'_>> = vec![(&auth_id, Type::UUID), (&item.version, Type::INT8)];
        params.extend_from_slice(extra);
        let changed = conn
            .sql()
            .execute(&*conn, sql, &params)
            .await
            .map_err(store_error)?;
        Ok(changed == 1)
    }
}

/// Queues (or re-queues) the write-back of `user` to `auth_id`, due now, on
/// `client` (a connection or the transaction of the link it follows): the
/// one-element form of [`enqueue_many_on`].
///
/// # Errors
/// The statement's error.
pub(crate) async fn enqueue_on<C: Target>(
    sql: &Sql,
    client: &C,
    auth_id: AuthId,
    user: UserId,
    correlation_id: Uuid,
    source: AuditSource,
) -> Result<(), tokio_postgres::Error> {
    enqueue_many_on(
        sql,
        client,
        &[auth_id.as_uuid()],
        &[user.as_uuid()],
        correlation_id,
        source,
    )
    .await
}

/// Queues (or re-queues) the write-backs of `users[i]` to `auth_ids[i]`, due
/// now, on `client` (a connection or the transaction of the links they
/// follow: a link, or a backfill batch); a queued write-back of the same
/// identity is replaced.
///
/// # Errors
/// The statement's error.
pub(crate) async fn enqueue_many_on<C: Target>(
    sql: &Sql,
    client: &C,
    auth_ids: &[Uuid],
    users: &[Uuid],
    correlation_id: Uuid,
    source: AuditSource,
) -> Result<(), tokio_postgres::Error> {
    sql.execute(
        client,
        ENQUEUE_SQL,
        &[
            (&auth_ids, Type::UUID_ARRAY),
            (&users, Type::UUID_ARRAY),
            (&correlation_id, Type::UUID),
            (&source.as_str(), Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

/// Write-backs `$1` (identities) → `$2` (users), correlation id `$3`, source `$4`.
const ENQUEUE_SQL: &str =
    "INSERT INTO external_id_writeback (auth_id, user_id, correlation_id, source)
     SELECT p.auth_id, p.user_id, $3, $4 FROM unnest($1::uuid[], $2::uuid[]) AS p(auth_id, user_id)
     ON CONFLICT (auth_id) DO UPDATE
        SET user_id = EXCLUDED.user_id,
            version = external_id_writeback.version + 1,
            status = 'pending',
            attempts = 0,
            next_attempt_at = now(),
            last_error = NULL,
            correlation_id = EXCLUDED.correlation_id,
            source = EXCLUDED.source,
            updated_at = now()";

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn write_back_from_row(row: &Row) -> Result<WriteBack, StoreError> {
    let source: String = row.try_get("source").map_err(store_error)?;
    let attempts: i32 = row.try_get("attempts").map_err(store_error)?;
    Ok(WriteBack {
        auth_id: AuthId::new(row.try_get("auth_id").map_err(store_error)?),
        user_id: UserId::new(row.try_get("user_id").map_err(store_error)?),
        version: row.try_get("version").map_err(store_error)?,
        attempts: u32::try_from(attempts).unwrap_or_default(),
        correlation_id: row.try_get("correlation_id").map_err(store_error)?,
        source: AuditSource::parse(&source).ok_or_else(|| {
            StoreError::Unknown(anyhow::anyhow!("unknown write-back source {source}"))
        })?,
    })
}

#[async_trait]
impl WriteBackQueue for PostgresWriteBackQueue {
    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn enqueue(
        &self,
        auth_id: AuthId,
        user: UserId,
        correlation_id: Uuid,
        source: AuditSource,
    ) -> Result<(), StoreError> {
        let conn = self.pool.get().await?;
        enqueue_on(&conn.sql(), &*conn, auth_id, user, correlation_id, source)
            .await
            .map_err(store_error)
    }

    async fn claim_due(&self, limit: u32, lease: Duration) -> Result<Vec<WriteBack>, StoreError> {
        let conn = self.pool.get().await?;
        // SKIP LOCKED: concurrent workers take disjoint rows; the lease moves
        // next_attempt_at forward, so a claimed row is not due again until the
        // lease ends, which hands it to another worker if this one dies.
        let rows = conn
            .sql()
            .query(
                &*conn,
                "UPDATE external_id_writeback
                    SET attempts = attempts + 1,
                        next_attempt_at = now() + $2::bigint * interval '1 millisecond',
                        updated_at = now()
                  WHERE auth_id IN (
                        SELECT auth_id FROM external_id_writeback
                         WHERE status = 'pending' AND next_attempt_at <= now()
                         ORDER BY next_attempt_at
                         LIMIT $1
                         FOR UPDATE SKIP LOCKED)
                  RETURNING auth_id, user_id, version, attempts, correlation_id, source",
                &[
                    (&i64::from(limit), Type::INT8),
                    (&millis(lease), Type::INT8),
                ],
            )
            .await
            .map_err(store_error)?;
        rows.iter().map(write_back_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn complete(&self, item: &WriteBack) -> Result<bool, StoreError> {
        self.settle(
            item,
            "DELETE FROM external_id_writeback WHERE auth_id = $1 AND version = $2",
            &[],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn retry_later(
        &self,
        item: &WriteBack,
        delay: Duration,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.settle(
            item,
            "UPDATE external_id_writeback
                SET next_attempt_at = now() + $3::bigint * interval '1 millisecond',
                    last_error = $4, updated_at = now()
              WHERE auth_id = $1 AND version = $2",
            &[(&millis(delay), Type::INT8), (&error, Type::TEXT)],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn abandon(&self, item: &WriteBack, error: &str) -> Result<bool, StoreError> {
        self.settle(
            item,
            "UPDATE external_id_writeback
                SET status = 'failed', last_error = $3, updated_at = now()
              WHERE auth_id = $1 AND version = $2",
            &[(&error, Type::TEXT)],
        )
        .await
    }
}
