//! One batch, applied at once under the users' lock: what the Postgres
//! store's transaction writes, decided on the same facts.

use std::collections::HashSet;

use chrono::Utc;
use identity_link_ports::decision::backfill_recheck;
use identity_link_ports::{
    AuditEvent, AuditOutcome, AuditSource, AuthId, ResolutionStatus, RunId, StoreError, UserId,
    Verdict,
};
use serde_json::json;

use super::runs::{AuditRow, Runs};
use crate::memory::state::{Shared, Users};

fn linked_meanwhile(verdict: &mut Verdict, current: AuthId) {
    verdict.status = ResolutionStatus::AlreadyLinked;
    verdict.auth_id = Some(current);
    verdict.detail = Some("linked meanwhile, by something other than this run".into());
}

/// The links a verdict asks for: `(index, user, identity)`.
fn to_link(verdicts: &[Verdict]) -> Vec<(usize, UserId, AuthId)> {
    verdicts
        .iter()
        .enumerate()
        .filter_map(|(index, verdict)| match verdict {
            Verdict {
                status: ResolutionStatus::Linked,
                auth_id: Some(auth_id),
                user,
                ..
            } => Some((index, *user, *auth_id)),
            _ => None,
        })
        .collect()
}

/// The links that can be written: users still unlinked (compare-and-set).
fn writable(users: &Users, verdicts: &[Verdict]) -> Vec<(usize, UserId, AuthId)> {
    to_link(verdicts)
        .into_iter()
        .filter(|(_, user, _)| users.get(*user).is_some_and(|user| user.auth_id.is_none()))
        .collect()
}

/// What Postgres answers when a batch's links keep breaking the unique constraint.
fn gave_up() -> StoreError {
    StoreError::Unknown(anyhow::anyhow!(
        "identities of a batch kept being linked elsewhere meanwhile; giving up"
    ))
}

/// What the unique constraint on the link says of `links`: `Ok(true)` when an
/// identity is linked to someone already, `Err` when the batch itself links
/// one identity twice (Postgres gives up on such a batch too).
fn taken(users: &Users, links: &[(usize, UserId, AuthId)]) -> Result<bool, StoreError> {
    let mut wanted = HashSet::new();
    if links.iter().any(|(_, _, auth_id)| !wanted.insert(*auth_id)) {
        return Err(gave_up());
    }
    Ok(links
        .iter()
        .any(|(_, _, auth_id)| users.by_auth_id(*auth_id).is_some()))
}

/// Each contested verdict is decided again by the link rule on what the
/// store holds now (the identity linked to another user becomes a conflict).
fn mark_conflicts(users: &Users, verdicts: &mut [Verdict]) {
    for (index, user, auth_id) in to_link(verdicts) {
        let owner = users.by_auth_id(auth_id).map(|owner| owner.id);
        if backfill_recheck(user, auth_id, owner, None) == ResolutionStatus::Conflict {
            let verdict = &mut verdicts[index];
            verdict.status = ResolutionStatus::Conflict;
            verdict.detail = owner.map(|owner| {
                format!("the identity was linked to user {owner} while the run examined this user")
            });
        }
    }
}

/// A batch as it will be written.
struct Settled {
    /// The verdicts as recorded.
    recorded: Vec<Verdict>,
    /// The links to make.
    links: Vec<(UserId, AuthId)>,
}

fn settle(users: &Users, verdicts: Vec<Verdict>) -> Result<Settled, StoreError> {
    let mut recorded = verdicts;
    for verdict in recorded.iter_mut().filter(|verdict| {
        !matches!(
            verdict.status,
            ResolutionStatus::Linked | ResolutionStatus::AlreadyLinked
        )
    }) {
        if let Some(current) = users.get(verdict.user).and_then(|user| user.auth_id) {
            linked_meanwhile(verdict, current);
        }
    }
    let mut links = writable(users, &recorded);
    if taken(users, &links)? {
        mark_conflicts(users, &mut recorded);
        links = writable(users, &recorded);
        if taken(users, &links)? {
            return Err(gave_up());
        }
    }
    let written: HashSet<UserId> = links.iter().map(|(_, user, _)| *user).collect();
    let mut lost = HashSet::new();
    for (index, user, wanted) in to_link(&recorded) {
        if written.contains(&user) {
            continue;
        }
        match users.get(user).and_then(|now| now.auth_id) {
            Some(current)
                if backfill_recheck(user, wanted, None, Some(current))
                    == ResolutionStatus::AlreadyLinked =>
            {
                linked_meanwhile(&mut recorded[index], current);
            }
            // A user gone from the store has nothing to record.
            _ => {
                lost.insert(user);
            }
        }
    }
    let links = links
        .into_iter()
        .map(|(_, user, auth_id)| (user, auth_id))
        .collect();
    recorded.retain(|verdict| !lost.contains(&verdict.user));
    Ok(Settled { recorded, links })
}

/// One audit row per user per run, as the audit's primary key demands.
fn check_recorded_once(runs: &Runs, run: RunId, recorded: &[Verdict]) -> Result<(), StoreError> {
    let mut users = HashSet::new();
    match recorded
        .iter()
        .find(|verdict| !users.insert(verdict.user) || runs.recorded.contains(&(run, verdict.user)))
    {
        Some(twice) => Err(StoreError::Unknown(anyhow::anyhow!(
            "user {} is recorded twice in backfill run {run}",
            twice.user
        ))),
        None => Ok(()),
    }
}

pub(super) fn apply(
    shared: &Shared,
    run: RunId,
    verdicts: Vec<Verdict>,
    write_back: bool,
) -> Result<Vec<Verdict>, StoreError> {
    let mut users = shared.users();
    let mut runs = shared.runs();
    let Settled { recorded, links } = settle(&users, verdicts)?;
    check_recorded_once(&runs, run, &recorded)?;
    // One moment for the whole batch, as one transaction's `now()`: a link's
    // `linked_at` equals its audit row's time, which is how a revert knows it.
    let now = Utc::now();
    let mut events = Vec::with_capacity(links.len());
    for (user, auth_id) in &links {
        users
            .set_link(*user, Some(*auth_id), None, now)
            .map_err(|error| StoreError::Unknown(error.into()))?;
        events.push(AuditEvent {
            correlation_id: run.as_uuid(),
            occurred_at: now,
            source: AuditSource::Backfill,
            action: "linked".into(),
            outcome: AuditOutcome::Ok,
            auth_id: Some(*auth_id),
            user_id: Some(*user),
            actor: None,
            detail: json!({ "run_id": run.as_uuid() }),
        });
        if write_back {
            shared
                .write_backs
                .enqueue_now(*auth_id, *user, run.as_uuid(), AuditSource::Backfill);
        }
    }
    shared.audit.push(&events);
    for verdict in &recorded {
        runs.recorded.insert((run, verdict.user));
        runs.audit.push(AuditRow {
            run,
            verdict: verdict.clone(),
            examined_at: now,
            reverted_at: None,
        });
    }
    Ok(recorded)
}
