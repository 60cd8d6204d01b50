//! The terminal that progress bars and log lines share. Every bar of a
//! command is drawn through one [`MultiProgress`]; log lines are written with
//! the bars cleared for the moment, then the bars come back, so neither tears
//! the other. Bars are drawn only on a terminal and never with `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a spinner redraws by itself.
const TICK: Duration = Duration::from_millis(120);

static BARS: OnceLock<MultiProgress> = OnceLock::new();
static SHOWN: AtomicBool = AtomicBool::new(false);

/// Says whether this process draws progress (`--quiet` does not); bars are
/// drawn only when stderr is also a terminal.
pub fn init(progress: bool) {
    SHOWN.store(
        progress && std::io::stderr().is_terminal(),
        Ordering::Relaxed,
    );
}

/// Whether bars are drawn.
pub fn shows_progress() -> bool {
    SHOWN.load(Ordering::Relaxed)
}

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// `bar` drawn among the command's bars, or hidden when progress is not shown.
pub fn show(bar: ProgressBar) -> ProgressBar {
    if shows_progress() {
        bars().add(bar)
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        bar
    }
}

/// A ticking spinner saying `message` (hidden when progress is not shown).
pub fn spinner(message: &str) -> ProgressBar {
    let spinner = show(ProgressBar::new_spinner());
    spinner.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(message.to_owned());
    spinner.enable_steady_tick(TICK);
    spinner
}

/// Writes log lines to stderr with the bars out of the way.
pub struct LogWriter;

impl LogWriter {
    /// For `tracing_subscriber::fmt().with_writer(LogWriter::make)`.
    pub fn make() -> Self {
        Self
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_hidden_when_progress_is_not_shown() {
        init(false);
        assert!(!shows_progress());
        let spinner = spinner("working");
        assert!(spinner.is_hidden());
        spinner.finish_and_clear();
    }
}
