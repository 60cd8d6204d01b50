//! Traces (CONTRACT §7.4) without an exporter: the caller's trace (or a new
//! one) still reaches Kratos and the request's JSON log lines; nothing is
//! exported.

use serde_json::json;
use uuid::Uuid;
use wiremock::MockServer;

use super::traces::{flaky_kratos, kratos_traceparents, receiver, serving, TRACEPARENT, TRACE_ID};
use crate::helpers::binary::{self, serve, Serving};
use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::TestDb;

const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TRACESTATE: &str = "vendor=opaque,other=1";

/// A `traceparent` taken apart: trace id, span id, flags; `None` unless it is
/// a well-formed version-00 header with non-zero ids.
fn parsed(traceparent: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let [version, trace, span, flags] = parts.as_slice() else {
        return None;
    };
    let valid = *version == "00"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    valid.then(|| ((*trace).to_owned(), (*span).to_owned(), (*flags).to_owned()))
}

/// Resolves `id` with `headers`; the response must be a 200.
async fn resolve(serving: &Serving, id: Uuid, headers: &[(&str, &str)]) -> serde_json::Value {
    let mut request = reqwest::Client::new()
        .post(serving.url("/rest/internal/identity/resolve"))
        .json(&json!({"kratosIdentityId": id}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON body")
}

/// The `traceparent` and `tracestate` of each request Kratos received.
async fn sent_to(kratos: &MockServer) -> Vec<(String, Option<String>)> {
    let requests = kratos.received_requests().await.expect("recorded requests");
    let traceparents = kratos_traceparents(&requests);
    assert_eq!(
        traceparents.len(),
        requests.len(),
        "every Kratos request carries a traceparent: {traceparents:?}"
    );
    requests
        .iter()
        .zip(traceparents)
        .map(|(request, traceparent)| {
            let state = request
                .headers
                .get("tracestate")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            (traceparent, state)
        })
        .collect()
}

/// The JSON log line announcing the Kratos retry.
fn retry_line(log: &str) -> serde_json::Value {
    let line = log
        .lines()
        .find(|line| line.contains("Kratos call failed; retrying"))
        .unwrap_or_else(|| panic!("the retry is logged: {log}"));
    serde_json::from_str(line).expect("a JSON line")
}

#[tokio::test]
async fn without_an_exporter_a_callers_traceparent_continues_to_kratos_and_the_log() {
    let db = TestDb::migrated().await;
    let id = Uuid::new_v4();
    let kratos = flaky_kratos(id).await;
    let serving = serving(&db, &kratos, None).await;

    let headers = [("traceparent", TRACEPARENT), ("tracestate", TRACESTATE)];
    let body = resolve(&serving, id, &headers).await;
    assert_eq!(body["created"], true);
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");

    let sent = sent_to(&kratos).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let mut spans = Vec::new();
    for (traceparent, state) in &sent {
        let (trace, span, flags) =
            parsed(traceparent).unwrap_or_else(|| panic!("a valid traceparent: {traceparent}"));
        assert_eq!(trace, TRACE_ID, "{traceparent}");
        assert_ne!(span, CALLER_SPAN, "this service's own span: {traceparent}");
        assert_eq!(flags, "01", "the caller's sampled flag: {traceparent}");
        assert_eq!(state.as_deref(), Some(TRACESTATE));
        spans.push(span);
    }
    assert_eq!(spans[0], spans[1], "one span for the request: {sent:?}");

    let line = retry_line(&log);
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["span_id"], spans[0].as_str(), "{line}");
}

#[tokio::test]
async fn without_a_traceparent_kratos_gets_a_new_trace_that_the_log_carries() {
    let db = TestDb::migrated().await;
    let id = Uuid::new_v4();
    let kratos = flaky_kratos(id).await;
    let other = Uuid::new_v4();
    serve_identity(&kratos, &identity(other, "other@example.com", true), 1).await;
    let serving = serving(&db, &kratos, None).await;

    assert_eq!(resolve(&serving, id, &[]).await["created"], true);
    assert_eq!(resolve(&serving, other, &[]).await["created"], true);
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");

    let sent = sent_to(&kratos).await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    let traces: Vec<(String, String, String)> = sent
        .iter()
        .map(|(traceparent, state)| {
            assert_eq!(state, &None, "no tracestate was given");
            parsed(traceparent).unwrap_or_else(|| panic!("a valid traceparent: {traceparent}"))
        })
        .collect();
    let (first, _, flags) = &traces[0];
    assert_eq!(flags, "00", "nothing is recorded here: {sent:?}");
    assert_eq!(&traces[1].0, first, "both attempts in one trace: {sent:?}");
    assert_ne!(&traces[2].0, first, "each request its own trace: {sent:?}");

    let line = retry_line(&log);
    assert_eq!(line["trace_id"], first.as_str(), "{line}");
    assert_eq!(line["span_id"], traces[0].1.as_str(), "{line}");
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace_without_an_error() {
    let malformed = [
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ];
    let db = TestDb::migrated().await;
    let kratos = MockServer::start().await;
    let ids: Vec<Uuid> = malformed.iter().map(|_| Uuid::new_v4()).collect();
    for (n, id) in ids.iter().enumerate() {
        let email = format!("malformed{n}@example.com");
        serve_identity(&kratos, &identity(*id, &email, true), 1).await;
    }
    let serving = serving(&db, &kratos, None).await;

    for (traceparent, id) in malformed.iter().zip(&ids) {
        let headers = [("traceparent", *traceparent), ("tracestate", TRACESTATE)];
        assert_eq!(resolve(&serving, *id, &headers).await["created"], true);
    }
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");

    let sent = sent_to(&kratos).await;
    assert_eq!(sent.len(), malformed.len(), "{sent:?}");
    for (traceparent, state) in &sent {
        let (trace, span, flags) =
            parsed(traceparent).unwrap_or_else(|| panic!("a valid traceparent: {traceparent}"));
        assert_ne!(trace, TRACE_ID, "a new trace: {traceparent}");
        assert_ne!(span, CALLER_SPAN, "{traceparent}");
        assert_eq!(flags, "00", "{traceparent}");
        assert_eq!(state, &None, "a broken trace's state is dropped");
    }
}

#[tokio::test]
async fn with_the_sdk_disabled_nothing_is_exported_and_the_trace_still_reaches_kratos() {
    let (endpoint, received) = receiver().await;
    let db = TestDb::migrated().await;
    let id = Uuid::new_v4();
    let kratos = flaky_kratos(id).await;
    let mut command = binary::command(&["serve"]);
    command
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("KRATOS_ADMIN_URL", kratos.uri())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SDK_DISABLED", "true");
    let serving = serve(command).await;

    let body = resolve(&serving, id, &[("traceparent", TRACEPARENT)]).await;
    assert_eq!(body["created"], true);
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");

    let sent = sent_to(&kratos).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(traceparent, _)| traceparent.starts_with(&format!("00-{TRACE_ID}-"))),
        "{sent:?}"
    );
    // The service has exited: a span it exported would have been recorded,
    // since the receiver records before it answers and an export waits for
    // its answer (the exporter's test reads them at this point too).
    let exported = received.lock().unwrap_or_else(|p| p.into_inner()).len();
    assert_eq!(exported, 0, "no span is exported");
}
