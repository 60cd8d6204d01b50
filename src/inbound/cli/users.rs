//! `identity-link users import FILE` and `identity-link export`: the user base in
//! and out, with a progress bar on a terminal and a summary at the end.

use std::io::Write;

use identity_link_ports::UserFilter;

use crate::process::config::Settings;
use crate::process::{terminal, wiring};
use crate::usecases::export::ExportFormat;
use crate::usecases::import::{import_file_with, ImportError};

use super::{import_bar, Failure};

pub async fn import(settings: &Settings, file: &std::path::Path) -> Result<(), Failure> {
    let users = wiring::user_store(settings).await?;
    let bar = import_bar::ImportBar::new();
    let imported = import_file_with(users.as_ref(), file, &bar).await;
    bar.finish();
    let report = match imported {
        Ok(report) => report,
        Err(ImportError::BadFile(reason)) => return Err(Failure::Usage(anyhow::anyhow!(reason))),
        Err(ImportError::Read(reason)) => return Err(Failure::Runtime(anyhow::anyhow!(reason))),
        Err(ImportError::Store(error)) => return Err(Failure::Runtime(error.into())),
    };
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").map_err(|error| Failure::Runtime(error.into()))
    };
    write(&mut out, format!("added:   {}", report.added))?;
    write(
        &mut out,
        format!("skipped: {} (email already present)", report.skipped),
    )?;
    write(&mut out, format!("invalid: {}", report.invalid_count()))?;
    for row in &report.invalid {
        write(&mut out, format!("  {}: {}", row.location, row.reason))?;
    }
    if report.invalid_unlisted > 0 {
        write(
            &mut out,
            format!("  … and {} more invalid rows", report.invalid_unlisted),
        )?;
    }
    Ok(())
}

/// Writes every user matching `linked` (`None`: all) to stdout in `format`.
pub async fn export(
    settings: &Settings,
    format: ExportFormat,
    linked: Option<bool>,
) -> Result<(), Failure> {
    let filter = UserFilter {
        linked,
        search: None,
    };
    let users = wiring::user_store(settings).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let spinner = terminal::spinner("exporting users");
    let count =
        crate::usecases::export::export(users.as_ref(), &filter, format, &mut out, &|written| {
            spinner.set_message(format!("exporting users: {written}"));
        })
        .await;
    spinner.finish_and_clear();
    tracing::info!(users = count?, "export finished");
    Ok(())
}
