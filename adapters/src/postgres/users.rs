//! Users in Postgres. Uniqueness of emails (by the normal form the service
//! computes, stored in `email_normalized`) and of links is the database's:
//! violations are mapped by constraint name to domain errors.

use std::sync::Arc;

use async_trait::async_trait;
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, Email, ImportOutcome, LinkError, NewUser, Profile,
    StoreError, User, UserCount, UserFilter, UserId, UserPage, UserStore,
};
use tokio::sync::OnceCell;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{store_error, user_count, user_search, PgPool};

/// The user columns every query returns, in the order `user_from_row` reads.
macro_rules! user_columns {
    () => {
        "id, email, first_name, last_name, avatar_url, auth_id, created_at, linked_at"
    };
}

mod import;
mod reads;
mod writes;

/// Runs a change of one user and its record (see [`record_on`]) in one
/// transaction, once more on a fresh connection when its session fails
/// (before the commit): the body of the `*_recorded` methods.
macro_rules! in_recorded_transaction {
    ($store:ident, $record:ident, |$sql:ident, $tx:ident| $change:expr) => {{
        let mut retry = $store.pool.retry();
        loop {
            let mut conn = retry.connection().await?;
            let result = async {
                let $sql = conn.sql();
                let $tx = $sql.begin(&mut conn).await.map_err(store_error)?;
                let user = $change.await?;
                record_on(&$sql, &$tx, &user, $record).await?;
                $sql.commit($tx).await.map_err(store_error)?;
                Ok(user)
            }
            .await;
            if !retry.again(conn, &result) {
                return result;
            }
        }
    }};
}

pub use reads::user_from_row;
use writes::{create_on, record_on, set_link_on, update_profile_on};

const BY_AUTH_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE auth_id = $1");
const BY_AUTH_IDS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE auth_id = ANY($1::uuid[])"
);
const BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
const BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE email_normalized = $1"
);

/// Users in Postgres.
#[derive(Clone)]
pub struct PostgresUserStore {
    pool: PgPool,
    /// Whether the trigram search index exists, read once from the catalog.
    trigram: Arc<OnceCell<bool>>,
}

impl PostgresUserStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            trigram: Arc::new(OnceCell::new()),
        }
    }
}

#[async_trait]
impl UserStore for PostgresUserStore {
    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError> {
        self.one_user(BY_AUTH_ID, &(&auth_id.as_uuid(), Type::UUID))
            .await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_auth_ids(&self, auth_ids: &[AuthId]) -> Result<Vec<User>, StoreError> {
        if auth_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = auth_ids.iter().map(AuthId::as_uuid).collect();
        self.read(BY_AUTH_IDS, &[(&ids, Type::UUID_ARRAY)])
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.one_user(BY_ID, &(&id.as_uuid(), Type::UUID)).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.one_user(BY_EMAIL, &(&email.normalized(), Type::TEXT))
            .await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn create_linked(&self, new: NewUser) -> Result<User, CreateLinkedError> {
        let conn = self.pool.get().await?;
        create_on(&conn.sql(), &*conn, &new).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn set_link(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError> {
        let conn = self.pool.get().await?;
        set_link_on(&conn.sql(), &*conn, id, new, expected).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn update_profile(&self, id: UserId, profile: &Profile) -> Result<User, LinkError> {
        let conn = self.pool.get().await?;
        update_profile_on(&conn.sql(), &*conn, id, profile).await
    }

    async fn create_linked_recorded(
        &self,
        new: NewUser,
        record: &ChangeRecord,
    ) -> Result<User, CreateLinkedError> {
        in_recorded_transaction!(self, record, |sql, tx| create_on(&sql, &tx, &new))
    }

    async fn set_link_recorded(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        in_recorded_transaction!(self, record, |sql, tx| set_link_on(
            &sql, &tx, id, new, expected
        ))
    }

    async fn update_profile_recorded(
        &self,
        id: UserId,
        profile: &Profile,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        in_recorded_transaction!(self, record, |sql, tx| update_profile_on(
            &sql, &tx, id, profile
        ))
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn import(&self, users: Vec<NewUser>) -> Result<ImportOutcome, StoreError> {
        import::import(&self.pool, &users).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn list(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        let after = after.map_or(Uuid::nil(), |id| id.as_uuid());
        let limit_plus_one = i64::from(limit) + 1;
        let page = [
            (
                &after as &(dyn tokio_postgres::types::ToSql + Sync),
                Type::UUID,
            ),
            (&filter.linked, Type::BOOL),
            (&limit_plus_one, Type::INT8),
        ];
        let rows = match filter.search.as_deref() {
            None => {
                let sql = user_search::list_sql(user_columns!(), None);
                self.read(&sql, &page).await?
            }
            Some(search) => {
                let query = user_search::search(user_columns!(), search, self.trigram().await?);
                let search_limit = limit_plus_one.max(user_search::LIMIT_FLOOR);
                let mut params = page.to_vec();
                params[2] = (&search_limit, Type::INT8);
                params.push((&query.names, Type::TEXT));
                params.push((&query.email, Type::TEXT));
                // Unnamed, so that it is planned with its patterns: a generic
                // plan cannot tell a rare fragment from a common one.
                self.read_unnamed(&query.sql, &params).await?
            }
        };
        let has_more = rows.len() > limit as usize;
        let users = rows
            .iter()
            .take(limit as usize)
            .map(user_from_row)
            .collect::<Result<_, _>>()?;
        Ok(UserPage { users, has_more })
    }

    async fn count(&self, filter: &UserFilter, exact_up_to: u64) -> Result<UserCount, StoreError> {
        let trigram = match filter.search {
            Some(_) => Some(self.trigram().await?),
            None => None,
        };
        let mut retry = self.pool.retry();
        loop {
            let conn = retry.connection().await?;
            let counted =
                user_count::count(&conn.sql(), &*conn, filter, trigram, exact_up_to).await;
            if !retry.again(conn, &counted) {
                return counted;
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.pool.get().await?;
        let sql = conn.sql();
        sql.watch(conn.simple_query("SELECT 1").await)
            .map_err(store_error)?;
        Ok(())
    }
}
