//! Reading an import file incrementally: CSV record by record, a JSON array
//! element by element. Rows are handed over in batches through a bounded
//! channel, so the memory held is a few batches whatever the file's size.
//!
//! What makes the whole file unusable (unreadable, wrong CSV header, JSON that
//! is not one well-formed array) is found by [`open`], before anything is
//! written: a JSON file is parsed once without keeping anything to check it.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::{Deserializer as _, IgnoredAny, SeqAccess, Visitor};
use tokio::sync::mpsc;

use super::{to_new_user, ImportError, InvalidRow, Located, Row};

/// Batches read ahead of the writer.
const READ_AHEAD: usize = 2;
/// The CSV header, without and with the optional last column.
const HEADER: [&str; 4] = ["email", "first_name", "last_name", "avatar_url"];

/// Rows read from the file, in file order: those to write and those that
/// could not be read, with how far into the file the reader is.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Located>,
    pub invalid: Vec<InvalidRow>,
    /// Bytes of the file read so far.
    pub bytes_read: u64,
}

/// A file checked to be readable as an import, with its size.
pub struct Source {
    path: PathBuf,
    format: Format,
    pub size: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

fn bad_file(path: &Path, what: impl fmt::Display) -> ImportError {
    ImportError::BadFile(format!("{}: {what}", path.display()))
}

fn open_file(path: &Path) -> Result<File, ImportError> {
    File::open(path)
        .map_err(|error| ImportError::BadFile(format!("cannot read {}: {error}", path.display())))
}

/// Checks that `path` can be imported: CSV with the expected header, or one
/// well-formed JSON array (a file whose first non-blank character is `[`).
///
/// # Errors
/// `BadFile` saying what is wrong; nothing has been written.
pub fn open(path: &Path) -> Result<Source, ImportError> {
    let file = open_file(path)?;
    let size = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let mut first = None;
    for byte in BufReader::new(file).bytes() {
        let byte = byte.map_err(|error| bad_file(path, error))?;
        if !byte.is_ascii_whitespace() {
            first = Some(byte);
            break;
        }
    }
    let format = if first == Some(b'[') {
        let mut json = serde_json::Deserializer::from_reader(BufReader::new(open_file(path)?));
        <IgnoredAny as serde::Deserialize>::deserialize(&mut json)
            .and_then(|_| json.end())
            .map_err(|error| bad_file(path, format!("not a JSON array: {error}")))?;
        Format::Json
    } else {
        let mut reader = csv_reader(open_file(path)?);
        let headers = reader.headers().map_err(|error| bad_file(path, error))?;
        check_header(headers).map_err(|found| {
            bad_file(
                path,
                format!(
                    "the header must be `email,first_name,last_name[,avatar_url]`, found `{found}`"
                ),
            )
        })?;
        Format::Csv
    };
    Ok(Source {
        path: path.to_owned(),
        format,
        size,
    })
}

fn csv_reader<R: Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input)
}

fn check_header(headers: &csv::StringRecord) -> Result<(), String> {
    let names: Vec<&str> = headers.iter().collect();
    if (3..=4).contains(&names.len()) && names[..] == HEADER[..names.len()] {
        Ok(())
    } else {
        Err(names.join(","))
    }
}

/// Reads `source` on a blocking thread, `batch_size` rows at a time; the
/// receiver gets the batches in file order, then an error if reading failed
/// midway. Dropping the receiver stops the reader at its next batch.
pub fn spawn(source: Source, batch_size: usize) -> mpsc::Receiver<Result<Batch, ImportError>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut sink = Sink {
            batch: Batch::default(),
            batch_size,
            tx,
            read: Arc::new(AtomicU64::new(0)),
        };
        let outcome = match source.format {
            Format::Csv => read_csv(&source.path, &mut sink),
            Format::Json => read_json(&source.path, &mut sink),
        };
        match outcome {
            Ok(()) => {
                sink.flush();
            }
            Err(Stop::Failed(error)) => {
                sink.flush();
                let _ = sink.tx.blocking_send(Err(error));
            }
            Err(Stop::ReceiverGone) => {}
        }
    });
    rx
}

enum Stop {
    /// The writer stopped listening (it failed): nothing more to do.
    ReceiverGone,
    Failed(ImportError),
}

/// Collects rows into batches and hands full ones over.
struct Sink {
    batch: Batch,
    batch_size: usize,
    tx: mpsc::Sender<Result<Batch, ImportError>>,
    read: Arc<AtomicU64>,
}

impl Sink {
    fn accept(&mut self, location: String, row: Result<Row, String>) -> Result<(), Stop> {
        match row.and_then(to_new_user) {
            Ok(user) => self.batch.rows.push((location, user)),
            Err(reason) => self.batch.invalid.push(InvalidRow { location, reason }),
        }
        let full = self.batch.rows.len() + self.batch.invalid.len() >= self.batch_size;
        if full && !self.flush() {
            return Err(Stop::ReceiverGone);
        }
        Ok(())
    }

    /// Sends what was collected; false when the receiver is gone.
    fn flush(&mut self) -> bool {
        let mut batch = std::mem::take(&mut self.batch);
        if batch.rows.is_empty() && batch.invalid.is_empty() {
            return true;
        }
        batch.bytes_read = self.read.load(Ordering::Relaxed);
        self.tx.blocking_send(Ok(batch)).is_ok()
    }
}

/// A reader that counts the bytes read through it, for progress.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn read_failed(path: &Path, error: impl fmt::Display) -> Stop {
    Stop::Failed(ImportError::Read(format!(
        "{}: reading stopped: {error}",
        path.display()
    )))
}

fn read_csv(path: &Path, sink: &mut Sink) -> Result<(), Stop> {
    let file = open_file(path).map_err(Stop::Failed)?;
    let mut reader = csv_reader(Counting {
        inner: file,
        read: Arc::clone(&sink.read),
    });
    let headers = reader
        .headers()
        .map_err(|error| read_failed(path, error))?
        .clone();
    check_header(&headers).map_err(|found| read_failed(path, format!("header now `{found}`")))?;
    let mut record = csv::StringRecord::new();
    loop {
        let (location, row) = match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let location = format!("line {}", record.position().map_or(0, |p| p.line()));
                let row = if record.len() == headers.len() {
                    record
                        .deserialize::<Row>(Some(&headers))
                        .map_err(|error| error.to_string())
                } else {
                    Err(format!(
                        "expected {} fields, found {}",
                        headers.len(),
                        record.len()
                    ))
                };
                (location, row)
            }
            Err(error) if error.is_io_error() => return Err(read_failed(path, error)),
            Err(error) => (
                format!("line {}", error.position().map_or(0, |p| p.line())),
                Err(error.to_string()),
            ),
        };
        sink.accept(location, row)?;
    }
}

fn read_json(path: &Path, sink: &mut Sink) -> Result<(), Stop> {
    let file = open_file(path).map_err(Stop::Failed)?;
    let input = BufReader::new(Counting {
        inner: file,
        read: Arc::clone(&sink.read),
    });
    let mut json = serde_json::Deserializer::from_reader(input);
    let mut entries = Entries {
        sink,
        stopped: None,
    };
    let parsed = (&mut json).deserialize_seq(&mut entries);
    match (entries.stopped.take(), parsed) {
        (Some(stop), _) => Err(stop),
        (None, Err(error)) => Err(read_failed(path, error)),
        (None, Ok(())) => Ok(()),
    }
}

/// Visits the array's elements one at a time; each is read as any JSON value
/// first, so that an entry of the wrong shape is one invalid row.
struct Entries<'a> {
    sink: &'a mut Sink,
    stopped: Option<Stop>,
}

impl<'de> Visitor<'de> for &mut Entries<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of users")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(entry) = seq.next_element::<serde_json::Value>()? {
            let row = serde_json::from_value::<Row>(entry).map_err(|error| error.to_string());
            if let Err(stop) = self.sink.accept(format!("entry {index}"), row) {
                self.stopped = Some(stop);
                return Err(serde::de::Error::custom("the import stopped"));
            }
            index += 1;
        }
        Ok(())
    }
}
