//! Deliveries the webhook fails to process are counted by hook: Kratos runs
//! the recommended hooks in the background and does not retry them beyond its
//! client's own attempts, so what they leave undone waits for `reconcile`.

use identity_link::usecases::reconcile::{reconcile, ReconcileOptions};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::kratos::{error, identity, serve_identity_pages};
use crate::helpers::{json_body, spawn_app_with, Options, TestApp};
use crate::reconcile::{person, user};
use crate::webhook::{insert_user, with_secret, SECRET, TAKEN};

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

/// Asserts `/metrics` counts exactly these `(hook, status, calls)` failures.
async fn assert_failures(app: &TestApp, expected: &[(&str, &str, u64)]) {
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let mut found: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("identity_link_webhook_failures_total{"))
        .collect();
    found.sort_unstable();
    let expected: Vec<String> = expected
        .iter()
        .map(|(hook, status, calls)| {
            format!(
                r#"identity_link_webhook_failures_total{{hook="{hook}",status="{status}"}} {calls}"#
            )
        })
        .collect();
    assert_eq!(found, expected);
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

    assert_failures(&app, &[("login", "503", 1), ("registration", "503", 1)]).await;
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

    assert_failures(&app, &[]).await;
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
        &[("X-Webhook-Secret", SECRET)],
    )
    .await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(json_body(malformed).await["error"], "bad_user_input");

    assert_failures(&app, &[("settings", "401", 1), ("verification", "400", 1)]).await;
}

#[tokio::test]
async fn a_url_without_a_hook_is_still_served_and_its_failures_are_counted_as_unspecified() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    kratos_fails_for(&app, id).await;
    let body = json!({"identity": identity(id, "old@example.com", true)});

    let response = deliver_to(&app, "", &body, &[]).await;
    assert_eq!(response.status(), 503);

    assert_failures(&app, &[("unspecified", "503", 1)]).await;
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
    assert_failures(&app, &[("invalid", "400", 1)]).await;
}

#[tokio::test]
async fn what_a_failed_background_delivery_left_undone_shows_up_in_reconcile() {
    let app = spawn_app().await;
    // A sign-up whose registration hook failed: the identity has no user.
    let newcomer = Uuid::new_v4();
    let signed_up = person(newcomer, "newcomer@example.com", "New", "Comer");
    // A linked user renamed in Kratos whose settings hook failed: the profile drifted.
    let renamed = Uuid::new_v4();
    let ada = user(&app, "ada@example.com", "Ada", "Byron", Some(renamed)).await;
    let after_settings = person(renamed, "ada@example.com", "Ada", "Lovelace");
    for (hook, id, identity) in [
        ("registration", newcomer, &signed_up),
        ("settings", renamed, &after_settings),
    ] {
        kratos_fails_for(&app, id).await;
        let body = json!({ "identity": identity });
        let response = deliver_to(&app, &format!("?hook={hook}"), &body, &[]).await;
        assert_eq!(response.status(), 503, "{hook}");
    }
    assert_failures(&app, &[("registration", "503", 1), ("settings", "503", 1)]).await;

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
