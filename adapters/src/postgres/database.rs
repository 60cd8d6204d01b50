//! A database to connect to, and how its connections are opened: sessions of
//! their own (locks held while working) and the pool's, whose every wait for
//! an answer is bounded.

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{dsn, socket, tls, SslMode};

/// Connect timeout of sessions opened by URL alone (migrations, backfill runs).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A database to connect to: the driver's settings, libpq's TLS parameters
/// (`sslmode`, `sslrootcert`) and the client-side bounds.
#[derive(Clone)]
pub struct Database {
    pub(super) config: tokio_postgres::Config,
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
pub(super) struct PooledConnect(pub(super) Database);

impl deadpool_postgres::Connect for PooledConnect {
    fn connect(
        &self,
        _: &tokio_postgres::Config,
    ) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), tokio_postgres::Error>> {
        Box::pin(self.0.open(Some(self.0.timeout)))
    }
}
