//! The Kratos admin API over HTTP (shapes from Kratos's OpenAPI document).

mod budget;
#[cfg(test)]
mod hook_tests;
mod link_header;
mod model;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use identity_link_ports::{
    AuthId, IdentityError, IdentityPage, IdentityProvider, KratosIdentity, PageToken, UserId,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

pub use budget::{within as within_budget, MAX_WAIT as MAX_RETRY_AFTER_WAIT};
pub use link_header::next_page_token;
pub use model::{identity_from_json, IdentityDto};

/// Told of every HTTP attempt: the operation and its status (`200`, `timeout`, …).
pub type CallObserver = Arc<dyn Fn(&'static str, &str) + Send + Sync>;

/// Adds headers to every request, inside the attempt's span (the service's
/// trace context: `traceparent`), so this crate needs no tracing exporter.
pub type HeaderHook = Arc<dyn Fn(&mut reqwest::header::HeaderMap) + Send + Sync>;

/// How to reach the Kratos admin API.
#[derive(Clone)]
pub struct KratosSettings {
    pub admin_url: Url,
    pub token: Option<SecretString>,
    /// Per attempt, connect to last byte.
    pub timeout: Duration,
    /// Extra attempts after the first on connect errors, timeouts, 429 and 5xx.
    pub retries: usize,
    /// Delay before the first retry; later ones grow exponentially, with jitter.
    pub backoff: Duration,
}

impl std::fmt::Debug for KratosSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KratosSettings")
            .field("admin_url", &printable(&self.admin_url))
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

/// `url` without the password it may carry (`https://user:password@…`).
pub fn printable(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    url.to_string()
}

/// One attempt's failure: worth another attempt (after the wait Kratos
/// asked for, if it did), or final.
enum Attempt {
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

    fn into_error(self) -> IdentityError {
        match self {
            Self::Retry { reason, .. } => IdentityError::Unavailable(reason),
            Self::Final(error) => error,
        }
    }
}

/// The Kratos admin API client.
pub struct KratosAdmin {
    http: reqwest::Client,
    settings: KratosSettings,
    observer: Option<CallObserver>,
    headers: Option<HeaderHook>,
}

impl KratosAdmin {
    /// # Errors
    /// When the HTTP client cannot be built (TLS setup).
    pub fn new(settings: KratosSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("identity-link/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            http,
            settings,
            observer: None,
            headers: None,
        })
    }

    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn with_headers(mut self, hook: HeaderHook) -> Self {
        self.headers = Some(hook);
        self
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.settings.admin_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }

    fn observe(&self, operation: &'static str, status: &str) {
        if let Some(observer) = &self.observer {
            observer(operation, status);
        }
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(hook) = &self.headers {
            let mut headers = reqwest::header::HeaderMap::new();
            hook(&mut headers);
            request = request.headers(headers);
        }
        match &self.settings.token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff)
            .with_max_delay(self.settings.backoff * 16)
            .with_max_times(self.settings.retries)
            .with_jitter()
    }

    /// Sends one attempt (`retry` 0 is the first) in a span of its own.
    async fn attempt(
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
    async fn send(
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

    async fn json<T: DeserializeOwned>(
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

#[async_trait]
impl IdentityProvider for KratosAdmin {
    async fn get_identity(&self, id: AuthId) -> Result<KratosIdentity, IdentityError> {
        let url = self.url(&format!("/admin/identities/{id}"));
        let response = self
            .send("get_identity", || self.request(Method::GET, url.clone()))
            .await?;
        let dto: IdentityDto = Self::json("get_identity", response).await?;
        dto.into_domain()
    }

    async fn find_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Vec<KratosIdentity>, IdentityError> {
        let mut url = self.url("/admin/identities");
        url.query_pairs_mut()
            .append_pair("credentials_identifier", identifier);
        let response = self
            .send("find_by_identifier", || {
                self.request(Method::GET, url.clone())
            })
            .await?;
        let dtos: Vec<IdentityDto> = Self::json("find_by_identifier", response).await?;
        dtos.into_iter().map(IdentityDto::into_domain).collect()
    }

    async fn list_page(
        &self,
        page_size: u32,
        page: Option<PageToken>,
    ) -> Result<IdentityPage, IdentityError> {
        let mut url = self.url("/admin/identities");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("page_size", &page_size.clamp(1, 500).to_string());
            if let Some(PageToken(token)) = &page {
                query.append_pair("page_token", token);
            }
        }
        let response = self
            .send("list_identities", || self.request(Method::GET, url.clone()))
            .await?;
        let next = link_header::next_page_token(
            response
                .headers()
                .get_all(reqwest::header::LINK)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        )
        .map(PageToken);
        let dtos: Vec<IdentityDto> = Self::json("list_identities", response).await?;
        let identities = dtos
            .into_iter()
            .map(IdentityDto::into_domain)
            .collect::<Result<_, _>>()?;
        Ok(IdentityPage { identities, next })
    }

    async fn set_external_id(&self, id: AuthId, user: UserId) -> Result<(), IdentityError> {
        let url = self.url(&format!("/admin/identities/{id}"));
        let patch = serde_json::json!([
            {"op": "add", "path": "/external_id", "value": user.to_string()}
        ]);
        self.send("patch_identity", || {
            self.request(Method::PATCH, url.clone()).json(&patch)
        })
        .await?;
        Ok(())
    }

    async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<KratosIdentity>, IdentityError> {
        let mut url = self.url("/admin/identities/by/external/");
        url.path_segments_mut()
            .map_err(|()| IdentityError::Malformed("the admin URL cannot have a path".into()))?
            .pop_if_empty()
            .push(external_id);
        match self
            .send("get_identity_by_external_id", || {
                self.request(Method::GET, url.clone())
            })
            .await
        {
            Ok(response) => {
                let dto: IdentityDto = Self::json("get_identity_by_external_id", response).await?;
                dto.into_domain().map(Some)
            }
            Err(IdentityError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn clear_external_id(&self, id: AuthId) -> Result<(), IdentityError> {
        let url = self.url(&format!("/admin/identities/{id}"));
        let patch = serde_json::json!([{"op": "remove", "path": "/external_id"}]);
        self.send("patch_identity", || {
            self.request(Method::PATCH, url.clone()).json(&patch)
        })
        .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), IdentityError> {
        let url = self.url("/health/alive");
        self.attempt("health", 0, &|| self.request(Method::GET, url.clone()))
            .await
            .map(drop)
            .map_err(Attempt::into_error)
    }

    fn describe(&self) -> String {
        format!(
            "Kratos admin API at {}",
            printable(&self.settings.admin_url)
        )
    }
}
