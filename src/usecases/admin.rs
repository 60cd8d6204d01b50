//! Use cases of the admin API: look users and links up, and repair a link by
//! compare-and-set ([`link`]). Linking asks the link rule's `decide` with the admin's
//! `DecisionPolicy::admin` (the chosen user, its expected link) and writes
//! with `UserStore::set_link_recorded`, the same primitive the rule uses, so
//! no admin action can break "one user per identity". Every change, refused
//! ones included, is audited under the admin's name.

mod link;

use identity_link_ports::{
    AuditError, AuditEvent, AuditQuery, AuthId, RunId, StatusCount, StoreError, User, UserFilter,
    UserId, UserPage,
};
use uuid::Uuid;

use crate::usecases::app::App;
use crate::usecases::link::ResolveError;

pub use link::{link_identity, unlink_identity};

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

#[cfg(test)]
mod tests;
