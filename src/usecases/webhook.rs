//! Use case: a Kratos `web_hook` delivery (CONTRACT §3). New sign-ups are
//! linked the moment Kratos saves them, logins and verifications capture
//! existing users, settings changes sync the profile, and a hook that runs
//! before Kratos saves an identity can refuse an email another user holds.
//!
//! The body is a hint: a saved identity is always re-read from Kratos by id.
//! Deliveries are idempotent by Kratos's trigger id (same across retries): a
//! final answer is stored and a redelivery gets it back without anything
//! being done again. Outages are errors (503, so Kratos retries), never refusals.

mod handled;
mod refusal;
mod sync;

use std::time::Duration;

use chrono::Utc;
use identity_link_ports::{AuditOutcome, AuthId, DeliveryRecord, KratosIdentity, TriggerId};
use serde_json::{json, Value};

use handled::{with, Handled};
pub use refusal::{deferred, Refusal};
use sync::{email_change_conflict, sync_profile, Synced};

use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::link::{fetch_identity, link_or_provision, Journal, ResolveError};

/// How long answered deliveries are kept for redeliveries (Kratos retries within seconds).
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// One webhook call.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The identity as the delivery describes it: only its id is trusted, and
    /// its email for checks that can refuse but never write.
    pub identity: KratosIdentity,
    /// `Ory-Webhook-Trigger-ID`, absent when Kratos does not send it.
    pub trigger: Option<TriggerId>,
    /// `Ory-Webhook-Request-ID` (new per attempt), for the audit only.
    pub request_id: Option<String>,
}

/// What Kratos is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Go on (200 `{}`).
    Accepted,
    /// Stop and show the user the refusal's message (4xx).
    Refused(Refusal),
}

/// The two kinds of delivery, by the identity's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The nil id: a registration hook that runs before Kratos saves the identity.
    Precheck,
    /// A saved identity: registration after saving, verification, login, settings.
    Link,
}

impl Kind {
    pub fn of(identity: &KratosIdentity) -> Self {
        if identity.id.is_unsaved() {
            Self::Precheck
        } else {
            Self::Link
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Precheck => "precheck",
            Self::Link => "link",
        }
    }
}

fn base_detail(delivery: &Delivery, kind: Kind) -> Value {
    json!({
        "kind": kind.as_str(),
        "triggerId": delivery.trigger.as_ref().map(TriggerId::as_str),
        "requestId": delivery.request_id,
        "idempotent": delivery.trigger.is_some(),
    })
}

/// Answers one delivery; records one audit event and counts it.
///
/// # Errors
/// `KratosUnavailable`, `DatabaseUnavailable` (Kratos should retry) or
/// `Internal`; business refusals are an [`Answer`], not an error.
#[tracing::instrument(name = "webhook", skip_all)]
pub async fn handle(
    app: &App,
    delivery: &Delivery,
    context: &CallContext,
) -> Result<Answer, ResolveError> {
    let kind = Kind::of(&delivery.identity);
    let auth_id = (kind == Kind::Link).then_some(delivery.identity.id);
    let detail = base_detail(delivery, kind);
    let count = |outcome: &str| {
        app.metrics
            .webhook_calls
            .with_label_values(&[kind.as_str(), outcome])
            .inc();
    };

    if let Some(trigger) = &delivery.trigger {
        match app.deliveries.redelivered(trigger).await {
            Ok(Some(record)) => {
                count("redelivered");
                app.audit.record(context.event(
                    "redelivered",
                    AuditOutcome::Ok,
                    record.auth_id,
                    record.user_id,
                    with(detail, json!({ "answered": record.outcome })),
                ));
                return Ok(replayed(&record));
            }
            Ok(None) => {}
            Err(error) => return Err(failed(app, context, kind, auth_id, detail, error.into())),
        }
    } else {
        tracing::warn!(correlation_id = %context.correlation_id, "webhook call without Ory-Webhook-Trigger-ID: not idempotent");
    }

    let handled = match kind {
        Kind::Precheck => precheck(app, &delivery.identity).await,
        Kind::Link => link(app, &delivery.identity, context, &detail).await,
    };
    let handled = match handled {
        Ok(handled) => handled,
        Err(error) => return Err(failed(app, context, kind, auth_id, detail, error)),
    };

    let outcome = handled.outcome();
    count(outcome);
    if let Some(trigger) = &delivery.trigger {
        let record = DeliveryRecord {
            outcome: outcome.to_owned(),
            refused: matches!(handled, Handled::Refused { .. }),
            auth_id,
            user_id: handled.user_id(),
        };
        // The answer stands even when it cannot be kept: a redelivery then
        // runs again, which the link rule makes harmless.
        if let Err(error) = app.deliveries.record(trigger, &record).await {
            tracing::warn!(%error, %trigger, "cannot store the webhook answer; a redelivery will run again");
        }
    }
    // A creation, link or profile change committed with its audit event (and
    // write-back); what changed nothing is audited in batches.
    if !handled.committed_its_audit() {
        app.audit
            .record(handled.event(context, kind, auth_id, detail));
    }
    Ok(handled.answer())
}

fn replayed(record: &DeliveryRecord) -> Answer {
    match record.refused.then(|| Refusal::from_code(&record.outcome)) {
        Some(Some(refusal)) => Answer::Refused(refusal),
        Some(None) => {
            // A code this version does not know (written by a newer one): refuse generically.
            tracing::warn!(outcome = %record.outcome, "stored webhook refusal has an unknown code");
            Answer::Refused(Refusal::Duplicate)
        }
        None => Answer::Accepted,
    }
}

fn failed(
    app: &App,
    context: &CallContext,
    kind: Kind,
    auth_id: Option<AuthId>,
    detail: Value,
    error: ResolveError,
) -> ResolveError {
    app.metrics
        .webhook_calls
        .with_label_values(&[kind.as_str(), error.code()])
        .inc();
    app.audit.record(context.event(
        kind.as_str(),
        AuditOutcome::Failed(error.code().into()),
        auth_id,
        None,
        with(detail, json!({ "reason": error.to_string() })),
    ));
    error
}

/// Before Kratos saves a new identity: refuse an email a linked user holds.
/// Anything else passes; whether the identity can be linked is decided once
/// it is saved, by the rule itself.
async fn precheck(app: &App, hint: &KratosIdentity) -> Result<Handled, ResolveError> {
    let Ok(profile) = hint.profile(&app.policy.traits) else {
        return Ok(Handled::Passed);
    };
    match app.users.find_by_email(&profile.email).await? {
        Some(holder) if holder.auth_id.is_some() => Ok(Handled::Refused {
            refusal: Refusal::Duplicate,
            user_id: Some(holder.id),
        }),
        _ => Ok(Handled::Passed),
    }
}

/// A saved identity: the resolve rule on what Kratos holds, then a profile sync
/// when the identity was linked already.
async fn link(
    app: &App,
    hint: &KratosIdentity,
    context: &CallContext,
    detail: &Value,
) -> Result<Handled, ResolveError> {
    let identity = match fetch_identity(app.identities.as_ref(), hint.id).await {
        Ok(identity) => identity,
        Err(error) => return Handled::from_rule(error),
    };
    if let Some(holder) = email_change_conflict(app, hint, &identity).await? {
        return Ok(Handled::Refused {
            refusal: Refusal::Duplicate,
            user_id: Some(holder),
        });
    }
    let journal = Journal::new(context, detail.clone(), app.write_back_external_id);
    let resolution =
        match link_or_provision(app.users.as_ref(), &identity, &app.policy, &journal).await {
            Ok(resolution) => resolution,
            Err(error) => return Handled::from_rule(error),
        };
    if resolution.created || resolution.linked {
        return Ok(Handled::Resolved(resolution));
    }
    let user_id = resolution.user.id;
    match sync_profile(app, resolution.user, &identity, &journal).await? {
        Synced::Done { user_id, changed } => Ok(Handled::Synced { user_id, changed }),
        Synced::Refused(refusal) => Ok(Handled::Refused {
            refusal,
            user_id: Some(user_id),
        }),
    }
}

/// Forgets answered deliveries older than [`DELIVERY_RETENTION`].
pub async fn prune_deliveries(app: &App) {
    let before = Utc::now()
        - chrono::Duration::from_std(DELIVERY_RETENTION).unwrap_or(chrono::Duration::days(7));
    match app.deliveries.prune(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "forgot old webhook deliveries"),
        Err(error) => tracing::warn!(%error, "cannot prune old webhook deliveries"),
    }
}

/// Counts and audits a call refused for a missing or wrong `X-Webhook-Secret`.
pub fn unauthorized(app: &App, context: &CallContext, trigger: Option<&TriggerId>, reason: &str) {
    app.metrics
        .webhook_calls
        .with_label_values(&["unknown", "unauthorized"])
        .inc();
    app.audit.record(context.event(
        "webhook",
        AuditOutcome::Failed("unauthorized".into()),
        None,
        None,
        json!({ "reason": reason, "triggerId": trigger.map(TriggerId::as_str) }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: &str, refused: bool) -> DeliveryRecord {
        DeliveryRecord {
            outcome: outcome.into(),
            refused,
            auth_id: None,
            user_id: None,
        }
    }

    #[test]
    fn a_redelivery_gets_the_stored_answer() {
        assert_eq!(replayed(&record("created", false)), Answer::Accepted);
        assert_eq!(
            replayed(&record("identity_link_unverified", false)),
            Answer::Accepted
        );
        assert_eq!(
            replayed(&record("identity_not_found", true)),
            Answer::Refused(Refusal::IdentityNotFound)
        );
        assert_eq!(
            replayed(&record("a_code_of_a_newer_version", true)),
            Answer::Refused(Refusal::Duplicate),
            "a stored refusal stays a refusal"
        );
    }
}
