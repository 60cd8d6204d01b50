//! The Kratos webhook: sign-ups linked, redeliveries answered alike, the
//! secret enforced, pre-persist checks (more in `webhook_link`).
//! (Over 300 lines: one endpoint's cases, with the delivery helpers other test modules share.)

use identity_link::process::config::Settings;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::{json_body, spawn_app, spawn_app_with, Options, TestApp};

pub const SECRET: &str = "kratos-hook-secret";

/// Posts `body` to the webhook with `headers`.
pub async fn post_webhook(
    app: &TestApp,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/rest/internal/kratos/webhook", app.address))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// A delivery of `identity` under trigger id `trigger`.
pub async fn deliver(app: &TestApp, identity: &Value, trigger: &str) -> reqwest::Response {
    post_webhook(
        app,
        &json!({ "identity": identity }),
        &[
            ("Ory-Webhook-Trigger-ID", trigger),
            ("Ory-Webhook-Request-ID", &Uuid::new_v4().to_string()),
        ],
    )
    .await
}

/// An identity Kratos has not saved yet: the nil id, as in a pre-persist hook.
fn unsaved(email: &str) -> Value {
    identity(Uuid::nil(), email, false)
}

pub async fn insert_user(app: &TestApp, email: &str, auth_id: Option<Uuid>) -> Uuid {
    let id = Uuid::new_v4();
    app.db()
        .await
        .execute(
            "INSERT INTO users (id, email, first_name, last_name, auth_id, linked_at)
             VALUES ($1, $2, 'Old', 'Name', $3, CASE WHEN $3::uuid IS NULL THEN NULL ELSE now() END)",
            &[&id, &email, &auth_id],
        )
        .await
        .expect("insert user");
    id
}

/// `(action, outcome, detail)` of every webhook audit record, oldest first.
pub async fn webhook_audit(app: &TestApp) -> Vec<(String, String, Value)> {
    app.app.audit.flush().await;
    app.db()
        .await
        .query(
            "SELECT action, outcome, detail FROM identity_audit WHERE source = 'webhook' ORDER BY id",
            &[],
        )
        .await
        .expect("audit query")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

pub fn refusal_body(id: i64, text: &str) -> Value {
    json!({"messages": [{
        "instance_ptr": "#/traits/email",
        "messages": [{"id": id, "text": text, "type": "error", "context": {"reason": text}}]
    }]})
}

pub const TAKEN: &str = "An account with this email address already exists.";

#[tokio::test]
async fn a_registration_after_saving_provisions_the_linked_user() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "sign.up@example.com", true);
    serve_identity(&app.kratos, &kratos_identity, 1).await;
    let trigger = Uuid::new_v4().to_string();

    let response = deliver(&app, &kratos_identity, &trigger).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({}));

    let row = app
        .db()
        .await
        .query_one("SELECT email, first_name, auth_id FROM users", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "sign.up@example.com");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("Test"));
    assert_eq!(row.get::<_, Option<Uuid>>(2), Some(id));
    let audit = webhook_audit(&app).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].0.as_str(), audit[0].1.as_str()),
        ("created", "ok")
    );
    assert_eq!(audit[0].2["triggerId"], trigger.as_str());
    assert_eq!(audit[0].2["kind"], "link");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"identity_link_webhook_calls_total{kind="link",outcome="created"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_identity_is_reread_from_kratos_and_the_body_is_only_a_hint() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "truth@example.com", true), 1).await;
    let forged = identity(id, "forged@example.com", true);

    let response = deliver(&app, &forged, &Uuid::new_v4().to_string()).await;
    assert_eq!(response.status(), 200);
    let email: String = app
        .db()
        .await
        .query_one("SELECT email FROM users WHERE auth_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, "truth@example.com");
}

#[tokio::test]
async fn a_redelivery_with_the_same_trigger_id_does_nothing_more_and_is_audited() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "once@example.com", true);
    serve_identity(&app.kratos, &kratos_identity, 1).await;
    let trigger = Uuid::new_v4().to_string();

    for _ in 0..3 {
        let response = deliver(&app, &kratos_identity, &trigger).await;
        assert_eq!(response.status(), 200);
        assert_eq!(json_body(response).await, json!({}));
    }

    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    let redeliveries = app
        .count("SELECT redeliveries::bigint FROM kratos_webhook_deliveries")
        .await;
    assert_eq!(redeliveries, 2);
    let actions: Vec<String> = webhook_audit(&app).await.into_iter().map(|a| a.0).collect();
    assert_eq!(actions, ["created", "redelivered", "redelivered"]);
    app.kratos.verify().await;
}

#[tokio::test]
async fn a_redelivered_refusal_is_refused_alike() {
    let app = spawn_app().await;
    insert_user(&app, "taken@example.com", Some(Uuid::new_v4())).await;
    let trigger = Uuid::new_v4().to_string();

    let first = deliver(&app, &unsaved("taken@example.com"), &trigger).await;
    assert_eq!(first.status(), 409);
    // The email was freed meanwhile; the redelivery still gets the first answer.
    app.db()
        .await
        .execute("DELETE FROM users", &[])
        .await
        .unwrap();
    let again = deliver(&app, &unsaved("taken@example.com"), &trigger).await;
    assert_eq!(again.status(), 409);
    assert_eq!(json_body(again).await, refusal_body(4_000_001, TAKEN));
}

#[tokio::test]
async fn calls_without_a_trigger_id_are_processed_and_audited_as_not_idempotent() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "no.trigger@example.com", true);
    serve_identity(&app.kratos, &kratos_identity, 2).await;

    for _ in 0..2 {
        let response = post_webhook(&app, &json!({ "identity": kratos_identity }), &[]).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM kratos_webhook_deliveries")
            .await,
        0
    );
    let audit = webhook_audit(&app).await;
    let summary: Vec<_> = audit
        .iter()
        .map(|(action, _, detail)| (action.as_str(), detail["idempotent"].clone()))
        .collect();
    assert_eq!(
        summary,
        [("created", json!(false)), ("resolved", json!(false))]
    );
}

pub fn with_secret(settings: &mut Settings) {
    settings.webhook_secret = Some(secrecy::SecretString::from(SECRET));
}

#[tokio::test]
async fn a_missing_or_wrong_secret_is_401_and_changes_nothing() {
    let app = spawn_app_with(Options {
        tweak: with_secret,
        ..Options::default()
    })
    .await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "guarded@example.com", true);
    serve_identity(&app.kratos, &kratos_identity, 1).await;
    let body = json!({ "identity": kratos_identity });

    let missing = post_webhook(&app, &body, &[]).await;
    assert_eq!(missing.status(), 401);
    let missing = json_body(missing).await;
    assert_eq!(missing["error"], "unauthorized");
    assert_eq!(missing["retryable"], false);
    let wrong = post_webhook(&app, &body, &[("X-Webhook-Secret", "kratos-hook-secreT")]).await;
    assert_eq!(wrong.status(), 401);
    let prefix = post_webhook(&app, &body, &[("X-Webhook-Secret", "kratos")]).await;
    assert_eq!(prefix.status(), 401);
    let garbage = app
        .http
        .post(format!("{}/rest/internal/kratos/webhook", app.address))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        garbage.status(),
        401,
        "the secret is checked before the body is read"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    let audit = webhook_audit(&app).await;
    assert_eq!(audit.len(), 4);
    assert!(audit
        .iter()
        .all(|(_, outcome, _)| outcome == "unauthorized"));

    let right = post_webhook(&app, &body, &[("X-Webhook-Secret", SECRET)]).await;
    assert_eq!(right.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    app.kratos.verify().await;
}

#[tokio::test]
async fn an_unsaved_identity_with_a_free_email_passes_and_creates_nothing() {
    let app = spawn_app().await;
    insert_user(&app, "legacy@example.com", None).await;

    for email in ["fresh@example.com", "Legacy@Example.com"] {
        let response = deliver(&app, &unsaved(email), &Uuid::new_v4().to_string()).await;
        assert_eq!(response.status(), 200, "{email}");
        assert_eq!(json_body(response).await, json!({}));
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE auth_id IS NOT NULL")
            .await,
        0
    );
    assert!(
        app.kratos
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "a pre-persist check does not ask Kratos"
    );
    let audit = webhook_audit(&app).await;
    assert!(audit
        .iter()
        .all(|(action, _, detail)| action == "precheck_passed" && detail["kind"] == "precheck"));
}

#[tokio::test]
async fn an_unsaved_identity_with_an_email_a_linked_user_holds_is_refused_with_kratos_messages() {
    let app = spawn_app().await;
    let holder = insert_user(&app, "owner@example.com", Some(Uuid::new_v4())).await;

    let response = deliver(
        &app,
        &unsaved("OWNER@example.com"),
        &Uuid::new_v4().to_string(),
    )
    .await;
    assert_eq!(response.status(), 409);
    assert!(response.headers().contains_key("x-correlation-id"));
    assert_eq!(json_body(response).await, refusal_body(4_000_001, TAKEN));
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    let audit = webhook_audit(&app).await;
    assert_eq!(
        (audit[0].0.as_str(), audit[0].1.as_str()),
        ("precheck", "identity_duplicate")
    );
    let user_id: Option<Uuid> = app
        .db()
        .await
        .query_one("SELECT user_id FROM identity_audit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user_id, Some(holder));
}

#[tokio::test]
async fn a_body_without_an_identity_is_bad_user_input() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"identity": {"traits": {}}}),
        json!({"identity": {"id": "nope"}}),
    ] {
        let response = post_webhook(&app, &body, &[]).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json_body(response).await["error"], "bad_user_input");
    }
}

#[test]
fn the_openapi_document_describes_the_webhook_its_headers_and_refusals() {
    let document: Value =
        serde_json::from_str(&identity_link::inbound::rest::openapi_json()).expect("JSON");
    let webhook = &document["paths"]["/rest/internal/kratos/webhook"]["post"];
    for status in ["200", "400", "401", "404", "409", "413", "422", "503"] {
        assert!(webhook["responses"][status].is_object(), "missing {status}");
    }
    let parameters: Vec<(&str, &str)> = webhook["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|parameter| Some((parameter["in"].as_str()?, parameter["name"].as_str()?)))
        .collect();
    assert_eq!(
        parameters,
        [
            ("query", "hook"),
            ("header", "X-Webhook-Secret"),
            ("header", "Ory-Webhook-Trigger-ID"),
            ("header", "Ory-Webhook-Request-ID")
        ]
    );
    let hooks = &document["components"]["schemas"]["WebhookHook"]["enum"];
    assert_eq!(
        hooks,
        &json!([
            "registration-precheck",
            "registration",
            "login",
            "verification",
            "settings-precheck",
            "settings"
        ])
    );
}
