//! The one mapping from admin outcomes to GraphQL errors: `extensions.code`
//! (`UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `BAD_USER_INPUT`,
//! `SERVICE_UNAVAILABLE`, `INTERNAL_SERVER_ERROR`), plus a `reason` in the
//! service's own words and the call's `correlationId`.

use async_graphql::{ErrorExtensionValues, ServerError};
use uuid::Uuid;

use super::auth::Denied;
use crate::process::telemetry::one_line;
use crate::usecases::admin::AdminError;

/// `extensions.code` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    BadUserInput,
    ServiceUnavailable,
    InternalServerError,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

fn extensions(code: Code, reason: &str, correlation_id: Uuid) -> ErrorExtensionValues {
    let mut values = ErrorExtensionValues::default();
    values.set("code", code.as_str());
    values.set("reason", reason);
    values.set("correlationId", correlation_id.to_string());
    values
}

/// An error of `code` for a resolver to return.
pub fn error(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    correlation_id: Uuid,
) -> async_graphql::Error {
    async_graphql::Error {
        message: message.into(),
        source: None,
        extensions: Some(extensions(code, reason, correlation_id)),
    }
}

/// Input the resolvers refuse before doing anything.
pub fn bad_input(message: impl Into<String>, correlation_id: Uuid) -> async_graphql::Error {
    error(
        Code::BadUserInput,
        "bad_user_input",
        message,
        correlation_id,
    )
}

/// The mapping of [`AdminError`]. Logs unexpected failures, the only place they are logged.
pub fn from_admin(failure: AdminError, correlation_id: Uuid) -> async_graphql::Error {
    let code = match &failure {
        AdminError::UserNotFound(_) | AdminError::IdentityNotFound(_) => Code::NotFound,
        AdminError::LinkChanged { .. } | AdminError::LinkedElsewhere { .. } => Code::Conflict,
        AdminError::Unfit(_) | AdminError::InvalidInput(_) => Code::BadUserInput,
        AdminError::KratosUnavailable(_) | AdminError::DatabaseUnavailable(_) => {
            Code::ServiceUnavailable
        }
        AdminError::Internal(_) => Code::InternalServerError,
    };
    let message = match &failure {
        AdminError::Internal(inner) => {
            tracing::error!(%correlation_id, error = one_line(inner), "admin request failed unexpectedly");
            "an unexpected error occurred; see the service log under this correlation id".to_owned()
        }
        AdminError::KratosUnavailable(reason) | AdminError::DatabaseUnavailable(reason) => {
            tracing::warn!(%correlation_id, %reason, code = failure.reason(), "dependency unavailable");
            failure.to_string()
        }
        other => other.to_string(),
    };
    let mut values = extensions(code, failure.reason(), correlation_id);
    match &failure {
        AdminError::LinkChanged { current } => {
            values.set("currentAuthId", current.map(|id| id.to_string()));
        }
        AdminError::LinkedElsewhere {
            user: Some(owner), ..
        } => values.set("linkedUserId", owner.to_string()),
        _ => {}
    }
    async_graphql::Error {
        message,
        source: None,
        extensions: Some(values),
    }
}

/// A request-level error (the request was not executed).
pub fn request_error(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    correlation_id: Uuid,
) -> ServerError {
    let mut error = ServerError::new(message, None);
    error.extensions = Some(extensions(code, reason, correlation_id));
    error
}

/// Why the caller was not admitted, as a request-level error.
pub fn from_denied(denied: &Denied, correlation_id: Uuid) -> ServerError {
    let (code, reason) = match denied {
        Denied::Unauthenticated(_) => (Code::Unauthenticated, "unauthenticated"),
        Denied::Forbidden(_) => (Code::Forbidden, "forbidden"),
        Denied::Unavailable(_) => (Code::ServiceUnavailable, "kratos_unavailable"),
    };
    request_error(code, reason, denied.to_string(), correlation_id)
}

/// Gives every error the executor produced on its own (syntax, validation,
/// argument parsing, limits) the code of a caller mistake.
pub fn code_uncoded(errors: &mut [ServerError], correlation_id: Uuid) {
    for error in errors {
        let values = error.extensions.get_or_insert_with(Default::default);
        if values.get("code").is_none() {
            values.set("code", Code::BadUserInput.as_str());
            values.set("reason", "bad_user_input");
            values.set("correlationId", correlation_id.to_string());
        }
    }
}
