//! A backfill run: its id, how it finds identities, its plan, where it
//! stands, how it ended, and what its report and a revert of it say.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::types::UserId;

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
