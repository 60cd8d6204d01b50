//! How to reach the Kratos admin API, printable without its secrets.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

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
