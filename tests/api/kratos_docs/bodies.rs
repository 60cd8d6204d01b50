//! Each jsonnet body of docs/kratos/ evaluated the way Kratos does (the file's
//! function called with the hook context as `ctx`) against a sample context,
//! and posted to the webhook at the URL the recommended kratos.yml gives its
//! hook, pre-checks enabled.

use std::path::{Path, PathBuf};

use identity_link::process::config::Settings;
use jrsonnet_evaluator::EvaluationState;
use serde_json::{json, Value};
use uuid::Uuid;

use super::config::{parse, shipped, web_hooks, with_prechecks};
use super::{docs, SNIPPET_SECRET};
use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::{json_body, spawn_app_with, Options, TestApp};
use crate::webhook::insert_user;

/// Evaluates `docs/kratos/<file>` as Kratos does: the top-level function called with `ctx`.
fn evaluate(file: &str, ctx: &Value) -> Value {
    let path: PathBuf = docs().join("kratos").join(file);
    let source = std::fs::read_to_string(&path).expect("a body file");
    let state = EvaluationState::default();
    state.with_stdlib();
    let fail =
        |error: jrsonnet_evaluator::error::LocError| -> String { state.stringify_err(&error) };
    state
        .add_tla_code("ctx".into(), ctx.to_string().into())
        .map_err(fail)
        .expect("ctx is valid jsonnet");
    let value = state
        .evaluate_snippet_raw(Path::new(file).into(), source.into())
        .and_then(|value| state.with_tla(value))
        .and_then(|value| state.manifest(value))
        .map_err(fail)
        .unwrap_or_else(|error| panic!("{file} does not evaluate: {error}"));
    serde_json::from_str(&value).expect("the body is JSON")
}

/// A Kratos web-hook template context, shaped like Kratos's `templateContext`.
fn context(identity: &Value, flow: &str, with_session: bool) -> Value {
    let mut identity = identity.clone();
    identity["credentials"]["password"]["config"] =
        json!({"hashed_password": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"});
    identity["metadata_admin"] = json!({"note": "stays in Kratos"});
    let mut ctx = json!({
        "flow": {
            "id": Uuid::new_v4(),
            "type": "browser",
            "expires_at": "2026-01-01T01:00:00Z",
            "issued_at": "2026-01-01T00:00:00Z",
            "request_url": format!("https://auth.example.com/self-service/{flow}/browser"),
            "ui": {"action": format!("https://auth.example.com/self-service/{flow}?flow=x"), "method": "POST", "nodes": []},
            "state": "choose_method"
        },
        "request_headers": {"Accept": ["application/json"], "User-Agent": ["Mozilla/5.0"]},
        "request_method": "POST",
        "request_url": format!("https://auth.example.com/self-service/{flow}?flow=x"),
        "request_cookies": {"csrf_token": "x"},
        "identity": identity,
    });
    if with_session {
        ctx["session"] =
            json!({"id": Uuid::new_v4(), "active": true, "identity": ctx["identity"].clone()});
    }
    ctx
}

fn snippet_secret(settings: &mut Settings) {
    settings.webhook_secret = Some(secrecy::SecretString::from(SNIPPET_SECRET));
}

/// The URL the recommended configuration (pre-checks enabled) gives `hook`,
/// on the test app's address.
fn configured_url(app: &TestApp, hook: &str) -> String {
    let config = parse(&with_prechecks(&shipped()));
    let configured = web_hooks(&config)
        .into_iter()
        .find(|found| found.hook.as_deref() == Some(hook))
        .unwrap_or_else(|| panic!("kratos.yml has a `{hook}` hook"));
    let url = url::Url::parse(configured.config["url"].as_str().expect("a url")).expect("a URL");
    format!(
        "{}{}?{}",
        app.address,
        url.path(),
        url.query().unwrap_or_default()
    )
}

/// Evaluates `<hook>.jsonnet` against `ctx` and posts the body as Kratos would,
/// to the URL kratos.yml configures for `hook`.
async fn fire(app: &TestApp, hook: &str, ctx: &Value) -> reqwest::Response {
    let file = format!("{hook}.jsonnet");
    let body = evaluate(&file, ctx);
    assert_eq!(
        body,
        json!({"identity": {"id": ctx["identity"]["id"], "traits": ctx["identity"]["traits"]}}),
        "{file} sends the id and traits only (no credentials, no metadata)"
    );
    app.http
        .post(configured_url(app, hook))
        .header("X-Webhook-Secret", SNIPPET_SECRET)
        .header("Ory-Webhook-Trigger-ID", Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn linked_to(app: &TestApp, email: &str) -> Option<Uuid> {
    app.db()
        .await
        .query_opt(
            "SELECT auth_id FROM users WHERE lower(email) = $1",
            &[&email],
        )
        .await
        .unwrap()
        .and_then(|row| row.get(0))
}

#[tokio::test]
async fn every_documented_body_drives_the_webhook_through_a_sign_up_and_its_life() {
    let app = spawn_app_with(Options {
        tweak: snippet_secret,
        ..Options::default()
    })
    .await;

    // Registration: the pre-check passes a free email, the hook after saving links.
    let alice = Uuid::new_v4();
    let unsaved = identity(Uuid::nil(), "alice@example.com", false);
    let precheck = fire(
        &app,
        "registration-precheck",
        &context(&unsaved, "registration", false),
    )
    .await;
    assert_eq!(precheck.status(), 200);
    assert_eq!(json_body(precheck).await, json!({}));
    let saved = identity(alice, "alice@example.com", true);
    serve_identity(&app.kratos, &saved, 1..).await;
    let registration = fire(&app, "registration", &context(&saved, "registration", true)).await;
    assert_eq!(registration.status(), 200);
    assert_eq!(linked_to(&app, "alice@example.com").await, Some(alice));

    // A second sign-up with that email is stopped before Kratos saves it.
    let copycat = identity(Uuid::nil(), "ALICE@example.com", false);
    let refused = fire(
        &app,
        "registration-precheck",
        &context(&copycat, "registration", false),
    )
    .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        json_body(refused).await["messages"][0]["instance_ptr"],
        "#/traits/email"
    );

    // Login captures an existing user; verification captures one whose email was unverified.
    insert_user(&app, "bob@example.com", None).await;
    let bob = Uuid::new_v4();
    let bob_identity = identity(bob, "bob@example.com", true);
    serve_identity(&app.kratos, &bob_identity, 1..).await;
    let login = fire(&app, "login", &context(&bob_identity, "login", true)).await;
    assert_eq!(login.status(), 200);
    assert_eq!(linked_to(&app, "bob@example.com").await, Some(bob));

    insert_user(&app, "carol@example.com", None).await;
    let carol = Uuid::new_v4();
    let carol_identity = identity(carol, "carol@example.com", true);
    serve_identity(&app.kratos, &carol_identity, 1..).await;
    let verification = fire(
        &app,
        "verification",
        &context(&carol_identity, "verification", false),
    )
    .await;
    assert_eq!(verification.status(), 200);
    assert_eq!(linked_to(&app, "carol@example.com").await, Some(carol));

    // Settings: a change to a taken email is stopped before saving; a saved one is synced.
    let mut taken = saved.clone();
    taken["traits"]["email"] = json!("bob@example.com");
    let stopped = fire(
        &app,
        "settings-precheck",
        &context(&taken, "settings", true),
    )
    .await;
    assert_eq!(stopped.status(), 409);
    assert_eq!(linked_to(&app, "alice@example.com").await, Some(alice));

    let dave = Uuid::new_v4();
    insert_user(&app, "dave@example.com", Some(dave)).await;
    let mut renamed = identity(dave, "dave@example.com", true);
    renamed["traits"]["name"] = json!({"first": "David", "last": "Bowman"});
    serve_identity(&app.kratos, &renamed, 1..).await;
    let settings = fire(&app, "settings", &context(&renamed, "settings", true)).await;
    assert_eq!(settings.status(), 200);
    let first: Option<String> = app
        .db()
        .await
        .query_one("SELECT first_name FROM users WHERE auth_id = $1", &[&dave])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first.as_deref(), Some("David"));

    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains(
            r#"identity_link_webhook_calls_total{kind="link",outcome="profile_synced"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("identity_link_webhook_failures_total{"),
        "no delivery failed: {metrics}"
    );
}
