//! One batch: links (compare-and-set) and audit rows in one transaction.
//! (Longer than most files: the batch transaction and its race handling read
//! best in one place.)

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use deadpool_postgres::Transaction;
use identity_link_ports::decision::backfill_recheck;
use identity_link_ports::{
    AuditSource, AuthId, ResolutionStatus, RunId, StoreError, UserId, Verdict,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::column;
use crate::postgres::outbox::enqueue_many_on;
use crate::postgres::sql::Sql;
use crate::postgres::{store_error, violated_constraint, PgPool, AUTH_ID_KEY};

/// Attempts per batch: a lost race on an identity, a deadlock or a dropped
/// connection each cost one.
const ATTEMPTS: u32 = 5;

enum Failure {
    /// Another user took one of the identities meanwhile (`users_auth_id_key`).
    AuthIdTaken,
    /// Worth another attempt as it is (deadlock, serialization, connection lost).
    Transient(StoreError),
    Fatal(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Fatal(error)
    }
}

fn classify(error: tokio_postgres::Error) -> Failure {
    if violated_constraint(&error) == Some(AUTH_ID_KEY) {
        return Failure::AuthIdTaken;
    }
    let transient = matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
    );
    match store_error(error) {
        error if transient => Failure::Transient(error),
        error @ StoreError::Unavailable(_) => Failure::Transient(error),
        error => Failure::Fatal(error),
    }
}

pub(super) async fn apply(
    pool: &PgPool,
    run: RunId,
    mut verdicts: Vec<Verdict>,
    write_back: bool,
) -> Result<Vec<Verdict>, StoreError> {
    let mut attempt = 1;
    loop {
        let failure = match try_apply(pool, run, &verdicts, write_back).await {
            Ok(recorded) => return Ok(recorded),
            Err(failure) => failure,
        };
        match failure {
            Failure::AuthIdTaken if attempt < ATTEMPTS => {
                mark_conflicts(pool, &mut verdicts).await?;
            }
            Failure::Transient(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, "backfill batch failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Failure::AuthIdTaken => {
                return Err(StoreError::Unknown(anyhow::anyhow!(
                    "identities of a batch kept being linked elsewhere meanwhile; giving up"
                )))
            }
            Failure::Transient(error) | Failure::Fatal(error) => return Err(error),
        }
        attempt += 1;
    }
}

/// After losing a race on the unique constraint: each contested verdict is
/// decided again by the link rule on what the store holds now (the identity
/// linked to another user becomes a conflict). The store does not judge: it
/// supplies the facts and records the decision.
async fn mark_conflicts(pool: &PgPool, verdicts: &mut [Verdict]) -> Result<(), StoreError> {
    let wanted: Vec<Uuid> = to_link(verdicts).map(|(_, auth)| auth).collect();
    let conn = pool.get().await?;
    let owners: HashMap<Uuid, Uuid> = conn
        .sql()
        .query(
            &*conn,
            "SELECT auth_id, id FROM users WHERE auth_id = ANY($1)",
            &[(&wanted, Type::UUID_ARRAY)],
        )
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| Ok((column(row, 0)?, column(row, 1)?)))
        .collect::<Result<_, StoreError>>()?;
    for verdict in verdicts.iter_mut() {
        let Some(auth_id) = verdict
            .auth_id
            .filter(|_| verdict.status == ResolutionStatus::Linked)
        else {
            continue;
        };
        let owner = owners
            .get(&auth_id.as_uuid())
            .map(|owner| UserId::new(*owner));
        let status = backfill_recheck(verdict.user, auth_id, owner, None);
        if status == ResolutionStatus::Conflict {
            verdict.status = status;
            verdict.detail = owner.map(|owner| {
                format!("the identity was linked to user {owner} while the run examined this user")
            });
        }
    }
    Ok(())
}

fn to_link(verdicts: &[Verdict]) -> impl Iterator<Item = (Uuid, Uuid)> + '_ {
    verdicts.iter().filter_map(|verdict| match verdict {
        Verdict {
            status: ResolutionStatus::Linked,
            auth_id: Some(auth_id),
            user,
            ..
        } => Some((user.as_uuid(), auth_id.as_uuid())),
        _ => None,
    })
}

fn linked_meanwhile(verdict: &mut Verdict, current: Uuid) {
    verdict.status = ResolutionStatus::AlreadyLinked;
    verdict.auth_id = Some(AuthId::new(current));
    verdict.detail = Some("linked meanwhile, by something other than this run".into());
}

async fn try_apply(
    pool: &PgPool,
    run: RunId,
    verdicts: &[Verdict],
    write_back: bool,
) -> Result<Vec<Verdict>, Failure> {
    let mut recorded = verdicts.to_vec();
    let position: HashMap<Uuid, usize> = recorded
        .iter()
        .enumerate()
        .map(|(index, verdict)| (verdict.user.as_uuid(), index))
        .collect();
    let mut conn = pool.get().await.map_err(Failure::Transient)?;
    let sql = conn.sql();
    let tx = sql.begin(&mut conn).await.map_err(classify)?;
    // A batch need not wait for its own WAL flush: the run's closing update
    // commits synchronously, flushing every batch before it, and a batch lost
    // to a database crash mid-run is lost whole (links with audit rows), so
    // the rerun that an interrupted run needs anyway redoes it.
    sql.watch(tx.batch_execute("SET LOCAL synchronous_commit = off").await)
        .map_err(classify)?;

    let others: Vec<Uuid> = recorded
        .iter()
        .filter(|v| {
            !matches!(
                v.status,
                ResolutionStatus::Linked | ResolutionStatus::AlreadyLinked
            )
        })
        .map(|v| v.user.as_uuid())
        .collect();
    if !others.is_empty() {
        let rows = sql
            .query(
                &tx,
                "SELECT id, auth_id FROM users WHERE id = ANY($1) AND auth_id IS NOT NULL",
                &[(&others, Type::UUID_ARRAY)],
            )
            .await
            .map_err(classify)?;
        for row in &rows {
            if let Some(&index) = position.get(&column::<Uuid>(row, 0)?) {
                linked_meanwhile(&mut recorded[index], column(row, 1)?);
            }
        }
    }

    let (users, auth_ids): (Vec<Uuid>, Vec<Uuid>) = to_link(&recorded).unzip();
    if !users.is_empty() {
        let updated = link(&sql, &tx, run, &users, &auth_ids).await?;
        if write_back {
            queue_write_backs(&sql, &tx, run, &users, &auth_ids, &updated).await?;
        }
        let lost: Vec<Uuid> = users
            .iter()
            .filter(|user| !updated.contains(*user))
            .copied()
            .collect();
        if !lost.is_empty() {
            let current: HashMap<Uuid, Option<Uuid>> = sql
                .query(
                    &tx,
                    "SELECT id, auth_id FROM users WHERE id = ANY($1)",
                    &[(&lost, Type::UUID_ARRAY)],
                )
                .await
                .map_err(classify)?
                .iter()
                .map(|row| Ok((column(row, 0)?, column(row, 1)?)))
                .collect::<Result<_, StoreError>>()?;
            for user in &lost {
                if let (Some(Some(current)), Some(&index)) = (current.get(user), position.get(user))
                {
                    let verdict = &recorded[index];
                    let decided = verdict.auth_id.map(|wanted| {
                        backfill_recheck(verdict.user, wanted, None, Some(AuthId::new(*current)))
                    });
                    if decided == Some(ResolutionStatus::AlreadyLinked) {
                        linked_meanwhile(&mut recorded[index], *current);
                    }
                }
            }
            // Unlinked yet not updated cannot happen (the update waited for any
            // lock on the row): the rest were deleted and have nothing to record.
            let lost: HashSet<Uuid> = lost.into_iter().collect();
            recorded.retain(|v| {
                !lost.contains(&v.user.as_uuid()) || v.status == ResolutionStatus::AlreadyLinked
            });
        }
    }

    insert_audit(&sql, &tx, run, &recorded).await?;
    sql.commit(tx).await.map_err(classify)?;
    Ok(recorded)
}

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

async fn link(
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
async fn queue_write_backs(
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

async fn insert_audit(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: ResolutionStatus, auth: Option<Uuid>) -> Verdict {
        Verdict {
            user: UserId::new(Uuid::new_v4()),
            email: "a@example.com".into(),
            status,
            auth_id: auth.map(AuthId::new),
            detail: None,
        }
    }

    #[test]
    fn only_linked_verdicts_with_an_identity_are_written_as_links() {
        let auth = Uuid::new_v4();
        let verdicts = [
            verdict(ResolutionStatus::Linked, Some(auth)),
            verdict(ResolutionStatus::Conflict, Some(Uuid::new_v4())),
            verdict(ResolutionStatus::Missing, None),
        ];
        let links: Vec<_> = to_link(&verdicts).collect();
        assert_eq!(links, vec![(verdicts[0].user.as_uuid(), auth)]);
    }
}
