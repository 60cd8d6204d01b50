//! The backfill's persistence port: runs, a per-run staging area of identity
//! match keys, batches of links written with their audit rows, reports and
//! reverts.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::types::{AuthId, UserId};
use crate::users::StoreError;

crate::types::uuid_id!(
    /// The id of one backfill run.
    RunId
);

impl RunId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }
}

/// What a run found for one user (`user_authid_backfill_audit.resolution_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResolutionStatus {
    /// Exactly one identity matched, not linked elsewhere: linked by this run.
    Linked,
    /// The user was linked meanwhile (by a resolve, a webhook, an admin).
    AlreadyLinked,
    /// No usable identity matched the user's email.
    Missing,
    /// Several identities matched the email, or the one identity matches several users.
    Duplicate,
    /// The one matching identity is linked to another user.
    Conflict,
    /// The one matching identity has the email unverified and verification was required.
    Unverified,
    /// Kratos failed for this user even after retries.
    Error,
}

impl ResolutionStatus {
    pub const ALL: [Self; 7] = [
        Self::Linked,
        Self::AlreadyLinked,
        Self::Missing,
        Self::Duplicate,
        Self::Conflict,
        Self::Unverified,
        Self::Error,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::AlreadyLinked => "already_linked",
            Self::Missing => "missing",
            Self::Duplicate => "duplicate",
            Self::Conflict => "conflict",
            Self::Unverified => "unverified",
            Self::Error => "error",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }
}

/// How a run finds identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Pages through every identity once.
    List,
    /// Asks the provider once per user.
    Lookup,
}

impl Strategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Lookup => "lookup",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::List, Self::Lookup]
            .into_iter()
            .find(|strategy| strategy.as_str() == raw)
    }
}

/// A run about to start.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub id: RunId,
    pub strategy: Strategy,
    /// A dry run writes nothing, takes no lock and leaves no run row.
    pub dry_run: bool,
    /// The options the run was started with, kept with the run.
    pub options: Value,
}

/// One address an identity can be matched by, as the link rule judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedKey {
    /// The address's normal form ([`crate::text::email_key`]).
    pub email_key: String,
    pub auth_id: AuthId,
    /// The identity has this address verified.
    pub verified: bool,
    /// The identity is active in Kratos.
    pub active: bool,
    /// The identity's traits give a usable email.
    pub usable: bool,
    /// How many addresses the identity can be matched by in all.
    pub keys: u16,
}

/// An identity matching a user's email, with what the store knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateFacts {
    pub auth_id: AuthId,
    pub verified: bool,
    /// The identity is active in Kratos.
    pub active: bool,
    /// The identity's traits give a usable email.
    pub usable: bool,
    /// The user this identity is linked to now, if any.
    pub linked_to: Option<UserId>,
    /// How many users (linked or not) hold one of the identity's addresses.
    pub claimants: u32,
}

/// A user to examine and every staged identity matching its email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub user: UserId,
    /// The stored email, as stored (it may not even be a valid address).
    pub email: String,
    /// The user's link now.
    pub current: Option<AuthId>,
    pub candidates: Vec<CandidateFacts>,
}

/// An unlinked user, for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: UserId,
    pub email: String,
}

/// What a run decided (or, after [`BackfillStore::apply_batch`], recorded) for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub user: UserId,
    pub email: String,
    /// `Linked` before a batch is applied means "to be linked to `auth_id`".
    pub status: ResolutionStatus,
    pub auth_id: Option<AuthId>,
    pub detail: Option<String>,
}

/// Users per status.
pub type StatusCounts = BTreeMap<ResolutionStatus, u64>;

/// How many users the backfill audit gives one `resolution_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// `linked`, `already_linked`, `missing`, `duplicate`, `conflict`, `unverified` or `error`.
    pub status: String,
    pub count: u64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Finished,
    Failed,
    /// Its process ended without finishing it (killed, crashed); rerun to resume.
    Interrupted,
}

impl RunState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Finished,
    Failed(String),
}

/// A recorded run and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub run: RunId,
    pub strategy: Strategy,
    pub options: Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub state: RunState,
    pub failure: Option<String>,
    pub counts: StatusCounts,
    /// Links of this run removed by reverts.
    pub reverted: u64,
}

/// What a revert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevertOutcome {
    /// Links removed now.
    pub reverted: u64,
    /// Links removed by earlier reverts.
    pub already_reverted: u64,
    /// Users whose link changed since the run: left as they are.
    pub changed: Vec<UserId>,
}

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
