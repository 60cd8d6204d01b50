//! Trace context in and out: the current W3C ids for log lines and outgoing
//! requests (from the exported span, or from the request's
//! [`local`](super::local) trace when nothing is exported), and an incoming
//! request's trace context.

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use poem::http::HeaderMap;

use super::local;

/// The trace and span ids log lines and outgoing calls carry: the request's
/// own when nothing is exported, else the current exported span's.
fn current() -> Option<(TraceId, SpanId)> {
    if let Some(ids) = local::current_ids() {
        return Some(ids);
    }
    if !super::tracing_enabled() {
        return None;
    }
    let context = tracing::Span::current().context();
    let span = context.span();
    let span = span.span_context();
    span.is_valid().then(|| (span.trace_id(), span.span_id()))
}

/// The trace context of an incoming request's `traceparent`/`tracestate`
/// (an empty context when there is none or it is malformed).
pub fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Adds the request's `traceparent` (and the caller's `tracestate`) to
/// `headers`, for a call made on the request's behalf (Kratos): the local
/// trace when nothing is exported, else the current exported span's.
pub fn inject(headers: &mut HeaderMap) {
    if !local::inject(headers) && super::tracing_enabled() {
        inject_current(headers);
    }
}

/// Adds the current exported span's `traceparent` (and `tracestate`) to `headers`.
fn inject_current(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// A JSON event format that puts `trace_id` and `span_id` first on lines
/// written inside a traced span, and leaves every other line as it was.
pub struct WithTraceIds<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some((trace_id, span_id)) = current() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                trace_id, span_id
            ),
            None => writer.write_str(&line),
        }
    }
}
