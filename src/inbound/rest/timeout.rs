//! The request timeout (CONTRACT §6.1): a request, body included, that is not
//! finished in time is answered 503 `request_timeout` and its handler dropped.
//! It is also the request's budget for waits Kratos asks for: a 503 given up
//! for lack of time carries the `Retry-After` Kratos asked for.

use std::time::Duration;

use identity_link_adapters::kratos::within_budget;
use poem::http::{header, HeaderValue, StatusCode};
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
        let deadline = tokio::time::Instant::now() + self.limit;
        let work = within_budget(deadline, self.inner.call(request));
        match tokio::time::timeout_at(deadline, work).await {
            Ok((outcome, refused_wait)) => {
                let mut response = match outcome {
                    Ok(output) => output.into_response(),
                    Err(error) => error.into_response(),
                };
                if let Some(wait) = refused_wait {
                    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
                    }
                }
                Ok(response)
            }
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
