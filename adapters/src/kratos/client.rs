//! The Kratos admin API client: its HTTP client, the hooks the service
//! injects (call observer, extra headers) and how each request is built.

use std::sync::Arc;

use reqwest::{Method, RequestBuilder};
use secrecy::ExposeSecret;
use url::Url;

use super::KratosSettings;

/// Told of every HTTP attempt: the operation and its status (`200`, `timeout`, …).
pub type CallObserver = Arc<dyn Fn(&'static str, &str) + Send + Sync>;

/// Adds headers to every request, inside the attempt's span (the service's
/// trace context: `traceparent`), so this crate needs no tracing exporter.
pub type HeaderHook = Arc<dyn Fn(&mut reqwest::header::HeaderMap) + Send + Sync>;

/// The Kratos admin API client.
pub struct KratosAdmin {
    http: reqwest::Client,
    pub(super) settings: KratosSettings,
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

    pub(super) fn url(&self, path: &str) -> Url {
        let mut url = self.settings.admin_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }

    pub(super) fn observe(&self, operation: &'static str, status: &str) {
        if let Some(observer) = &self.observer {
            observer(operation, status);
        }
    }

    pub(super) fn request(&self, method: Method, url: Url) -> RequestBuilder {
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
}
