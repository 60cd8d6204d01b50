//! The audit trail in Postgres: batches appended in one statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use identity_link_ports::{
    AuditError, AuditEvent, AuditLog, AuditOutcome, AuditQuery, AuditSource, AuthId, StoreError,
    UserId,
};
use tokio_postgres::types::Type;
use tokio_postgres::Row;
use uuid::Uuid;

use super::sql::{Sql, Target};
use super::{store_error, PgPool};

#[derive(Clone)]
pub struct PostgresAuditLog {
    pool: PgPool,
}

impl PostgresAuditLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn statement_error(error: tokio_postgres::Error) -> AuditError {
    audit_error(store_error(error))
}

fn audit_error(error: StoreError) -> AuditError {
    match error {
        StoreError::Unavailable(reason) => AuditError::Unavailable(reason),
        StoreError::Unknown(error) => AuditError::Unknown(error),
    }
}

#[async_trait]
impl AuditLog for PostgresAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        if events.is_empty() {
            return Ok(());
        }
        let conn = self.pool.get().await.map_err(audit_error)?;
        insert_events(&conn.sql(), &*conn, events)
            .await
            .map_err(statement_error)
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        let mut retry = self.pool.retry();
        let rows = loop {
            let conn = retry.connection().await.map_err(audit_error)?;
            let rows = conn
                .sql()
                .query(
                    &*conn,
                    "SELECT correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail
                       FROM identity_audit
                      WHERE user_id = $1 OR auth_id = $2
                      ORDER BY occurred_at DESC, id DESC
                      LIMIT $3",
                    &[
                        (&query.user_id.map(|id| id.as_uuid()), Type::UUID),
                        (&query.auth_id.map(|id| id.as_uuid()), Type::UUID),
                        (&i64::from(query.limit), Type::INT8),
                    ],
                )
                .await;
            if !retry.again(conn, &rows) {
                break rows.map_err(statement_error)?;
            }
        };
        rows.iter().map(audit_from_row).collect()
    }
}

/// Appends `events` in one statement on `client` (a connection or an open
/// transaction, so that a change and its audit commit together).
///
/// # Errors
/// The statement's error.
pub(crate) async fn insert_events<C: Target>(
    sql: &Sql,
    client: &C,
    events: &[AuditEvent],
) -> Result<(), tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut correlation_ids = Vec::with_capacity(events.len());
    let mut occurred = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    let mut actions = Vec::with_capacity(events.len());
    let mut outcomes = Vec::with_capacity(events.len());
    let mut auth_ids = Vec::with_capacity(events.len());
    let mut user_ids = Vec::with_capacity(events.len());
    let mut actors = Vec::with_capacity(events.len());
    let mut details = Vec::with_capacity(events.len());
    for event in events {
        correlation_ids.push(event.correlation_id);
        occurred.push(event.occurred_at);
        sources.push(event.source.as_str());
        actions.push(event.action.as_str());
        outcomes.push(event.outcome.as_str());
        auth_ids.push(event.auth_id.map(|id| id.as_uuid()));
        user_ids.push(event.user_id.map(|id| id.as_uuid()));
        actors.push(event.actor.as_deref());
        details.push(&event.detail);
    }
    sql.execute(
        client,
        "INSERT INTO identity_audit
            (correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail)
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[],
                              $5::text[], $6::uuid[], $7::uuid[], $8::text[], $9::jsonb[])",
        &[
            (&correlation_ids, Type::UUID_ARRAY),
            (&occurred, Type::TIMESTAMPTZ_ARRAY),
            (&sources, Type::TEXT_ARRAY),
            (&actions, Type::TEXT_ARRAY),
            (&outcomes, Type::TEXT_ARRAY),
            (&auth_ids, Type::UUID_ARRAY),
            (&user_ids, Type::UUID_ARRAY),
            (&actors, Type::TEXT_ARRAY),
            (&details, Type::JSONB_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

fn audit_from_row(row: &Row) -> Result<AuditEvent, AuditError> {
    let source: String = row.try_get("source").map_err(statement_error)?;
    let outcome: String = row.try_get("outcome").map_err(statement_error)?;
    let occurred_at: DateTime<Utc> = row.try_get("occurred_at").map_err(statement_error)?;
    Ok(AuditEvent {
        correlation_id: row.try_get("correlation_id").map_err(statement_error)?,
        occurred_at,
        source: AuditSource::parse(&source)
            .ok_or_else(|| AuditError::Unknown(anyhow::anyhow!("unknown audit source {source}")))?,
        action: row.try_get("action").map_err(statement_error)?,
        outcome: if outcome == "ok" {
            AuditOutcome::Ok
        } else {
            AuditOutcome::Failed(outcome)
        },
        auth_id: row
            .try_get::<_, Option<Uuid>>("auth_id")
            .map_err(statement_error)?
            .map(AuthId::new),
        user_id: row
            .try_get::<_, Option<Uuid>>("user_id")
            .map_err(statement_error)?
            .map(UserId::new),
        actor: row.try_get("actor").map_err(statement_error)?,
        detail: row.try_get("detail").map_err(statement_error)?,
    })
}
