//! Every bad input of CONTRACT §3 gets a 400 (or 413) with the contract's error body.

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{json_body, spawn_app, TestApp};

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/rest/internal/identity/resolve", app.address))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    request.send().await.expect("request")
}

async fn assert_contract_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let header: Uuid = response.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .parse()
        .expect("correlation id is a UUID");
    let body = json_body(response).await;
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["correlationId"], header.to_string(), "{body}");
    assert_eq!(body["retryable"], false);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

#[tokio::test]
async fn malformed_or_wrongly_shaped_bodies_are_bad_user_input() {
    let app = spawn_app().await;
    let json = Some("application/json");
    let cases: [(&str, Option<&str>, &str); 10] = [
        ("malformed JSON", json, "{\"kratosIdentityId\": "),
        ("missing field", json, "{}"),
        (
            "extra field",
            json,
            "{\"kratosIdentityId\": \"8f1b7e0a-3c1d-4b8e-9a51-0d6f2b9c7e01\", \"admin\": true}",
        ),
        ("not a UUID", json, "{\"kratosIdentityId\": \"12345\"}"),
        ("a number", json, "{\"kratosIdentityId\": 12345}"),
        ("null", json, "{\"kratosIdentityId\": null}"),
        ("an array", json, "[]"),
        ("empty body", json, ""),
        (
            "wrong content type",
            Some("text/plain"),
            "{\"kratosIdentityId\": \"8f1b7e0a-3c1d-4b8e-9a51-0d6f2b9c7e01\"}",
        ),
        (
            "no content type",
            None,
            "{\"kratosIdentityId\": \"8f1b7e0a-3c1d-4b8e-9a51-0d6f2b9c7e01\"}",
        ),
    ];
    for (case, content_type, body) in cases {
        let response = post_raw(&app, content_type, body.to_owned()).await;
        assert_eq!(response.status(), 400, "{case}");
        assert_contract_error(response, 400, "bad_user_input").await;
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn bodies_over_sixteen_kib_are_refused_with_and_without_a_length() {
    let app = spawn_app().await;
    let padding = "a".repeat(17 * 1024);
    let body = format!("{{\"kratosIdentityId\": \"{padding}\"}}");
    let declared = post_raw(&app, Some("application/json"), body.clone()).await;
    assert_contract_error(declared, 413, "payload_too_large").await;

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(1024)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let chunked = post_raw(&app, Some("application/json"), streamed).await;
    assert_contract_error(chunked, 413, "payload_too_large").await;
}

#[tokio::test]
async fn correlation_ids_are_echoed_when_they_are_uuids_and_fresh_otherwise() {
    let app = spawn_app().await;
    let given = Uuid::new_v4();
    let echoed = app
        .http
        .get(format!("{}/health/live", app.address))
        .header("X-Correlation-Id", given.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers()["x-correlation-id"],
        given.to_string().as_str()
    );

    let fallback = app
        .http
        .get(format!("{}/health/live", app.address))
        .header("X-Request-Id", given.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        fallback.headers()["x-correlation-id"],
        given.to_string().as_str()
    );

    let invalid = app
        .http
        .get(format!("{}/health/live", app.address))
        .header("X-Correlation-Id", "not-a-uuid")
        .send()
        .await
        .unwrap();
    let fresh: Uuid = invalid.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(fresh.get_version_num(), 4);
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_body_too() {
    let app = spawn_app().await;
    assert_contract_error(
        app.get("/rest/internal/nothing-here").await,
        404,
        "not_found",
    )
    .await;
    assert_contract_error(
        app.get("/rest/internal/identity/resolve").await,
        405,
        "method_not_allowed",
    )
    .await;
}
