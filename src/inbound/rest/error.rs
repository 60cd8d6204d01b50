//! The one HTTP error shape (CONTRACT §3) and the one mapping to it.

use poem::http::StatusCode;
use poem_openapi::{payload::Json, ApiResponse, Object};
use uuid::Uuid;

use crate::process::telemetry::one_line;
use crate::usecases::link::ResolveError;

/// Every error response's body.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `identity_not_found`.
    pub error: String,
    /// What went wrong, for humans.
    pub message: String,
    /// The call's correlation id (also in the `X-Correlation-Id` header).
    pub correlation_id: Uuid,
    /// True when the same call may succeed later unchanged.
    pub retryable: bool,
}

/// An error response of the REST API.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (`bad_user_input`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Credentials are missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The identity does not exist (`identity_not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The identity conflicts with another link (`identity_duplicate`, `identity_link_unverified`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is over the size limit (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The identity cannot be provisioned (`identity_traits_missing`, `identity_email_unverified`, `identity_inactive`).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// An unexpected failure on the service's side (`internal_error`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency is unavailable (`kratos_unavailable`, `database_unavailable`), or the
    /// request was not finished in time (`request_timeout`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl ApiError {
    /// Builds the error of `status` with the contract's body.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        correlation_id: Uuid,
    ) -> Self {
        let body = Json(ErrorBody {
            error: code.to_owned(),
            message: message.into(),
            correlation_id,
            retryable: status == StatusCode::SERVICE_UNAVAILABLE,
        });
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::UNAUTHORIZED => Self::Unauthorized(body),
            StatusCode::NOT_FOUND => Self::NotFound(body),
            StatusCode::CONFLICT => Self::Conflict(body),
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(body),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(body),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable(body),
            _ => Self::Internal(body),
        }
    }

    /// The mapping of the link rule's errors to HTTP. Logs unexpected failures
    /// (the only place they are logged); business refusals are not failures.
    pub fn from_resolve(error: &ResolveError, correlation_id: Uuid) -> Self {
        let status = match error {
            ResolveError::IdentityNotFound => StatusCode::NOT_FOUND,
            ResolveError::IdentityDuplicate | ResolveError::LinkUnverified => StatusCode::CONFLICT,
            ResolveError::TraitsMissing(_)
            | ResolveError::EmailUnverified
            | ResolveError::Inactive => StatusCode::UNPROCESSABLE_ENTITY,
            ResolveError::KratosUnavailable(_) | ResolveError::DatabaseUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ResolveError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match error {
            ResolveError::Internal(inner) => {
                tracing::error!(%correlation_id, error = one_line(inner), "resolve failed unexpectedly");
                "an unexpected error occurred; see the service log under this correlation id"
                    .to_owned()
            }
            ResolveError::KratosUnavailable(reason) | ResolveError::DatabaseUnavailable(reason) => {
                tracing::warn!(%correlation_id, %reason, code = error.code(), "dependency unavailable");
                error.to_string()
            }
            other => other.to_string(),
        };
        Self::new(status, error.code(), message, correlation_id)
    }
}

/// The contract's code for an error status poem produced itself (parsing,
/// routing, size limits), before any handler ran.
pub fn code_for_status(status: StatusCode) -> (StatusCode, &'static str) {
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::LENGTH_REQUIRED
        | StatusCode::UNPROCESSABLE_ENTITY => (StatusCode::BAD_REQUEST, "bad_user_input"),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "payload_too_large"),
        StatusCode::NOT_FOUND => (status, "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => (status, "method_not_allowed"),
        StatusCode::UNAUTHORIZED => (status, "unauthorized"),
        StatusCode::FORBIDDEN => (status, "forbidden"),
        StatusCode::NOT_ACCEPTABLE => (status, "not_acceptable"),
        StatusCode::SERVICE_UNAVAILABLE => (status, "service_unavailable"),
        s if s.is_client_error() => (StatusCode::BAD_REQUEST, "bad_user_input"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}
