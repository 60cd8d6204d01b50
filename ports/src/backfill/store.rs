//! The backfill's persistence ports: the store of runs and one run's session,
//! with the errors of their operations.

use async_trait::async_trait;

use super::{
    RevertOutcome, RunEnd, RunId, RunPlan, RunReport, StagedKey, StatusCount, UserFacts, UserRef,
    Verdict,
};
use crate::types::UserId;
use crate::users::StoreError;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    /// Another backfill or revert holds the backfill lock.
    #[error("another backfill is running on this database ({0}); wait for it to finish")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no backfill run {0} is recorded")]
    UnknownRun(RunId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a revert did nothing.
#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    #[error("no backfill run {0} is recorded")]
    UnknownRun(RunId),
    #[error("a backfill or revert is running on this database ({0}); wait for it to finish")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Persistence of backfill runs.
#[async_trait]
pub trait BackfillStore: Send + Sync + 'static {
    /// Starts a run: records it (unless a dry run) under the backfill lock, so that
    /// one run at a time writes, and opens its session with an empty staging area.
    ///
    /// # Errors
    /// `Busy` when another run or revert holds the lock; [`StoreError`].
    async fn begin(&self, plan: &RunPlan) -> Result<Box<dyn BackfillSession>, BeginError>;

    /// Applies one batch in one transaction: links the `Linked` verdicts only where the
    /// user is still unlinked (compare-and-set) and the identity is free (the unique
    /// constraint decides), and writes one audit row per user with the final status.
    /// Returns the verdicts as recorded (`AlreadyLinked`, `Conflict` where the store
    /// said so). Never call it for a dry run.
    ///
    /// # Errors
    /// [`StoreError`]; nothing of the batch is written then.
    async fn apply_batch(
        &self,
        run: RunId,
        verdicts: Vec<Verdict>,
    ) -> Result<Vec<Verdict>, StoreError>;

    /// The recorded run `run`, or the latest run when `None` (`Ok(None)`: no run yet).
    ///
    /// # Errors
    /// `UnknownRun` when `run` is not recorded; [`StoreError`].
    async fn report(&self, run: Option<RunId>) -> Result<Option<RunReport>, ReportError>;

    /// Users per `resolution_status` in the backfill audit, of one run or (`None`) of
    /// every run, ordered by status; empty when nothing is recorded.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn status_counts(&self, run: Option<RunId>) -> Result<Vec<StatusCount>, StoreError>;

    /// Removes the links `run` made that are unchanged since (same identity, same
    /// link time), in batches of `batch_size`, each with its audit events.
    ///
    /// # Errors
    /// `UnknownRun`; `Busy` when a run or revert is in progress; [`StoreError`]
    /// (batches done before stay reverted; a rerun continues).
    async fn revert(&self, run: RunId, batch_size: u32) -> Result<RevertOutcome, RevertError>;
}

/// One run's database session: its staging area and its walk over users.
#[async_trait]
pub trait BackfillSession: Send {
    /// Unlinked users now.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn unlinked_count(&mut self) -> Result<u64, StoreError>;

    /// Adds identity match keys to the run's staging area.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn stage(&mut self, keys: &[StagedKey]) -> Result<(), StoreError>;

    /// Starts walking every unlinked user with its staged candidates, in id order
    /// (list strategy, after every identity is staged).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn open_walk(&mut self) -> Result<(), StoreError>;

    /// The next users of the walk, at most `max`; empty when the walk is over.
    ///
    /// # Errors
    /// [`StoreError`]; also when no walk is open.
    async fn next_facts(&mut self, max: usize) -> Result<Vec<UserFacts>, StoreError>;

    /// Unlinked users after `after` in id order, at most `limit` (lookup strategy).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn unlinked_users(
        &mut self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserRef>, StoreError>;

    /// These users (linked or not, in id order) with their staged candidates.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn facts_for(&mut self, users: &[UserId]) -> Result<Vec<UserFacts>, StoreError>;

    /// Ends the run: records how it ended and its counts (unless a dry run), drops
    /// the staging area and releases the lock.
    ///
    /// # Errors
    /// [`StoreError`]; the lock is released all the same when the session closes.
    async fn finish(self: Box<Self>, end: RunEnd) -> Result<(), StoreError>;
}
