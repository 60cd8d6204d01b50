//! Configuration (CONTRACT §2): every flag also reads an environment variable.
//! `Config` is what the command line says; `Settings` is the validated form.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};
use identity_link_ports::{AuthId, TraitPointers};
use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

use crate::process::secrets::{DatabaseUrl, SecretArg};
use crate::usecases::link::LinkPolicy;

mod settings;

pub use settings::{IdentitySource, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The command line's configuration as given; it has no `Debug`, so it never
/// prints (its secrets are also in types that do not).
#[derive(Clone, Args)]
pub struct Config {
    /// Postgres URL; unset: an in-memory store that is not durable.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Connections in the database pool.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16, global = true)]
    pub database_pool_size: usize,
    /// Postgres URL for what needs a session of its own (migrations' and
    /// backfill's locks); default: the database URL.
    #[arg(
        long,
        env = "DATABASE_DIRECT_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_direct_url: Option<DatabaseUrl>,
    /// Longest wait for a pooled or new database connection, in milliseconds.
    #[arg(
        long,
        env = "DATABASE_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub database_timeout_ms: u64,
    /// Named prepared statements cached per pooled connection; false: every
    /// statement unnamed, so that DATABASE_URL may lead to PgBouncer in
    /// transaction pooling mode.
    #[arg(long, env = "DATABASE_STATEMENT_CACHE", default_value_t = true, action = ArgAction::Set, global = true)]
    pub database_statement_cache: bool,
    /// Skip applying pending schema migrations before the command runs.
    #[arg(long, env = "NO_MIGRATE", global = true)]
    pub no_migrate: bool,
    /// Kratos admin API base, e.g. http://127.0.0.1:4434.
    #[arg(long, env = "KRATOS_ADMIN_URL", global = true)]
    pub kratos_admin_url: Option<String>,
    /// Bearer token sent to the Kratos admin API (Ory Network API key).
    #[arg(
        long,
        env = "KRATOS_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub kratos_admin_token: Option<SecretArg>,
    /// Kratos public API, for admin session checks (/sessions/whoami).
    #[arg(long, env = "KRATOS_PUBLIC_URL", global = true)]
    pub kratos_public_url: Option<String>,
    /// JSON array of identities in Kratos's format, used instead of a live Kratos.
    #[arg(long = "kratos-fixture", env = "KRATOS_FIXTURE_PATH", global = true)]
    pub kratos_fixture: Option<PathBuf>,
    /// Timeout of one Kratos attempt, in milliseconds.
    #[arg(long, env = "KRATOS_TIMEOUT_MS", default_value_t = 2000, global = true)]
    pub kratos_timeout_ms: u64,
    /// Extra attempts on connect errors, timeouts, 429 and 5xx (never on other 4xx).
    #[arg(long, env = "KRATOS_RETRIES", default_value_t = 2, global = true)]
    pub kratos_retries: usize,
    /// Address of every endpoint.
    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,
    /// A connection whose request headers are not complete by then is closed (ms).
    #[arg(
        long,
        env = "HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub http_header_timeout_ms: u64,
    /// A request (body included) not finished by then is answered 503 (ms).
    #[arg(
        long,
        env = "HTTP_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub http_request_timeout_ms: u64,
    /// When set, /rest/internal/* is served only on this address.
    #[arg(long, env = "INTERNAL_LISTEN_ADDR", global = true)]
    pub internal_listen: Option<String>,
    /// Bearer token that grants admin GraphQL access.
    #[arg(long, env = "ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub admin_token: Option<SecretArg>,
    /// Comma-separated Kratos identity ids whose sessions are admins.
    #[arg(long = "admin-identities", env = "ADMIN_IDENTITY_IDS", global = true)]
    pub admin_identities: Option<String>,
    /// When set, webhook calls must carry it in the X-Webhook-Secret header.
    #[arg(long, env = "WEBHOOK_SECRET", global = true, hide_env_values = true)]
    pub webhook_secret: Option<SecretArg>,
    /// Provisioning needs a verified email address in Kratos.
    #[arg(long, env = "REQUIRE_VERIFIED_EMAIL", default_value_t = true, action = ArgAction::Set, global = true)]
    pub require_verified_email: bool,
    /// After linking, set the identity's Kratos external_id to the user id.
    #[arg(long, env = "WRITE_BACK_EXTERNAL_ID", default_value_t = false, action = ArgAction::Set, global = true)]
    pub write_back_external_id: bool,
    /// Log format; default: pretty on a terminal, else json. RUST_LOG filters.
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// JSON pointer of the email in the identity's traits.
    #[arg(long, env = "TRAIT_EMAIL", default_value = "/email", global = true)]
    pub trait_email: String,
    /// JSON pointer of the first name in the identity's traits.
    #[arg(
        long,
        env = "TRAIT_FIRST_NAME",
        default_value = "/name/first",
        global = true
    )]
    pub trait_first_name: String,
    /// JSON pointer of the last name in the identity's traits.
    #[arg(
        long,
        env = "TRAIT_LAST_NAME",
        default_value = "/name/last",
        global = true
    )]
    pub trait_last_name: String,
    /// JSON pointer of the avatar URL in the identity's traits.
    #[arg(long, env = "TRAIT_AVATAR", default_value = "/picture", global = true)]
    pub trait_avatar: String,
}

fn http_url(flag: &str, raw: &str) -> anyhow::Result<Url> {
    let url = Url::parse(raw.trim())
        .map_err(|error| anyhow::anyhow!("--{flag}: `{raw}` is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        anyhow::bail!("--{flag}: `{raw}` must be an http(s) URL with a host");
    }
    Ok(url)
}

fn socket(flag: &str, raw: &str) -> anyhow::Result<SocketAddr> {
    raw.trim().parse().map_err(|error| {
        anyhow::anyhow!("--{flag}: `{raw}` is not an address like 127.0.0.1:8080: {error}")
    })
}

fn pointer(flag: &str, raw: &str) -> anyhow::Result<String> {
    if raw.is_empty() || raw.starts_with('/') {
        Ok(raw.to_owned())
    } else {
        anyhow::bail!("--{flag}: `{raw}` is not a JSON pointer (it must start with `/`)")
    }
}

fn secret(raw: Option<&SecretArg>) -> Option<SecretString> {
    raw.and_then(SecretArg::to_secret)
}

impl Config {
    /// Checks everything that can be checked without touching the network.
    ///
    /// # Errors
    /// A message naming the offending flag.
    pub fn validate(&self) -> anyhow::Result<Settings> {
        let identities = match (&self.kratos_admin_url, &self.kratos_fixture) {
            (Some(_), Some(_)) => anyhow::bail!(
                "--kratos-admin-url and --kratos-fixture are exclusive: choose a live Kratos or a fixture file"
            ),
            (Some(url), None) => IdentitySource::Kratos {
                admin_url: http_url("kratos-admin-url", url)?,
                token: secret(self.kratos_admin_token.as_ref()),
            },
            (None, Some(path)) => {
                std::fs::metadata(path).map_err(|error| {
                    anyhow::anyhow!("--kratos-fixture: cannot read {}: {error}", path.display())
                })?;
                IdentitySource::Fixture(path.clone())
            }
            (None, None) => IdentitySource::Demo,
        };
        let present =
            |url: &Option<DatabaseUrl>| url.clone().filter(|url| !url.expose().is_empty());
        let database_url = present(&self.database_url);
        let database_direct_url = present(&self.database_direct_url);
        for (flag, url) in [
            ("database-url", &database_url),
            ("database-direct-url", &database_direct_url),
        ] {
            if let Some(url) = url {
                identity_link_adapters::postgres::parse_url(
                    url.expose(),
                    Duration::from_millis(self.database_timeout_ms.max(1)),
                )
                .map_err(|error| anyhow::anyhow!("--{flag}: {error:#}"))?;
            }
        }
        for (flag, value) in [
            ("database-timeout-ms", self.database_timeout_ms),
            ("http-header-timeout-ms", self.http_header_timeout_ms),
            ("http-request-timeout-ms", self.http_request_timeout_ms),
        ] {
            if value == 0 {
                anyhow::bail!("--{flag} must be at least 1");
            }
        }
        if self.database_pool_size == 0 {
            anyhow::bail!("--database-pool-size must be at least 1");
        }
        if self.kratos_timeout_ms == 0 {
            anyhow::bail!("--kratos-timeout-ms must be at least 1");
        }
        let admin_identities = self
            .admin_identities
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| {
                Uuid::parse_str(id).map(AuthId::new).map_err(|_| {
                    anyhow::anyhow!("--admin-identities: `{id}` is not a Kratos identity id (UUID)")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Settings {
            database_url,
            database_pool_size: self.database_pool_size,
            database_direct_url,
            database_timeout: Duration::from_millis(self.database_timeout_ms),
            database_statement_cache: self.database_statement_cache,
            migrate: !self.no_migrate,
            identities,
            kratos_public_url: self
                .kratos_public_url
                .as_deref()
                .map(|url| http_url("kratos-public-url", url))
                .transpose()?,
            kratos_timeout: Duration::from_millis(self.kratos_timeout_ms),
            kratos_retries: self.kratos_retries,
            listen: socket("listen", &self.listen)?,
            internal_listen: self
                .internal_listen
                .as_deref()
                .map(|addr| socket("internal-listen", addr))
                .transpose()?,
            http_header_timeout: Duration::from_millis(self.http_header_timeout_ms),
            http_request_timeout: Duration::from_millis(self.http_request_timeout_ms),
            admin_token: secret(self.admin_token.as_ref()),
            admin_identities,
            webhook_secret: secret(self.webhook_secret.as_ref()),
            write_back_external_id: self.write_back_external_id,
            log_format: self.log_format,
            policy: LinkPolicy {
                require_verified_email: self.require_verified_email,
                traits: TraitPointers {
                    email: pointer("trait-email", &self.trait_email)?,
                    first_name: pointer("trait-first-name", &self.trait_first_name)?,
                    last_name: pointer("trait-last-name", &self.trait_last_name)?,
                    avatar: pointer("trait-avatar", &self.trait_avatar)?,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests;
