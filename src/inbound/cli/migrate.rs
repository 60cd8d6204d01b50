//! `identity-link migrate [--status]`: applies the schema's migrations, or lists them.

use std::io::Write;

use crate::process::config::Settings;
use crate::process::wiring;

use super::Failure;

pub async fn run(settings: &Settings, status: bool) -> Result<(), Failure> {
    let Some(url) = settings.database_direct_url() else {
        return Err(Failure::Usage(anyhow::anyhow!(
            "migrate needs --database-url (DATABASE_URL); the in-memory store has no schema"
        )));
    };
    let mut out = std::io::stdout().lock();
    if status {
        let search = identity_link_adapters::postgres::search_index_in_use(url).await?;
        for migration in identity_link_adapters::postgres::migration_status(url).await? {
            let state = migration
                .applied_on
                .as_deref()
                .map_or("pending".to_owned(), |at| format!("applied {at}"));
            writeln!(
                out,
                "V{:<4} {:<32} {state}",
                migration.version, migration.name
            )
            .map_err(anyhow::Error::from)?;
        }
        writeln!(out, "{search}").map_err(anyhow::Error::from)?;
    } else {
        let migrated = identity_link_adapters::postgres::migrate(url).await?;
        if migrated.applied.is_empty() {
            let version = migrated
                .version
                .map_or(String::new(), |version| format!(" (V{version})"));
            writeln!(out, "schema is up to date{version}").map_err(anyhow::Error::from)?;
        }
        for migration in migrated.applied {
            writeln!(out, "applied V{} {}", migration.version, migration.name)
                .map_err(anyhow::Error::from)?;
        }
        for line in wiring::collision_report(&migrated.email_collisions) {
            writeln!(out, "WARNING: {line}").map_err(anyhow::Error::from)?;
        }
        writeln!(out, "{}", migrated.search_index).map_err(anyhow::Error::from)?;
    }
    Ok(())
}
