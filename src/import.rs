//! `identity-link users import FILE`: existing (unlinked) users from CSV or JSON.
//! Bad rows are reported with their line (CSV) or index (JSON) and skipped;
//! every other row is imported, idempotently by email. Text is cleaned as
//! everything from outside is (`Profile::from_untrusted`); a batch the store
//! refuses is split until the rows it cannot store are found and reported.

use std::path::Path;

use identity_link_ports::{NewUser, Profile, StoreError, UserId, UserStore};
use serde::{Deserialize, Serialize};

/// Rows written per statement.
const BATCH: usize = 1000;

/// One row as read from the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidRow {
    /// CSV: the file's line number; JSON: "entry N" (0-based index).
    pub location: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: u64,
    pub skipped: u64,
    pub invalid: Vec<InvalidRow>,
}

/// Why nothing could be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read or is not CSV/JSON of the expected shape.
    #[error("{0}")]
    BadFile(String),
    #[error(transparent)]
    Store(#[from] identity_link_ports::StoreError),
}

fn to_new_user(row: Row) -> Result<NewUser, String> {
    let profile = Profile::from_untrusted(
        &row.email,
        row.first_name.as_deref(),
        row.last_name.as_deref(),
        row.avatar_url.as_deref(),
    )
    .map_err(|error| error.to_string())?;
    Ok(NewUser {
        id: UserId::generate(),
        profile,
        auth_id: None,
    })
}

/// A user read from the file, with where it was read.
type Located = (String, NewUser);

/// Reads the file into users to import and rows that could not be read.
fn read_rows(path: &Path) -> Result<(Vec<Located>, Vec<InvalidRow>), ImportError> {
    let content = std::fs::read_to_string(path).map_err(|error| {
        ImportError::BadFile(format!("cannot read {}: {error}", path.display()))
    })?;
    let mut rows = Vec::new();
    let mut invalid = Vec::new();
    let mut accept = |location: String, row: Result<Row, String>| match row.and_then(to_new_user) {
        Ok(user) => rows.push((location, user)),
        Err(reason) => invalid.push(InvalidRow { location, reason }),
    };
    if content.trim_start().starts_with('[') {
        let entries: Vec<serde_json::Value> = serde_json::from_str(&content).map_err(|error| {
            ImportError::BadFile(format!("{} is not a JSON array: {error}", path.display()))
        })?;
        for (index, entry) in entries.into_iter().enumerate() {
            let row = serde_json::from_value::<Row>(entry).map_err(|error| error.to_string());
            accept(format!("entry {index}"), row);
        }
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(content.as_bytes());
        let headers = reader
            .headers()
            .map_err(|error| ImportError::BadFile(format!("{}: {error}", path.display())))?
            .clone();
        let names: Vec<&str> = headers.iter().collect();
        let expected = ["email", "first_name", "last_name"];
        if names.len() < 3
            || names[..3] != expected
            || (names.len() == 4 && names[3] != "avatar_url")
            || names.len() > 4
        {
            return Err(ImportError::BadFile(format!(
                "{}: the header must be `email,first_name,last_name[,avatar_url]`, found `{}`",
                path.display(),
                names.join(",")
            )));
        }
        for record in reader.records() {
            let line = |record: &csv::StringRecord| {
                record.position().map_or(0, |position| position.line())
            };
            let (location, row) = match record {
                Ok(record) if record.len() != names.len() => (
                    format!("line {}", line(&record)),
                    Err(format!(
                        "expected {} fields, found {}",
                        names.len(),
                        record.len()
                    )),
                ),
                Ok(record) => (
                    format!("line {}", line(&record)),
                    record
                        .deserialize::<Row>(Some(&headers))
                        .map_err(|error| error.to_string()),
                ),
                Err(error) => (
                    format!("line {}", error.position().map_or(0, |p| p.line())),
                    Err(error.to_string()),
                ),
            };
            accept(location, row);
        }
    }
    Ok((rows, invalid))
}

/// Imports the file into `users`.
///
/// # Errors
/// `BadFile` before anything is written; `Store` when the store is unavailable
/// (batches written before stay, and a rerun skips them).
pub async fn import_file(users: &dyn UserStore, path: &Path) -> Result<ImportReport, ImportError> {
    import_file_observed(users, path, &|_| {}).await
}

/// [`import_file`], telling `stored` how many rows were written so far after
/// each batch.
///
/// # Errors
/// As [`import_file`].
pub async fn import_file_observed(
    users: &dyn UserStore,
    path: &Path,
    stored: &(dyn Fn(u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let (rows, invalid) = read_rows(path)?;
    let mut report = ImportReport {
        invalid,
        ..ImportReport::default()
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Located> = rows.by_ref().take(BATCH).collect();
        store(users, batch, &mut report).await?;
        stored(report.added + report.skipped);
    }
    report.invalid.sort_by_key(|row| position(&row.location));
    Ok(report)
}

/// Writes `batch`. A batch the store refuses (anything but being unavailable)
/// is halved, and the halves written, down to single rows: a row refused on
/// its own is reported as invalid, every other row is imported.
async fn store(
    users: &dyn UserStore,
    batch: Vec<Located>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let mut pending = vec![batch];
    while let Some(mut rows) = pending.pop() {
        let users_of = rows.iter().map(|(_, user)| user.clone()).collect();
        match users.import(users_of).await {
            Ok(outcome) => {
                report.added += outcome.added;
                report.skipped += outcome.skipped;
            }
            Err(error @ StoreError::Unavailable(_)) => return Err(error.into()),
            Err(StoreError::Unknown(error)) if rows.len() == 1 => {
                let (location, _) = rows.remove(0);
                report.invalid.push(InvalidRow {
                    location,
                    reason: format!("cannot be stored: {error:#}"),
                });
            }
            Err(StoreError::Unknown(_)) => {
                let second = rows.split_off(rows.len() / 2);
                pending.push(second);
                pending.push(rows);
            }
        }
    }
    Ok(())
}

/// The row number in a location (`line 7`, `entry 3`), to list rows in file order.
fn position(location: &str) -> u64 {
    location
        .rsplit(' ')
        .next()
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
