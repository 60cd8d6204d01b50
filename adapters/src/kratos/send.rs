//! Sending a request to Kratos: each attempt in a span of its own, its
//! outcome classified by upstream status, retries with backoff only where
//! retrying can help, and the body read as JSON.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use identity_link_ports::IdentityError;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::{budget, model, KratosAdmin};

/// One attempt's failure: worth another attempt (after the wait Kratos
/// asked for, if it did), or final.
pub(super) enum Attempt {
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Final(IdentityError),
}

impl Attempt {
    fn retry(reason: String) -> Self {
        Self::Retry {
            reason,
            retry_after: None,
        }
    }

    pub(super) fn into_error(self) -> IdentityError {
        match self {
            Self::Retry { reason, .. } => IdentityError::Unavailable(reason),
            Self::Final(error) => error,
        }
    }
}

impl KratosAdmin {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff)
            .with_max_delay(self.settings.backoff * 16)
            .with_max_times(self.settings.retries)
            .with_jitter()
    }

    /// Sends one attempt (`retry` 0 is the first) in a span of its own.
    pub(super) async fn attempt(
        &self,
        operation: &'static str,
        retry: usize,
        build: &(dyn Fn() -> RequestBuilder + Sync),
    ) -> Result<reqwest::Response, Attempt> {
        let span = tracing::info_span!(
            "kratos",
            otel.name = operation,
            otel.kind = "client",
            retry,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        self.classify(operation, build).instrument(span).await
    }

    /// Sends one request and classifies its outcome.
    async fn classify(
        &self,
        operation: &'static str,
        build: &(dyn Fn() -> RequestBuilder + Sync),
    ) -> Result<reqwest::Response, Attempt> {
        let span = tracing::Span::current();
        let response = match build().send().await {
            Ok(response) => response,
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timeout"
                } else if error.is_connect() {
                    "connect_error"
                } else {
                    "transport_error"
                };
                self.observe(operation, kind);
                span.record("error.type", kind);
                // Without the URL: its query may hold an email being looked up.
                let error = error.without_url();
                return Err(Attempt::retry(format!("{operation}: {kind}: {error}")));
            }
        };
        let status = response.status();
        self.observe(operation, status.as_str());
        span.record("http.response.status_code", status.as_u16());
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| budget::parse_retry_after(value, std::time::SystemTime::now()));
        let message = model::error_message(response).await;
        Err(match status {
            StatusCode::NOT_FOUND => Attempt::Final(IdentityError::NotFound),
            StatusCode::CONFLICT => Attempt::Final(IdentityError::Conflict(message)),
            StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
                reason: format!("{operation}: rate limited: {message}"),
                retry_after,
            },
            s if s.is_server_error() => Attempt::Retry {
                reason: format!("{operation}: status {}: {message}", s.as_u16()),
                retry_after,
            },
            s => Attempt::Final(IdentityError::Rejected {
                status: s.as_u16(),
                message,
            }),
        })
    }

    /// Sends with retries; returns the successful response. A `Retry-After`
    /// replaces the backoff, within the caller's budget ([`budget`]).
    pub(super) async fn send(
        &self,
        operation: &'static str,
        build: impl Fn() -> RequestBuilder + Sync,
    ) -> Result<reqwest::Response, IdentityError> {
        let mut attempts = 0;
        let sent = (|| {
            attempts += 1;
            self.attempt(operation, attempts - 1, &build)
        })
            .retry(self.backoff())
            .when(|failure| matches!(failure, Attempt::Retry { .. }))
            .adjust(|failure, backoff| {
                let backoff = backoff?;
                match failure {
                    Attempt::Retry {
                        retry_after: Some(asked),
                        ..
                    } => budget::wait(*asked, self.settings.timeout),
                    _ => Some(backoff),
                }
            })
            .notify(|failure, delay| {
                if let Attempt::Retry { reason, .. } = failure {
                    tracing::warn!(operation, %reason, retry_in_ms = delay.as_millis() as u64, "Kratos call failed; retrying");
                }
            })
            .await;
        match sent {
            Ok(response) => {
                budget::refuse(None);
                Ok(response)
            }
            Err(failure) => {
                if let Attempt::Retry {
                    retry_after: Some(asked),
                    ..
                } = &failure
                {
                    budget::refuse(Some(*asked));
                }
                Err(failure.into_error())
            }
        }
    }

    pub(super) async fn json<T: DeserializeOwned>(
        operation: &'static str,
        response: reqwest::Response,
    ) -> Result<T, IdentityError> {
        let bytes = response.bytes().await.map_err(|error| {
            let error = error.without_url();
            IdentityError::Unavailable(format!("{operation}: reading the body failed: {error}"))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|error| IdentityError::Malformed(format!("{operation}: {error}")))
    }
}
