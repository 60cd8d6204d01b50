//! Use cases of the admin API: look users and links up, and repair a link by
//! compare-and-set. Linking asks the link rule's [`decide`] with the admin's
//! [`DecisionPolicy::admin`] (the chosen user, its expected link) and writes
//! with [`UserStore::set_link_recorded`], the same primitive the rule uses, so
//! no admin action can break "one user per identity". Every change, refused
//! ones included, is audited under the admin's name.

use identity_link_ports::{
    AuditError, AuditEvent, AuditOutcome, AuditQuery, AuthId, ChangeRecord, LinkError, RunId,
    StatusCount, StoreError, User, UserFilter, UserId, UserPage, UserStore,
};
use serde_json::json;
use uuid::Uuid;

use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::link::{
    address_of, decide, fetch_identity, refused, Address, Decision, DecisionPolicy, Facts, Holder,
    Journal, Refusal, ResolveError,
};

/// Why an admin request did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user has the id {0}")]
    UserNotFound(UserId),
    #[error("Kratos has no identity {0}")]
    IdentityNotFound(AuthId),
    #[error("the user's link changed meanwhile: it is now {}", describe(*current))]
    LinkChanged { current: Option<AuthId> },
    #[error("identity {auth_id} is linked to another user")]
    LinkedElsewhere {
        auth_id: AuthId,
        user: Option<UserId>,
    },
    /// The identity exists but the link rule refuses it (inactive, no usable email).
    #[error("the identity cannot be linked: {0}")]
    Unfit(ResolveError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("Kratos is unavailable: {0}")]
    KratosUnavailable(String),
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

fn describe(link: Option<AuthId>) -> String {
    link.map_or_else(|| "unlinked".to_owned(), |id| format!("linked to {id}"))
}

impl AdminError {
    /// A stable, machine-readable reason (also the audit outcome).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UserNotFound(_) => "user_not_found",
            Self::IdentityNotFound(_) => "identity_not_found",
            Self::LinkChanged { .. } => "link_changed",
            Self::LinkedElsewhere { .. } => "identity_linked_elsewhere",
            Self::Unfit(error) => error.code(),
            Self::InvalidInput(_) => "bad_user_input",
            Self::KratosUnavailable(_) => "kratos_unavailable",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// A dependency failing as the link rule reports it, or the rule refusing.
impl From<ResolveError> for AdminError {
    fn from(error: ResolveError) -> Self {
        match error {
            ResolveError::KratosUnavailable(reason) => Self::KratosUnavailable(reason),
            ResolveError::DatabaseUnavailable(reason) => Self::DatabaseUnavailable(reason),
            ResolveError::Internal(error) => Self::Internal(error),
            refusal => Self::Unfit(refusal),
        }
    }
}

/// The store's failures, mapped once by the link rule's error.
impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        ResolveError::from(error).into()
    }
}

impl From<AuditError> for AdminError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Unavailable(reason) => Self::DatabaseUnavailable(reason),
            AuditError::Unknown(error) => Self::Internal(error),
        }
    }
}

/// The user with this id.
///
/// # Errors
/// `UserNotFound`, or the store failing.
pub async fn user(app: &App, id: UserId) -> Result<User, AdminError> {
    app.users
        .find_by_id(id)
        .await?
        .ok_or(AdminError::UserNotFound(id))
}

/// The user linked to this identity, if any.
///
/// # Errors
/// The store failing.
pub async fn user_by_auth_id(app: &App, auth_id: AuthId) -> Result<Option<User>, AdminError> {
    Ok(app.users.find_by_auth_id(auth_id).await?)
}

/// One page of users in id order (a stable order: ids never change).
///
/// # Errors
/// The store failing.
pub async fn users(
    app: &App,
    filter: &UserFilter,
    after: Option<UserId>,
    limit: u32,
) -> Result<UserPage, AdminError> {
    Ok(app.users.list(filter, after, limit).await?)
}

/// Audit events about a user or an identity, newest first.
///
/// # Errors
/// `InvalidInput` when neither is given, or the store failing.
pub async fn audit(
    app: &App,
    user_id: Option<UserId>,
    auth_id: Option<AuthId>,
    limit: u32,
) -> Result<Vec<AuditEvent>, AdminError> {
    if user_id.is_none() && auth_id.is_none() {
        return Err(AdminError::InvalidInput(
            "name a user (userID) or an identity (authId)".into(),
        ));
    }
    let query = AuditQuery {
        user_id,
        auth_id,
        limit,
    };
    Ok(app.audit_log.query(&query).await?)
}

/// Users per backfill resolution status, of one run or of all.
///
/// # Errors
/// The store failing.
pub async fn backfill_report(app: &App, run: Option<Uuid>) -> Result<Vec<StatusCount>, AdminError> {
    match &app.backfill {
        Some(store) => Ok(store.status_counts(run.map(RunId::new)).await?),
        // No database: no backfill has run.
        None => Ok(Vec::new()),
    }
}

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

#[cfg(test)]
mod tests;
