//! Admin link repairs: compare-and-set, Kratos existence, audit.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    code, gql, seed_user, serve_session, spawn_admin_app, stored_link, Caller, ADMIN,
    ADMIN_IDENTITY,
};
use crate::helpers::json_body;
use crate::helpers::kratos::{identity, serve_identity, serve_not_found};

const LINK: &str = "mutation($user: UUID!, $auth: UUID!, $expected: UUID) {
    adminLinkIdentity(userID: $user, authId: $auth, expectedAuthId: $expected) { userId authId linkedAt } }";
const UNLINK: &str = "mutation($user: UUID!, $expected: UUID!) {
    adminUnlinkIdentity(userID: $user, expectedAuthId: $expected) { userId authId linkedAt } }";
const AUDIT: &str = "query($user: UUID, $auth: UUID) {
    adminIdentityAudit(userID: $user, authId: $auth) { correlationId action outcome actor authId source } }";

#[tokio::test]
async fn an_admin_links_an_unlinked_user_under_the_request_correlation_id() {
    let app = spawn_admin_app().await;
    let user = seed_user(&app, "ada@example.com", None).await;
    let auth = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(auth, "ada@example.com", true), 1).await;
    let correlation = Uuid::new_v4();

    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(super::ADMIN_TOKEN)
        .header("X-Correlation-Id", correlation.to_string())
        .json(&json!({ "query": LINK, "variables": { "user": user.id, "auth": auth } }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-correlation-id"],
        correlation.to_string().as_str()
    );
    let body = json_body(response).await;

    assert_eq!(
        body["data"]["adminLinkIdentity"]["authId"],
        json!(auth),
        "{body}"
    );
    assert_eq!(stored_link(&app, user.id).await, Some(auth));
    let audit = gql(&app, ADMIN, AUDIT, json!({ "auth": auth })).await;
    let event = &audit["data"]["adminIdentityAudit"][0];
    assert_eq!(event["action"], "linked", "{audit}");
    assert_eq!(event["outcome"], "ok");
    assert_eq!(event["source"], "admin");
    assert_eq!(event["actor"], "admin-token");
    assert_eq!(event["correlationId"], json!(correlation));
}

#[tokio::test]
async fn a_stale_expected_auth_id_is_a_conflict_and_changes_nothing() {
    let app = spawn_admin_app().await;
    let current = Uuid::new_v4();
    let user = seed_user(&app, "ada@example.com", Some(current)).await;
    let wanted = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(wanted, "ada@example.com", true), 2).await;

    for expected in [Value::Null, json!(Uuid::new_v4())] {
        let body = gql(
            &app,
            ADMIN,
            LINK,
            json!({ "user": user.id, "auth": wanted, "expected": expected }),
        )
        .await;
        assert_eq!(code(&body), Some("CONFLICT"), "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["currentAuthId"],
            json!(current)
        );
        assert_eq!(body["data"], Value::Null);
    }
    let stale_unlink = gql(
        &app,
        ADMIN,
        UNLINK,
        json!({ "user": user.id, "expected": Uuid::new_v4() }),
    )
    .await;
    assert_eq!(code(&stale_unlink), Some("CONFLICT"));
    assert_eq!(stored_link(&app, user.id).await, Some(current));
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE linked_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn linking_an_identity_linked_elsewhere_is_a_conflict_naming_that_user() {
    let app = spawn_admin_app().await;
    let auth = Uuid::new_v4();
    let owner = seed_user(&app, "owner@example.com", Some(auth)).await;
    let other = seed_user(&app, "other@example.com", None).await;
    serve_identity(&app.kratos, &identity(auth, "owner@example.com", true), 1).await;

    let body = gql(&app, ADMIN, LINK, json!({ "user": other.id, "auth": auth })).await;

    assert_eq!(code(&body), Some("CONFLICT"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "identity_linked_elsewhere"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["linkedUserId"],
        json!(owner.id)
    );
    assert_eq!(stored_link(&app, other.id).await, None);
    assert_eq!(stored_link(&app, owner.id).await, Some(auth));
}

#[tokio::test]
async fn the_identity_must_exist_in_kratos() {
    let app = spawn_admin_app().await;
    let user = seed_user(&app, "ada@example.com", None).await;
    let missing = Uuid::new_v4();
    serve_not_found(&app.kratos, missing, 1).await;

    let body = gql(
        &app,
        ADMIN,
        LINK,
        json!({ "user": user.id, "auth": missing }),
    )
    .await;

    assert_eq!(code(&body), Some("NOT_FOUND"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "identity_not_found"
    );
    assert_eq!(stored_link(&app, user.id).await, None);
}

#[tokio::test]
async fn every_mutation_appears_in_the_audit_with_the_acting_admin() {
    let app = spawn_admin_app().await;
    serve_session(&app, "admin-session", ADMIN_IDENTITY).await;
    let session = Caller::SessionToken("admin-session");
    let user = seed_user(&app, "ada@example.com", None).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    serve_identity(&app.kratos, &identity(first, "ada@example.com", true), 1).await;
    serve_identity(&app.kratos, &identity(second, "ada@example.org", true), 2).await;

    let steps = [
        (ADMIN, LINK, json!({ "user": user.id, "auth": first })),
        (
            session,
            LINK,
            json!({ "user": user.id, "auth": second, "expected": first }),
        ),
        (session, LINK, json!({ "user": user.id, "auth": second })),
        (
            ADMIN,
            UNLINK,
            json!({ "user": user.id, "expected": second }),
        ),
    ];
    for (caller, query, variables) in steps {
        gql(&app, caller, query, variables).await;
    }
    assert_eq!(stored_link(&app, user.id).await, None);

    let audit = gql(&app, ADMIN, AUDIT, json!({ "user": user.id })).await;
    let events: Vec<_> = audit["data"]["adminIdentityAudit"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let admin_session = format!("kratos:{ADMIN_IDENTITY}");
    let expected: Vec<(String, String, String)> = [
        ("unlinked", "ok", "admin-token"),
        ("link", "link_changed", admin_session.as_str()),
        ("linked", "ok", admin_session.as_str()),
        ("unlinked", "ok", admin_session.as_str()),
        ("linked", "ok", "admin-token"),
    ]
    .iter()
    .map(|(a, o, w)| (a.to_string(), o.to_string(), w.to_string()))
    .collect();
    let mut actual = events.clone();
    // The relink writes "linked" and "unlinked" with one timestamp each; keep
    // the comparison independent of their relative order.
    actual[2..4].sort();
    let mut wanted = expected.clone();
    wanted[2..4].sort();
    assert_eq!(actual, wanted);
}
