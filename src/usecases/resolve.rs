//! Use case: turn a Kratos identity id into the application's user id,
//! provisioning the user from Kratos when missing.

use std::time::Instant;

use identity_link_ports::{AuditOutcome, AuthId};
use serde_json::json;

use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::link::{fetch_identity, link_or_provision, Journal, Resolution, ResolveError};

/// Resolves `auth_id` (CONTRACT §3 "Rules") and records one audit event.
///
/// # Errors
/// Every [`ResolveError`]; nothing is written on failure but the audit event.
/// A creation or link commits with its audit event (and pending write-back);
/// other outcomes are audited through the batching sink.
pub async fn resolve(
    app: &App,
    auth_id: AuthId,
    context: &CallContext,
) -> Result<Resolution, ResolveError> {
    let started = Instant::now();
    let result = resolve_without_audit(app, auth_id, context).await;
    let outcome = match &result {
        Ok(resolution) => resolution.action(),
        Err(error) => error.code(),
    };
    app.metrics.resolutions.with_label_values(&[outcome]).inc();
    app.metrics
        .resolve_seconds
        .with_label_values(&[if result.is_ok() { "ok" } else { "error" }])
        .observe(started.elapsed().as_secs_f64());
    let event = match &result {
        // A creation or a link committed with its audit event and write-back.
        Ok(resolution) if resolution.created || resolution.linked => return result,
        Ok(resolution) => context.event(
            resolution.action(),
            AuditOutcome::Ok,
            Some(auth_id),
            Some(resolution.user.id),
            json!({}),
        ),
        Err(error) => context.event(
            "resolve",
            AuditOutcome::Failed(error.code().into()),
            Some(auth_id),
            None,
            json!({ "reason": error.to_string() }),
        ),
    };
    // What changed nothing is audited in batches.
    app.audit.record(event);
    result
}

async fn resolve_without_audit(
    app: &App,
    auth_id: AuthId,
    context: &CallContext,
) -> Result<Resolution, ResolveError> {
    if let Some(user) = app.users.find_by_auth_id(auth_id).await? {
        return Ok(Resolution {
            user,
            created: false,
            linked: false,
        });
    }
    let identity = fetch_identity(app.identities.as_ref(), auth_id).await?;
    let journal = Journal::new(context, json!({}), app.write_back_external_id);
    link_or_provision(app.users.as_ref(), &identity, &app.policy, &journal).await
}
