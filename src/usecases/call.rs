//! Who is calling: what every audit record of a call names.

use chrono::Utc;
use identity_link_ports::{AuditEvent, AuditOutcome, AuditSource, AuthId, UserId};
use serde_json::Value;
use uuid::Uuid;

/// Who is calling and under which correlation id: what every audit record names.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub correlation_id: Uuid,
    pub source: AuditSource,
    /// The calling service (`X-Caller`), or the admin acting.
    pub actor: Option<String>,
}

impl CallContext {
    pub fn new(source: AuditSource) -> Self {
        Self {
            correlation_id: Uuid::new_v4(),
            source,
            actor: None,
        }
    }

    /// An audit event of this call.
    pub fn event(
        &self,
        action: &str,
        outcome: AuditOutcome,
        auth_id: Option<AuthId>,
        user_id: Option<UserId>,
        detail: Value,
    ) -> AuditEvent {
        AuditEvent {
            correlation_id: self.correlation_id,
            occurred_at: Utc::now(),
            source: self.source,
            action: action.to_owned(),
            outcome,
            auth_id,
            user_id,
            actor: self.actor.clone(),
            detail,
        }
    }
}
