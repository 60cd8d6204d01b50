//! Undoing a run: removes the links it made that nobody changed since.

use std::collections::HashSet;

use identity_link_ports::{RevertError, RevertOutcome, RunId, StoreError, UserId};
use serde_json::json;
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use super::{column, connect, lock, BACKFILL_LOCK_KEY};
use crate::postgres::store_error;

/// The run's links not reverted yet, in user order, one batch at a time.
const NOT_REVERTED_SQL: &str = "SELECT user_id, auth_id, examined_at
   FROM user_authid_backfill_audit
  WHERE run_id = $1 AND resolution_status = 'linked' AND reverted_at IS NULL
    AND ($2::uuid IS NULL OR user_id > $2)
  ORDER BY user_id
  LIMIT $3";

/// Unlinks only users still linked to the same identity since the same moment:
/// a link changed or remade since belongs to someone else's decision.
const UNLINK_SQL: &str = "UPDATE users u
    SET auth_id = NULL, linked_at = NULL, updated_at = now()
   FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(id, auth_id, linked_at)
  WHERE u.id = t.id AND u.auth_id = t.auth_id AND u.linked_at = t.linked_at
  RETURNING u.id, t.auth_id";

const MARK_SQL: &str = "UPDATE user_authid_backfill_audit SET reverted_at = now()
  WHERE run_id = $1 AND user_id = ANY($2)";

const AUDIT_SQL: &str = "INSERT INTO identity_audit
        (correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail)
 SELECT $1, now(), 'backfill', 'unlinked', 'ok', t.auth_id, t.user_id, NULL, $4
   FROM unnest($2::uuid[], $3::uuid[]) AS t(user_id, auth_id)";

fn columns<T: for<'a> FromSql<'a>>(rows: &[Row], index: usize) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|row| column(row, index)).collect()
}

pub(super) async fn revert(
    url: &str,
    run: RunId,
    batch_size: u32,
) -> Result<RevertOutcome, RevertError> {
    let mut client = connect(url).await?;
    lock(&client).await?.map_err(RevertError::Busy)?;
    let result = revert_locked(&mut client, run, batch_size).await;
    // Closing the session releases the lock too; unlock to say so plainly.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&BACKFILL_LOCK_KEY])
        .await;
    result
}

async fn revert_locked(
    client: &mut Client,
    run: RunId,
    batch_size: u32,
) -> Result<RevertOutcome, RevertError> {
    let run_uuid = run.as_uuid();
    let known = client
        .query_opt(
            "SELECT 1 FROM user_authid_backfill_runs WHERE run_id = $1",
            &[&run_uuid],
        )
        .await
        .map_err(store_error)?;
    if known.is_none() {
        return Err(RevertError::UnknownRun(run));
    }
    let already = client
        .query_one(
            "SELECT count(*) FROM user_authid_backfill_audit
              WHERE run_id = $1 AND resolution_status = 'linked' AND reverted_at IS NOT NULL",
            &[&run_uuid],
        )
        .await
        .map_err(store_error)?;
    let already: i64 = column(&already, 0)?;
    let mut outcome = RevertOutcome {
        already_reverted: u64::try_from(already).unwrap_or(0),
        ..RevertOutcome::default()
    };
    let correlation = Uuid::new_v4();
    let detail = json!({ "run_id": run_uuid, "reason": "backfill revert" });
    let mut after: Option<Uuid> = None;
    loop {
        let tx = client.transaction().await.map_err(store_error)?;
        let todo = tx
            .query(
                NOT_REVERTED_SQL,
                &[&run_uuid, &after, &i64::from(batch_size.max(1))],
            )
            .await
            .map_err(store_error)?;
        let Some(last) = todo.last() else {
            tx.commit().await.map_err(store_error)?;
            break;
        };
        after = Some(column(last, 0)?);
        let users: Vec<Uuid> = columns(&todo, 0)?;
        let auth_ids: Vec<Uuid> = columns(&todo, 1)?;
        let linked_at: Vec<chrono::DateTime<chrono::Utc>> = columns(&todo, 2)?;
        let unlinked = tx
            .query(UNLINK_SQL, &[&users, &auth_ids, &linked_at])
            .await
            .map_err(store_error)?;
        let done_users: Vec<Uuid> = columns(&unlinked, 0)?;
        let done_auths: Vec<Uuid> = columns(&unlinked, 1)?;
        tx.execute(MARK_SQL, &[&run_uuid, &done_users])
            .await
            .map_err(store_error)?;
        tx.execute(
            AUDIT_SQL,
            &[&correlation, &done_users, &done_auths, &detail],
        )
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        outcome.reverted += done_users.len() as u64;
        let done: HashSet<&Uuid> = done_users.iter().collect();
        outcome.changed.extend(
            users
                .iter()
                .filter(|user| !done.contains(user))
                .map(|user| UserId::new(*user)),
        );
    }
    client
        .execute(
            "UPDATE user_authid_backfill_runs SET reverted_at = now() WHERE run_id = $1",
            &[&run_uuid],
        )
        .await
        .map_err(store_error)?;
    Ok(outcome)
}
