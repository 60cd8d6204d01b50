//! Schema migrations by refinery under an advisory lock, each statement's
//! wait for locks bounded, and what the schema's state is.

use std::time::Duration;

use tokio_postgres::Client;

use super::{email_keys, search_index, Database, EmailCollision, SearchIndex, DEFAULT_TIMEOUT};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Key of the advisory lock held while migrating, so that instances starting
/// together migrate one after the other ("identity-link" in ASCII, truncated).
const MIGRATION_LOCK_KEY: i64 = 0x6964_6c69_6e6b_0001;

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
