//! The progress of `users import`: a bar over the file's bytes on a terminal,
//! drawn with the command's other bars, nothing otherwise (the summary follows at the end either way).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::usecases::import::{ImportProgress, ImportReport};

pub struct ImportBar {
    bar: ProgressBar,
}

impl ImportBar {
    /// A bar among the command's bars ([`crate::process::terminal`]): drawn on a
    /// terminal, hidden otherwise and with `--quiet`.
    pub fn new() -> Self {
        let bar = crate::process::terminal::show(ProgressBar::no_length());
        let style = ProgressStyle::with_template(
            "{spinner} importing [{bar:30}] {bytes}/{total_bytes} ({eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ImportProgress for ImportBar {
    fn started(&self, file_bytes: u64) {
        self.bar.set_length(file_bytes);
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    fn advanced(&self, bytes_read: u64, report: &ImportReport) {
        self.bar.set_position(bytes_read);
        self.bar.set_message(format!(
            "added {}, skipped {}, invalid {}",
            report.added,
            report.skipped,
            report.invalid_count()
        ));
    }
}
