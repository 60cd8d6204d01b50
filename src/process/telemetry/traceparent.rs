//! The W3C Trace Context `traceparent` header, read (level 1).

use opentelemetry::trace::{SpanId, TraceId};

/// What a valid `traceparent` names: the caller's trace and span, and
/// whether the caller records it (the sampled flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

/// Lower-case hex only, as W3C Trace Context requires.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |value, digit| {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u128::from(nibble))
    })
}

/// A `traceparent` header (W3C Trace Context, level 1): `None` when it is
/// malformed (wrong lengths, upper case, version `ff`, extra fields on
/// version `00`, all-zero ids), which then starts a new trace.
pub fn parse_traceparent(value: &[u8]) -> Option<Parent> {
    let value = value.trim_ascii();
    let field = |at: usize, len: usize| value.get(at..at + len);
    let dash = |at: usize| value.get(at) == Some(&b'-');
    let version = hex(field(0, 2)?)?;
    let ends = match version {
        0xff => false,
        0 => value.len() == 55,
        _ => value.len() == 55 || dash(55),
    };
    if !(ends && dash(2) && dash(35) && dash(52)) {
        return None;
    }
    let trace_id = hex(field(3, 32)?)?;
    let span_id = u64::try_from(hex(field(36, 16)?)?).ok()?;
    let flags = hex(field(53, 2)?)?;
    (trace_id != 0 && span_id != 0).then(|| Parent {
        trace_id: TraceId::from(trace_id),
        span_id: SpanId::from(span_id),
        sampled: flags & 1 == 1,
    })
}

#[cfg(test)]
#[path = "traceparent_tests.rs"]
mod tests;
