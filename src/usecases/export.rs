//! `identity-link export`: users with their link, streamed page by page.

use std::io::Write;

use clap::ValueEnum;
use identity_link_ports::{User, UserFilter, UserStore};
use serde::Serialize;

const PAGE: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Serialize)]
struct ExportRow<'a> {
    user_id: String,
    email: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    auth_id: Option<String>,
    created_at: String,
    linked_at: Option<String>,
}

impl<'a> From<&'a User> for ExportRow<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            user_id: user.id.to_string(),
            email: user.email.as_str(),
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            auth_id: user.auth_id.map(|id| id.to_string()),
            created_at: user.created_at.to_rfc3339(),
            linked_at: user.linked_at.map(|at| at.to_rfc3339()),
        }
    }
}

fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out)
}

const HEADER: [&str; 7] = [
    "user_id",
    "email",
    "first_name",
    "last_name",
    "auth_id",
    "created_at",
    "linked_at",
];

/// Writes every user matching `filter` to `out`; returns how many.
/// `written` hears the running count after each page.
///
/// # Errors
/// When the store fails or `out` cannot be written.
pub async fn export(
    users: &dyn UserStore,
    filter: &UserFilter,
    format: ExportFormat,
    out: &mut dyn Write,
    written_so_far: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<u64> {
    match format {
        ExportFormat::Csv => {
            let mut csv = csv_writer(&mut *out);
            csv.write_record(HEADER)?;
            csv.flush()?;
        }
        ExportFormat::Json => out.write_all(b"[")?,
    }
    let mut written = 0u64;
    let mut after = None;
    loop {
        let page = users.list(filter, after, PAGE).await?;
        match format {
            ExportFormat::Csv => {
                let mut csv = csv_writer(&mut *out);
                for user in &page.users {
                    csv.serialize(ExportRow::from(user))?;
                }
                csv.flush()?;
            }
            ExportFormat::Json => {
                for (n, user) in page.users.iter().enumerate() {
                    let first = written == 0 && n == 0;
                    out.write_all(if first { b"\n  " } else { b",\n  " })?;
                    serde_json::to_writer(&mut *out, &ExportRow::from(user))?;
                }
            }
        }
        written += page.users.len() as u64;
        written_so_far(written);
        after = page.users.last().map(|user| user.id);
        if !page.has_more {
            break;
        }
    }
    if format == ExportFormat::Json {
        out.write_all(b"\n]\n")?;
    }
    out.flush()?;
    Ok(written)
}
