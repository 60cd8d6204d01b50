//! Users in Postgres. Uniqueness of emails (by the normal form the service
//! computes, stored in `email_normalized`) and of links is the database's:
//! violations are mapped by constraint name to domain errors.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, Email, ImportOutcome, LinkError, NewUser, Profile,
    StoreError, User, UserCount, UserFilter, UserId, UserPage, UserStore,
};
use tokio::sync::OnceCell;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use tokio_postgres::Row;
use uuid::Uuid;

use super::audit::insert_events;
use super::outbox::enqueue_on;
use super::{pool_error, search_index, store_error, user_count, user_search, violated_constraint};

/// The user columns every query returns, in the order `user_from_row` reads.
macro_rules! user_columns {
    () => {
        "id, email, first_name, last_name, avatar_url, auth_id, created_at, linked_at"
    };
}

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
const CREATE: &str = concat!(
    "INSERT INTO users (id, email, first_name, last_name, avatar_url, auth_id, linked_at, email_normalized)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::uuid IS NULL THEN NULL ELSE now() END, $7)
     RETURNING ",
    user_columns!()
);
const SET_LINK: &str = concat!(
    "UPDATE users
        SET auth_id = $2,
            linked_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() END,
            updated_at = now()
      WHERE id = $1 AND auth_id IS NOT DISTINCT FROM $3
      RETURNING ",
    user_columns!()
);
const UPDATE_PROFILE: &str = concat!(
    "UPDATE users
        SET email = $2, email_normalized = $6, first_name = $3, last_name = $4, avatar_url = $5,
            updated_at = now()
      WHERE id = $1
      RETURNING ",
    user_columns!()
);
// ON CONFLICT DO NOTHING skips emails already present (the unique index on
// the normal form); one statement, so a batch is all-or-nothing.
const IMPORT: &str =
    "INSERT INTO users (id, email, first_name, last_name, avatar_url, email_normalized)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT DO NOTHING";
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

async fn one_row<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Result<Option<Row>, tokio_postgres::Error>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(store_error)?;
    Ok(client.query_opt(&statement, params).await)
}

async fn create_on<C: GenericClient + Sync>(
    client: &C,
    new: &NewUser,
) -> Result<User, CreateLinkedError> {
    let profile = &new.profile;
    let inserted = one_row(
        client,
        CREATE,
        &[
            &new.id.as_uuid(),
            &profile.email.as_str(),
            &profile.first_name,
            &profile.last_name,
            &profile.avatar_url,
            &new.auth_id.map(|id| id.as_uuid()),
            &profile.email.normalized(),
        ],
    )
    .await?;
    match inserted {
        Ok(Some(row)) => Ok(user_from_row(&row)?),
        Ok(None) => {
            Err(StoreError::Unknown(anyhow::anyhow!("INSERT … RETURNING returned no row")).into())
        }
        Err(error) => Err(match violated_constraint(&error) {
            Some("users_email_key") => CreateLinkedError::EmailTaken,
            Some("users_auth_id_key") => CreateLinkedError::AuthIdTaken,
            _ => CreateLinkedError::Store(store_error(error)),
        }),
    }
}

async fn set_link_on<C: GenericClient + Sync>(
    client: &C,
    id: UserId,
    new: Option<AuthId>,
    expected: Option<AuthId>,
) -> Result<User, LinkError> {
    let updated = one_row(
        client,
        SET_LINK,
        &[
            &id.as_uuid(),
            &new.map(|id| id.as_uuid()),
            &expected.map(|id| id.as_uuid()),
        ],
    )
    .await?;
    match updated {
        Ok(Some(row)) => Ok(user_from_row(&row)?),
        Ok(None) => {
            let current = one_row(client, BY_ID, &[&id.as_uuid()])
                .await?
                .map_err(store_error)?;
            match current.as_ref().map(user_from_row).transpose()? {
                None => Err(LinkError::UserNotFound),
                Some(user) => Err(LinkError::Changed {
                    current: user.auth_id,
                }),
            }
        }
        Err(error) if violated_constraint(&error) == Some("users_auth_id_key") => {
            Err(LinkError::AuthIdTaken)
        }
        Err(error) => Err(LinkError::Store(store_error(error))),
    }
}

async fn update_profile_on<C: GenericClient + Sync>(
    client: &C,
    id: UserId,
    profile: &Profile,
) -> Result<User, LinkError> {
    let updated = one_row(
        client,
        UPDATE_PROFILE,
        &[
            &id.as_uuid(),
            &profile.email.as_str(),
            &profile.first_name,
            &profile.last_name,
            &profile.avatar_url,
            &profile.email.normalized(),
        ],
    )
    .await?;
    match updated {
        Ok(Some(row)) => Ok(user_from_row(&row)?),
        Ok(None) => Err(LinkError::UserNotFound),
        Err(error) if violated_constraint(&error) == Some("users_email_key") => {
            Err(LinkError::EmailTaken)
        }
        Err(error) => Err(LinkError::Store(store_error(error))),
    }
}

/// Writes what commits with a change of `user`: its audit events and, when
/// asked and the user is linked now, the pending write-back of its id.
async fn record_on<C: GenericClient + Sync>(
    client: &C,
    user: &User,
    record: &ChangeRecord,
) -> Result<(), StoreError> {
    insert_events(client, &record.audit)
        .await
        .map_err(store_error)?;
    if let (true, Some(auth_id), Some(first)) =
        (record.write_back, user.auth_id, record.audit.first())
    {
        enqueue_on(client, auth_id, user.id, first.correlation_id, first.source)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Users in Postgres.
#[derive(Clone)]
pub struct PostgresUserStore {
    pool: Pool,
    /// Whether the trigram search index exists, read once from the catalog.
    trigram: Arc<OnceCell<bool>>,
}

impl PostgresUserStore {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            trigram: Arc::new(OnceCell::new()),
        }
    }

    async fn trigram(&self, client: &Client) -> Result<bool, StoreError> {
        self.trigram
            .get_or_try_init(|| async {
                Ok::<_, StoreError>(
                    search_index::in_use(client)
                        .await
                        .map_err(StoreError::Unknown)?
                        == search_index::SearchIndex::Trigram,
                )
            })
            .await
            .copied()
    }

    /// Runs a prepared (cached) statement expected to return at most one row.
    /// The outer error is the store failing before the statement ran; the inner
    /// one is the statement's, for callers that map constraint violations.
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Result<Option<Row>, tokio_postgres::Error>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client.prepare_cached(sql).await.map_err(store_error)?;
        Ok(client.query_opt(&statement, params).await)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client.prepare_cached(sql).await.map_err(store_error)?;
        client.query(&statement, params).await.map_err(store_error)
    }

    async fn one_user(
        &self,
        sql: &str,
        param: &(dyn ToSql + Sync),
    ) -> Result<Option<User>, StoreError> {
        self.query_opt(sql, &[param])
            .await?
            .map_err(store_error)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }
}

#[async_trait]
impl UserStore for PostgresUserStore {
    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError> {
        self.one_user(BY_AUTH_ID, &auth_id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_auth_ids(&self, auth_ids: &[AuthId]) -> Result<Vec<User>, StoreError> {
        if auth_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = auth_ids.iter().map(AuthId::as_uuid).collect();
        self.query(BY_AUTH_IDS, &[&ids])
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.one_user(BY_ID, &id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.one_user(BY_EMAIL, &email.normalized()).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn create_linked(&self, new: NewUser) -> Result<User, CreateLinkedError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        create_on(&client, &new).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn set_link(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        set_link_on(&client, id, new, expected).await
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn update_profile(&self, id: UserId, profile: &Profile) -> Result<User, LinkError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        update_profile_on(&client, id, profile).await
    }

    async fn create_linked_recorded(
        &self,
        new: NewUser,
        record: &ChangeRecord,
    ) -> Result<User, CreateLinkedError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(store_error)?;
        let user = create_on(&tx, &new).await?;
        record_on(&tx, &user, record).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(user)
    }

    async fn set_link_recorded(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(store_error)?;
        let user = set_link_on(&tx, id, new, expected).await?;
        record_on(&tx, &user, record).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(user)
    }

    async fn update_profile_recorded(
        &self,
        id: UserId,
        profile: &Profile,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(store_error)?;
        let user = update_profile_on(&tx, id, profile).await?;
        record_on(&tx, &user, record).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn import(&self, users: Vec<NewUser>) -> Result<ImportOutcome, StoreError> {
        if users.is_empty() {
            return Ok(ImportOutcome::default());
        }
        let ids: Vec<Uuid> = users.iter().map(|user| user.id.as_uuid()).collect();
        let emails: Vec<&str> = users
            .iter()
            .map(|user| user.profile.email.as_str())
            .collect();
        let normalized: Vec<&str> = users
            .iter()
            .map(|user| user.profile.email.normalized())
            .collect();
        let first_names: Vec<Option<&str>> = users
            .iter()
            .map(|user| user.profile.first_name.as_deref())
            .collect();
        let last_names: Vec<Option<&str>> = users
            .iter()
            .map(|user| user.profile.last_name.as_deref())
            .collect();
        let avatars: Vec<Option<&str>> = users
            .iter()
            .map(|user| user.profile.avatar_url.as_deref())
            .collect();
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client.prepare_cached(IMPORT).await.map_err(store_error)?;
        let added = client
            .execute(
                &statement,
                &[
                    &ids,
                    &emails,
                    &first_names,
                    &last_names,
                    &avatars,
                    &normalized,
                ],
            )
            .await
            .map_err(store_error)?;
        Ok(ImportOutcome {
            added,
            skipped: users.len() as u64 - added,
        })
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
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = match filter.search.as_deref() {
            None => {
                let sql = user_search::list_sql(user_columns!(), None);
                let statement = client.prepare_cached(&sql).await.map_err(store_error)?;
                client
                    .query(&statement, &[&after, &filter.linked, &limit_plus_one])
                    .await
            }
            Some(search) => {
                let trigram = self.trigram(&client).await?;
                let query = user_search::search(user_columns!(), search, trigram);
                // Prepared afresh, so that it is planned with its patterns:
                // a generic plan cannot tell a rare fragment from a common one.
                let statement = client.prepare(&query.sql).await.map_err(store_error)?;
                client
                    .query(
                        &statement,
                        &[
                            &after,
                            &filter.linked,
                            &limit_plus_one,
                            &query.names,
                            &query.email,
                        ],
                    )
                    .await
            }
        }
        .map_err(store_error)?;
        let has_more = rows.len() > limit as usize;
        let users = rows
            .iter()
            .take(limit as usize)
            .map(user_from_row)
            .collect::<Result<_, _>>()?;
        Ok(UserPage { users, has_more })
    }

    async fn count(&self, filter: &UserFilter, exact_up_to: u64) -> Result<UserCount, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let trigram = match filter.search {
            Some(_) => Some(self.trigram(&client).await?),
            None => None,
        };
        user_count::count(&client, filter, trigram, exact_up_to).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client.simple_query("SELECT 1").await.map_err(store_error)?;
        Ok(())
    }
}
