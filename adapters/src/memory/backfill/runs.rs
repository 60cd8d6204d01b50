//! What the memory backfill store records: runs, their audit rows and the lock.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use identity_link_ports::{RunId, RunState, Strategy, UserId, Verdict};
use serde_json::Value;

/// A recorded run (`user_authid_backfill_runs` in Postgres).
pub(in crate::memory) struct RunRecord {
    pub(in crate::memory) id: RunId,
    pub(in crate::memory) strategy: Strategy,
    pub(in crate::memory) options: Value,
    pub(in crate::memory) started_at: DateTime<Utc>,
    pub(in crate::memory) finished_at: Option<DateTime<Utc>>,
    pub(in crate::memory) state: RunState,
    pub(in crate::memory) failure: Option<String>,
}

/// What a run recorded for one user (`user_authid_backfill_audit`).
pub(in crate::memory) struct AuditRow {
    pub(in crate::memory) run: RunId,
    pub(in crate::memory) verdict: Verdict,
    /// For a `linked` row, the `linked_at` the batch gave the link.
    pub(in crate::memory) examined_at: DateTime<Utc>,
    pub(in crate::memory) reverted_at: Option<DateTime<Utc>>,
}

/// Who holds the backfill lock.
pub(in crate::memory) struct Holder {
    pub(in crate::memory) run: RunId,
    /// As `Busy` names it.
    pub(in crate::memory) description: String,
}

/// Every run, its audit rows and the lock, shared by the stores over one
/// user store.
#[derive(Default)]
pub(in crate::memory) struct Runs {
    /// In the order they started.
    pub(in crate::memory) runs: Vec<RunRecord>,
    pub(in crate::memory) audit: Vec<AuditRow>,
    /// `(run, user)` of every audit row: the audit's primary key.
    pub(in crate::memory) recorded: HashSet<(RunId, UserId)>,
    pub(in crate::memory) holder: Option<Holder>,
}

impl Runs {
    pub(in crate::memory) fn run_mut(&mut self, id: RunId) -> Option<&mut RunRecord> {
        self.runs.iter_mut().find(|run| run.id == id)
    }

    /// Releases the lock when `run` holds it.
    pub(in crate::memory) fn release(&mut self, run: RunId) {
        if self.holder.as_ref().is_some_and(|holder| holder.run == run) {
            self.holder = None;
        }
    }
}
