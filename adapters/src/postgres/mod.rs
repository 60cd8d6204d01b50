//! Postgres adapters: users and the audit trail over a deadpool-postgres pool ([`PgPool`]),
//! schema migrations by refinery under an advisory lock.

pub(crate) mod audit;
mod database;
mod dsn;
mod email_keys;
mod errors;
mod migrate;
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
mod webhook_deliveries;

pub use audit::PostgresAuditLog;
pub use database::{parse_url, Database, DEFAULT_TIMEOUT};
pub use dsn::SslMode;
pub use email_keys::EmailCollision;
pub use errors::{pool_error, store_error, violated_constraint, AUTH_ID_KEY, EMAIL_KEY};
pub use migrate::{
    migrate, migration_status, search_index_in_use, Migrated, MigrationState,
    MIGRATION_LOCK_TIMEOUT,
};
pub use outbox::PostgresWriteBackQueue;
pub use pool::{pool, Conn, PgPool, PostgresSettings, Retry};
pub use prune::{prune_audit, PruneReport};
pub use search_index::SearchIndex;
pub use users::{user_from_row, PostgresUserStore};
pub use webhook_deliveries::PostgresWebhookDeliveries;
