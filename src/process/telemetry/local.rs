//! A request's trace when spans are not exported: the caller's trace (from
//! its `traceparent`) or a new one, and a span id of this request, kept in a
//! task-local for as long as the request runs. Log lines and Kratos calls
//! made inside the request read it; no OpenTelemetry pipeline is involved.

use std::future::Future;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use poem::http::{HeaderMap, HeaderValue};

use super::traceparent;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The trace a request belongs to and its own span in it.
#[derive(Debug, Clone)]
pub struct RequestTrace {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    /// The caller's `tracestate`, passed on untouched.
    state: Option<HeaderValue>,
}

tokio::task_local! {
    static CURRENT: RequestTrace;
}

impl RequestTrace {
    /// Continues the trace of a valid `traceparent` in `headers` (keeping its
    /// sampled flag and `tracestate`), or starts a new, unsampled one; either
    /// way with a new span id for this request.
    pub fn continuing(headers: &HeaderMap) -> Self {
        let ids = RandomIdGenerator::default();
        let span_id = new_id(|| ids.new_span_id(), SpanId::INVALID);
        let parent = headers
            .get(TRACEPARENT)
            .and_then(|value| traceparent::parse_traceparent(value.as_bytes()));
        match parent {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                span_id,
                sampled: parent.sampled,
                state: headers.get(TRACESTATE).cloned(),
            },
            None => Self {
                trace_id: new_id(|| ids.new_trace_id(), TraceId::INVALID),
                span_id,
                sampled: false,
                state: None,
            },
        }
    }

    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The `traceparent` of a call made on this request's behalf: this
    /// request's span as the parent.
    pub fn traceparent(&self) -> Option<HeaderValue> {
        let flags = u8::from(self.sampled);
        let text = format!("00-{}-{}-{flags:02x}", self.trace_id, self.span_id);
        HeaderValue::try_from(text).ok()
    }

    /// Runs `work` (the request) with this trace as the current one.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }
}

/// A random id that is not the all-zero (invalid) one.
fn new_id<T: PartialEq>(next: impl Fn() -> T, invalid: T) -> T {
    loop {
        let id = next();
        if id != invalid {
            return id;
        }
    }
}

/// The current request's trace and span ids, inside a request's scope.
pub fn current_ids() -> Option<(TraceId, SpanId)> {
    CURRENT
        .try_with(|trace| (trace.trace_id, trace.span_id))
        .ok()
}

/// Adds the current request's `traceparent` (and the caller's `tracestate`)
/// to `headers`; `false` outside a request's scope.
pub fn inject(headers: &mut HeaderMap) -> bool {
    CURRENT
        .try_with(|trace| {
            if let Some(traceparent) = trace.traceparent() {
                headers.insert(TRACEPARENT, traceparent);
            }
            if let Some(state) = &trace.state {
                headers.insert(TRACESTATE, state.clone());
            }
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    poem::http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[tokio::test]
    async fn calls_inside_a_request_carry_its_trace_with_its_own_span() {
        let incoming = headers(&[(TRACEPARENT, CALLER), (TRACESTATE, "a=1")]);
        let trace = RequestTrace::continuing(&incoming);
        let span = trace.span_id().to_string();
        assert_ne!(span, "00f067aa0ba902b7");
        let outgoing = trace
            .scope(async {
                let mut outgoing = HeaderMap::new();
                assert!(inject(&mut outgoing));
                let ids = current_ids().map(|(t, s)| (t.to_string(), s.to_string()));
                assert_eq!(
                    ids,
                    Some(("4bf92f3577b34da6a3ce929d0e0e4736".to_owned(), span.clone()))
                );
                outgoing
            })
            .await;
        assert_eq!(
            outgoing.get(TRACEPARENT).and_then(|v| v.to_str().ok()),
            Some(format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span}-01").as_str())
        );
        assert_eq!(
            outgoing.get(TRACESTATE),
            Some(&HeaderValue::from_static("a=1"))
        );
    }

    #[test]
    fn outside_a_request_nothing_is_added() {
        let mut outgoing = HeaderMap::new();
        assert!(!inject(&mut outgoing));
        assert!(outgoing.is_empty());
        assert_eq!(current_ids(), None);
    }

    #[test]
    fn a_missing_or_malformed_traceparent_starts_an_unsampled_trace_without_state() {
        let malformed = headers(&[(TRACEPARENT, "00-xyz-01"), (TRACESTATE, "a=1")]);
        for incoming in [HeaderMap::new(), malformed] {
            let trace = RequestTrace::continuing(&incoming);
            let traceparent = trace.traceparent().expect("a header value");
            let parent = traceparent::parse_traceparent(traceparent.as_bytes()).expect("valid");
            assert_eq!(parent.trace_id, trace.trace_id());
            assert!(!parent.sampled);
            assert!(trace.state.is_none());
        }
        let one = RequestTrace::continuing(&HeaderMap::new()).trace_id();
        let other = RequestTrace::continuing(&HeaderMap::new()).trace_id();
        assert_ne!(one, other);
    }
}
