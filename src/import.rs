//! `identity-link users import FILE`: existing (unlinked) users from CSV or JSON.
//! Bad rows are reported with their line (CSV) or index (JSON) and skipped;
//! every other row is imported, idempotently by email.

use std::path::Path;

use identity_link_ports::{Email, NewUser, Profile, UserId, UserStore};
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

fn text(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn to_new_user(row: Row) -> Result<NewUser, String> {
    let email = Email::new(&row.email).map_err(|error| error.to_string())?;
    Ok(NewUser {
        id: UserId::generate(),
        profile: Profile {
            email,
            first_name: text(row.first_name),
            last_name: text(row.last_name),
            avatar_url: text(row.avatar_url),
        },
        auth_id: None,
    })
}

/// Reads the file into users to import and rows that could not be read.
fn read_rows(path: &Path) -> Result<(Vec<NewUser>, Vec<InvalidRow>), ImportError> {
    let content = std::fs::read_to_string(path).map_err(|error| {
        ImportError::BadFile(format!("cannot read {}: {error}", path.display()))
    })?;
    let mut rows = Vec::new();
    let mut invalid = Vec::new();
    let mut accept = |location: String, row: Result<Row, String>| match row.and_then(to_new_user) {
        Ok(user) => rows.push(user),
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
/// `BadFile` before anything is written; `Store` when the store fails (batches
/// written before stay, and a rerun skips them).
pub async fn import_file(users: &dyn UserStore, path: &Path) -> Result<ImportReport, ImportError> {
    let (rows, invalid) = read_rows(path)?;
    let mut report = ImportReport {
        invalid,
        ..ImportReport::default()
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<NewUser> = rows.by_ref().take(BATCH).collect();
        let outcome = users.import(batch).await?;
        report.added += outcome.added;
        report.skipped += outcome.skipped;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_link_adapters::memory::MemoryUserStore;

    fn file(content: &str, extension: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new()
            .suffix(extension)
            .tempfile()
            .unwrap();
        std::fs::write(file.path(), content).unwrap();
        file
    }

    #[tokio::test]
    async fn csv_rows_are_imported_once_and_bad_rows_named_by_line() {
        let store = MemoryUserStore::new();
        let csv = file(
            "email,first_name,last_name,avatar_url\n\
             ada@example.com,Ada,Lovelace,\n\
             not-an-email,Bad,Row,\n\
             ADA@example.com,Ada,Again,\n\
             grace@example.com,Grace,Hopper,https://example.com/g.png\n\
             short@example.com,Only\n",
            ".csv",
        );
        let report = import_file(&store, csv.path()).await.unwrap();
        assert_eq!((report.added, report.skipped), (2, 1));
        let lines: Vec<_> = report.invalid.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(lines, ["line 3", "line 6"]);

        let again = import_file(&store, csv.path()).await.unwrap();
        assert_eq!((again.added, again.skipped), (0, 3));
    }

    #[tokio::test]
    async fn json_arrays_of_the_same_fields_are_accepted() {
        let store = MemoryUserStore::new();
        let json = file(
            r#"[{"email": "a@example.com", "first_name": "A", "last_name": "B"},
                {"email": "b@example.com"},
                {"email": "c@example.com", "unknown": 1},
                {"first_name": "no email"}]"#,
            ".json",
        );
        let report = import_file(&store, json.path()).await.unwrap();
        assert_eq!(report.added, 2);
        let bad: Vec<_> = report.invalid.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(bad, ["entry 2", "entry 3"]);
    }

    #[tokio::test]
    async fn a_wrong_header_or_unreadable_file_imports_nothing() {
        let store = MemoryUserStore::new();
        let csv = file("mail,first,last\na@example.com,A,B\n", ".csv");
        assert!(matches!(
            import_file(&store, csv.path()).await,
            Err(ImportError::BadFile(_))
        ));
        let missing = import_file(&store, Path::new("/nonexistent/users.csv")).await;
        assert!(matches!(missing, Err(ImportError::BadFile(_))));
        let broken = file("[{\"email\": ", ".json");
        assert!(matches!(
            import_file(&store, broken.path()).await,
            Err(ImportError::BadFile(_))
        ));
    }
}
