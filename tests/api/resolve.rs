use std::collections::HashSet;

use uuid::Uuid;

use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::{json_body, spawn_app};

#[tokio::test]
async fn a_new_verified_identity_is_provisioned_once_then_resolved() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "new.user@example.com", true), 1).await;

    let first = app.resolve(id).await;
    assert_eq!(first.status(), 200);
    let correlation = first.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let first = json_body(first).await;
    assert_eq!(first["created"], true);
    assert_eq!(first["linked"], false);
    assert_eq!(first["auditId"], correlation.as_str());

    let second = json_body(app.resolve(id).await).await;
    assert_eq!(second["created"], false);
    assert_eq!(second["userId"], first["userId"]);

    let row = app
        .db()
        .await
        .query_one("SELECT email, first_name, auth_id FROM users", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "new.user@example.com");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("Test"));
    assert_eq!(row.get::<_, Option<Uuid>>(2), Some(id));
}

#[tokio::test]
async fn an_existing_unlinked_user_is_linked_by_verified_email() {
    let app = spawn_app().await;
    let user_id = Uuid::new_v4();
    app.db()
        .await
        .execute(
            "INSERT INTO users (id, email) VALUES ($1, 'Legacy.User@Example.com')",
            &[&user_id],
        )
        .await
        .unwrap();
    let id = Uuid::new_v4();
    serve_identity(
        &app.kratos,
        &identity(id, "legacy.user@example.com", true),
        1,
    )
    .await;

    let body = json_body(app.resolve(id).await).await;
    assert_eq!(body["userId"], user_id.to_string());
    assert_eq!(body["linked"], true);
    assert_eq!(body["created"], false);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn an_unverified_email_matching_an_existing_user_is_refused_and_not_linked() {
    let app = spawn_app().await;
    app.db()
        .await
        .execute(
            "INSERT INTO users (id, email) VALUES ($1, 'victim@example.com')",
            &[&Uuid::new_v4()],
        )
        .await
        .unwrap();
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "victim@example.com", false), 1).await;

    let response = app.resolve(id).await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        json_body(response).await["error"],
        "identity_link_unverified"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE auth_id IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn sixty_four_concurrent_resolves_over_two_instances_make_one_user() {
    let first = spawn_app().await;
    let second = first.sibling().await;
    let id = Uuid::new_v4();
    serve_identity(
        &first.kratos,
        &identity(id, "race@example.com", true),
        1..=64,
    )
    .await;

    let calls = (0..64).map(|n| {
        let instance = if n % 2 == 0 { &first } else { &second };
        instance.resolve(id)
    });
    let responses = futures::future::join_all(calls).await;
    let mut bodies = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        bodies.push(json_body(response).await);
    }
    let created = bodies.iter().filter(|b| b["created"] == true).count();
    let users: HashSet<_> = bodies.iter().map(|b| b["userId"].to_string()).collect();
    assert_eq!(created, 1, "exactly one call provisioned the user");
    assert_eq!(users.len(), 1, "every call got the same user");
    assert_eq!(first.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn every_call_leaves_one_audit_record_failures_included() {
    let app = spawn_app().await;
    let known = Uuid::new_v4();
    serve_identity(
        &app.kratos,
        &identity(known, "audited@example.com", true),
        1,
    )
    .await;
    crate::helpers::kratos::serve_not_found(&app.kratos, Uuid::nil(), 1).await;

    let correlation = Uuid::new_v4();
    let response = app
        .http
        .post(format!("{}/rest/internal/identity/resolve", app.address))
        .header("X-Correlation-Id", correlation.to_string())
        .header("X-Caller", "billing-service")
        .json(&serde_json::json!({"kratosIdentityId": known}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-correlation-id"],
        correlation.to_string().as_str()
    );
    app.resolve(known).await;
    app.resolve(Uuid::nil()).await;
    app.app.audit.flush().await;

    let rows = app
        .db()
        .await
        .query(
            "SELECT correlation_id, action, outcome, actor FROM identity_audit ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let summary: Vec<(String, String)> = rows.iter().map(|r| (r.get(1), r.get(2))).collect();
    assert_eq!(
        summary,
        [
            ("created".into(), "ok".into()),
            ("resolved".into(), "ok".into()),
            ("resolve".into(), "identity_not_found".into())
        ]
    );
    assert_eq!(rows[0].get::<_, Uuid>(0), correlation);
    assert_eq!(
        rows[0].get::<_, Option<String>>(3).as_deref(),
        Some("billing-service")
    );
}
