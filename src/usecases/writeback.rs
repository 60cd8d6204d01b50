//! Optional write-back of links to Kratos (`WRITE_BACK_EXTERNAL_ID`): once a
//! user is linked to an identity, the identity's `external_id` is set to the
//! user id, so Kratos can find the user too.
//!
//! Every link is stored together with its pending write-back (the same
//! transaction); [`after_link`] queues one on its own (reconcile's repairs). A
//! background worker in `serve` drains the outbox with exponential backoff
//! capped at a minute ([`process_due`]). Kratos being down, or refusing
//! because another identity holds that external id (409), is audited and
//! retried later; it never fails the link.

use std::time::Duration;

use futures::StreamExt;
use identity_link_ports::{AuditOutcome, AuthId, IdentityError, StoreError, UserId, WriteBack};
use serde_json::{json, Value};

use crate::usecases::app::App;
use crate::usecases::call::CallContext;

/// Write-backs claimed per pass.
pub const BATCH: u32 = 20;
/// Write-backs attempted at once within a pass.
const CONCURRENCY: usize = 4;
/// How long a claim lasts. A worker that dies (a crash, a SIGKILL) leaves its
/// claims to others after this, so no write-back waits longer than a minute
/// between attempts. A pass slower than that (Kratos timing out on every
/// attempt) may see one of its write-backs attempted twice: the patch is
/// idempotent and settling is by version, so that costs one request.
pub const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a write-back is given up (about three and a half hours of
/// retries a minute apart); `reconcile --sync-external-ids` queues it again.
pub const MAX_ATTEMPTS: u32 = 210;
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest pause between two attempts (CONTRACT §6.2: at most 60 s).
const LONGEST_RETRY: Duration = Duration::from_secs(60);

/// Queues the write-back of `user_id` to identity `auth_id` when write-back is on. Never
/// fails: a failure to queue is logged and audited under `context`.
pub async fn after_link(app: &App, user_id: UserId, auth_id: AuthId, context: &CallContext) {
    if !app.write_back_external_id {
        return;
    }
    if let Err(error) = app
        .write_backs
        .enqueue(auth_id, user_id, context.correlation_id, context.source)
        .await
    {
        tracing::warn!(%error, %auth_id, %user_id, "cannot queue the external_id write-back");
        app.audit.record(context.event(
            "external_id_write",
            AuditOutcome::Failed(store_code(&error).into()),
            Some(auth_id),
            Some(user_id),
            json!({ "reason": error.to_string(), "queued": false }),
        ));
    }
}

fn store_code(error: &StoreError) -> &'static str {
    match error {
        StoreError::Unavailable(_) => "database_unavailable",
        StoreError::Unknown(_) => "internal_error",
    }
}

/// The pause before attempt `attempts + 1`: doubling from 2 s, at most a minute.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

/// Claims due write-backs (at most `limit`) and attempts each once; returns
/// how many were claimed.
///
/// # Errors
/// [`StoreError`] when nothing could be claimed; failures of single
/// write-backs are audited and retried later instead.
pub async fn process_due(app: &App, limit: u32) -> Result<usize, StoreError> {
    let claimed = app.write_backs.claim_due(limit, LEASE).await?;
    let count = claimed.len();
    futures::stream::iter(claimed)
        .for_each_concurrent(CONCURRENCY, |item| async move { attempt(app, &item).await })
        .await;
    Ok(count)
}

/// Audits an attempt's outcome and counts it.
fn audit(app: &App, item: &WriteBack, action: &str, outcome: AuditOutcome, detail: Value) {
    let label = match (action, &outcome) {
        ("external_id_written", _) => "written",
        ("external_id_write_skipped", _) => "skipped",
        ("external_id_cleared", _) => "cleared",
        (_, AuditOutcome::Failed(code)) => code.as_str(),
        (other, AuditOutcome::Ok) => other,
    };
    app.metrics.write_backs.with_label_values(&[label]).inc();
    let context = CallContext {
        correlation_id: item.correlation_id,
        source: item.source,
        actor: None,
    };
    app.audit.record(context.event(
        action,
        outcome,
        Some(item.auth_id),
        Some(item.user_id),
        detail,
    ));
}

#[tracing::instrument(name = "write_back", skip_all)]
async fn attempt(app: &App, item: &WriteBack) {
    // The link may have changed since it was queued: write only what holds.
    let settled = match app.users.find_by_auth_id(item.auth_id).await {
        Ok(Some(user)) if user.id == item.user_id => match write(app, item).await {
            Ok(()) => {
                audit(
                    app,
                    item,
                    "external_id_written",
                    AuditOutcome::Ok,
                    json!({ "attempt": item.attempts }),
                );
                app.write_backs.complete(item).await
            }
            Err(error) => failed(app, item, &error).await,
        },
        Ok(_) => {
            audit(
                app,
                item,
                "external_id_write_skipped",
                AuditOutcome::Ok,
                json!({
                    "attempt": item.attempts,
                    "reason": "the identity is no longer linked to this user",
                }),
            );
            app.write_backs.complete(item).await
        }
        Err(error) => {
            tracing::warn!(%error, auth_id = %item.auth_id, "cannot check the link before writing it back");
            app.write_backs
                .retry_later(item, backoff(item.attempts), &error.to_string())
                .await
        }
    };
    if let Err(error) = settled {
        // The lease runs out and the write-back is attempted again; the
        // patch is idempotent.
        tracing::warn!(%error, auth_id = %item.auth_id, "cannot settle a write-back");
    }
}

/// Sets the identity's `external_id`. When Kratos refuses because another
/// identity holds the user id — the identity this user was linked to before a
/// relink — that stale holder is cleared first: the user is linked to
/// `item.auth_id` now (checked by the caller), and links are one-to-one, so
/// the holder no longer stands for this user.
async fn write(app: &App, item: &WriteBack) -> Result<(), IdentityError> {
    let user = item.user_id.to_string();
    match app
        .identities
        .set_external_id(item.auth_id, item.user_id)
        .await
    {
        Err(IdentityError::Conflict(reason)) => {
            let holder = app.identities.find_by_external_id(&user).await?;
            let Some(holder) = holder.filter(|holder| holder.id != item.auth_id) else {
                return Err(IdentityError::Conflict(reason));
            };
            app.identities.clear_external_id(holder.id).await?;
            audit(
                app,
                item,
                "external_id_cleared",
                AuditOutcome::Ok,
                json!({ "attempt": item.attempts, "clearedFrom": holder.id }),
            );
            app.identities
                .set_external_id(item.auth_id, item.user_id)
                .await
        }
        other => other,
    }
}

async fn failed(app: &App, item: &WriteBack, error: &IdentityError) -> Result<bool, StoreError> {
    let code = match error {
        IdentityError::Conflict(_) => "external_id_taken",
        IdentityError::NotFound => "identity_not_found",
        IdentityError::Rejected { .. } => "kratos_rejected",
        IdentityError::Unavailable(_) | IdentityError::Malformed(_) => "kratos_unavailable",
    };
    let reason = error.to_string();
    let outcome = AuditOutcome::Failed(code.into());
    if matches!(error, IdentityError::NotFound) || item.attempts >= MAX_ATTEMPTS {
        tracing::warn!(auth_id = %item.auth_id, user_id = %item.user_id, code, attempts = item.attempts, "external_id write-back given up");
        let detail = json!({ "attempt": item.attempts, "reason": reason, "gaveUp": true });
        audit(app, item, "external_id_write", outcome, detail);
        app.write_backs.abandon(item, &reason).await
    } else {
        let delay = backoff(item.attempts);
        let detail = json!({
            "attempt": item.attempts,
            "reason": reason,
            "retryInSeconds": delay.as_secs(),
        });
        audit(app, item, "external_id_write", outcome, detail);
        app.write_backs.retry_later(item, delay, &reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_two_seconds_up_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_secs(2));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(4), Duration::from_secs(16));
        assert_eq!(backoff(6), Duration::from_secs(60));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(60));
        assert!((0..=MAX_ATTEMPTS).all(|attempt| backoff(attempt) <= Duration::from_secs(60)));
    }
}
