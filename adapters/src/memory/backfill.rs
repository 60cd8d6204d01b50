//! Backfill runs kept in process memory, over a [`MemoryUserStore`]'s users.

mod batch;
pub(super) mod runs;
mod session;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use identity_link_ports::{
    AuditEvent, AuditOutcome, AuditSource, BackfillSession, BackfillStore, BeginError, ReportError,
    ResolutionStatus, RevertError, RevertOutcome, RunId, RunPlan, RunReport, RunState, StatusCount,
    StoreError, Verdict,
};
use serde_json::json;
use uuid::Uuid;

use super::state::Shared;
use super::MemoryUserStore;
use runs::{AuditRow, Holder, RunRecord};

/// Backfill runs in process memory with the semantics of the Postgres store:
/// one run or revert at a time (`Busy`), batches applied at once with their
/// audit rows, `identity_audit` events and write-backs, links made only for
/// users still unlinked and identities still free (`Conflict` otherwise, as
/// the unique constraint decides there), reports, status counts and reverts
/// of the links left unchanged.
///
/// What memory cannot mirror: the lock holds among the stores made over one
/// [`MemoryUserStore`], not across processes; a run whose session is dropped
/// without finishing is reported `Interrupted` at once (Postgres notices its
/// database session ended), while a crashed process takes every run with it,
/// so there is nothing left to report; a batch never loses a race (it is
/// applied under the users' lock); and a revert removes every unchanged link
/// at once, whatever its batch size.
#[derive(Clone)]
pub struct MemoryBackfillStore {
    shared: Arc<Shared>,
    write_back: bool,
}

impl MemoryBackfillStore {
    /// Runs over the users of `users`: a link a batch makes is the user
    /// store's link, and its audit events go to `users`' audit log.
    pub fn new(users: &MemoryUserStore) -> Self {
        Self {
            shared: users.shared.clone(),
            write_back: false,
        }
    }

    /// Queue the `external_id` write-back of every link a batch makes in
    /// `users`' write-back queue (`WRITE_BACK_EXTERNAL_ID`).
    pub fn with_write_back(mut self, write_back: bool) -> Self {
        self.write_back = write_back;
        self
    }
}

#[async_trait]
impl BackfillStore for MemoryBackfillStore {
    async fn begin(&self, plan: &RunPlan) -> Result<Box<dyn BackfillSession>, BeginError> {
        if !plan.dry_run {
            let mut runs = self.shared.runs();
            if let Some(holder) = &runs.holder {
                return Err(BeginError::Busy(holder.description.clone()));
            }
            if runs.runs.iter().any(|run| run.id == plan.id) {
                return Err(StoreError::Unknown(anyhow::anyhow!(
                    "backfill run {} is recorded already",
                    plan.id
                ))
                .into());
            }
            let started_at = Utc::now();
            runs.holder = Some(Holder {
                run: plan.id,
                description: format!("run {}, started at {}", plan.id, started_at.to_rfc3339()),
            });
            runs.runs.push(RunRecord {
                id: plan.id,
                strategy: plan.strategy,
                options: plan.options.clone(),
                started_at,
                finished_at: None,
                state: RunState::Running,
                failure: None,
            });
        }
        Ok(Box::new(session::MemorySession::new(
            self.shared.clone(),
            plan.clone(),
        )))
    }

    async fn apply_batch(
        &self,
        run: RunId,
        verdicts: Vec<Verdict>,
    ) -> Result<Vec<Verdict>, StoreError> {
        batch::apply(&self.shared, run, verdicts, self.write_back)
    }

    async fn report(&self, run: Option<RunId>) -> Result<Option<RunReport>, ReportError> {
        let runs = self.shared.runs();
        let record = match run {
            Some(id) => runs
                .runs
                .iter()
                .find(|record| record.id == id)
                .ok_or(ReportError::UnknownRun(id))?,
            None => match runs.runs.last() {
                Some(record) => record,
                None => return Ok(None),
            },
        };
        let mut report = RunReport {
            run: record.id,
            strategy: record.strategy,
            options: record.options.clone(),
            started_at: record.started_at,
            finished_at: record.finished_at,
            state: record.state,
            failure: record.failure.clone(),
            counts: ResolutionStatus::ALL.iter().map(|s| (*s, 0)).collect(),
            reverted: 0,
        };
        for row in runs.audit.iter().filter(|row| row.run == record.id) {
            *report.counts.entry(row.verdict.status).or_default() += 1;
            report.reverted += u64::from(row.reverted_at.is_some());
        }
        Ok(Some(report))
    }

    async fn status_counts(&self, run: Option<RunId>) -> Result<Vec<StatusCount>, StoreError> {
        // Ordered by the status's name, as `ORDER BY resolution_status` is.
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let runs = self.shared.runs();
        for row in runs
            .audit
            .iter()
            .filter(|row| run.is_none_or(|r| row.run == r))
        {
            *counts.entry(row.verdict.status.as_str()).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|(status, count)| StatusCount {
                status: status.to_owned(),
                count,
            })
            .collect())
    }

    /// All at once under the users' lock: `batch_size` changes nothing here.
    async fn revert(&self, run: RunId, _batch_size: u32) -> Result<RevertOutcome, RevertError> {
        let mut users = self.shared.users();
        let mut runs = self.shared.runs();
        if let Some(holder) = &runs.holder {
            return Err(RevertError::Busy(holder.description.clone()));
        }
        if !runs.runs.iter().any(|record| record.id == run) {
            return Err(RevertError::UnknownRun(run));
        }
        let linked =
            |row: &AuditRow| row.run == run && row.verdict.status == ResolutionStatus::Linked;
        let mut outcome = RevertOutcome {
            already_reverted: runs
                .audit
                .iter()
                .filter(|row| linked(row) && row.reverted_at.is_some())
                .count() as u64,
            ..RevertOutcome::default()
        };
        let mut todo: Vec<usize> = (0..runs.audit.len())
            .filter(|&index| linked(&runs.audit[index]) && runs.audit[index].reverted_at.is_none())
            .collect();
        todo.sort_by_key(|&index| runs.audit[index].verdict.user);
        let now = Utc::now();
        let correlation_id = Uuid::new_v4();
        let mut events = Vec::new();
        for index in todo {
            let row = &mut runs.audit[index];
            let user = row.verdict.user;
            // Only a link still to the same identity since the same moment is
            // the run's: one changed or remade since is someone else's decision.
            let unchanged = row.verdict.auth_id.filter(|auth_id| {
                users.get(user).is_some_and(|now| {
                    now.auth_id == Some(*auth_id) && now.linked_at == Some(row.examined_at)
                })
            });
            let Some(auth_id) = unchanged else {
                outcome.changed.push(user);
                continue;
            };
            users
                .set_link(user, None, Some(auth_id), now)
                .map_err(|error| StoreError::Unknown(error.into()))?;
            row.reverted_at = Some(now);
            outcome.reverted += 1;
            events.push(AuditEvent {
                correlation_id,
                occurred_at: now,
                source: AuditSource::Backfill,
                action: "unlinked".into(),
                outcome: AuditOutcome::Ok,
                auth_id: Some(auth_id),
                user_id: Some(user),
                actor: None,
                detail: json!({ "run_id": run.as_uuid(), "reason": "backfill revert" }),
            });
        }
        self.shared.audit.push(&events);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests;
