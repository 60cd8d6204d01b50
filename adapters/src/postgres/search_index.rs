//! The indexes of migration V7, built after the SQL migrations under the same
//! advisory lock, concurrently (writes go on meanwhile), each time `migrate`
//! runs; once built, a run costs a few catalog queries.
//!
//! Admin search wants a trigram index (`pg_trgm`) so that a fragment anywhere
//! in an email or a name is found without reading the table. Creating the
//! extension needs a privilege the service's role may lack: then btree
//! `text_pattern_ops` indexes serve prefix and equality search instead, and
//! the users adapter searches by prefix. Which is in use is read back from the
//! catalog ([`in_use`]), so every instance agrees whoever built it.

use std::fmt;

use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// The trigram index on the searched columns.
pub const TRIGRAM_INDEX: &str = "users_search_trgm_idx";
/// The audit's index on its timestamp, which pruning deletes by.
const AUDIT_TIME_INDEX: &str = "identity_audit_occurred_at_idx";
/// The prefix indexes used without `pg_trgm`: name and indexed expression.
const PREFIX_INDEXES: [(&str, &str); 3] = [
    (
        "users_search_prefix_email_idx",
        "email_normalized text_pattern_ops",
    ),
    (
        "users_search_prefix_first_idx",
        "lower(first_name) text_pattern_ops",
    ),
    (
        "users_search_prefix_last_idx",
        "lower(last_name) text_pattern_ops",
    ),
];

/// How admin search finds users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchIndex {
    /// `pg_trgm` GIN: a fragment anywhere in the email or a name.
    Trigram,
    /// btree `text_pattern_ops`: the start of the email or a name; `reason`
    /// says why `pg_trgm` is not used, when known.
    Prefix { reason: Option<String> },
}

impl fmt::Display for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Trigram => f.write_str(
                "admin search index: trigram (pg_trgm GIN on the email and names; matches a fragment anywhere)",
            ),
            Self::Prefix { reason } => {
                f.write_str(
                    "admin search index: prefix (btree text_pattern_ops; matches the start of the email or a name",
                )?;
                match reason {
                    Some(reason) => write!(f, "; pg_trgm unavailable: {reason})"),
                    None => f.write_str("; pg_trgm unavailable)"),
                }
            }
        }
    }
}

/// Builds what is missing; returns the search index in use.
///
/// # Errors
/// When a statement other than `CREATE EXTENSION` fails (a lock not granted
/// within the session's `lock_timeout` included); a rerun goes on.
pub async fn complete(client: &Client) -> anyhow::Result<SearchIndex> {
    ensure_index(client, AUDIT_TIME_INDEX, "identity_audit (occurred_at)").await?;
    if is_valid(client, TRIGRAM_INDEX).await? {
        return Ok(SearchIndex::Trigram);
    }
    match client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .await
    {
        Ok(()) => {
            ensure_index(
                client,
                TRIGRAM_INDEX,
                "users USING gin (email_normalized gin_trgm_ops, first_name gin_trgm_ops, last_name gin_trgm_ops)",
            )
            .await?;
            Ok(SearchIndex::Trigram)
        }
        Err(error) => {
            let reason = error
                .as_db_error()
                .map_or_else(|| error.to_string(), |db| db.message().to_owned());
            tracing::debug!(%reason, "pg_trgm cannot be created; prefix search indexes instead");
            for (name, expression) in PREFIX_INDEXES {
                ensure_index(client, name, &format!("users ({expression})")).await?;
            }
            Ok(SearchIndex::Prefix {
                reason: Some(reason),
            })
        }
    }
}

/// The search index in use, from the catalog.
///
/// # Errors
/// When the catalog cannot be read.
pub async fn in_use(client: &Client) -> anyhow::Result<SearchIndex> {
    Ok(if is_valid(client, TRIGRAM_INDEX).await? {
        SearchIndex::Trigram
    } else {
        SearchIndex::Prefix { reason: None }
    })
}

async fn is_valid(client: &Client, name: &str) -> anyhow::Result<bool> {
    // Unnamed: also asked on pooled connections, which may lead to a pooler.
    let rows = client
        .query_typed(
            "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND indisvalid)",
            &[(&name, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| anyhow::anyhow!("the catalog query returned no row"))?;
    Ok(row.try_get(0)?)
}

/// Builds `name` concurrently unless a valid one exists; an invalid one (an
/// interrupted build) is dropped first.
async fn ensure_index(client: &Client, name: &str, on: &str) -> anyhow::Result<()> {
    if is_valid(client, name).await? {
        return Ok(());
    }
    client
        .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        .await?;
    client
        .batch_execute(&format!("CREATE INDEX CONCURRENTLY {name} ON {on}"))
        .await?;
    Ok(())
}
