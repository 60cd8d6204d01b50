//! Logging: pretty on a terminal, JSON otherwise, filtered by `RUST_LOG`.
//! Logs go to stderr so that commands printing data (export, openapi) keep
//! stdout clean. With an OTLP endpoint set (`OTEL_EXPORTER_OTLP_ENDPOINT`),
//! spans are also exported and JSON lines carry their trace ids; without
//! one, no OpenTelemetry code runs at all.

pub mod ids;
pub mod otel;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (and so worth creating per request and
/// propagating to Kratos).
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

/// Installs the global subscriber once; later calls do nothing. Call
/// before the async runtime starts.
pub fn init(format: Option<LogFormat>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
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
    let builder = fmt::layer().with_writer(std::io::stderr);
    let json = fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false);
    let output: Boxed = match (format, traced) {
        (LogFormat::Pretty, _) => builder.compact().boxed(),
        (LogFormat::Json, false) => builder.json().event_format(json).boxed(),
        (LogFormat::Json, true) => builder.json().event_format(ids::WithTraceIds(json)).boxed(),
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
