//! Postgres adapters: users and the audit trail over a deadpool-postgres pool,
//! schema migrations by refinery under an advisory lock.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use identity_link_ports::{
    AuditError, AuditEvent, AuditLog, AuditOutcome, AuditQuery, AuditSource, AuthId,
    CreateLinkedError, Email, ImportOutcome, LinkError, NewUser, Profile, StoreError, User,
    UserFilter, UserId, UserPage, UserStore,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

mod outbox;
pub use outbox::{PostgresWebhookDeliveries, PostgresWriteBackQueue};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Key of the advisory lock held while migrating, so that instances starting
/// together migrate one after the other ("identity-link" in ASCII, truncated).
const MIGRATION_LOCK_KEY: i64 = 0x6964_6c69_6e6b_0001;

const USER_COLUMNS: &str =
    "id, email, first_name, last_name, avatar_url, auth_id, created_at, linked_at";

/// How to reach Postgres.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub pool_size: usize,
    /// Longest wait for a pooled connection or a new one.
    pub acquire_timeout: Duration,
}

/// Parses a Postgres URL (or key=value string), adding a connect timeout when it has none.
///
/// # Errors
/// When the URL cannot be parsed.
pub fn parse_url(url: &str, timeout: Duration) -> anyhow::Result<tokio_postgres::Config> {
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|error| anyhow::anyhow!("invalid database URL: {error}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("identity-link");
    }
    Ok(config)
}

/// Builds the connection pool. Connections are opened lazily.
///
/// # Errors
/// When the URL cannot be parsed.
pub fn pool(settings: &PostgresSettings) -> anyhow::Result<Pool> {
    let config = parse_url(&settings.url, settings.acquire_timeout)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .build()
        .map_err(|error| anyhow::anyhow!("cannot build the connection pool: {error}"))
}

/// One migration's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i32,
    pub name: String,
    pub applied_on: Option<String>,
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let config = parse_url(url, Duration::from_secs(5))?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|error| anyhow::anyhow!("cannot connect to the database: {error}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "migration connection closed");
        }
    });
    Ok(client)
}

/// Applies pending migrations under an advisory lock; returns the versions applied now.
///
/// # Errors
/// When the database cannot be reached or a migration fails (it is rolled back).
pub async fn migrate(url: &str) -> anyhow::Result<Vec<MigrationState>> {
    let mut client = connect(url).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let result = embedded::migrations::runner()
        .set_grouped(false)
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await;
    // The lock is also released when the session ends; unlock explicitly so a
    // pooled or long-lived session cannot keep it.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = result.map_err(|error| anyhow::anyhow!("migration failed: {error}"))?;
    unlocked?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|migration| MigrationState {
            version: migration.version(),
            name: migration.name().to_owned(),
            applied_on: migration.applied_on().map(|at| at.to_string()),
        })
        .collect())
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

fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::QUERY_CANCELED
        }
    }
}

/// Maps a driver error to the store's failure kinds.
pub fn store_error(error: tokio_postgres::Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Unknown(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Maps a pool error to the store's failure kinds.
pub fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => store_error(error),
        PoolError::Timeout(_) => {
            StoreError::Unavailable("timed out waiting for a connection".into())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// The name of the unique constraint a statement violated, if that is how it failed.
pub fn violated_constraint(error: &tokio_postgres::Error) -> Option<&str> {
    (error.code() == Some(&SqlState::UNIQUE_VIOLATION))
        .then(|| error.as_db_error().and_then(|db| db.constraint()))
        .flatten()
}

pub fn user_from_row(row: &Row) -> Result<User, StoreError> {
    let email: String = row.try_get("email").map_err(store_error)?;
    let email = Email::new(&email).map_err(|error| {
        StoreError::Unknown(anyhow::anyhow!("stored email is not valid: {error}"))
    })?;
    let get = |column| {
        row.try_get::<_, Option<String>>(column)
            .map_err(store_error)
    };
    Ok(User {
        id: UserId::new(row.try_get("id").map_err(store_error)?),
        email,
        first_name: get("first_name")?,
        last_name: get("last_name")?,
        avatar_url: get("avatar_url")?,
        auth_id: row
            .try_get::<_, Option<Uuid>>("auth_id")
            .map_err(store_error)?
            .map(AuthId::new),
        created_at: row.try_get("created_at").map_err(store_error)?,
        linked_at: row.try_get("linked_at").map_err(store_error)?,
    })
}

/// Escapes `%`, `_` and `\` so that `raw` matches literally inside ILIKE.
fn like_pattern(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len() + 2);
    escaped.push('%');
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// Users in Postgres.
#[derive(Clone)]
pub struct PostgresUserStore {
    pool: Pool,
}

impl PostgresUserStore {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn one_user(
        &self,
        sql: &str,
        param: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client.prepare_cached(sql).await.map_err(store_error)?;
        client
            .query_opt(&statement, &[param])
            .await
            .map_err(store_error)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn current_link(&self, id: UserId) -> Result<Option<Option<AuthId>>, StoreError> {
        Ok(self
            .one_user(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &id.as_uuid(),
            )
            .await?
            .map(|user| user.auth_id))
    }
}

#[async_trait]
impl UserStore for PostgresUserStore {
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError> {
        self.one_user(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE auth_id = $1"),
            &auth_id.as_uuid(),
        )
        .await
    }

    async fn find_by_auth_ids(&self, auth_ids: &[AuthId]) -> Result<Vec<User>, StoreError> {
        if auth_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = auth_ids.iter().map(AuthId::as_uuid).collect();
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE auth_id = ANY($1::uuid[])"
            ))
            .await
            .map_err(store_error)?;
        let rows = client
            .query(&statement, &[&ids])
            .await
            .map_err(store_error)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.one_user(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            &id.as_uuid(),
        )
        .await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.one_user(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = $1"),
            &email.normalized(),
        )
        .await
    }

    async fn create_linked(&self, new: NewUser) -> Result<User, CreateLinkedError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let sql = format!(
            "INSERT INTO users (id, email, first_name, last_name, avatar_url, auth_id, linked_at)
             VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::uuid IS NULL THEN NULL ELSE now() END)
             RETURNING {USER_COLUMNS}"
        );
        let statement = client.prepare_cached(&sql).await.map_err(store_error)?;
        let profile = &new.profile;
        let inserted = client
            .query_one(
                &statement,
                &[
                    &new.id.as_uuid(),
                    &profile.email.as_str(),
                    &profile.first_name,
                    &profile.last_name,
                    &profile.avatar_url,
                    &new.auth_id.map(|id| id.as_uuid()),
                ],
            )
            .await;
        match inserted {
            Ok(row) => Ok(user_from_row(&row)?),
            Err(error) => Err(match violated_constraint(&error) {
                Some("users_email_key") => CreateLinkedError::EmailTaken,
                Some("users_auth_id_key") => CreateLinkedError::AuthIdTaken,
                _ => CreateLinkedError::Store(store_error(error)),
            }),
        }
    }

    async fn set_link(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let sql = format!(
            "UPDATE users
                SET auth_id = $2,
                    linked_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() END,
                    updated_at = now()
              WHERE id = $1 AND auth_id IS NOT DISTINCT FROM $3
              RETURNING {USER_COLUMNS}"
        );
        let statement = client.prepare_cached(&sql).await.map_err(store_error)?;
        let updated = client
            .query_opt(
                &statement,
                &[
                    &id.as_uuid(),
                    &new.map(|id| id.as_uuid()),
                    &expected.map(|id| id.as_uuid()),
                ],
            )
            .await;
        drop(client);
        match updated {
            Ok(Some(row)) => Ok(user_from_row(&row)?),
            Ok(None) => match self.current_link(id).await? {
                None => Err(LinkError::UserNotFound),
                Some(current) => Err(LinkError::Changed { current }),
            },
            Err(error) if violated_constraint(&error) == Some("users_auth_id_key") => {
                Err(LinkError::AuthIdTaken)
            }
            Err(error) => Err(LinkError::Store(store_error(error))),
        }
    }

    async fn update_profile(&self, id: UserId, profile: &Profile) -> Result<User, LinkError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let sql = format!(
            "UPDATE users
                SET email = $2, first_name = $3, last_name = $4, avatar_url = $5, updated_at = now()
              WHERE id = $1
              RETURNING {USER_COLUMNS}"
        );
        let statement = client.prepare_cached(&sql).await.map_err(store_error)?;
        let updated = client
            .query_opt(
                &statement,
                &[
                    &id.as_uuid(),
                    &profile.email.as_str(),
                    &profile.first_name,
                    &profile.last_name,
                    &profile.avatar_url,
                ],
            )
            .await;
        match updated {
            Ok(Some(row)) => Ok(user_from_row(&row)?),
            Ok(None) => Err(LinkError::UserNotFound),
            Err(error) if violated_constraint(&error) == Some("users_email_key") => {
                Err(LinkError::EmailTaken)
            }
            Err(error) => Err(LinkError::Store(store_error(error))),
        }
    }

    async fn import(&self, users: Vec<NewUser>) -> Result<ImportOutcome, StoreError> {
        if users.is_empty() {
            return Ok(ImportOutcome::default());
        }
        let mut ids = Vec::with_capacity(users.len());
        let mut emails = Vec::with_capacity(users.len());
        let mut first_names = Vec::with_capacity(users.len());
        let mut last_names = Vec::with_capacity(users.len());
        let mut avatars = Vec::with_capacity(users.len());
        for user in &users {
            ids.push(user.id.as_uuid());
            emails.push(user.profile.email.as_str());
            first_names.push(user.profile.first_name.as_deref());
            last_names.push(user.profile.last_name.as_deref());
            avatars.push(user.profile.avatar_url.as_deref());
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        // One statement, so the batch is all-or-nothing; ON CONFLICT DO NOTHING
        // skips emails already present (the case-insensitive unique index).
        let added = client
            .execute(
                "INSERT INTO users (id, email, first_name, last_name, avatar_url)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
                 ON CONFLICT DO NOTHING",
                &[&ids, &emails, &first_names, &last_names, &avatars],
            )
            .await
            .map_err(store_error)?;
        Ok(ImportOutcome {
            added,
            skipped: users.len() as u64 - added,
        })
    }

    async fn list(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users
              WHERE ($1::uuid IS NULL OR id > $1)
                AND ($2::bool IS NULL OR (auth_id IS NOT NULL) = $2)
                AND ($3::text IS NULL OR email ILIKE $3 OR first_name ILIKE $3 OR last_name ILIKE $3)
              ORDER BY id
              LIMIT $4"
        );
        let statement = client.prepare_cached(&sql).await.map_err(store_error)?;
        let pattern = filter.search.as_deref().map(like_pattern);
        let rows = client
            .query(
                &statement,
                &[
                    &after.map(|id| id.as_uuid()),
                    &filter.linked,
                    &pattern,
                    &(i64::from(limit) + 1),
                ],
            )
            .await
            .map_err(store_error)?;
        let has_more = rows.len() > limit as usize;
        let users = rows
            .iter()
            .take(limit as usize)
            .map(user_from_row)
            .collect::<Result<_, _>>()?;
        Ok(UserPage { users, has_more })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client.simple_query("SELECT 1").await.map_err(store_error)?;
        Ok(())
    }
}

/// The audit trail in Postgres.
#[derive(Clone)]
pub struct PostgresAuditLog {
    pool: Pool,
}

impl PostgresAuditLog {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn audit_error(error: StoreError) -> AuditError {
    match error {
        StoreError::Unavailable(reason) => AuditError::Unavailable(reason),
        StoreError::Unknown(error) => AuditError::Unknown(error),
    }
}

#[async_trait]
impl AuditLog for PostgresAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut correlation_ids = Vec::with_capacity(events.len());
        let mut occurred = Vec::with_capacity(events.len());
        let mut sources = Vec::with_capacity(events.len());
        let mut actions = Vec::with_capacity(events.len());
        let mut outcomes = Vec::with_capacity(events.len());
        let mut auth_ids = Vec::with_capacity(events.len());
        let mut user_ids = Vec::with_capacity(events.len());
        let mut actors = Vec::with_capacity(events.len());
        let mut details = Vec::with_capacity(events.len());
        for event in events {
            correlation_ids.push(event.correlation_id);
            occurred.push(event.occurred_at);
            sources.push(event.source.as_str());
            actions.push(event.action.as_str());
            outcomes.push(event.outcome.as_str());
            auth_ids.push(event.auth_id.map(|id| id.as_uuid()));
            user_ids.push(event.user_id.map(|id| id.as_uuid()));
            actors.push(event.actor.as_deref());
            details.push(&event.detail);
        }
        let client = self
            .pool
            .get()
            .await
            .map_err(pool_error)
            .map_err(audit_error)?;
        let statement = client
            .prepare_cached(
                "INSERT INTO identity_audit
                    (correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail)
                 SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[],
                                      $5::text[], $6::uuid[], $7::uuid[], $8::text[], $9::jsonb[])",
            )
            .await
            .map_err(|e| audit_error(store_error(e)))?;
        client
            .execute(
                &statement,
                &[
                    &correlation_ids,
                    &occurred,
                    &sources,
                    &actions,
                    &outcomes,
                    &auth_ids,
                    &user_ids,
                    &actors,
                    &details,
                ],
            )
            .await
            .map_err(|e| audit_error(store_error(e)))?;
        Ok(())
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(pool_error)
            .map_err(audit_error)?;
        let rows = client
            .query(
                "SELECT correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail
                   FROM identity_audit
                  WHERE user_id = $1 OR auth_id = $2
                  ORDER BY occurred_at DESC, id DESC
                  LIMIT $3",
                &[
                    &query.user_id.map(|id| id.as_uuid()),
                    &query.auth_id.map(|id| id.as_uuid()),
                    &i64::from(query.limit),
                ],
            )
            .await
            .map_err(|e| audit_error(store_error(e)))?;
        rows.iter().map(audit_from_row).collect()
    }
}

fn audit_from_row(row: &Row) -> Result<AuditEvent, AuditError> {
    let column = |e: tokio_postgres::Error| audit_error(store_error(e));
    let source: String = row.try_get("source").map_err(column)?;
    let outcome: String = row.try_get("outcome").map_err(column)?;
    let occurred_at: DateTime<Utc> = row.try_get("occurred_at").map_err(column)?;
    Ok(AuditEvent {
        correlation_id: row.try_get("correlation_id").map_err(column)?,
        occurred_at,
        source: AuditSource::parse(&source)
            .ok_or_else(|| AuditError::Unknown(anyhow::anyhow!("unknown audit source {source}")))?,
        action: row.try_get("action").map_err(column)?,
        outcome: if outcome == "ok" {
            AuditOutcome::Ok
        } else {
            AuditOutcome::Failed(outcome)
        },
        auth_id: row
            .try_get::<_, Option<Uuid>>("auth_id")
            .map_err(column)?
            .map(AuthId::new),
        user_id: row
            .try_get::<_, Option<Uuid>>("user_id")
            .map_err(column)?
            .map(UserId::new),
        actor: row.try_get("actor").map_err(column)?,
        detail: row.try_get("detail").map_err(column)?,
    })
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
