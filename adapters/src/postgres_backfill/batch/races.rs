//! A lost race decided again: after another link took one of a batch's
//! identities, or linked one of its users, the link rule judges each
//! contested verdict on what the store holds now.

use std::collections::HashMap;

use identity_link_ports::decision::backfill_recheck;
use identity_link_ports::{AuthId, ResolutionStatus, StoreError, UserId, Verdict};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::to_link;
use crate::postgres::{store_error, PgPool};
use crate::postgres_backfill::column;

/// After losing a race on the unique constraint: each contested verdict is
/// decided again by the link rule on what the store holds now (the identity
/// linked to another user becomes a conflict). The store does not judge: it
/// supplies the facts and records the decision.
pub(super) async fn mark_conflicts(
    pool: &PgPool,
    verdicts: &mut [Verdict],
) -> Result<(), StoreError> {
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

pub(super) fn linked_meanwhile(verdict: &mut Verdict, current: Uuid) {
    verdict.status = ResolutionStatus::AlreadyLinked;
    verdict.auth_id = Some(AuthId::new(current));
    verdict.detail = Some("linked meanwhile, by something other than this run".into());
}
