//! The admin's link and unlink: the link rule's decision with the admin's policy,
//! written by compare-and-set with its audit events, every refusal audited too.

use identity_link_ports::{
    AuditEvent, AuditOutcome, AuthId, ChangeRecord, LinkError, User, UserId, UserStore,
};
use serde_json::json;

use super::{user, AdminError};
use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::link::{
    address_of, decide, fetch_identity, refused, Address, Decision, DecisionPolicy, Facts, Holder,
    Journal, Refusal, ResolveError,
};

/// Links `user` to `auth_id` when its link is still `expected` (`None`: unlinked)
/// and the identity exists in Kratos and the link rule allows it.
///
/// # Errors
/// `IdentityNotFound`, `Unfit`, `UserNotFound`, `LinkChanged`, `LinkedElsewhere`, or a
/// dependency failing. Nothing changes on error; every outcome is audited.
pub async fn link_identity(
    app: &App,
    user_id: UserId,
    auth_id: AuthId,
    expected: Option<AuthId>,
    context: &CallContext,
) -> Result<User, AdminError> {
    let result = link(app, user_id, auth_id, expected, context).await;
    let events = match &result {
        // The change committed with its audit events.
        Ok((_, true)) => Vec::new(),
        Ok((user, false)) => vec![context.event(
            "linked",
            AuditOutcome::Ok,
            Some(auth_id),
            Some(user.id),
            json!({ "expectedAuthId": expected, "unchanged": true }),
        )],
        Err(error) => vec![refusal(
            context,
            "link",
            error,
            Some(auth_id),
            user_id,
            expected,
        )],
    };
    log_changes(&result, context, auth_id, expected);
    finish(app, events).await;
    result.map(|(user, _)| user)
}

/// Unlinks `user` when it is still linked to `expected`.
///
/// # Errors
/// `UserNotFound`, `LinkChanged`, or the store failing. Every outcome is audited.
pub async fn unlink_identity(
    app: &App,
    user_id: UserId,
    expected: AuthId,
    context: &CallContext,
) -> Result<User, AdminError> {
    let record = ChangeRecord::audit(context.event(
        "unlinked",
        AuditOutcome::Ok,
        Some(expected),
        Some(user_id),
        json!({ "expectedAuthId": expected }),
    ));
    let result = set_link(app.users.as_ref(), user_id, None, Some(expected), &record).await;
    let events = match &result {
        Ok(_) => {
            log_event(&record.audit[0]);
            Vec::new()
        }
        Err(error) => vec![refusal(
            context,
            "unlink",
            error,
            Some(expected),
            user_id,
            Some(expected),
        )],
    };
    finish(app, events).await;
    result
}

/// Links as asked; the flag tells whether anything was written (with its audit).
async fn link(
    app: &App,
    user_id: UserId,
    auth_id: AuthId,
    expected: Option<AuthId>,
    context: &CallContext,
) -> Result<(User, bool), AdminError> {
    let identity = fetch_identity(app.identities.as_ref(), auth_id)
        .await
        .map_err(|error| match error {
            ResolveError::IdentityNotFound => AdminError::IdentityNotFound(auth_id),
            other => other.into(),
        })?;
    let current = user(app, user_id).await?;
    let profile = identity.profile(&app.policy.traits);
    let facts = Facts {
        auth_id,
        linked_user: app
            .users
            .find_by_auth_id(auth_id)
            .await?
            .map(|owner| owner.id),
        active: identity.is_active(),
        address: match &profile {
            Ok(profile) => address_of(&identity, &profile.email),
            Err(_) => Address::Unusable,
        },
        holder: Some(Holder {
            user: current.id,
            linked_to: current.auth_id,
        }),
        rival_holders: 0,
    };
    match decide(&facts, &DecisionPolicy::admin(expected)) {
        Decision::Link(_) => {}
        // Already linked as the admin believes: nothing to write.
        Decision::AlreadyLinked(owner) if owner == current.id => return Ok((current, false)),
        Decision::AlreadyLinked(owner) => {
            return Err(AdminError::LinkedElsewhere {
                auth_id,
                user: Some(owner),
            })
        }
        Decision::Refuse(Refusal::LinkChanged) => {
            return Err(AdminError::LinkChanged {
                current: current.auth_id,
            })
        }
        Decision::Refuse(refusal) => return Err(AdminError::Unfit(refused(refusal, &profile))),
        Decision::Provision => {
            return Err(AdminError::Internal(anyhow::anyhow!(
                "the link rule decided to create a user for an admin link"
            )))
        }
    }
    let detail = json!({
        "expectedAuthId": expected,
        "emailMatches": profile.as_ref().is_ok_and(|profile| profile.email.matches(&current.email)),
        "emailVerified": facts.address == Address::Verified,
    });
    let mut record = Journal::new(context, detail, app.write_back_external_id)
        .record("linked", auth_id, user_id);
    if let Some(previous) = expected {
        record.audit.push(context.event(
            "unlinked",
            AuditOutcome::Ok,
            Some(previous),
            Some(user_id),
            json!({ "replacedBy": auth_id }),
        ));
    }
    let user = set_link(
        app.users.as_ref(),
        user_id,
        Some(auth_id),
        expected,
        &record,
    )
    .await?;
    Ok((user, true))
}

/// Logs a committed admin change (its audit rows are in the database already).
fn log_changes(
    result: &Result<(User, bool), AdminError>,
    context: &CallContext,
    auth_id: AuthId,
    expected: Option<AuthId>,
) {
    if let Ok((user, true)) = result {
        log_event(&context.event(
            "linked",
            AuditOutcome::Ok,
            Some(auth_id),
            Some(user.id),
            json!({ "expectedAuthId": expected }),
        ));
    }
}

async fn set_link(
    users: &dyn UserStore,
    user_id: UserId,
    new: Option<AuthId>,
    expected: Option<AuthId>,
    record: &ChangeRecord,
) -> Result<User, AdminError> {
    match users
        .set_link_recorded(user_id, new, expected, record)
        .await
    {
        Ok(user) => Ok(user),
        Err(LinkError::UserNotFound) => Err(AdminError::UserNotFound(user_id)),
        Err(LinkError::Changed { current }) => Err(AdminError::LinkChanged { current }),
        Err(LinkError::AuthIdTaken) => {
            let auth_id = new.ok_or_else(|| {
                AdminError::Internal(anyhow::anyhow!("unlinking cannot take an identity"))
            })?;
            let owner = users.find_by_auth_id(auth_id).await?.map(|owner| owner.id);
            Err(AdminError::LinkedElsewhere {
                auth_id,
                user: owner,
            })
        }
        Err(LinkError::EmailTaken) => Err(AdminError::Internal(anyhow::anyhow!(
            "changing a link reported an email conflict"
        ))),
        Err(LinkError::Store(error)) => Err(error.into()),
    }
}

fn refusal(
    context: &CallContext,
    action: &str,
    error: &AdminError,
    auth_id: Option<AuthId>,
    user_id: UserId,
    expected: Option<AuthId>,
) -> AuditEvent {
    let mut detail = json!({
        "reason": error.to_string(),
        "expectedAuthId": expected,
    });
    match error {
        AdminError::LinkChanged { current } => detail["currentAuthId"] = json!(current),
        AdminError::LinkedElsewhere {
            user: Some(owner), ..
        } => detail["linkedUserId"] = json!(owner),
        _ => {}
    }
    context.event(
        action,
        AuditOutcome::Failed(error.reason().to_owned()),
        auth_id,
        Some(user_id),
        detail,
    )
}

/// Records the events and waits until they are written, so that the audit
/// shows an admin change as soon as the change is answered.
async fn finish(app: &App, events: Vec<AuditEvent>) {
    if events.is_empty() {
        return;
    }
    for event in events {
        log_event(&event);
        app.audit.record(event);
    }
    app.audit.flush().await;
}

fn log_event(event: &AuditEvent) {
    tracing::info!(
        correlation_id = %event.correlation_id,
        actor = event.actor.as_deref().unwrap_or("-"),
        action = %event.action,
        outcome = event.outcome.as_str(),
        user_id = ?event.user_id.map(|id| id.to_string()),
        auth_id = ?event.auth_id.map(|id| id.to_string()),
        "admin link change"
    );
}
