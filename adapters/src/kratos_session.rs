//! Kratos's public `GET /sessions/whoami`: who a session token or session
//! cookie belongs to (shapes from Kratos's OpenAPI document, `toSession`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use identity_link_ports::{AuthId, Session, SessionCredential, SessionError, SessionVerifier};
use reqwest::header::{HeaderValue, ACCEPT, COOKIE};
use reqwest::StatusCode;
use serde::Deserialize;
use tracing::Instrument;
use url::Url;
use uuid::Uuid;

use crate::kratos::{CallObserver, HeaderHook};

/// The cookie Kratos keeps its browser session in.
pub const SESSION_COOKIE: &str = "ory_kratos_session";
const SESSION_TOKEN_HEADER: &str = "x-session-token";
const OPERATION: &str = "whoami";

#[derive(Deserialize)]
struct SessionDto {
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    identity: Option<IdentityRef>,
}

#[derive(Deserialize)]
struct IdentityRef {
    id: Uuid,
}

/// Checks sessions against the Kratos public API.
pub struct KratosSessions {
    http: reqwest::Client,
    whoami: Url,
    observer: Option<CallObserver>,
    headers: Option<HeaderHook>,
}

impl KratosSessions {
    /// `public_url` is the Kratos public API base, e.g. `http://127.0.0.1:4433`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS setup).
    pub fn new(public_url: &Url, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("identity-link/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut whoami = public_url.clone();
        let base = whoami.path().trim_end_matches('/').to_owned();
        whoami.set_path(&format!("{base}/sessions/whoami"));
        Ok(Self {
            http,
            whoami,
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

    fn observe(&self, status: &str) {
        if let Some(observer) = &self.observer {
            observer(OPERATION, status);
        }
    }
}

#[async_trait]
impl SessionVerifier for KratosSessions {
    async fn whoami(&self, credential: &SessionCredential) -> Result<Session, SessionError> {
        // A value that cannot be a header cannot be a session either.
        let (name, value) = match credential {
            SessionCredential::Token(token) => (SESSION_TOKEN_HEADER, token.clone()),
            SessionCredential::Cookie(cookie) => {
                (COOKIE.as_str(), format!("{SESSION_COOKIE}={cookie}"))
            }
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| SessionError::Invalid)?;
        value.set_sensitive(true);
        let span = tracing::info_span!(
            "kratos",
            otel.name = OPERATION,
            otel.kind = "client",
            retry = 0,
            http.response.status_code = tracing::field::Empty,
        );
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(hook) = &self.headers {
            let _entered = span.enter();
            hook(&mut headers);
        }
        let sent = self
            .http
            .get(self.whoami.clone())
            .header(ACCEPT, "application/json")
            .header(name, value)
            .headers(headers)
            .send()
            .instrument(span.clone())
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timeout"
                } else {
                    "connect_error"
                };
                self.observe(kind);
                return Err(SessionError::Unavailable(format!("{OPERATION}: {kind}")));
            }
        };
        let status = response.status();
        self.observe(status.as_str());
        span.record("http.response.status_code", status.as_u16());
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => return Err(SessionError::Invalid),
            StatusCode::FORBIDDEN => return Err(SessionError::NeedsSecondFactor),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(SessionError::Unavailable(format!(
                    "{OPERATION}: status {s}"
                )))
            }
            s => {
                return Err(SessionError::Malformed(format!(
                    "{OPERATION}: unexpected status {s}"
                )))
            }
        }
        let bytes = response.bytes().await.map_err(|error| {
            let error = error.without_url();
            SessionError::Unavailable(format!("{OPERATION}: reading the body: {error}"))
        })?;
        let dto: SessionDto = serde_json::from_slice(&bytes)
            .map_err(|error| SessionError::Malformed(format!("{OPERATION}: {error}")))?;
        if dto.active == Some(false) {
            return Err(SessionError::Invalid);
        }
        let identity = dto.identity.ok_or_else(|| {
            SessionError::Malformed(format!("{OPERATION}: the session has no identity"))
        })?;
        Ok(Session {
            identity: AuthId::new(identity.id),
            expires_at: dto.expires_at,
        })
    }
}

#[cfg(test)]
mod tests;
