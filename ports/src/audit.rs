use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::types::{AuthId, UserId};

/// Which entry point caused an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditSource {
    Resolve,
    Webhook,
    Admin,
    Backfill,
    Reconcile,
    Cli,
}

impl AuditSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Resolve => "resolve",
            Self::Webhook => "webhook",
            Self::Admin => "admin",
            Self::Backfill => "backfill",
            Self::Reconcile => "reconcile",
            Self::Cli => "cli",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Resolve,
            Self::Webhook,
            Self::Admin,
            Self::Backfill,
            Self::Reconcile,
            Self::Cli,
        ]
        .into_iter()
        .find(|source| source.as_str() == raw)
    }
}

/// How an audited action ended: `ok` or the error code callers saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    Ok,
    Failed(String),
}

impl AuditOutcome {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "ok",
            Self::Failed(code) => code,
        }
    }
}

/// One audit record: who did what to which link, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub correlation_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub source: AuditSource,
    /// What happened: `resolved`, `created`, `linked`, `unlinked`, `profile_synced`…
    pub action: String,
    pub outcome: AuditOutcome,
    pub auth_id: Option<AuthId>,
    pub user_id: Option<UserId>,
    /// The calling service (`X-Caller`) or the admin who acted.
    pub actor: Option<String>,
    /// Anything else worth keeping, as JSON (never secrets).
    pub detail: Value,
}

/// A failure to read or write the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Which audit events to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub auth_id: Option<AuthId>,
    pub limit: u32,
}

/// The append-only audit trail of link changes and resolutions.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends events, all or none.
    ///
    /// # Errors
    /// [`AuditError`] when the store fails; nothing of the batch is written then.
    async fn append(&self, events: &[AuditEvent]) -> Result<(), AuditError>;

    /// Events about a user or an identity (either matches), newest first.
    ///
    /// # Errors
    /// [`AuditError`] when the store fails.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError>;
}
