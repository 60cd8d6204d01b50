//! The connection pool of requests: connections checked out with the way
//! statements are sent ([`Sql`]), discarded once their session failed, and
//! work that is safe to repeat run once more on a fresh connection.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, RecyclingMethod, Runtime};
use identity_link_ports::StoreError;

use super::database::PooledConnect;
use super::errors::pool_error;
use super::sql::Sql;
use super::Database;

/// How to reach Postgres.
#[derive(Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub pool_size: usize,
    /// Longest wait for a pooled connection, a new one, or a statement's answer.
    pub acquire_timeout: Duration,
    /// Named statements cached per connection (`DATABASE_STATEMENT_CACHE`);
    /// `false`: every statement unnamed, for poolers in transaction mode.
    pub statement_cache: bool,
}

/// The URL may hold a password: never printed.
impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &"[redacted]")
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_cache", &self.statement_cache)
            .finish_non_exhaustive()
    }
}

/// The pool of connections requests use.
#[derive(Clone)]
pub struct PgPool {
    inner: deadpool_postgres::Pool,
    statement_cache: bool,
    timeout: Duration,
}

/// Builds the connection pool. Connections are opened lazily.
///
/// # Errors
/// When the URL cannot be parsed.
pub fn pool(settings: &PostgresSettings) -> anyhow::Result<PgPool> {
    let database = Database::parse(&settings.url, settings.acquire_timeout)?;
    let manager = Manager::from_connect(
        database.config.clone(),
        PooledConnect(database),
        ManagerConfig {
            // A closed connection is never handed out again; one whose
            // session failed otherwise is discarded by [`Conn`].
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let inner = deadpool_postgres::Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .build()
        .map_err(|error| anyhow::anyhow!("cannot build the connection pool: {error}"))?;
    Ok(PgPool {
        inner,
        statement_cache: settings.statement_cache,
        timeout: settings.acquire_timeout,
    })
}

impl PgPool {
    /// A connection, with the way to send its statements.
    ///
    /// # Errors
    /// When no connection can be had within the timeout.
    pub async fn get(&self) -> Result<Conn, StoreError> {
        let client = self.inner.get().await.map_err(pool_error)?;
        Ok(Conn {
            client: Some(client),
            sql: Sql::new(self.statement_cache),
        })
    }

    /// Attempts of work that is safe to run twice: a read, or a whole
    /// transaction begun and committed through its [`Sql`]. When its session
    /// fails (the server ended it, a failover, a deadlock: see
    /// [`super::errors::session_failed`]) it runs once more on a fresh
    /// connection, unless the failed attempt already used half the database
    /// timeout (a silent network: the caller's wait stays bounded).
    ///
    /// ```ignore
    /// let mut retry = pool.retry();
    /// loop {
    ///     let conn = retry.connection().await?;
    ///     let result = work(&conn).await;
    ///     if !retry.again(conn, &result) {
    ///         return result;
    ///     }
    /// }
    /// ```
    pub fn retry(&self) -> Retry<'_> {
        Retry {
            pool: self,
            started: Instant::now(),
            retried: false,
        }
    }

    /// A connection known to work: a new one, or a pooled one that answers.
    /// Pooled connections whose session ended meanwhile are discarded.
    async fn fresh(&self) -> Result<Conn, StoreError> {
        let mut attempts = self.inner.status().max_size + 1;
        loop {
            let conn = self.get().await?;
            attempts -= 1;
            let client = conn.client();
            if Object::metrics(client).recycle_count == 0 || attempts == 0 {
                return Ok(conn);
            }
            if conn
                .sql
                .watch(client.simple_query("SELECT 1").await)
                .is_ok()
            {
                return Ok(conn);
            }
        }
    }
}

/// The attempts of one piece of work (see [`PgPool::retry`]).
pub struct Retry<'p> {
    pool: &'p PgPool,
    started: Instant,
    retried: bool,
}

impl Retry<'_> {
    /// The connection of the next attempt: a pooled one first, then a fresh one.
    ///
    /// # Errors
    /// When no connection can be had within the timeout.
    pub async fn connection(&mut self) -> Result<Conn, StoreError> {
        if self.retried {
            self.pool.fresh().await
        } else {
            self.pool.get().await
        }
    }

    /// Whether to run the work again after `result` on `conn` (given back:
    /// discarded if its session failed).
    pub fn again<T, E>(&mut self, conn: Conn, result: &Result<T, E>) -> bool {
        let again = result.is_err()
            && conn.sql.may_retry()
            && !self.retried
            && self.started.elapsed() < self.pool.timeout / 2;
        drop(conn);
        if again {
            tracing::info!(
                "a database session failed; running the work again on a fresh connection"
            );
            self.retried = true;
        }
        again
    }
}

/// A pooled connection and the way to send its statements. Dropped after its
/// session failed, it is closed instead of returned to the pool.
pub struct Conn {
    client: Option<Object>,
    sql: Sql,
}

impl Conn {
    /// How to send statements on this connection (clones watch it too).
    pub fn sql(&self) -> Sql {
        self.sql.clone()
    }

    fn client(&self) -> &Object {
        // Present until dropped.
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("a connection until dropped"))
    }
}

impl Deref for Conn {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.client()
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Object {
        self.client
            .as_mut()
            .unwrap_or_else(|| unreachable!("a connection until dropped"))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.sql.session_failed() {
            if let Some(client) = self.client.take() {
                drop(Object::take(client));
            }
        }
    }
}
