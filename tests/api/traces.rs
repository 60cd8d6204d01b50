//! Traces (CONTRACT §7.4) with an exporter: a caller's `traceparent`
//! continues through the service to Kratos, spans reach an OTLP/HTTP
//! receiver, JSON log lines of the request carry the trace id. Without an
//! exporter: `traces_local`.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, post, EndpointExt, Response, Route, Server};
use prost::Message;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::binary::{self, serve, Serving};
use crate::helpers::kratos::{error, identity, serve_identity};
use crate::helpers::TestDb;

pub(super) const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(super) const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// One exported span, as the receiver decoded it.
#[derive(Debug, Clone)]
pub(super) struct Exported {
    trace_id: String,
    name: String,
    service: String,
    attributes: Vec<KeyValue>,
}

impl Exported {
    fn int(&self, key: &str) -> Option<i64> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::IntValue(value) => Some(*value),
                AnyValue::StringValue(text) => text.parse().ok(),
                _ => None,
            })
    }
}

pub(super) type Received = Arc<Mutex<Vec<Exported>>>;

fn text(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(text) => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[handler]
fn export(body: Vec<u8>, received: Data<&Received>) -> Response {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) else {
        return Response::builder()
            .status(poem::http::StatusCode::BAD_REQUEST)
            .finish();
    };
    let mut spans = received.lock().unwrap_or_else(|p| p.into_inner());
    for resource in request.resource_spans {
        let service = resource
            .resource
            .map(|r| text(&r.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                let trace_id = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                spans.push(Exported {
                    trace_id,
                    name: span.name,
                    service: service.clone(),
                    attributes: span.attributes,
                });
            }
        }
    }
    Response::builder()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

/// An OTLP/HTTP (protobuf) receiver on a free port: its base URL and what it got.
pub(super) async fn receiver() -> (String, Received) {
    let received = Received::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind the receiver");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("a socket address");
    let app = Route::new()
        .at("/v1/traces", post(export))
        .data(received.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), received)
}

/// A Kratos that fails the first lookup of `id` (so a retry is logged inside
/// the request) and then answers it.
pub(super) async fn flaky_kratos(id: Uuid) -> MockServer {
    let kratos = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(503).set_body_json(error(
            503,
            "Service Unavailable",
            "busy",
        )))
        .up_to_n_times(1)
        .expect(1)
        .mount(&kratos)
        .await;
    serve_identity(&kratos, &identity(id, "traced@example.com", true), 1).await;
    kratos
}

pub(super) async fn serving(db: &TestDb, kratos: &MockServer, endpoint: Option<&str>) -> Serving {
    let mut command = binary::command(&["serve"]);
    command
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("KRATOS_ADMIN_URL", kratos.uri());
    if let Some(endpoint) = endpoint {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    serve(command).await
}

async fn resolve_with_traceparent(serving: &Serving, id: Uuid) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(serving.url("/rest/internal/identity/resolve"))
        .header("traceparent", TRACEPARENT)
        .json(&json!({"kratosIdentityId": id}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON body")
}

pub(super) fn kratos_traceparents(requests: &[wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|request| request.headers.get("traceparent"))
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_callers_traceparent_continues_to_kratos_the_exported_spans_and_the_log() {
    let (endpoint, received) = receiver().await;
    let db = TestDb::migrated().await;
    let id = Uuid::new_v4();
    let kratos = flaky_kratos(id).await;
    let serving = serving(&db, &kratos, Some(&endpoint)).await;

    let body = resolve_with_traceparent(&serving, id).await;
    assert_eq!(body["created"], true);
    // Stopping flushes the pending spans.
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");

    let requests = kratos.received_requests().await.expect("recorded requests");
    let sent = kratos_traceparents(&requests);
    assert_eq!(sent.len(), 2, "both attempts carry a traceparent: {sent:?}");
    for traceparent in &sent {
        assert!(
            traceparent.starts_with(&format!("00-{TRACE_ID}-")),
            "{traceparent}"
        );
        assert!(
            !traceparent.contains("00f067aa0ba902b7"),
            "a child span: {traceparent}"
        );
    }

    let spans = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let traced: Vec<&Exported> = spans.iter().filter(|s| s.trace_id == TRACE_ID).collect();
    assert!(
        traced.len() >= 3,
        "the request and two Kratos attempts: {spans:#?}"
    );
    assert!(
        traced.iter().all(|s| s.service == "identity-link"),
        "{traced:#?}"
    );
    let server = traced
        .iter()
        .find(|s| s.name == "POST /rest/internal/identity/resolve")
        .unwrap_or_else(|| panic!("the server span: {traced:#?}"));
    assert_eq!(server.int("http.response.status_code"), Some(200));
    let mut attempts: Vec<(Option<i64>, Option<i64>)> = traced
        .iter()
        .filter(|s| s.name == "get_identity")
        .map(|s| (s.int("retry"), s.int("http.response.status_code")))
        .collect();
    attempts.sort();
    assert_eq!(attempts, [(Some(0), Some(503)), (Some(1), Some(200))]);
    assert!(
        traced.iter().any(|s| s.name == "find_by_auth_id"),
        "a database span: {traced:#?}"
    );

    let retried = log
        .lines()
        .find(|line| line.contains("Kratos call failed; retrying"))
        .unwrap_or_else(|| panic!("the retry is logged: {log}"));
    let line: serde_json::Value = serde_json::from_str(retried).expect("a JSON line");
    assert_eq!(line["trace_id"], TRACE_ID, "{retried}");
    assert_eq!(
        line["span_id"].as_str().map(str::len),
        Some(16),
        "{retried}"
    );
}
