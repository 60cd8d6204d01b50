//! docs/kratos.md and docs/kratos/*.jsonnet stay true: the kratos.yml snippet
//! is parsed and checked hook by hook, and each jsonnet body is evaluated the
//! way Kratos does (the file's function called with the hook context as `ctx`)
//! against a sample context, and posted to the webhook.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use identity_link::config::Settings;
use jrsonnet_evaluator::EvaluationState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::{json_body, spawn_app_with, Options, TestApp};
use crate::webhook::insert_user;

/// The secret the snippet carries (to be replaced by the operator).
const SNIPPET_SECRET: &str = "change-me";
const BODY_PREFIX: &str = "file:///etc/config/kratos/identity-link/";

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")
}

/// The first ```yaml block of docs/kratos.md.
fn kratos_yml() -> serde_yaml::Value {
    let text = std::fs::read_to_string(docs().join("kratos.md")).expect("docs/kratos.md");
    let start = text.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + text[start..].find("```").expect("the block's end");
    serde_yaml::from_str(&text[start..end]).expect("the kratos.yml snippet is YAML")
}

/// Every `web_hook` of the snippet, as (where, config), aliases resolved.
fn web_hooks(node: &serde_yaml::Value, at: &str, found: &mut Vec<(String, Value)>) {
    match node {
        serde_yaml::Value::Mapping(map) => {
            if map.get("hook").and_then(|h| h.as_str()) == Some("web_hook") {
                let config = serde_json::to_value(&map["config"]).expect("config as JSON");
                found.push((at.to_owned(), config));
            }
            for (key, value) in map {
                let key = key.as_str().unwrap_or("?");
                web_hooks(value, &format!("{at}.{key}"), found);
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for (n, item) in items.iter().enumerate() {
                web_hooks(item, &format!("{at}[{n}]"), found);
            }
        }
        _ => {}
    }
}

fn body_file(config: &Value) -> String {
    config["body"]
        .as_str()
        .and_then(|uri| uri.strip_prefix(BODY_PREFIX))
        .expect("bodies are files under /etc/config/kratos/identity-link/")
        .to_owned()
}

#[test]
fn the_kratos_yml_snippet_points_every_hook_at_the_webhook_with_the_secret() {
    let yaml = kratos_yml();
    let mut hooks = Vec::new();
    web_hooks(&yaml, "", &mut hooks);
    let mut used = BTreeSet::new();
    for (at, config) in &hooks {
        let url = config["url"].as_str().expect("url");
        assert!(
            url.ends_with("/rest/internal/kratos/webhook"),
            "{at}: {url}"
        );
        assert_eq!(config["method"], "POST", "{at}");
        assert_eq!(
            config["auth"],
            json!({"type": "api_key", "config": {"name": "X-Webhook-Secret", "value": SNIPPET_SECRET, "in": "header"}}),
            "{at}"
        );
        let file = body_file(config);
        assert!(docs().join("kratos").join(&file).is_file(), "{at}: {file}");
        let parse = config["response"]["parse"] == true;
        assert_eq!(
            parse,
            file.ends_with("-precheck.jsonnet")
                || file == "login.jsonnet"
                || file == "verification.jsonnet",
            "{at}: {file} blocks only where the flow can show a message"
        );
        assert!(config.get("can_interrupt").is_none(), "{at}: deprecated");
        used.insert(file);
    }
    let shipped: BTreeSet<String> = std::fs::read_dir(docs().join("kratos"))
        .expect("docs/kratos")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".jsonnet"))
        .collect();
    assert_eq!(used, shipped, "every body file is used, and only those");

    let registration = &yaml["selfservice"]["flows"]["registration"]["after"];
    for method in ["password", "oidc", "code"] {
        let list = registration[method]["hooks"]
            .as_sequence()
            .unwrap_or_else(|| panic!("registration hooks for {method}"));
        assert_eq!(
            list.last().and_then(|hook| hook["hook"].as_str()),
            Some("session"),
            "{method}: the session hook stays last, or the hooks after it never run"
        );
    }
}

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

/// Evaluates `file` against `ctx` and posts the body as Kratos would.
async fn fire(app: &TestApp, file: &str, ctx: &Value) -> reqwest::Response {
    let body = evaluate(file, ctx);
    assert_eq!(
        body,
        json!({"identity": {"id": ctx["identity"]["id"], "traits": ctx["identity"]["traits"]}}),
        "{file} sends the id and traits only (no credentials, no metadata)"
    );
    app.http
        .post(format!("{}/rest/internal/kratos/webhook", app.address))
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
        "registration-precheck.jsonnet",
        &context(&unsaved, "registration", false),
    )
    .await;
    assert_eq!(precheck.status(), 200);
    assert_eq!(json_body(precheck).await, json!({}));
    let saved = identity(alice, "alice@example.com", true);
    serve_identity(&app.kratos, &saved, 1..).await;
    let registration = fire(
        &app,
        "registration.jsonnet",
        &context(&saved, "registration", true),
    )
    .await;
    assert_eq!(registration.status(), 200);
    assert_eq!(linked_to(&app, "alice@example.com").await, Some(alice));

    // A second sign-up with that email is stopped before Kratos saves it.
    let copycat = identity(Uuid::nil(), "ALICE@example.com", false);
    let refused = fire(
        &app,
        "registration-precheck.jsonnet",
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
    let login = fire(
        &app,
        "login.jsonnet",
        &context(&bob_identity, "login", true),
    )
    .await;
    assert_eq!(login.status(), 200);
    assert_eq!(linked_to(&app, "bob@example.com").await, Some(bob));

    insert_user(&app, "carol@example.com", None).await;
    let carol = Uuid::new_v4();
    let carol_identity = identity(carol, "carol@example.com", true);
    serve_identity(&app.kratos, &carol_identity, 1..).await;
    let verification = fire(
        &app,
        "verification.jsonnet",
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
        "settings-precheck.jsonnet",
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
    let settings = fire(
        &app,
        "settings.jsonnet",
        &context(&renamed, "settings", true),
    )
    .await;
    assert_eq!(settings.status(), 200);
    let first: Option<String> = app
        .db()
        .await
        .query_one("SELECT first_name FROM users WHERE auth_id = $1", &[&dave])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first.as_deref(), Some("David"));
}
