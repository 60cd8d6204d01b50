//! The Kratos webhook on saved identities: profile sync, email changes,
//! deferred links, refusals, outages and concurrent deliveries.

use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::kratos::{error, identity, serve_identity};
use crate::helpers::{json_body, spawn_app, TestApp};
use crate::webhook::{deliver, insert_user, refusal_body, webhook_audit, TAKEN};

#[tokio::test]
async fn a_settings_change_of_email_and_names_is_synced_to_the_linked_user() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let user = insert_user(&app, "before@example.com", Some(id)).await;
    let mut changed = identity(id, "After@Example.com", true);
    changed["traits"]["name"] = json!({"first": "Grace", "last": "Hopper"});
    serve_identity(&app.kratos, &changed, 1).await;

    let response = deliver(&app, &changed, &Uuid::new_v4().to_string()).await;
    assert_eq!(response.status(), 200);
    let row = app
        .db()
        .await
        .query_one(
            "SELECT email, first_name, last_name, auth_id FROM users WHERE id = $1",
            &[&user],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "After@Example.com");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("Grace"));
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("Hopper"));
    assert_eq!(row.get::<_, Option<Uuid>>(3), Some(id));
    let audit = webhook_audit(&app).await;
    assert_eq!(audit[0].0, "profile_synced");
    assert_eq!(
        audit[0].2["changed"],
        json!(["email", "first_name", "last_name"])
    );
}

async fn two_linked_users(app: &TestApp) -> (Uuid, Uuid) {
    let id = Uuid::new_v4();
    insert_user(app, "mine@example.com", Some(id)).await;
    insert_user(app, "theirs@example.com", Some(Uuid::new_v4())).await;
    (id, Uuid::new_v4())
}

async fn emails(app: &TestApp) -> Vec<String> {
    app.db()
        .await
        .query("SELECT email FROM users ORDER BY email", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn an_email_change_to_another_linked_users_address_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, _) = two_linked_users(&app).await;
    // After saving: Kratos already holds the new email.
    let saved = identity(id, "theirs@example.com", true);
    serve_identity(&app.kratos, &saved, 1).await;

    let response = deliver(&app, &saved, &Uuid::new_v4().to_string()).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_body(response).await, refusal_body(4_000_001, TAKEN));
    assert_eq!(
        emails(&app).await,
        ["mine@example.com", "theirs@example.com"]
    );
}

#[tokio::test]
async fn an_email_change_not_saved_yet_to_a_taken_address_is_refused_before_kratos_saves_it() {
    let app = spawn_app().await;
    let (id, _) = two_linked_users(&app).await;
    // A settings hook with response.parse runs before saving: Kratos still
    // holds the old email, the body carries the new one.
    serve_identity(&app.kratos, &identity(id, "mine@example.com", true), 1).await;
    let unsaved_change = identity(id, "Theirs@example.com", true);

    let response = deliver(&app, &unsaved_change, &Uuid::new_v4().to_string()).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_body(response).await, refusal_body(4_000_001, TAKEN));
    assert_eq!(
        emails(&app).await,
        ["mine@example.com", "theirs@example.com"]
    );
}

#[tokio::test]
async fn an_email_not_verified_yet_is_accepted_unlinked_and_linked_once_verified() {
    let app = spawn_app().await;
    let legacy = insert_user(&app, "legacy.user@example.com", None).await;
    let id = Uuid::new_v4();
    let unverified = identity(id, "legacy.user@example.com", false);
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(&unverified))
        .up_to_n_times(1)
        .mount(&app.kratos)
        .await;

    // Registration, after saving: a 4xx would show an error for an account
    // Kratos already created, so the link waits for the verification.
    let registration = deliver(&app, &unverified, &Uuid::new_v4().to_string()).await;
    assert_eq!(registration.status(), 200);
    assert_eq!(json_body(registration).await, json!({}));
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE auth_id IS NOT NULL")
            .await,
        0
    );

    let verified = identity(id, "legacy.user@example.com", true);
    serve_identity(&app.kratos, &verified, 1).await;
    let verification = deliver(&app, &verified, &Uuid::new_v4().to_string()).await;
    assert_eq!(verification.status(), 200);
    let linked: Option<Uuid> = app
        .db()
        .await
        .query_one("SELECT auth_id FROM users WHERE id = $1", &[&legacy])
        .await
        .unwrap()
        .get(0);
    assert_eq!(linked, Some(id));
    let audit = webhook_audit(&app).await;
    let summary: Vec<_> = audit
        .iter()
        .map(|(action, outcome, detail)| {
            (
                action.as_str(),
                outcome.as_str(),
                detail["deferred"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("link", "identity_link_unverified", json!(true)),
            ("linked", "ok", Value::Null)
        ]
    );
}

#[tokio::test]
async fn an_identity_kratos_does_not_have_is_refused_with_its_own_message_id() {
    let app = spawn_app().await;
    let missing = Uuid::new_v4();
    crate::helpers::kratos::serve_not_found(&app.kratos, missing, 1).await;

    let response = deliver(&app, &identity(missing, "ghost@example.com", true), "t-1").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        json_body(response).await,
        refusal_body(4_000_903, "This account could not be found.")
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn kratos_down_is_503_so_kratos_retries_and_the_retry_then_links() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(503).set_body_json(error(
            503,
            "Service Unavailable",
            "down",
        )))
        .up_to_n_times(3)
        .expect(3)
        .mount(&app.kratos)
        .await;
    let kratos_identity = identity(id, "patient@example.com", true);
    let trigger = Uuid::new_v4().to_string();

    let response = deliver(&app, &kratos_identity, &trigger).await;
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["error"], "kratos_unavailable");
    assert_eq!(body["retryable"], true);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM kratos_webhook_deliveries")
            .await,
        0
    );

    serve_identity(&app.kratos, &kratos_identity, 1).await;
    let retried = deliver(&app, &kratos_identity, &trigger).await;
    assert_eq!(retried.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    let outcomes: Vec<String> = webhook_audit(&app).await.into_iter().map(|a| a.1).collect();
    assert_eq!(outcomes, ["kratos_unavailable", "ok"]);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_trigger_over_two_instances_make_one_user() {
    let first = spawn_app().await;
    let second = first.sibling().await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "racing@example.com", true);
    serve_identity(&first.kratos, &kratos_identity, 1..=16).await;
    let trigger = Uuid::new_v4().to_string();

    let calls = (0..16).map(|n| {
        let instance = if n % 2 == 0 { &first } else { &second };
        deliver(instance, &kratos_identity, &trigger)
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(first.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        first
            .count("SELECT count(*) FROM kratos_webhook_deliveries")
            .await,
        1
    );
}

#[tokio::test]
async fn a_database_outage_is_503_so_kratos_retries() {
    let (app, proxy) = crate::helpers::spawn_app_behind_proxy().await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "outage@example.com", true);
    serve_identity(&app.kratos, &kratos_identity, 1..).await;
    let trigger = Uuid::new_v4().to_string();

    proxy.down();
    let response = deliver(&app, &kratos_identity, &trigger).await;
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["error"], "database_unavailable");
    assert_eq!(body["retryable"], true);

    proxy.up();
    let mut status = 0;
    for _ in 0..50 {
        status = deliver(&app, &kratos_identity, &trigger)
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "Kratos's retry links once the database is back"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}
