//! Postgres adapters: users and the audit trail over a deadpool-postgres pool ([`PgPool`]),
//! schema migrations by refinery under an advisory lock.

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) mod audit;
mod dsn;
mod email_keys;
mod errors;
pub(crate) mod outbox;
mod pool;
mod prune;
mod search_index;
mod socket;
pub mod sql;
mod tls;
mod user_count;
pub mod user_search;
mod users;

pub use audit::PostgresAuditLog;
pub use dsn::SslMode;
pub use email_keys::EmailCollision;
pub use errors::{pool_error, store_error, violated_constraint, AUTH_ID_KEY, EMAIL_KEY};
pub use outbox::{PostgresWebhookDeliveries, PostgresWriteBackQueue};
pub use pool::{pool, Conn, PgPool, PostgresSettings, Retry};
pub use prune::{prune_audit, PruneReport};
pub use search_index::SearchIndex;
pub use users::{user_from_row, PostgresUserStore};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Key of the advisory lock held while migrating, so that instances starting
/// together migrate one after the other ("identity-link" in ASCII, truncated).
const MIGRATION_LOCK_KEY: i64 = 0x6964_6c69_6e6b_0001;

/// Connect timeout of sessions opened by URL alone (migrations, backfill runs).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A database to connect to: the driver's settings, libpq's TLS parameters
/// (`sslmode`, `sslrootcert`) and the client-side bounds.
#[derive(Clone)]
pub struct Database {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    mode: SslMode,
    timeout: Duration,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The driver's config prints the password: show only what is safe.
        f.debug_struct("Database")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("sslmode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Parses a Postgres URL (or key=value string); `timeout` bounds connecting
    /// and, on pooled connections, every wait for the server's answer.
    ///
    /// # Errors
    /// When the URL cannot be parsed or its `sslrootcert` cannot be read.
    pub fn parse(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let (rest, params) = dsn::split_tls(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|error| anyhow::anyhow!("invalid database URL: {error}"))?;
        config.ssl_mode(match params.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        config
            .keepalives(true)
            .keepalives_idle(timeout)
            .keepalives_interval((timeout / 3).max(Duration::from_secs(1)))
            .keepalives_retries(3)
            .tcp_user_timeout(timeout);
        if config.get_application_name().is_none() {
            config.application_name("identity-link");
        }
        Ok(Self {
            config,
            tls: tls::connector(&params)?,
            mode: params.mode,
            timeout,
        })
    }

    /// A session of its own, outside the pool (for locks held while working):
    /// its statements may run as long as they need.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses; TLS failures say which.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        self.open(None)
            .await
            .map(|(client, _)| client)
            .map_err(|error| {
                anyhow::anyhow!("cannot connect to the database: {}", self.explain(&error))
            })
    }

    /// A driver error in an operator's words (the TLS cause when there is one).
    pub fn explain(&self, error: &tokio_postgres::Error) -> String {
        tls::tls_failure(error, self.mode).unwrap_or_else(|| error.to_string())
    }

    /// Opens a connection and spawns its driver. One TCP host goes through a
    /// [`socket::Guarded`] socket; other targets (Unix sockets, several hosts)
    /// through the driver's own connect, with keepalive and user timeout.
    async fn open(
        &self,
        answer_within: Option<Duration>,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        let (client, task) = match (self.config.get_hosts(), self.config.get_hostaddrs()) {
            ([Host::Tcp(host)], []) => {
                let port = self.config.get_ports().first().copied().unwrap_or(5432);
                let timeout = self
                    .config
                    .get_connect_timeout()
                    .copied()
                    .unwrap_or(self.timeout);
                let socket = socket::connect(host, port, timeout).await;
                let stream = socket::Guarded::new(socket, answer_within);
                let Ok(tls) = MakeTlsConnect::<socket::Guarded>::make_tls_connect(
                    &mut self.tls.clone(),
                    host,
                );
                let (client, connection) = self.config.connect_raw(stream, tls).await?;
                (client, tokio::spawn(drive(connection)))
            }
            _ => {
                let (client, connection) = self.config.connect(self.tls.clone()).await?;
                (client, tokio::spawn(drive(connection)))
            }
        };
        Ok((client, task))
    }
}

/// Drives a connection. The server's notices ("relation … already exists,
/// skipping") are logged at DEBUG here: the driver's own handling logs them
/// at INFO, which would print them on every command's terminal.
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::StreamExt;
    let mut messages = futures::stream::poll_fn(|cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(tokio_postgres::AsyncMessage::Notice(notice)) => {
                tracing::debug!(severity = notice.severity(), "{}", notice.message());
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "database connection closed");
                return;
            }
        }
    }
}

/// Parses a Postgres URL (or key=value string), as [`Database::parse`].
///
/// # Errors
/// When the URL cannot be parsed or its `sslrootcert` cannot be read.
pub fn parse_url(url: &str, timeout: Duration) -> anyhow::Result<Database> {
    Database::parse(url, timeout)
}

/// Opens the pool's connections: every wait for an answer is bounded.
struct PooledConnect(Database);

impl deadpool_postgres::Connect for PooledConnect {
    fn connect(
        &self,
        _: &tokio_postgres::Config,
    ) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), tokio_postgres::Error>> {
        Box::pin(self.0.open(Some(self.0.timeout)))
    }
}

/// The longest a migration statement waits for a lock (`lock_timeout`): a
/// migration queued behind a long transaction would otherwise block every
/// query on its table for as long. It fails instead (rolled back) and can be
/// rerun.
pub const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// One migration's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i32,
    pub name: String,
    pub applied_on: Option<String>,
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    Database::parse(url, DEFAULT_TIMEOUT)?.connect().await
}

/// What [`migrate`] did, and what it found that an operator must settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The migrations applied now.
    pub applied: Vec<MigrationState>,
    /// Users left without an email normal form because an older user has the
    /// same one (see `migrations/V5__email_normalized.sql`); reported at every
    /// run until resolved.
    pub email_collisions: Vec<EmailCollision>,
    /// The schema's version once migrated (the highest applied migration).
    pub version: Option<i32>,
    /// How admin search finds users (migration V7).
    pub search_index: SearchIndex,
}

/// Applies pending migrations under an advisory lock, each statement waiting
/// at most [`MIGRATION_LOCK_TIMEOUT`] for its locks, then completes the email
/// normal form (`email_keys`).
///
/// # Errors
/// When the database cannot be reached or a migration fails (it is rolled back).
pub async fn migrate(url: &str) -> anyhow::Result<Migrated> {
    let mut client = connect(url).await?;
    lock_for_migrating(&client).await?;
    let result = migrate_locked(&mut client).await;
    // The lock is also released when the session ends; unlock explicitly so a
    // pooled or long-lived session cannot keep it.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let migrated = result?;
    unlocked?;
    Ok(migrated)
}

/// Takes the migration lock, waiting as long as another instance migrates.
///
/// It asks again and again rather than waiting in `pg_advisory_lock`: a
/// session waiting there keeps a snapshot open all along, and
/// `CREATE INDEX CONCURRENTLY` in the migrating session waits for every such
/// snapshot to go, which would never happen.
async fn lock_for_migrating(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await?
            .try_get(0)?;
        if locked {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> anyhow::Result<Migrated> {
    client
        .batch_execute(&format!(
            "SET lock_timeout = {}",
            MIGRATION_LOCK_TIMEOUT.as_millis()
        ))
        .await?;
    let report = embedded::migrations::runner()
        .set_grouped(false)
        .set_abort_divergent(true)
        .run_async(client)
        .await
        .map_err(|error| {
            let failure = format!("{:#}", anyhow::Error::new(error));
            anyhow::anyhow!("migration failed: {}", lock_hint(&failure))
        })?;
    let email_collisions = email_keys::complete(client).await.map_err(|error| {
        anyhow::anyhow!(
            "migration failed while completing users.email_normalized: {}",
            lock_hint(&format!("{error:#}"))
        )
    })?;
    let version: Option<i32> = client
        .query_one("SELECT MAX(version) FROM refinery_schema_history", &[])
        .await?
        .try_get(0)?;
    let search_index = search_index::complete(client).await.map_err(|error| {
        anyhow::anyhow!(
            "migration failed while building the search and audit indexes: {}",
            lock_hint(&format!("{error:#}"))
        )
    })?;
    Ok(Migrated {
        version,
        search_index,
        applied: report
            .applied_migrations()
            .iter()
            .map(|migration| MigrationState {
                version: migration.version(),
                name: migration.name().to_owned(),
                applied_on: migration.applied_on().map(|at| at.to_string()),
            })
            .collect(),
        email_collisions,
    })
}

/// Adds what a lock timeout means for the operator to a failure's text.
fn lock_hint(failure: &str) -> String {
    if failure.contains("lock timeout") {
        format!(
            "{failure} (a lock was not granted within {} s: another session holds one on the \
             table; nothing of the failed step was applied; run it again once that session ends)",
            MIGRATION_LOCK_TIMEOUT.as_secs()
        )
    } else {
        failure.to_owned()
    }
}

/// Every known migration with its applied time, if applied.
///
/// # Errors
/// When the database cannot be reached.
pub async fn migration_status(url: &str) -> anyhow::Result<Vec<MigrationState>> {
    let mut client = connect(url).await?;
    let runner = embedded::migrations::runner();
    let table_exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    let applied = if table_exists {
        runner
            .get_applied_migrations_async(&mut client)
            .await
            .map_err(|error| anyhow::anyhow!("cannot read the migration history: {error}"))?
    } else {
        Vec::new()
    };
    Ok(runner
        .get_migrations()
        .iter()
        .map(|known| MigrationState {
            version: known.version(),
            name: known.name().to_owned(),
            applied_on: applied
                .iter()
                .find(|done| done.version() == known.version())
                .and_then(|done| done.applied_on().map(|at| at.to_string())),
        })
        .collect())
}

/// The admin search index in use, read from the catalog.
///
/// # Errors
/// When the database cannot be reached.
pub async fn search_index_in_use(url: &str) -> anyhow::Result<SearchIndex> {
    search_index::in_use(&connect(url).await?).await
}
