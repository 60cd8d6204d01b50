//! Users with their staged candidates, as a run reads them: the streamed walk
//! over every unlinked user (list strategy) and the lookups of given users,
//! their rows folded into one [`UserFacts`] per user.

use identity_link_ports::{AuthId, CandidateFacts, StoreError, UserFacts, UserId};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::postgres::store_error;

/// Candidate columns shared by both walks. Only an identity with several
/// addresses can match several users (emails are unique per user), so
/// claimants are counted for those alone.
const FACTS_COLUMNS: &str = "s.id, s.email, s.auth_id,
    c.auth_id, c.verified, c.active, c.usable, owner.id, cl.claimants";

/// Every unlinked user with its candidates: set-based (hash joins), streamed.
pub(super) fn walk_sql() -> String {
    format!(
        "SELECT {FACTS_COLUMNS}
           FROM users s
           LEFT JOIN backfill_stage c ON c.email_key = s.email_normalized
           LEFT JOIN users owner ON owner.auth_id = c.auth_id
           LEFT JOIN (SELECT st.auth_id, count(DISTINCT u.id) AS claimants
                        FROM backfill_stage st JOIN users u ON u.email_normalized = st.email_key
                       WHERE st.keys > 1
                       GROUP BY st.auth_id) cl ON cl.auth_id = c.auth_id
          WHERE s.auth_id IS NULL
          ORDER BY s.id"
    )
}

/// Given users with their candidates: index lookups.
pub(super) fn facts_for_sql() -> String {
    format!(
        "SELECT {FACTS_COLUMNS}
           FROM users s
           LEFT JOIN backfill_stage c ON c.email_key = s.email_normalized
           LEFT JOIN users owner ON owner.auth_id = c.auth_id
           LEFT JOIN LATERAL (SELECT count(DISTINCT u.id) AS claimants
                                FROM backfill_stage st JOIN users u ON u.email_normalized = st.email_key
                               WHERE st.auth_id = c.auth_id AND c.keys > 1) cl ON true
          WHERE s.id = ANY($1)
          ORDER BY s.id"
    )
}

pub(super) type FactsRow = (UserId, String, Option<AuthId>, Option<CandidateFacts>);

pub(super) fn facts_row(row: &Row) -> Result<FactsRow, StoreError> {
    let uuid = |index| row.try_get::<_, Option<Uuid>>(index).map_err(store_error);
    let user = UserId::new(row.try_get(0).map_err(store_error)?);
    let email: String = row.try_get(1).map_err(store_error)?;
    let current = uuid(2)?.map(AuthId::new);
    let candidate = match uuid(3)? {
        None => None,
        Some(auth_id) => Some(CandidateFacts {
            auth_id: AuthId::new(auth_id),
            verified: row.try_get(4).map_err(store_error)?,
            active: row.try_get(5).map_err(store_error)?,
            usable: row.try_get(6).map_err(store_error)?,
            linked_to: uuid(7)?.map(UserId::new),
            claimants: row
                .try_get::<_, Option<i64>>(8)
                .map_err(store_error)?
                .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        }),
    };
    Ok((user, email, current, candidate))
}

/// Adds a row to `pending` when it is about the same user; otherwise returns
/// the finished user and starts the next one.
pub(super) fn fold(
    pending: &mut Option<UserFacts>,
    (user, email, current, candidate): FactsRow,
) -> Option<UserFacts> {
    if let Some(facts) = pending.as_mut().filter(|facts| facts.user == user) {
        if let Some(candidate) = candidate {
            if !facts
                .candidates
                .iter()
                .any(|c| c.auth_id == candidate.auth_id)
            {
                facts.candidates.push(candidate);
            }
        }
        return None;
    }
    pending.replace(UserFacts {
        user,
        email,
        current,
        candidates: candidate.into_iter().collect(),
    })
}
