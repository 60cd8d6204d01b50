//! Logging: pretty on a terminal, JSON otherwise, filtered by `RUST_LOG`.
//! Logs go to stderr so that commands printing data (export, openapi) keep
//! stdout clean.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: Option<LogFormat>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// An unexpected error as one short log field: its chain of causes on one
/// line, without a backtrace (even with `RUST_BACKTRACE` set) and without the
/// line breaks some causes carry (Postgres's DETAIL and HINT).
pub fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn an_error_chain_is_one_line_without_a_backtrace() {
        let error = anyhow::anyhow!("ERROR: duplicate key\nDETAIL: Key (id)=(1) exists.")
            .context("database query failed");
        let line = one_line(&error);
        assert_eq!(
            line,
            "database query failed: ERROR: duplicate key DETAIL: Key (id)=(1) exists."
        );
    }
}
