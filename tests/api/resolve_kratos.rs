//! Kratos failures: retried when worth it, reported as 503 within the retry
//! budget, never leaving a partial user.

use std::time::{Duration, Instant};

use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::kratos::{error, identity, serve_identity, serve_not_found};
use crate::helpers::{json_body, spawn_app, TestApp};

/// Answers `GET /admin/identities/{id}` with `answer`, expecting exactly `times`
/// calls; with `limit`, only the first `times` calls (later ones fall through).
async fn answer_get(app: &TestApp, id: Uuid, answer: ResponseTemplate, times: u64, limit: bool) {
    let mock = Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(answer)
        .expect(times);
    let mock = if limit {
        mock.up_to_n_times(times)
    } else {
        mock
    };
    mock.mount(&app.kratos).await;
}

fn kratos_down() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_json(error(503, "Service Unavailable", "down"))
}

#[tokio::test]
async fn kratos_failing_twice_then_answering_is_a_success() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    answer_get(&app, id, kratos_down(), 2, true).await;
    serve_identity(&app.kratos, &identity(id, "flaky@example.com", true), 1).await;

    let response = app.resolve(id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["created"], true);
}

#[tokio::test]
async fn kratos_always_failing_is_kratos_unavailable_after_the_retries_and_creates_nothing() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    answer_get(&app, id, kratos_down(), 3, false).await;

    let response = app.resolve(id).await;
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["error"], "kratos_unavailable");
    assert_eq!(body["retryable"], true);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_hanging_kratos_times_out_within_the_retry_budget() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let slow = ResponseTemplate::new(200)
        .set_body_json(identity(id, "slow@example.com", true))
        .set_delay(Duration::from_secs(10));
    answer_get(&app, id, slow, 3, false).await;

    let started = Instant::now();
    let response = app.resolve(id).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(json_body(response).await["error"], "kratos_unavailable");
    // 3 attempts × 500 ms timeout + backoff (100 ms, 200 ms, with jitter).
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(1500), "took {elapsed:?}");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_kratos_404_is_identity_not_found_and_not_retried() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    serve_not_found(&app.kratos, id, 1).await;
    let response = app.resolve(id).await;
    assert_eq!(response.status(), 404);
    assert_eq!(json_body(response).await["error"], "identity_not_found");
}

#[tokio::test]
async fn other_kratos_4xx_are_not_retried_and_not_blamed_on_the_caller() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let refused =
        ResponseTemplate::new(401).set_body_json(error(401, "Unauthorized", "bad API key"));
    answer_get(&app, id, refused, 1, false).await;
    let response = app.resolve(id).await;
    assert_eq!(response.status(), 503);
    assert_eq!(json_body(response).await["error"], "kratos_unavailable");
}

#[tokio::test]
async fn a_malformed_kratos_body_is_reported_and_creates_nothing() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let garbage = ResponseTemplate::new(200).set_body_string("<html>proxy error</html>");
    answer_get(&app, id, garbage, 1, false).await;
    let response = app.resolve(id).await;
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["error"], "kratos_unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("malformed"),
        "{body}"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn identity_state_and_traits_are_checked_before_provisioning() {
    let app = spawn_app().await;
    let inactive = Uuid::new_v4();
    let mut body = identity(inactive, "inactive@example.com", true);
    body["state"] = "inactive".into();
    serve_identity(&app.kratos, &body, 1).await;
    let no_email = Uuid::new_v4();
    let mut body = identity(no_email, "x@example.com", true);
    body["traits"] = serde_json::json!({"name": {"first": "X"}});
    serve_identity(&app.kratos, &body, 1).await;
    let unverified = Uuid::new_v4();
    serve_identity(
        &app.kratos,
        &identity(unverified, "unverified@example.com", false),
        1,
    )
    .await;

    let cases = [
        (inactive, "identity_inactive"),
        (no_email, "identity_traits_missing"),
        (unverified, "identity_email_unverified"),
    ];
    for (id, code) in cases {
        let response = app.resolve(id).await;
        assert_eq!(response.status(), 422, "{code}");
        assert_eq!(json_body(response).await["error"], code);
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn an_email_held_by_a_user_linked_elsewhere_is_identity_duplicate() {
    let app = spawn_app().await;
    let first = Uuid::new_v4();
    let second = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(first, "shared@example.com", true), 1).await;
    serve_identity(
        &app.kratos,
        &identity(second, "SHARED@example.com", true),
        1,
    )
    .await;
    assert_eq!(app.resolve(first).await.status(), 200);
    let response = app.resolve(second).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_body(response).await["error"], "identity_duplicate");
}
