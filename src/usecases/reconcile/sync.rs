//! `--sync-profiles`: copy Kratos's email and names onto the drifted users,
//! one atomic update and one audit record per user.

use identity_link_ports::{AuditOutcome, ChangeRecord, LinkError, StoreError, User};
use serde_json::{json, Value};

use super::findings::{DriftedUser, SyncOutcome};
use crate::usecases::app::App;
use crate::usecases::call::CallContext;

/// The store failed mid-way; `synced` users were updated before it did.
#[derive(Debug)]
pub(super) struct SyncFailure {
    pub synced: u64,
    pub error: StoreError,
}

/// Syncs every drifted user, recording the outcome on each; returns how many
/// were updated and how many refused.
pub(super) async fn sync_profiles(
    app: &App,
    context: &CallContext,
    drifted: &mut [DriftedUser],
) -> Result<(u64, u64), SyncFailure> {
    let (mut synced, mut refused) = (0, 0);
    for item in drifted.iter_mut() {
        let outcome = match sync_one(app, context, item).await {
            Ok(outcome) => outcome,
            Err(error) => {
                app.audit.record(context.event(
                    "profile_sync",
                    AuditOutcome::Failed("store_error".into()),
                    Some(item.identity_id),
                    Some(item.user_id),
                    json!({ "reason": error.to_string() }),
                ));
                return Err(SyncFailure { synced, error });
            }
        };
        match outcome {
            SyncOutcome::Updated => synced += 1,
            SyncOutcome::EmailTaken { .. } | SyncOutcome::LinkChanged => refused += 1,
        }
        item.sync = Some(outcome);
    }
    Ok((synced, refused))
}

fn snapshot(user: &User) -> Value {
    json!({
        "email": user.email.as_str(),
        "first_name": user.first_name,
        "last_name": user.last_name,
    })
}

async fn sync_one(
    app: &App,
    context: &CallContext,
    item: &DriftedUser,
) -> Result<SyncOutcome, StoreError> {
    let fields = item.differences.fields();
    let refuse = |outcome: SyncOutcome, detail: Value| {
        app.audit.record(context.event(
            "profile_sync",
            AuditOutcome::Failed(outcome.code().into()),
            Some(item.identity_id),
            Some(item.user_id),
            detail,
        ));
        Ok(outcome)
    };
    // The user must still be linked to the identity the drift was read from.
    let current = app.users.find_by_auth_id(item.identity_id).await?;
    let Some(current) = current.filter(|user| user.id == item.user_id) else {
        return refuse(SyncOutcome::LinkChanged, json!({ "fields": fields }));
    };
    let profile = item.differences.apply_to(&current);
    let to = json!({
        "email": profile.email.as_str(),
        "first_name": profile.first_name,
        "last_name": profile.last_name,
    });
    // The update commits with its audit event.
    let record = ChangeRecord::audit(context.event(
        "profile_synced",
        AuditOutcome::Ok,
        Some(item.identity_id),
        Some(item.user_id),
        json!({ "fields": fields, "from": snapshot(&current), "to": to }),
    ));
    match app
        .users
        .update_profile_recorded(current.id, &profile, &record)
        .await
    {
        Ok(_) => Ok(SyncOutcome::Updated),
        Err(LinkError::EmailTaken) => {
            let held_by = app
                .users
                .find_by_email(&profile.email)
                .await?
                .map(|holder| holder.id);
            refuse(
                SyncOutcome::EmailTaken { held_by },
                json!({ "fields": fields, "email": profile.email.as_str(), "held_by": held_by }),
            )
        }
        Err(LinkError::UserNotFound) => {
            refuse(SyncOutcome::LinkChanged, json!({ "fields": fields }))
        }
        Err(LinkError::Store(error)) => Err(error),
        Err(other @ (LinkError::Changed { .. } | LinkError::AuthIdTaken)) => Err(
            StoreError::Unknown(anyhow::anyhow!("a profile update answered {other}")),
        ),
    }
}
