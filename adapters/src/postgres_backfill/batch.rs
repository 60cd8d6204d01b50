//! One batch: links (compare-and-set) and audit rows in one transaction,
//! retried after a lost race (`races`), a deadlock or a dropped connection.

mod races;
mod writes;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use identity_link_ports::{AuthId, ResolutionStatus, RunId, StoreError, Verdict};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::column;
use crate::postgres::{store_error, violated_constraint, PgPool, AUTH_ID_KEY};
use identity_link_ports::decision::backfill_recheck;
use races::{linked_meanwhile, mark_conflicts};
use writes::{insert_audit, link, queue_write_backs};

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

#[cfg(test)]
mod tests {
    use identity_link_ports::UserId;

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
