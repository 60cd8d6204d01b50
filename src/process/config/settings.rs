//! The validated configuration every command runs with, and its embedded defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use identity_link_adapters::kratos::printable;
use identity_link_ports::AuthId;
use secrecy::SecretString;
use url::Url;

use super::LogFormat;
use crate::process::secrets::DatabaseUrl;
use crate::usecases::link::LinkPolicy;

/// Where identities come from.
#[derive(Clone)]
pub enum IdentitySource {
    Kratos {
        admin_url: Url,
        token: Option<SecretString>,
    },
    Fixture(PathBuf),
    Demo,
}

/// The admin URL may carry a password (`https://user:password@…`): masked.
impl std::fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kratos { admin_url, token } => f
                .debug_struct("Kratos")
                .field("admin_url", &printable(admin_url))
                .field("token", token)
                .finish(),
            Self::Fixture(path) => f.debug_tuple("Fixture").field(path).finish(),
            Self::Demo => f.write_str("Demo"),
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<DatabaseUrl>,
    pub database_pool_size: usize,
    /// For sessions of their own (locks); `None`: `database_url`.
    pub database_direct_url: Option<DatabaseUrl>,
    pub database_timeout: Duration,
    /// Named statements cached per pooled connection (`DATABASE_STATEMENT_CACHE`).
    pub database_statement_cache: bool,
    pub migrate: bool,
    pub identities: IdentitySource,
    pub kratos_public_url: Option<Url>,
    pub kratos_timeout: Duration,
    pub kratos_retries: usize,
    pub listen: SocketAddr,
    pub internal_listen: Option<SocketAddr>,
    pub http_header_timeout: Duration,
    pub http_request_timeout: Duration,
    pub admin_token: Option<SecretString>,
    pub admin_identities: Vec<AuthId>,
    pub webhook_secret: Option<SecretString>,
    pub write_back_external_id: bool,
    pub log_format: Option<LogFormat>,
    pub policy: LinkPolicy,
}

impl Default for Settings {
    /// The embedded defaults: what `serve` runs with when nothing is configured
    /// (in-memory store, bundled demo identities, CONTRACT §2 defaults).
    fn default() -> Self {
        Self {
            database_url: None,
            database_pool_size: 16,
            database_direct_url: None,
            database_timeout: Duration::from_millis(5000),
            database_statement_cache: true,
            migrate: true,
            identities: IdentitySource::Demo,
            kratos_public_url: None,
            kratos_timeout: Duration::from_millis(2000),
            kratos_retries: 2,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            internal_listen: None,
            http_header_timeout: Duration::from_millis(10_000),
            http_request_timeout: Duration::from_millis(30_000),
            admin_token: None,
            admin_identities: Vec::new(),
            webhook_secret: None,
            write_back_external_id: false,
            log_format: None,
            policy: LinkPolicy::default(),
        }
    }
}

impl Settings {
    /// The URL of sessions of their own (locks): the direct URL, else the database URL.
    pub fn database_direct_url(&self) -> Option<&str> {
        self.database_direct_url
            .as_ref()
            .or(self.database_url.as_ref())
            .map(DatabaseUrl::expose)
    }
}
