//! What a batch writes in its transaction: the links with their audit
//! events, the write-backs of the links made, and one backfill audit row per
//! user.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use identity_link_ports::{AuditSource, RunId, StoreError, Verdict};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{classify, Failure};
use crate::postgres::outbox::enqueue_many_on;
use crate::postgres::sql::Sql;
use crate::postgres_backfill::column;

/// Links where the user is still unlinked, each link with its `identity_audit`
/// event (source `backfill`, action `linked`, the run as correlation id);
/// returns the users linked.
const LINK_SQL: &str = "WITH linked AS (
        UPDATE users
           SET auth_id = p.auth_id, linked_at = now(), updated_at = now()
          FROM unnest($1::uuid[], $2::uuid[]) AS p(id, auth_id)
         WHERE users.id = p.id AND users.auth_id IS NULL
        RETURNING users.id, users.auth_id),
    audited AS (
        INSERT INTO identity_audit
               (correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail)
        SELECT $3, now(), 'backfill', 'linked', 'ok', linked.auth_id, linked.id, NULL, $4
          FROM linked)
    SELECT id FROM linked";

pub(super) async fn link(
    sql: &Sql,
    tx: &Transaction<'_>,
    run: RunId,
    users: &[Uuid],
    auth_ids: &[Uuid],
) -> Result<HashSet<Uuid>, Failure> {
    let detail = serde_json::json!({ "run_id": run.as_uuid() });
    Ok(sql
        .query(
            tx,
            LINK_SQL,
            &[
                (&users, Type::UUID_ARRAY),
                (&auth_ids, Type::UUID_ARRAY),
                (&run.as_uuid(), Type::UUID),
                (&detail, Type::JSONB),
            ],
        )
        .await
        .map_err(classify)?
        .iter()
        .map(|row| column(row, 0))
        .collect::<Result<_, StoreError>>()?)
}

/// Queues the write-back of each link made (`updated` of `users`), in the batch's transaction.
pub(super) async fn queue_write_backs(
    sql: &Sql,
    tx: &Transaction<'_>,
    run: RunId,
    users: &[Uuid],
    auth_ids: &[Uuid],
    updated: &HashSet<Uuid>,
) -> Result<(), Failure> {
    let (linked_auth, linked_users): (Vec<Uuid>, Vec<Uuid>) = users
        .iter()
        .zip(auth_ids)
        .filter(|(user, _)| updated.contains(*user))
        .map(|(user, auth_id)| (*auth_id, *user))
        .unzip();
    if linked_auth.is_empty() {
        return Ok(());
    }
    enqueue_many_on(
        sql,
        tx,
        &linked_auth,
        &linked_users,
        run.as_uuid(),
        AuditSource::Backfill,
    )
    .await
    .map_err(classify)
}

pub(super) async fn insert_audit(
    sql: &Sql,
    tx: &Transaction<'_>,
    run: RunId,
    recorded: &[Verdict],
) -> Result<(), Failure> {
    if recorded.is_empty() {
        return Ok(());
    }
    let users: Vec<Uuid> = recorded.iter().map(|v| v.user.as_uuid()).collect();
    let emails: Vec<&str> = recorded.iter().map(|v| v.email.as_str()).collect();
    let auth_ids: Vec<Option<Uuid>> = recorded
        .iter()
        .map(|v| v.auth_id.map(|id| id.as_uuid()))
        .collect();
    let statuses: Vec<&str> = recorded.iter().map(|v| v.status.as_str()).collect();
    let details: Vec<Option<&str>> = recorded.iter().map(|v| v.detail.as_deref()).collect();
    sql.execute(
        tx,
        "INSERT INTO user_authid_backfill_audit
                (run_id, user_id, email, auth_id, resolution_status, detail, examined_at)
         SELECT $1, t.*, now()
           FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[]) AS t",
        &[
            (&run.as_uuid(), Type::UUID),
            (&users, Type::UUID_ARRAY),
            (&emails, Type::TEXT_ARRAY),
            (&auth_ids, Type::UUID_ARRAY),
            (&statuses, Type::TEXT_ARRAY),
            (&details, Type::TEXT_ARRAY),
        ],
    )
    .await
    .map_err(classify)?;
    Ok(())
}
