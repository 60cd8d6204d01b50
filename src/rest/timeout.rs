//! The request timeout (CONTRACT §6.1): a request, body included, that is not
//! finished in time is answered 503 `request_timeout` and its handler dropped.

use std::time::Duration;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::correlation::CorrelationId;
use super::error::ApiError;

pub struct RequestTimeout(pub Duration);

impl<E: Endpoint> Middleware<E> for RequestTimeout {
    type Output = RequestTimeoutEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestTimeoutEndpoint {
            inner,
            limit: self.0,
        }
    }
}

pub struct RequestTimeoutEndpoint<E> {
    inner: E,
    limit: Duration,
}

impl<E: Endpoint> Endpoint for RequestTimeoutEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let correlation_id = request
            .extensions()
            .get::<CorrelationId>()
            .map_or_else(uuid::Uuid::new_v4, |id| id.0);
        match tokio::time::timeout(self.limit, self.inner.call(request)).await {
            Ok(outcome) => outcome.map(IntoResponse::into_response),
            Err(_) => {
                tracing::warn!(%correlation_id, limit_ms = self.limit.as_millis() as u64, "request timed out");
                Ok(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "request_timeout",
                    format!(
                        "the request was not finished within {} ms",
                        self.limit.as_millis()
                    ),
                    correlation_id,
                )
                .into_response())
            }
        }
    }
}
