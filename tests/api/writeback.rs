//! Write-back of links to Kratos's `external_id` (WRITE_BACK_EXTERNAL_ID):
//! queued when a link is made, written by the background worker, never
//! failing the link.
//! (Over 300 lines: one worker's cases, sharing its Kratos answers and outbox polling.)

use std::time::Duration;

use identity_link::process::config::Settings;
use identity_link::usecases::call::CallContext;
use identity_link_ports::{AuditSource, AuthId, UserId};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::kratos::{error, identity, serve_identity};
use crate::helpers::{json_body, spawn_app, spawn_app_with, Options, TestApp};
use crate::webhook::deliver;

fn write_back_on(settings: &mut Settings) {
    settings.write_back_external_id = true;
}

async fn spawn_writing_back() -> TestApp {
    spawn_app_with(Options {
        tweak: write_back_on,
        ..Options::default()
    })
    .await
}

async fn answer_patches(app: &TestApp, id: Uuid, status: u16, body: Value) {
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&app.kratos)
        .await;
}

/// Kratos refuses the first patch of `id`: another identity holds the external id.
async fn refuse_first_patch(app: &TestApp, id: Uuid) {
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(409).set_body_json(error(
            409,
            "Conflict",
            "external_id is already in use",
        )))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.kratos)
        .await;
}

/// Waits (10 s at most) until `sql` counts at least one row.
async fn eventually(app: &TestApp, sql: &str) {
    for _ in 0..100 {
        if app.count(sql).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {sql}");
}

async fn patch_bodies(app: &TestApp) -> Vec<Value> {
    app.kratos
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.method.as_str() == "PATCH")
        .map(|request| serde_json::from_slice(&request.body).expect("a JSON patch"))
        .collect()
}

async fn write_back_audit(app: &TestApp) -> Vec<(String, String, Value)> {
    app.app.audit.flush().await;
    app.db()
        .await
        .query(
            "SELECT action, outcome, detail FROM identity_audit
              WHERE action LIKE 'external_id%' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

#[tokio::test]
async fn a_link_made_by_resolve_is_written_back_as_the_identitys_external_id() {
    let app = spawn_writing_back().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "written@example.com", true), 1).await;
    answer_patches(&app, id, 200, identity(id, "written@example.com", true)).await;

    let response = app.resolve(id).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    let correlation = body["auditId"].as_str().unwrap().to_owned();
    eventually(
        &app,
        "SELECT count(*) FROM identity_audit WHERE action = 'external_id_written'",
    )
    .await;

    assert_eq!(
        patch_bodies(&app).await,
        [json!([{"op": "add", "path": "/external_id", "value": body["userId"]}])]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM external_id_writeback")
            .await,
        0
    );
    let correlations: Vec<Uuid> = app
        .db()
        .await
        .query("SELECT correlation_id FROM identity_audit ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        correlations.iter().all(|c| c.to_string() == correlation),
        "the write-back is audited under the resolve call's correlation id"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("identity_link_writeback_attempts_total{outcome=\"written\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_link_made_by_the_webhook_is_written_back_too() {
    let app = spawn_writing_back().await;
    let id = Uuid::new_v4();
    let kratos_identity = identity(id, "hooked@example.com", true);
    serve_identity(&app.kratos, &kratos_identity, 1).await;
    answer_patches(&app, id, 200, kratos_identity.clone()).await;

    let response = deliver(&app, &kratos_identity, &Uuid::new_v4().to_string()).await;
    assert_eq!(response.status(), 200);
    eventually(
        &app,
        "SELECT count(*) FROM identity_audit WHERE action = 'external_id_written'",
    )
    .await;
    let user: Uuid = app
        .db()
        .await
        .query_one("SELECT id FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        patch_bodies(&app).await,
        [json!([{"op": "add", "path": "/external_id", "value": user}])]
    );
}

#[tokio::test]
async fn an_external_id_still_held_by_the_previously_linked_identity_is_moved() {
    let app = spawn_writing_back().await;
    let id = Uuid::new_v4();
    let previous = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "moved@example.com", true), 1).await;
    refuse_first_patch(&app, id).await;
    answer_patches(&app, id, 200, identity(id, "moved@example.com", true)).await;
    answer_patches(
        &app,
        previous,
        200,
        identity(previous, "old@example.com", true),
    )
    .await;

    // Kratos finds the identity the user id still stands on.
    Mock::given(method("GET"))
        .and(path_regex("^/admin/identities/by/external/[0-9a-f-]{36}$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity(
            previous,
            "old@example.com",
            true,
        )))
        .mount(&app.kratos)
        .await;

    let response = app.resolve(id).await;
    let user = json_body(response).await["userId"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        &app,
        "SELECT count(*) FROM identity_audit WHERE action = 'external_id_written'",
    )
    .await;

    let patches: Vec<(String, Value)> = app
        .kratos
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.method.as_str() == "PATCH")
        .map(|request| {
            (
                request.url.path().to_owned(),
                serde_json::from_slice(&request.body).expect("a JSON patch"),
            )
        })
        .collect();
    let add = json!([{"op": "add", "path": "/external_id", "value": user}]);
    assert_eq!(
        patches,
        [
            (format!("/admin/identities/{id}"), add.clone()),
            (
                format!("/admin/identities/{previous}"),
                json!([{"op": "remove", "path": "/external_id"}])
            ),
            (format!("/admin/identities/{id}"), add),
        ]
    );
    let actions: Vec<String> = write_back_audit(&app)
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert_eq!(actions, ["external_id_cleared", "external_id_written"]);
}

#[tokio::test]
async fn a_kratos_409_is_audited_and_retried_later_without_failing_the_link() {
    let app = spawn_writing_back().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "clash@example.com", true), 1).await;
    refuse_first_patch(&app, id).await;
    answer_patches(&app, id, 200, identity(id, "clash@example.com", true)).await;

    let response = app.resolve(id).await;
    assert_eq!(response.status(), 200, "the link stands");
    assert_eq!(json_body(response).await["created"], true);
    eventually(
        &app,
        "SELECT count(*) FROM external_id_writeback WHERE last_error IS NOT NULL",
    )
    .await;

    let row = app
        .db()
        .await
        .query_one(
            "SELECT status, attempts, next_attempt_at > now()
               FROM external_id_writeback",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pending");
    assert_eq!(row.get::<_, i32>(1), 1);
    assert!(
        row.get::<_, bool>(2),
        "retried after a backoff, not at once"
    );
    let audit = write_back_audit(&app).await;
    assert_eq!(
        (audit[0].0.as_str(), audit[0].1.as_str()),
        ("external_id_write", "external_id_taken")
    );
    assert_eq!(audit[0].2["retryInSeconds"], 2);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("identity_link_writeback_attempts_total{outcome=\"external_id_taken\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE auth_id IS NOT NULL")
            .await,
        1
    );

    // Due again (as after the backoff): the retry writes it.
    app.db()
        .await
        .execute(
            "UPDATE external_id_writeback SET next_attempt_at = now()",
            &[],
        )
        .await
        .unwrap();
    eventually(
        &app,
        "SELECT count(*) FROM identity_audit WHERE action = 'external_id_written'",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM external_id_writeback")
            .await,
        0
    );
    assert_eq!(write_back_audit(&app).await[1].2["attempt"], 2);
}

#[tokio::test]
async fn a_write_back_to_an_identity_kratos_no_longer_has_is_given_up_and_kept_as_failed() {
    let app = spawn_writing_back().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "gone@example.com", true), 1).await;
    answer_patches(
        &app,
        id,
        404,
        error(404, "Not Found", "Unable to locate the resource"),
    )
    .await;

    assert_eq!(app.resolve(id).await.status(), 200);
    eventually(
        &app,
        "SELECT count(*) FROM external_id_writeback WHERE status = 'failed'",
    )
    .await;
    let audit = write_back_audit(&app).await;
    assert_eq!(audit[0].1, "identity_not_found");
    assert_eq!(audit[0].2["gaveUp"], true);
}

#[tokio::test]
async fn a_write_back_whose_link_changed_meanwhile_is_skipped() {
    let app = spawn_writing_back().await;
    let context = CallContext::new(AuditSource::Admin);
    let auth_id = AuthId::new(Uuid::new_v4());
    identity_link::usecases::writeback::after_link(&app.app, UserId::generate(), auth_id, &context)
        .await;

    eventually(
        &app,
        "SELECT count(*) FROM identity_audit WHERE action = 'external_id_write_skipped'",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM external_id_writeback")
            .await,
        0
    );
    assert!(patch_bodies(&app).await.is_empty());
}

#[tokio::test]
async fn without_write_back_nothing_is_queued_or_patched() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "quiet@example.com", true), 1).await;

    assert_eq!(app.resolve(id).await.status(), 200);
    assert_eq!(
        app.count("SELECT count(*) FROM external_id_writeback")
            .await,
        0
    );
    assert!(patch_bodies(&app).await.is_empty());
}
