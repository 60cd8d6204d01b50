//! Logging: pretty on a terminal, JSON otherwise. The filter depends on the
//! kind of command and on `-q`/`-v`; `RUST_LOG` overrides it. Logs go to
//! stderr so that commands printing data (export, openapi) keep stdout clean;
//! on a terminal they are written around the progress bars ([`crate::process::terminal`]).
//! JSON lines written inside a request carry its `trace_id` and `span_id`.
//! With an OTLP endpoint set (`OTEL_EXPORTER_OTLP_ENDPOINT`), spans are
//! exported and those ids are the spans'; without one, no OpenTelemetry
//! pipeline runs and a request's ids live in [`local`].

pub mod ids;
pub mod local;
pub mod otel;
pub mod traceparent;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::process::config::LogFormat;

/// What a command's logs are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `serve`: a service's logs, INFO from every crate.
    Service,
    /// Migrate, backfill, reconcile, import, export, health…: the command's
    /// own progress, warnings and errors; its libraries only at WARN.
    OneShot,
}

/// How much a command says, from `-q` and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// `-q`: errors only.
    Quiet,
    #[default]
    Normal,
    /// `-v` (1): the command's own DEBUG; `-vv` (2): every crate's DEBUG; more: TRACE.
    Verbose(u8),
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: u8) -> Self {
        match (quiet, verbose) {
            (true, _) => Self::Quiet,
            (false, 0) => Self::Normal,
            (false, n) => Self::Verbose(n),
        }
    }
}

/// The crates of identity-link itself.
const OWN: [&str; 3] = [
    "identity_link",
    "identity_link_adapters",
    "identity_link_ports",
];

fn own_at(level: &str) -> String {
    OWN.map(|name| format!("{name}={level}")).join(",")
}

/// The filter used when `RUST_LOG` is not set.
pub fn default_filter(kind: CommandKind, verbosity: Verbosity) -> String {
    match (kind, verbosity) {
        (_, Verbosity::Quiet) => "error".to_owned(),
        (CommandKind::Service, Verbosity::Normal) => "info".to_owned(),
        (CommandKind::OneShot, Verbosity::Normal) => format!("warn,{}", own_at("info")),
        (CommandKind::Service, Verbosity::Verbose(1)) => format!("info,{}", own_at("debug")),
        (CommandKind::OneShot, Verbosity::Verbose(1)) => format!("warn,{}", own_at("debug")),
        (_, Verbosity::Verbose(2)) => "debug".to_owned(),
        (_, Verbosity::Verbose(_)) => "trace".to_owned(),
    }
}

/// Whether colours may be written: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn colours(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (and so worth creating per request); without
/// it, a request's trace is the [`local`] one.
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// What [`init`] set up; [`Telemetry::shutdown`] exports the pending spans.
#[must_use = "shut it down when the command ends, or pending spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports pending spans and stops the exporter. Call outside the async
    /// runtime (the exporter blocks).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: pending spans were not all exported: {error}");
            }
        }
    }
}

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs a service's subscriber (as `serve` has it) once.
pub fn init(format: Option<LogFormat>) -> Telemetry {
    init_for(format, CommandKind::Service, Verbosity::Normal)
}

/// Installs the global subscriber once for a command; later calls do
/// nothing. Call before the async runtime starts.
pub fn init_for(format: Option<LogFormat>, kind: CommandKind, verbosity: Verbosity) -> Telemetry {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives)
            .unwrap_or_else(|_| EnvFilter::new(default_filter(kind, verbosity))),
        _ => EnvFilter::new(default_filter(kind, verbosity)),
    };
    let terminal = std::io::stderr().is_terminal();
    let format = format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let env = |name: &str| std::env::var(name).ok();
    let provider = if otel::export_configured(env) {
        otel::provider(env)
            .inspect_err(|error| {
                eprintln!("warning: spans will not be exported: {error:#}");
            })
            .ok()
    } else {
        None
    };
    let traced = provider.is_some();
    let builder = fmt::layer().with_writer(crate::process::terminal::LogWriter::make);
    let json = fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false);
    let output: Boxed = match format {
        LogFormat::Pretty => builder.compact().with_ansi(colours(terminal)).boxed(),
        LogFormat::Json => builder.json().event_format(ids::WithTraceIds(json)).boxed(),
    };
    let mut layers = vec![output];
    if let Some(provider) = &provider {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let tracer = provider.tracer("identity-link");
        layers.push(tracing_opentelemetry::layer().with_tracer(tracer).boxed());
    }
    // Not exporting: every span is disabled where it is declared, so the
    // instrumented code pays one cached check and nothing else.
    let no_spans = (!traced).then(|| filter_fn(|metadata| !metadata.is_span()));
    if tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .with(no_spans)
        .try_init()
        .is_ok()
    {
        TRACING.store(traced, Ordering::Relaxed);
    }
    Telemetry { provider }
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
    use super::*;

    #[test]
    fn one_shot_commands_keep_their_libraries_at_warn() {
        let filter = default_filter(CommandKind::OneShot, Verbosity::Normal);
        assert!(filter.starts_with("warn,"), "{filter}");
        assert!(filter.contains("identity_link=info"), "{filter}");
        assert_eq!(
            default_filter(CommandKind::Service, Verbosity::Normal),
            "info"
        );
    }

    #[test]
    fn quiet_leaves_errors_and_each_v_says_more() {
        for kind in [CommandKind::Service, CommandKind::OneShot] {
            assert_eq!(default_filter(kind, Verbosity::Quiet), "error");
            assert_eq!(default_filter(kind, Verbosity::Verbose(2)), "debug");
            assert_eq!(default_filter(kind, Verbosity::Verbose(5)), "trace");
            let one = default_filter(kind, Verbosity::Verbose(1));
            assert!(one.contains("identity_link=debug"), "{one}");
            assert!(!one.starts_with("debug"), "{one}");
            assert!(EnvFilter::try_new(&one).is_ok());
        }
        assert_eq!(Verbosity::from_flags(true, 2), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, 0), Verbosity::Normal);
    }

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
