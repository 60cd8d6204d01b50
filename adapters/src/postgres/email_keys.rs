//! The second half of the V5 migration: every user's `email_normalized` filled
//! with the service's normal form and made unique, without blocking writes.
//!
//! It runs after the SQL migrations, under the same advisory lock, each time
//! `migrate` runs, and costs one catalog query once done. It cannot live in
//! the SQL file: refinery runs each file in one transaction, where a fill
//! would lock every row until it committed and `CREATE INDEX CONCURRENTLY` is
//! refused. Each step is safe to interrupt and to run again:
//!
//! 1. rows without a normal form get the service's, in batches by id (each
//!    batch its own short transaction);
//! 2. emails sharing a normal form are settled: the oldest user (creation
//!    time, then id) keeps it, the others are recorded in
//!    `users_email_collisions` and left without one (their rows and emails
//!    stay; nothing is deleted);
//! 3. the unique index is built concurrently under a temporary name (a
//!    duplicate written meanwhile makes the build fail: back to 2);
//! 4. it replaces the old `lower(email)` index under the old name,
//!    `users_email_key`, which is the name every writer maps to "email taken".
//!
//! Collisions still unresolved are returned at every run, for `migrate` and
//! `serve` to report; one whose older twin is gone gets its normal form back.

use crate::postgres::EMAIL_KEY;
use identity_link_ports::text::email_key;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;
use uuid::Uuid;

/// Rows per fill batch: short transactions, few round trips.
const FILL_BATCH: i64 = 5000;
/// Builds of the unique index before giving up when writers keep adding duplicates.
const BUILD_ATTEMPTS: u32 = 3;
/// The name the new index is built under before it replaces `users_email_key`.
const BUILDING: &str = "users_email_normalized_key";

/// A user left without a normal form because an older user has the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCollision {
    pub user_id: Uuid,
    pub email: String,
    /// The older user who kept the normal form.
    pub kept_user_id: Uuid,
}

/// Completes the normal form if needed; returns the unresolved collisions.
///
/// # Errors
/// When a statement fails (a lock not granted within the session's
/// `lock_timeout` included); what was done stays done and a rerun goes on.
pub async fn complete(client: &Client) -> anyhow::Result<Vec<EmailCollision>> {
    if !index_is_valid(client, EMAIL_KEY, true).await? {
        if !index_is_valid(client, BUILDING, false).await? {
            drop_building(client).await?;
            fill(client).await?;
            build(client).await?;
        }
        client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {EMAIL_KEY}"))
            .await?;
        client
            .batch_execute(&format!("ALTER INDEX {BUILDING} RENAME TO {EMAIL_KEY}"))
            .await?;
    }
    retry_unresolved(client).await?;
    unresolved(client).await
}

/// True when `name` is a valid unique index, on `email_normalized` when `on_normal_form`.
async fn index_is_valid(client: &Client, name: &str, on_normal_form: bool) -> anyhow::Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (
                 SELECT 1 FROM pg_index i
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                  WHERE i.indexrelid = to_regclass($1) AND i.indisvalid AND i.indisunique
                    AND (NOT $2 OR a.attname = 'email_normalized'))",
            &[&name, &on_normal_form],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Drops what an interrupted or failed concurrent build left (an invalid index
/// still checks writes, so it must go before anything is filled).
async fn drop_building(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}"))
        .await?;
    Ok(())
}

async fn fill(client: &Client) -> anyhow::Result<()> {
    let select = client
        .prepare(
            "SELECT id, email FROM users
              WHERE email_normalized IS NULL AND id > $1
              ORDER BY id LIMIT $2",
        )
        .await?;
    // Only where the email is still the one read: a row changed meanwhile
    // got its normal form from its writer (the service or the trigger).
    let update = client
        .prepare(
            "UPDATE users SET email_normalized = t.key
               FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, email, key)
              WHERE users.id = t.id AND users.email = t.email AND users.email_normalized IS NULL",
        )
        .await?;
    // User ids are random (v4) UUIDs, all above the nil one.
    let mut after = Uuid::nil();
    loop {
        let rows = client.query(&select, &[&after, &FILL_BATCH]).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get(0)?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut emails = Vec::with_capacity(rows.len());
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            let email: String = row.try_get(1)?;
            ids.push(row.try_get::<_, Uuid>(0)?);
            keys.push(email_key(&email));
            emails.push(email);
        }
        client.execute(&update, &[&ids, &emails, &keys]).await?;
    }
}

/// Keeps each normal form on its oldest user; records and clears the others.
const SETTLE: &str = "WITH groups AS (
        SELECT array_agg(id ORDER BY created_at, id) AS ids
          FROM users WHERE email_normalized IS NOT NULL
         GROUP BY email_normalized HAVING count(*) > 1),
    losers AS (
        SELECT g.ids[1] AS kept, l.id FROM groups g, unnest(g.ids[2:]) AS l(id)),
    recorded AS (
        INSERT INTO users_email_collisions (user_id, email, email_normalized, kept_user_id)
        SELECT u.id, u.email, u.email_normalized, l.kept FROM losers l JOIN users u ON u.id = l.id
        ON CONFLICT (user_id) DO UPDATE
           SET email = EXCLUDED.email, email_normalized = EXCLUDED.email_normalized,
               kept_user_id = EXCLUDED.kept_user_id, found_at = now())
    UPDATE users SET email_normalized = NULL FROM losers WHERE users.id = losers.id";

async fn build(client: &Client) -> anyhow::Result<()> {
    for attempt in 1..=BUILD_ATTEMPTS {
        client.batch_execute(SETTLE).await?;
        let built = client
            .batch_execute(&format!(
                "CREATE UNIQUE INDEX CONCURRENTLY {BUILDING} ON users (email_normalized)"
            ))
            .await;
        match built {
            Ok(()) => return Ok(()),
            Err(error) => {
                // The build's own failure is the one to report; what it left
                // behind is dropped now if possible, else by the next run.
                let dropped = drop_building(client).await;
                let duplicate = error.code() == Some(&SqlState::UNIQUE_VIOLATION);
                if !duplicate || attempt == BUILD_ATTEMPTS {
                    return Err(error.into());
                }
                dropped?;
                tracing::info!(
                    attempt,
                    "a duplicate email was written during the index build; settling again"
                );
            }
        }
    }
    Ok(())
}

/// A collision whose older twin is gone, or changed its email, gets its
/// normal form back; a unique violation means it still collides.
async fn retry_unresolved(client: &Client) -> anyhow::Result<()> {
    let rows = client
        .query(
            "SELECT u.id, u.email FROM users_email_collisions c
               JOIN users u ON u.id = c.user_id
              WHERE u.email_normalized IS NULL",
            &[],
        )
        .await?;
    for row in &rows {
        let id: Uuid = row.try_get(0)?;
        let email: String = row.try_get(1)?;
        let restored = client
            .execute(
                "UPDATE users SET email_normalized = $2
                  WHERE id = $1 AND email_normalized IS NULL
                    AND NOT EXISTS (SELECT 1 FROM users WHERE email_normalized = $2)",
                &[&id, &email_key(&email)],
            )
            .await;
        match restored {
            Err(error) if error.code() != Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(error.into())
            }
            _ => {}
        }
    }
    Ok(())
}

async fn unresolved(client: &Client) -> anyhow::Result<Vec<EmailCollision>> {
    let rows = client
        .query(
            "SELECT c.user_id, u.email, c.kept_user_id FROM users_email_collisions c
               JOIN users u ON u.id = c.user_id
              WHERE u.email_normalized IS NULL
              ORDER BY c.found_at, c.user_id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(EmailCollision {
                user_id: row.try_get(0)?,
                email: row.try_get(1)?,
                kept_user_id: row.try_get(2)?,
            })
        })
        .collect()
}
