//! `identity-link audit prune --older-than DURATION [--batch-size N]`: audit
//! rows past their retention deleted in short batches while the service runs.

use std::io::Write;
use std::time::Duration;

use clap::Args;

use super::Failure;
use crate::process::config::Settings;
use crate::process::wiring;

/// Arguments of `audit prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete audit rows older than this: a number and a unit, `d` (days), `h`, `m` or `s` (`180d`, `12h`).
    #[arg(long, env = "AUDIT_PRUNE_OLDER_THAN", value_parser = parse_age)]
    pub older_than: Duration,
    /// Rows deleted per batch (each batch is its own short transaction).
    #[arg(long, env = "AUDIT_PRUNE_BATCH_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub batch_size: i64,
}

/// Parses `180d`, `12h`, `30m`, `45s`.
///
/// # Errors
/// A message for clap when the text is not a positive number and a unit.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 180d, 12h, 30m or 45s"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let seconds_per_unit = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("unknown unit `{unit}`: use d, h, m or s")),
    };
    match number.checked_mul(seconds_per_unit) {
        Some(0) => Err("the age must be more than zero".to_owned()),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err(format!("`{text}` is too long ago")),
    }
}

/// Runs the prune on `client` and prints what it removed.
///
/// # Errors
/// When the database fails; the batches deleted before stay deleted.
async fn prune(
    client: &deadpool_postgres::tokio_postgres::Client,
    args: &PruneArgs,
) -> anyhow::Result<()> {
    let report = identity_link_adapters::postgres::prune_audit(
        client,
        args.older_than,
        args.batch_size,
        &|removed| tracing::debug!(removed, "audit prune: batch deleted"),
    )
    .await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "removed:     {}", report.removed)?;
    writeln!(out, "cutoff:      {}", report.cutoff.to_rfc3339())?;
    match report.oldest_kept {
        Some(at) => writeln!(out, "oldest kept: {}", at.to_rfc3339())?,
        None => writeln!(out, "oldest kept: none (the audit is empty)")?,
    }
    Ok(())
}

pub async fn run(settings: &Settings, args: &PruneArgs) -> Result<(), Failure> {
    let Some(url) = settings.database_direct_url() else {
        return Err(Failure::Usage(anyhow::anyhow!(
            "audit prune needs --database-url (DATABASE_URL); the in-memory audit is not kept"
        )));
    };
    // Migrates first (unless --no-migrate), as every command on the database.
    wiring::database(settings).await?;
    let client = identity_link_adapters::postgres::parse_url(url, settings.database_timeout)?
        .connect()
        .await?;
    prune(&client, args).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_days_hours_minutes_and_seconds() {
        assert_eq!(parse_age("180d"), Ok(Duration::from_secs(180 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_age("45s"), Ok(Duration::from_secs(45)));
    }

    #[test]
    fn ages_without_a_unit_or_number_or_of_zero_are_refused() {
        for bad in ["180", "d", "12x", "0d", "-1d", "99999999999999999999d", ""] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
