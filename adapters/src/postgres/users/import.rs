//! The import of users from another system: one statement per batch, emails
//! already present skipped.

use identity_link_ports::{ImportOutcome, NewUser, StoreError};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::postgres::{store_error, PgPool};

// ON CONFLICT DO NOTHING skips emails already present (the unique index on
// the normal form); one statement, so a batch is all-or-nothing.
const IMPORT: &str =
    "INSERT INTO users (id, email, first_name, last_name, avatar_url, email_normalized)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT DO NOTHING";

/// Adds `users` whose emails are not present yet, all or nothing.
pub(super) async fn import(pool: &PgPool, users: &[NewUser]) -> Result<ImportOutcome, StoreError> {
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
    let conn = pool.get().await?;
    let added = conn
        .sql()
        .execute(
            &*conn,
            IMPORT,
            &[
                (&ids, Type::UUID_ARRAY),
                (&emails, Type::TEXT_ARRAY),
                (&first_names, Type::TEXT_ARRAY),
                (&last_names, Type::TEXT_ARRAY),
                (&avatars, Type::TEXT_ARRAY),
                (&normalized, Type::TEXT_ARRAY),
            ],
        )
        .await
        .map_err(store_error)?;
    Ok(ImportOutcome {
        added,
        skipped: users.len() as u64 - added,
    })
}
