//! How statements reach Postgres (`DATABASE_STATEMENT_CACHE`).
//!
//! With the cache on, a connection prepares each statement once, as a named
//! statement kept for the connection's life, and afterwards only binds and
//! executes it. Off, every statement goes out unnamed — parse, bind and
//! execute in one round trip, with the parameter types given here — so that
//! nothing outlives its transaction, as a pooler in transaction mode
//! (PgBouncer's `pool_mode = transaction`) needs.
//!
//! [`Sql`] also notes when a statement fails because its session did (see
//! [`super::errors::session_failed`]): such a connection is discarded rather
//! than returned to the pool, and [`super::PgPool::retry`] may run the work
//! again on a fresh one.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Transaction};
use futures::TryStreamExt;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row};

use super::errors::session_failed;

/// A statement parameter with its Postgres type.
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

const HEALTHY: u8 = 0;
/// The session failed; the work may be run again on a fresh connection.
const FAILED: u8 = 1;
/// The session failed where running the work again is not safe (its commit).
const FAILED_UNSAFE: u8 = 2;

/// Sends statements as the settings say, and watches their sessions.
/// Clones share what they saw: one per connection checked out.
#[derive(Clone, Debug)]
pub struct Sql {
    cache: bool,
    state: Arc<AtomicU8>,
}

/// Where statements run: a pooled connection or a transaction on one.
pub trait Target: GenericClient + Sync {
    /// Runs `sql` as an unnamed statement and returns its rows.
    fn query_unnamed(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;

    /// Runs `sql` as an unnamed statement and returns the rows it changed.
    fn execute_unnamed(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}

impl Target for deadpool_postgres::Client {
    async fn query_unnamed(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Error> {
        self.query_typed(sql, params).await
    }

    async fn execute_unnamed(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
        self.execute_typed(sql, params).await
    }
}

impl Target for Transaction<'_> {
    async fn query_unnamed(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Error> {
        self.query_typed(sql, params).await
    }

    async fn execute_unnamed(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
        self.execute_typed(sql, params).await
    }
}

fn values<'a>(params: &'a [Param<'_>]) -> impl ExactSizeIterator<Item = &'a (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value)
}

impl Sql {
    /// `cache`: named statements cached per connection (`true`), or unnamed ones.
    pub fn new(cache: bool) -> Self {
        Self {
            cache,
            state: Arc::new(AtomicU8::new(HEALTHY)),
        }
    }

    /// Statements sent unnamed whatever the settings, for statements that
    /// should be planned with their parameters each time.
    pub fn unnamed(&self) -> Self {
        Self {
            cache: false,
            state: self.state.clone(),
        }
    }

    /// Whether statements are cached (named) per connection.
    pub fn caches(&self) -> bool {
        self.cache
    }

    /// The rows of `sql`.
    ///
    /// # Errors
    /// The statement's error.
    pub async fn query<C: Target>(
        &self,
        client: &C,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Error> {
        let rows = if self.cache {
            match client.prepare_cached(sql).await {
                Ok(statement) => match client.query_raw(&statement, values(params)).await {
                    Ok(rows) => rows.try_collect().await,
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            }
        } else {
            client.query_unnamed(sql, params).await
        };
        self.watch(rows)
    }

    /// The row of `sql`, if it returns one (the first, if several).
    ///
    /// # Errors
    /// The statement's error.
    pub async fn query_opt<C: Target>(
        &self,
        client: &C,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, Error> {
        Ok(self.query(client, sql, params).await?.into_iter().next())
    }

    /// The number of rows `sql` changed.
    ///
    /// # Errors
    /// The statement's error.
    pub async fn execute<C: Target>(
        &self,
        client: &C,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<u64, Error> {
        let changed = if self.cache {
            match client.prepare_cached(sql).await {
                Ok(statement) => client.execute_raw(&statement, values(params)).await,
                Err(error) => Err(error),
            }
        } else {
            client.execute_unnamed(sql, params).await
        };
        self.watch(changed)
    }

    /// Begins a transaction on `client`.
    ///
    /// # Errors
    /// When the session cannot begin one.
    pub async fn begin<'c>(
        &self,
        client: &'c mut deadpool_postgres::Client,
    ) -> Result<Transaction<'c>, Error> {
        let begun = client.transaction().await;
        self.watch(begun)
    }

    /// Commits `tx`. A commit that fails may still have been applied: the
    /// work is not run again, and the connection is discarded all the same.
    ///
    /// # Errors
    /// The commit's error.
    pub async fn commit(&self, tx: Transaction<'_>) -> Result<(), Error> {
        let committed = tx.commit().await;
        if let Err(error) = &committed {
            if session_failed(error) {
                self.state.store(FAILED_UNSAFE, Ordering::Relaxed);
            }
        }
        committed
    }

    /// Notes a failed session; passes the result through.
    pub fn watch<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(error) = &result {
            if session_failed(error) {
                let _ = self.state.compare_exchange(
                    HEALTHY,
                    FAILED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
        result
    }

    /// Whether a statement's session failed: the connection is not reused.
    pub fn session_failed(&self) -> bool {
        self.state.load(Ordering::Relaxed) != HEALTHY
    }

    /// Whether the session failed where the work is safe to run again.
    pub(crate) fn may_retry(&self) -> bool {
        self.state.load(Ordering::Relaxed) == FAILED
    }
}
