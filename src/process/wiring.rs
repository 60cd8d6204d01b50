//! Builds the application from validated settings: picks the adapters,
//! migrates, and connects the metrics.

use std::sync::Arc;
use std::time::Duration;

use identity_link_adapters::fixture::FixtureIdentities;
use identity_link_adapters::kratos::{KratosAdmin, KratosSettings};
use identity_link_adapters::kratos_session::KratosSessions;
use identity_link_adapters::memory::{MemoryUserStore, MemoryWebhookDeliveries};
use identity_link_adapters::postgres::{
    self, PostgresAuditLog, PostgresSettings, PostgresUserStore, PostgresWebhookDeliveries,
    PostgresWriteBackQueue,
};
use identity_link_adapters::postgres_backfill::PostgresBackfillStore;
use identity_link_ports::{IdentityProvider, SessionVerifier, UserStore};

use crate::process::config::{IdentitySource, Settings};
use crate::process::secrets::DatabaseUrl;
use crate::usecases::app::{App, Ports, Rules};
use crate::usecases::metrics::Metrics;

/// Delay before the first Kratos retry.
const KRATOS_BACKOFF: Duration = Duration::from_millis(100);

/// The identity provider the settings name.
///
/// # Errors
/// When the fixture cannot be read or the HTTP client cannot be built.
pub fn identity_provider(
    settings: &Settings,
    metrics: &Metrics,
) -> anyhow::Result<Arc<dyn IdentityProvider>> {
    Ok(match &settings.identities {
        IdentitySource::Kratos { admin_url, token } => {
            let calls = metrics.kratos_calls.clone();
            let admin = KratosAdmin::new(KratosSettings {
                admin_url: admin_url.clone(),
                token: token.clone(),
                timeout: settings.kratos_timeout,
                retries: settings.kratos_retries,
                backoff: KRATOS_BACKOFF,
            })?
            .with_observer(Arc::new(move |operation, status| {
                calls.with_label_values(&[operation, status]).inc();
            }));
            Arc::new(admin.with_headers(trace_headers()))
        }
        IdentitySource::Fixture(path) => Arc::new(FixtureIdentities::load(path)?),
        IdentitySource::Demo => {
            tracing::info!(
                "no KRATOS_ADMIN_URL or KRATOS_FIXTURE_PATH: using the bundled demo identities"
            );
            Arc::new(FixtureIdentities::demo()?)
        }
    })
}

/// Unresolved email collisions listed one by one; the rest are counted.
const COLLISIONS_LISTED: usize = 20;

/// What `migrate` and startup say about unresolved email collisions, one
/// line each (at most [`COLLISIONS_LISTED`] and a count of the others).
pub fn collision_report(collisions: &[postgres::EmailCollision]) -> Vec<String> {
    let mut lines: Vec<String> = collisions
        .iter()
        .take(COLLISIONS_LISTED)
        .map(|collision| {
            format!(
                "user {} has the same email as the older user {}: no lookup by email finds it \
                 until its email is changed or it is merged into the older one",
                collision.user_id, collision.kept_user_id
            )
        })
        .collect();
    if let Some(more) = collisions
        .len()
        .checked_sub(COLLISIONS_LISTED)
        .filter(|n| *n > 0)
    {
        lines.push(format!("… and {more} more users like these"));
    }
    if !collisions.is_empty() {
        lines.push(
            "they are listed by: SELECT c.* FROM users_email_collisions c JOIN users u \
             ON u.id = c.user_id WHERE u.email_normalized IS NULL"
                .to_owned(),
        );
    }
    lines
}

/// What the migration step before a command says, in one line:
/// `schema up to date (V5)` or `applied V6, V7`.
pub fn migration_line(migrated: &postgres::Migrated) -> String {
    if migrated.applied.is_empty() {
        return match migrated.version {
            Some(version) => format!("schema up to date (V{version})"),
            None => "schema up to date (no migrations)".to_owned(),
        };
    }
    let versions: Vec<String> = migrated
        .applied
        .iter()
        .map(|migration| format!("V{}", migration.version))
        .collect();
    format!("applied {}", versions.join(", "))
}

/// Migrates the database first (unless told not to) and says what it did.
///
/// # Errors
/// When migrating fails.
async fn migrate(settings: &Settings, url: &str) -> anyhow::Result<()> {
    let migrated = postgres::migrate(settings.database_direct_url().unwrap_or(url)).await?;
    tracing::info!("{}", migration_line(&migrated));
    for line in collision_report(&migrated.email_collisions) {
        tracing::warn!("{line}");
    }
    // `migrate` prints it; elsewhere only the degraded index is worth a line.
    match migrated.search_index {
        postgres::SearchIndex::Trigram => tracing::debug!("{}", migrated.search_index),
        postgres::SearchIndex::Prefix { .. } => tracing::warn!("{}", migrated.search_index),
    }
    Ok(())
}

/// The connection pool of `DATABASE_URL`, migrated first unless told not to.
///
/// # Errors
/// When the database URL is invalid or migrating fails.
pub async fn database(settings: &Settings) -> anyhow::Result<Option<postgres::PgPool>> {
    let Some(url) = settings.database_url.as_ref().map(DatabaseUrl::expose) else {
        return Ok(None);
    };
    if settings.migrate {
        migrate(settings, url).await?;
    }
    Ok(Some(postgres::pool(&PostgresSettings {
        url: url.to_owned(),
        pool_size: settings.database_pool_size,
        acquire_timeout: settings.database_timeout,
        statement_cache: settings.database_statement_cache,
    })?))
}

/// The user store the settings name: Postgres with a database, else memory.
///
/// # Errors
/// As [`database`].
pub async fn user_store(settings: &Settings) -> anyhow::Result<Arc<dyn UserStore>> {
    Ok(match database(settings).await? {
        Some(pool) => Arc::new(PostgresUserStore::new(pool)),
        None => {
            warn_not_durable();
            Arc::new(MemoryUserStore::new())
        }
    })
}

fn warn_not_durable() {
    tracing::warn!("no DATABASE_URL: users are kept in memory and lost on exit (not durable)");
}

/// Every port the settings name: Postgres stores on one pool with a database (and the
/// backfill store on the same pool), else the in-memory stores, whose audit log and
/// write-back outbox are the user store's own (filled under its lock with each link).
///
/// # Errors
/// As [`database`], [`identity_provider`] and [`session_verifier`].
async fn ports(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Ports> {
    let identities = identity_provider(settings, metrics)?;
    let sessions = session_verifier(settings, metrics)?;
    let pool = database(settings).await?;
    Ok(match (pool, settings.database_direct_url()) {
        (Some(pool), Some(direct_url)) => Ports {
            users: Arc::new(PostgresUserStore::new(pool.clone())),
            identities,
            audit_log: Arc::new(PostgresAuditLog::new(pool.clone())),
            deliveries: Arc::new(PostgresWebhookDeliveries::new(pool.clone())),
            write_backs: Arc::new(PostgresWriteBackQueue::new(pool.clone())),
            backfill: Some(Arc::new(
                PostgresBackfillStore::new(pool, direct_url)
                    .with_write_back(settings.write_back_external_id),
            )),
            sessions,
        },
        _ => {
            warn_not_durable();
            let users = Arc::new(MemoryUserStore::new());
            Ports {
                audit_log: users.audit_log(),
                write_backs: users.write_backs(),
                users,
                identities,
                deliveries: Arc::new(MemoryWebhookDeliveries::new()),
                backfill: None,
                sessions,
            }
        }
    })
}

/// The whole application: every port, the rules of the settings, the metrics.
///
/// # Errors
/// As [`ports`].
pub async fn build(settings: &Settings, metrics: Metrics) -> anyhow::Result<Arc<App>> {
    let ports = ports(settings, &metrics).await?;
    let rules = Rules {
        policy: settings.policy.clone(),
        write_back_external_id: settings.write_back_external_id,
    };
    Ok(Arc::new(App::new(ports, rules, metrics)))
}

/// The Kratos session check for admin logins, when `KRATOS_PUBLIC_URL` is set.
///
/// # Errors
/// When the HTTP client cannot be built.
fn session_verifier(
    settings: &Settings,
    metrics: &Metrics,
) -> anyhow::Result<Option<Arc<dyn SessionVerifier>>> {
    let Some(url) = &settings.kratos_public_url else {
        return Ok(None);
    };
    let calls = metrics.kratos_calls.clone();
    let sessions = KratosSessions::new(url, settings.kratos_timeout)?.with_observer(Arc::new(
        move |operation, status| {
            calls.with_label_values(&[operation, status]).inc();
        },
    ));
    Ok(Some(Arc::new(sessions.with_headers(trace_headers()))))
}

/// `traceparent` (and the caller's `tracestate`) on every Kratos request
/// made inside a request, exported or not.
fn trace_headers() -> identity_link_adapters::kratos::HeaderHook {
    Arc::new(crate::process::telemetry::ids::inject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn collisions(n: usize) -> Vec<postgres::EmailCollision> {
        (0..n)
            .map(|_| postgres::EmailCollision {
                user_id: Uuid::new_v4(),
                email: "zoë@example.test".into(),
                kept_user_id: Uuid::new_v4(),
            })
            .collect()
    }

    #[test]
    fn the_migration_step_says_one_line() {
        let migration = |version: i32| postgres::MigrationState {
            version,
            name: format!("step_{version}"),
            applied_on: None,
        };
        let mut migrated = postgres::Migrated {
            applied: Vec::new(),
            email_collisions: Vec::new(),
            version: Some(5),
            search_index: postgres::SearchIndex::Trigram,
        };
        assert_eq!(migration_line(&migrated), "schema up to date (V5)");
        migrated.applied = vec![migration(6), migration(7)];
        migrated.version = Some(7);
        assert_eq!(migration_line(&migrated), "applied V6, V7");
    }

    #[test]
    fn a_long_list_of_email_collisions_is_reported_in_a_few_lines() {
        assert!(collision_report(&[]).is_empty());
        let few = collisions(2);
        let report = collision_report(&few);
        assert_eq!(report.len(), 3);
        assert!(report[0].contains(&few[0].user_id.to_string()));
        assert!(report[0].contains(&few[0].kept_user_id.to_string()));
        let report = collision_report(&collisions(25));
        assert_eq!(report.len(), COLLISIONS_LISTED + 2);
        assert_eq!(report[COLLISIONS_LISTED], "… and 5 more users like these");
        assert!(
            report.iter().all(|line| !line.contains("zoë")),
            "no email in logs"
        );
    }
}
