//! Deliveries the webhook fails to process are counted by hook: Kratos runs
//! the recommended hooks in the background and does not retry them beyond its
//! client's own attempts, so what they leave undone waits for `reconcile`.

use identity_link::config::Settings;
use identity_link::reconcile::{reconcile, ReconcileOptions};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::kratos::{error, identity, serve_identity_pages};
use crate::helpers::{json_body, spawn_app_with, Options, TestApp};
use crate::reconcile::{person, user};
use crate::webhook::{insert_user, TAKEN};

/// An app that gives up on Kratos at once (no retries), so outages answer fast.
async fn spawn_app() -> TestApp {
    spawn_app_with(Options {
        kratos_retries: 0,
        ..Options::default()
    })
    .await
}

/// Posts a delivery of `identity` to the webhook with `query` (e.g. `?hook=login`).
async fn deliver_to(
    app: &TestApp,
    query: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!(
            "{}/rest/internal/kratos/webhook{query}",
            app.address
        ))
        .header("Ory-Webhook-Trigger-ID", Uuid::new_v4().to_string())
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// Kratos's admin API failing for `id`.
async fn kratos_fails_for(app: &TestApp, id: Uuid) {
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(500).set_body_json(error(
            500,
            "Internal Server Error",
            "database gone",
        )))
        .expect(1)
        .mount(&app.kratos)
        .await;
}

/// The `identity_link_webhook_failures_total` series in `/metrics`, sorted.
async fn failures(app: &TestApp) -> Vec<String> {
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let mut series: Vec<String> = metrics
        .lines()
        .filter(|line| line.starts_with("identity_link_webhook_failures_total{"))
        .map(str::to_owned)
        .collect();
    series.sort();
    series
}

#[tokio::test]
async fn a_background_delivery_that_fails_is_counted_by_its_hook() {
    let app = spawn_app().await;
    let (signed_up, logged_in) = (Uuid::new_v4(), Uuid::new_v4());
    kratos_fails_for(&app, signed_up).await;
    kratos_fails_for(&app, logged_in).await;

    for (query, id) in [
        ("?hook=registration", signed_up),
        ("?hook=login", logged_in),
    ] {
        let body = json!({"identity": identity(id, "someone@example.com", true)});
        let response = deliver_to(&app, query, &body, &[]).await;
        assert_eq!(response.status(), 503, "{query}");
        assert_eq!(json_body(response).await["error"], "kratos_unavailable");
    }

    assert_eq!(
        failures(&app).await,
        [
            r#"identity_link_webhook_failures_total{hook="login",status="503"} 1"#,
            r#"identity_link_webhook_failures_total{hook="registration",status="503"} 1"#,
        ]
    );
}

#[tokio::test]
async fn refusals_and_accepted_deliveries_are_not_failures() {
    let app = spawn_app().await;
    insert_user(&app, "taken@example.com", Some(Uuid::new_v4())).await;

    let unsaved = json!({"identity": identity(Uuid::nil(), "taken@example.com", false)});
    let refused = deliver_to(&app, "?hook=registration-precheck", &unsaved, &[]).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        json_body(refused).await["messages"][0]["messages"][0]["text"],
        TAKEN
    );
    let free = json!({"identity": identity(Uuid::nil(), "free@example.com", false)});
    let passed = deliver_to(&app, "?hook=registration-precheck", &free, &[]).await;
    assert_eq!(passed.status(), 200);

    assert_eq!(failures(&app).await, Vec::<String>::new());
}

fn with_secret(settings: &mut Settings) {
    settings.webhook_secret = Some(secrecy::SecretString::from("the-secret"));
}

#[tokio::test]
async fn a_call_without_the_secret_or_with_a_malformed_body_is_a_failure_of_its_hook() {
    let app = spawn_app_with(Options {
        tweak: with_secret,
        ..Options::default()
    })
    .await;
    let body = json!({"identity": identity(Uuid::new_v4(), "x@example.com", true)});

    let unauthorized = deliver_to(&app, "?hook=settings", &body, &[]).await;
    assert_eq!(unauthorized.status(), 401);
    let malformed = deliver_to(
        &app,
        "?hook=verification",
        &json!({"identity": {"id": "not-a-uuid"}}),
        &[("X-Webhook-Secret", "the-secret")],
    )
    .await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(json_body(malformed).await["error"], "bad_user_input");

    assert_eq!(
        failures(&app).await,
        [
            r#"identity_link_webhook_failures_total{hook="settings",status="401"} 1"#,
            r#"identity_link_webhook_failures_total{hook="verification",status="400"} 1"#,
        ]
    );
}

#[tokio::test]
async fn a_url_without_a_hook_is_still_served_and_its_failures_are_counted_as_unspecified() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    kratos_fails_for(&app, id).await;
    let body = json!({"identity": identity(id, "old@example.com", true)});

    let response = deliver_to(&app, "", &body, &[]).await;
    assert_eq!(response.status(), 503);

    assert_eq!(
        failures(&app).await,
        [r#"identity_link_webhook_failures_total{hook="unspecified",status="503"} 1"#]
    );
}

#[tokio::test]
async fn an_unknown_hook_name_is_bad_user_input_and_does_nothing() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity(
            id,
            "typo@example.com",
            true,
        )))
        .expect(0)
        .mount(&app.kratos)
        .await;
    let body = json!({"identity": identity(id, "typo@example.com", true)});

    let response = deliver_to(&app, "?hook=logni", &body, &[]).await;
    assert_eq!(response.status(), 400);
    let error = json_body(response).await;
    assert_eq!(error["error"], "bad_user_input");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("hook"),
        "the message names the parameter: {error}"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(
        failures(&app).await,
        [r#"identity_link_webhook_failures_total{hook="invalid",status="400"} 1"#]
    );
}

#[tokio::test]
async fn what_a_failed_background_delivery_left_undone_shows_up_in_reconcile() {
    let app = spawn_app().await;
    // A sign-up whose registration hook failed: the identity has no user.
    let newcomer = Uuid::new_v4();
    kratos_fails_for(&app, newcomer).await;
    let signed_up = person(newcomer, "newcomer@example.com", "New", "Comer");
    let response = deliver_to(
        &app,
        "?hook=registration",
        &json!({ "identity": signed_up }),
        &[],
    )
    .await;
    assert_eq!(response.status(), 503);
    // A linked user renamed in Kratos whose settings hook failed: the profile drifted.
    let renamed = Uuid::new_v4();
    let ada = user(&app, "ada@example.com", "Ada", "Byron", Some(renamed)).await;
    kratos_fails_for(&app, renamed).await;
    let after_settings = person(renamed, "ada@example.com", "Ada", "Lovelace");
    let response = deliver_to(
        &app,
        "?hook=settings",
        &json!({ "identity": after_settings }),
        &[],
    )
    .await;
    assert_eq!(response.status(), 503);
    assert_eq!(failures(&app).await.len(), 2);

    // Kratos does not deliver them again; the nightly reconcile finds both gaps.
    serve_identity_pages(&app.kratos, &[signed_up, after_settings], 500).await;
    let report = reconcile(&app.app, ReconcileOptions::default())
        .await
        .expect("the run completes");

    let unlinked: Vec<Uuid> = report
        .unlinked_identities
        .iter()
        .map(|finding| finding.identity_id.as_uuid())
        .collect();
    assert_eq!(unlinked, [newcomer]);
    assert_eq!(report.drifted_users.len(), 1);
    let drifted = &report.drifted_users[0];
    assert_eq!(drifted.user_id, ada.id);
    assert_eq!(drifted.differences.fields(), ["last_name"]);
}
