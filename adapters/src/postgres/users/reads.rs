//! Reads of users: a row of the user columns into a [`User`], and statements
//! run once more on a fresh connection when their session fails.

use identity_link_ports::{AuthId, Email, StoreError, User, UserId};
use tokio_postgres::Row;
use uuid::Uuid;

use super::PostgresUserStore;
use crate::postgres::sql::Param;
use crate::postgres::{search_index, store_error};

/// Reads a row of the user columns.
///
/// # Errors
/// When a column is missing or the stored email is not valid.
pub fn user_from_row(row: &Row) -> Result<User, StoreError> {
    let email: String = row.try_get("email").map_err(store_error)?;
    let email = Email::new(&email).map_err(|error| {
        StoreError::Unknown(anyhow::anyhow!("stored email is not valid: {error}"))
    })?;
    let text = |column| {
        row.try_get::<_, Option<String>>(column)
            .map_err(store_error)
    };
    Ok(User {
        id: UserId::new(row.try_get("id").map_err(store_error)?),
        email,
        first_name: text("first_name")?,
        last_name: text("last_name")?,
        avatar_url: text("avatar_url")?,
        auth_id: row
            .try_get::<_, Option<Uuid>>("auth_id")
            .map_err(store_error)?
            .map(AuthId::new),
        created_at: row.try_get("created_at").map_err(store_error)?,
        linked_at: row.try_get("linked_at").map_err(store_error)?,
    })
}

impl PostgresUserStore {
    pub(super) async fn trigram(&self) -> Result<bool, StoreError> {
        self.trigram
            .get_or_try_init(|| async {
                let conn = self.pool.get().await?;
                Ok::<_, StoreError>(
                    search_index::in_use(&conn)
                        .await
                        .map_err(StoreError::Unknown)?
                        == search_index::SearchIndex::Trigram,
                )
            })
            .await
            .copied()
    }

    /// The rows of a read, run once more on a fresh connection if its session fails.
    pub(super) async fn read(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        self.read_as(false, sql, params).await
    }

    /// As [`Self::read`], the statement unnamed whatever the settings.
    pub(super) async fn read_unnamed(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        self.read_as(true, sql, params).await
    }

    pub(super) async fn read_as(
        &self,
        unnamed: bool,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let mut retry = self.pool.retry();
        loop {
            let conn = retry.connection().await?;
            let statements = if unnamed {
                conn.sql().unnamed()
            } else {
                conn.sql()
            };
            let rows = statements
                .query(&*conn, sql, params)
                .await
                .map_err(store_error);
            if !retry.again(conn, &rows) {
                return rows;
            }
        }
    }

    pub(super) async fn one_user(
        &self,
        sql: &str,
        param: &Param<'_>,
    ) -> Result<Option<User>, StoreError> {
        self.read(sql, std::slice::from_ref(param))
            .await?
            .first()
            .map(user_from_row)
            .transpose()
    }
}
