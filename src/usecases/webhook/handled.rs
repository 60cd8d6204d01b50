//! What a delivery did, before it is answered, and how it is audited.

use identity_link_ports::{AuditEvent, AuditOutcome, AuthId, UserId};
use serde_json::{json, Value};

use super::refusal::{deferred, Refusal};
use super::{Answer, Kind};
use crate::usecases::call::CallContext;
use crate::usecases::link::{Resolution, ResolveError};

/// What a delivery did, before it is answered.
pub(super) enum Handled {
    Passed,
    Resolved(Resolution),
    Synced {
        user_id: UserId,
        changed: Vec<&'static str>,
    },
    Refused {
        refusal: Refusal,
        user_id: Option<UserId>,
    },
    /// Accepted, but not linked until the email is verified (the code says why).
    Deferred {
        code: &'static str,
    },
}

impl Handled {
    /// A link-rule error as a refusal or a deferral; outages stay errors.
    pub(super) fn from_rule(error: ResolveError) -> Result<Self, ResolveError> {
        if let Some(code) = deferred(&error) {
            return Ok(Self::Deferred { code });
        }
        match Refusal::from_resolve(&error) {
            Some(refusal) => Ok(Self::Refused {
                refusal,
                user_id: None,
            }),
            None => Err(error),
        }
    }

    /// The audit action, or the refusal code.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            Self::Passed => "precheck_passed",
            Self::Resolved(resolution) => resolution.action(),
            Self::Synced { changed, .. } if changed.is_empty() => "resolved",
            Self::Synced { .. } => "profile_synced",
            Self::Refused { refusal, .. } => refusal.code(),
            Self::Deferred { code } => code,
        }
    }

    /// True when the change this outcome names was stored with its audit event.
    pub(super) fn committed_its_audit(&self) -> bool {
        match self {
            Self::Resolved(resolution) => resolution.created || resolution.linked,
            Self::Synced { changed, .. } => !changed.is_empty(),
            _ => false,
        }
    }

    pub(super) fn user_id(&self) -> Option<UserId> {
        match self {
            Self::Passed | Self::Deferred { .. } => None,
            Self::Resolved(resolution) => Some(resolution.user.id),
            Self::Synced { user_id, .. } => Some(*user_id),
            Self::Refused { user_id, .. } => *user_id,
        }
    }

    pub(super) fn answer(&self) -> Answer {
        match self {
            Self::Refused { refusal, .. } => Answer::Refused(*refusal),
            _ => Answer::Accepted,
        }
    }

    /// The call's audit event: the action (or, when not linked, the kind) and the outcome.
    pub(super) fn event(
        &self,
        context: &CallContext,
        kind: Kind,
        auth_id: Option<AuthId>,
        detail: Value,
    ) -> AuditEvent {
        let (action, outcome, extra) = match self {
            Self::Refused { refusal, .. } => (
                kind.as_str(),
                AuditOutcome::Failed(refusal.code().into()),
                json!({ "reason": refusal.text() }),
            ),
            Self::Deferred { code } => (
                kind.as_str(),
                AuditOutcome::Failed((*code).into()),
                json!({ "deferred": true }),
            ),
            Self::Synced { changed, .. } => (
                self.outcome(),
                AuditOutcome::Ok,
                json!({ "changed": changed }),
            ),
            Self::Passed | Self::Resolved(_) => (self.outcome(), AuditOutcome::Ok, json!({})),
        };
        context.event(
            action,
            outcome,
            auth_id,
            self.user_id(),
            with(detail, extra),
        )
    }
}

/// `detail` with the fields of `extra` added.
pub(super) fn with(mut detail: Value, extra: Value) -> Value {
    if let (Some(detail), Value::Object(extra)) = (detail.as_object_mut(), extra) {
        detail.extend(extra);
    }
    detail
}
