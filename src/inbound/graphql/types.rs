//! GraphQL output types of the admin API.

use async_graphql::{Json, SimpleObject};
use chrono::{DateTime, Utc};
use identity_link_ports::{AuditEvent, StatusCount, User};
use uuid::Uuid;

/// A user of the application and the Kratos identity it is linked to.
#[derive(Debug, Clone, SimpleObject)]
pub struct AdminUserIdentity {
    /// The application's user id.
    pub user_id: Uuid,
    /// The user's email address as the application stores it.
    pub email: String,
    /// The linked Kratos identity id; null when the user is not linked.
    pub auth_id: Option<Uuid>,
    /// The user principal name: the user's email address, lowercased (the
    /// application keeps no separate UPN).
    pub account_upn: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the current link was made; null when not linked.
    pub linked_at: Option<DateTime<Utc>>,
}

impl From<User> for AdminUserIdentity {
    fn from(user: User) -> Self {
        Self {
            user_id: user.id.as_uuid(),
            account_upn: user.email.normalized().to_owned(),
            email: user.email.as_str().to_owned(),
            auth_id: user.auth_id.map(|id| id.as_uuid()),
            first_name: user.first_name,
            last_name: user.last_name,
            created_at: user.created_at,
            linked_at: user.linked_at,
        }
    }
}

/// One audited action on a link.
#[derive(Debug, Clone, SimpleObject)]
pub struct AdminAuditEvent {
    /// The correlation id of the call that caused it (`X-Correlation-Id`).
    pub correlation_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `resolve`, `webhook`, `admin`, `backfill`, `reconcile` or `cli`.
    pub source: String,
    /// `resolved`, `created`, `linked`, `unlinked`, `link`, `unlink`…
    pub action: String,
    /// `ok`, or the reason it was refused.
    pub outcome: String,
    pub auth_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// The calling service, or the admin who acted (`admin-token`, `kratos:<identity id>`).
    pub actor: Option<String>,
    /// Further facts, as recorded.
    pub detail: Json<serde_json::Value>,
}

impl From<AuditEvent> for AdminAuditEvent {
    fn from(event: AuditEvent) -> Self {
        Self {
            correlation_id: event.correlation_id,
            occurred_at: event.occurred_at,
            source: event.source.as_str().to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            action: event.action,
            auth_id: event.auth_id.map(|id| id.as_uuid()),
            user_id: event.user_id.map(|id| id.as_uuid()),
            actor: event.actor,
            detail: Json(event.detail),
        }
    }
}

/// How many users a backfill gave one resolution status.
#[derive(Debug, Clone, SimpleObject)]
pub struct BackfillStatusCount {
    /// `linked`, `already_linked`, `missing`, `duplicate`, `conflict`, `unverified` or `error`.
    pub status: String,
    pub count: u64,
}

impl From<StatusCount> for BackfillStatusCount {
    fn from(count: StatusCount) -> Self {
        Self {
            status: count.status,
            count: count.count,
        }
    }
}
