//! Kratos's `Retry-After` on a 429: commands wait as asked; requests wait
//! only within their budget, else answer 503 with a `Retry-After` of their own.

use std::time::{Duration, Instant};

use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::binary::{command, output, stderr};
use crate::helpers::kratos::{error, identity, serve_identity, serve_identity_pages};
use crate::helpers::{json_body, spawn_app_with, Options, TestDb};

fn rate_limited(seconds: u64) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", seconds.to_string().as_str())
        .set_body_json(error(429, "Too Many Requests", "rate limit exceeded"))
}

#[tokio::test]
async fn a_resolve_whose_budget_cannot_hold_the_wait_answers_503_with_retry_after() {
    let app = spawn_app_with(Options {
        tweak: |settings| settings.http_request_timeout = Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let id = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(rate_limited(2))
        .expect(1)
        .mount(&app.kratos)
        .await;

    let started = Instant::now();
    let response = app.resolve(id).await;
    assert!(started.elapsed() < Duration::from_secs(2), "did not wait");
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("2")
    );
    let body = json_body(response).await;
    assert_eq!(body["error"], "kratos_unavailable");
    assert_eq!(body["retryable"], true);
}

#[tokio::test]
async fn a_resolve_waits_a_retry_after_that_fits_its_budget() {
    let app = spawn_app_with(Options::default()).await;
    let id = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(rate_limited(1))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&app.kratos)
        .await;
    serve_identity(&app.kratos, &identity(id, "patient@example.com", true), 1).await;

    let started = Instant::now();
    let response = app.resolve(id).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("retry-after").is_none());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as asked"
    );
}

#[tokio::test]
async fn backfill_waits_as_asked_after_each_refusal_and_completes() {
    let db = TestDb::migrated().await;
    let emails = ["ra1@example.com", "ra2@example.com", "ra3@example.com"];
    for email in emails {
        db.client()
            .await
            .execute(
                "INSERT INTO users (id, email) VALUES (gen_random_uuid(), $1)",
                &[&email],
            )
            .await
            .expect("a user");
    }
    let kratos = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .respond_with(rate_limited(2))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&kratos)
        .await;
    let identities: Vec<_> = emails
        .iter()
        .map(|email| identity(Uuid::new_v4(), email, true))
        .collect();
    serve_identity_pages(&kratos, &identities, 500).await;

    let started = Instant::now();
    let run = output(command(&[
        "--database-url",
        &db.url,
        "--kratos-admin-url",
        &kratos.uri(),
        "backfill",
        "--format",
        "json",
    ]))
    .await;
    let took = started.elapsed();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(
        took >= Duration::from_secs(4),
        "two refusals of 2 s each, waited {took:?}"
    );
    let linked: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM users WHERE auth_id IS NOT NULL", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(linked, 3);
}
