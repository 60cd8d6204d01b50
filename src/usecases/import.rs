//! `identity-link users import FILE`: existing (unlinked) users from CSV or JSON.
//! Bad rows are reported with their line (CSV) or index (JSON) and skipped;
//! every other row is imported, idempotently by email. Text is cleaned as
//! everything from outside is (`Profile::from_untrusted`); a batch the store
//! refuses is split until the rows it cannot store are found and reported.
//! The file is read as a stream (`read`): memory does not grow with its size.

use std::collections::HashSet;
use std::path::Path;

use futures::{Stream, StreamExt};
use identity_link_ports::{NewUser, Profile, StoreError, UserId, UserStore};
use serde::{Deserialize, Serialize};

mod read;

/// Rows written per statement.
const BATCH: usize = 2000;

/// Batches written at once, each in its own transaction. Writing a batch is
/// index maintenance on the database server (the unique email index and the
/// search index), one core's work per statement: two at once keep two cores
/// busy (at a million users, 29 s with one, see `docs/scale.md`).
const WRITERS: usize = 2;

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

/// Invalid rows listed one by one; beyond that they are only counted, so
/// that a file of nothing but bad rows does not fill the memory.
pub const MAX_LISTED_INVALID: usize = 10_000;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: u64,
    pub skipped: u64,
    /// The first [`MAX_LISTED_INVALID`] invalid rows, in file order.
    pub invalid: Vec<InvalidRow>,
    /// Invalid rows beyond those listed.
    pub invalid_unlisted: u64,
}

impl ImportReport {
    /// Every invalid row, listed or not.
    pub fn invalid_count(&self) -> u64 {
        self.invalid.len() as u64 + self.invalid_unlisted
    }

    fn note_invalid(&mut self, row: InvalidRow) {
        if self.invalid.len() < MAX_LISTED_INVALID {
            self.invalid.push(row);
        } else {
            self.invalid_unlisted += 1;
        }
    }
}

/// Why nothing could be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read or is not CSV/JSON of the expected shape.
    #[error("{0}")]
    BadFile(String),
    /// The file could not be read further after rows were imported.
    #[error("{0}")]
    Read(String),
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

/// What an import has done so far, for a progress display.
pub trait ImportProgress: Send + Sync {
    /// Called once the file is checked, with its size in bytes.
    fn started(&self, _file_bytes: u64) {}
    /// Called after each batch, with how far into the file the import is.
    fn advanced(&self, _bytes_read: u64, _report: &ImportReport) {}
}

/// Reports nothing.
pub struct NoProgress;

impl ImportProgress for NoProgress {}

/// Imports the file into `users`.
///
/// # Errors
/// `BadFile` before anything is written; `Read` when the file cannot be read
/// further midway and `Store` when the store is unavailable (batches written
/// before stay, and a rerun skips them).
pub async fn import_file(users: &dyn UserStore, path: &Path) -> Result<ImportReport, ImportError> {
    import_file_with(users, path, &NoProgress).await
}

/// [`import_file`], telling `progress` how it goes.
///
/// # Errors
/// As [`import_file`].
pub async fn import_file_with(
    users: &dyn UserStore,
    path: &Path,
    progress: &dyn ImportProgress,
) -> Result<ImportReport, ImportError> {
    let path = path.to_owned();
    let source = tokio::task::spawn_blocking(move || read::open(&path))
        .await
        .map_err(|error| ImportError::Read(format!("the file reader failed: {error}")))??;
    progress.started(source.size);
    let mut batches = read::spawn(source, BATCH);
    let batches = futures::stream::poll_fn(move |cx| batches.poll_recv(cx));
    let mut written = std::pin::pin!(write_batches(users, batches));
    let mut report = ImportReport::default();
    while let Some(batch) = written.next().await {
        let (partial, bytes_read) = batch?;
        report.added += partial.added;
        report.skipped += partial.skipped;
        report.invalid_unlisted += partial.invalid_unlisted;
        for row in partial.invalid {
            report.note_invalid(row);
        }
        progress.advanced(bytes_read, &report);
    }
    report.invalid.sort_by_key(|row| position(&row.location));
    Ok(report)
}

/// Writes the batches [`WRITERS`] at a time; yields, in file order, what each
/// did and how far into the file it ends.
///
/// Batches written at once never share an email: a row whose email the
/// previous batch holds is skipped here, as the database would skip it once
/// that batch is in. So the first row of an email wins, as when batches are
/// written one by one, and two transactions never wait on each other's
/// uncommitted emails (which could deadlock). Should that previous row be
/// refused by the store, the later one is skipped all the same; the refused
/// row is reported, and a rerun of the corrected file imports the email.
fn write_batches<'a>(
    users: &'a dyn UserStore,
    batches: impl Stream<Item = Result<read::Batch, ImportError>> + 'a,
) -> impl Stream<Item = Result<(ImportReport, u64), ImportError>> + 'a {
    let mut previous: HashSet<String> = HashSet::new();
    batches
        .map(move |batch| {
            let separated = batch.map(|batch| {
                let (rows, repeated): (Vec<Located>, Vec<Located>) = batch
                    .rows
                    .into_iter()
                    .partition(|(_, user)| !previous.contains(user.profile.email.normalized()));
                previous = rows
                    .iter()
                    .map(|(_, user)| user.profile.email.normalized().to_owned())
                    .collect();
                (rows, repeated.len() as u64, batch.invalid, batch.bytes_read)
            });
            async move {
                let (rows, repeated, invalid, bytes_read) = separated?;
                let mut partial = ImportReport {
                    skipped: repeated,
                    ..ImportReport::default()
                };
                for row in invalid {
                    partial.note_invalid(row);
                }
                store(users, rows, &mut partial).await?;
                Ok((partial, bytes_read))
            }
        })
        .buffered(WRITERS)
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
                report.note_invalid(InvalidRow {
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
