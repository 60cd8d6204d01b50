//! Admin queries against Postgres.

use std::collections::HashSet;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{code, gql, seed_user, spawn_admin_app, ADMIN};
use crate::helpers::kratos::{identity, serve_identity};

const USER_FIELDS: &str = "userId email authId accountUpn firstName lastName createdAt linkedAt";

#[tokio::test]
async fn admin_user_identity_answers_every_field_and_not_found_for_unknown_ids() {
    let app = spawn_admin_app().await;
    let auth_id = Uuid::new_v4();
    let user = seed_user(&app, "Grace.Hopper@Example.com", Some(auth_id)).await;

    let body = gql(
        &app,
        ADMIN,
        &format!("query($id: UUID!) {{ adminUserIdentity(userID: $id) {{ {USER_FIELDS} }} }}"),
        json!({ "id": user.id }),
    )
    .await;

    let found = &body["data"]["adminUserIdentity"];
    assert_eq!(found["userId"], json!(user.id), "{body}");
    assert_eq!(found["email"], "Grace.Hopper@Example.com");
    assert_eq!(found["authId"], json!(auth_id));
    assert_eq!(found["accountUpn"], "grace.hopper@example.com");
    assert_eq!(found["firstName"], "Grace");
    assert_eq!(found["lastName"], "Hopper");
    let created = chrono::DateTime::parse_from_rfc3339(found["createdAt"].as_str().unwrap());
    assert_eq!(created.unwrap(), user.created_at);
    assert!(found["linkedAt"].is_string());

    let unknown = gql(
        &app,
        ADMIN,
        "query($id: UUID!) { adminUserIdentity(userID: $id) { email } }",
        json!({ "id": Uuid::new_v4() }),
    )
    .await;
    assert_eq!(code(&unknown), Some("NOT_FOUND"), "{unknown}");
    assert_eq!(unknown["data"], Value::Null);
}

#[tokio::test]
async fn admin_user_by_auth_id_finds_the_linked_user_or_null() {
    let app = spawn_admin_app().await;
    let auth_id = Uuid::new_v4();
    let user = seed_user(&app, "linked@example.com", Some(auth_id)).await;
    seed_user(&app, "unlinked@example.com", None).await;
    let query = "query($a: UUID!) { adminUserByAuthId(authId: $a) { userId linkedAt } }";

    let body = gql(&app, ADMIN, query, json!({ "a": auth_id })).await;
    assert_eq!(body["data"]["adminUserByAuthId"]["userId"], json!(user.id));

    let none = gql(&app, ADMIN, query, json!({ "a": Uuid::new_v4() })).await;
    assert_eq!(none["errors"], Value::Null);
    assert_eq!(none["data"]["adminUserByAuthId"], Value::Null);
}

async fn walk(app: &crate::helpers::TestApp, filter: &str, first: u32) -> Vec<String> {
    let query = format!(
        "query($after: String) {{ adminUsers({filter} first: {first}, after: $after) {{
            edges {{ cursor node {{ userId }} }}
            pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let body = gql(app, ADMIN, &query, json!({ "after": after })).await;
        let page = &body["data"]["adminUsers"];
        let edges = page["edges"].as_array().unwrap_or_else(|| panic!("{body}"));
        assert!(edges.len() <= first as usize);
        seen.extend(
            edges
                .iter()
                .map(|e| e["node"]["userId"].as_str().unwrap().to_owned()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return seen;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn pagination_walks_every_user_exactly_once_with_filters() {
    let app = spawn_admin_app().await;
    let mut linked = HashSet::new();
    let mut everyone = HashSet::new();
    for n in 0..23 {
        let auth_id = (n % 3 == 0).then(Uuid::new_v4);
        let user = seed_user(&app, &format!("user{n:02}@example.com"), auth_id).await;
        everyone.insert(user.id.to_string());
        if auth_id.is_some() {
            linked.insert(user.id.to_string());
        }
    }

    let all = walk(&app, "", 5).await;
    assert_eq!(all.len(), 23, "no user twice");
    assert_eq!(all.iter().cloned().collect::<HashSet<_>>(), everyone);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "a stable order");

    let only_linked = walk(&app, "linked: true,", 2).await;
    assert_eq!(only_linked.iter().cloned().collect::<HashSet<_>>(), linked);
    assert_eq!(only_linked.len(), linked.len());
    assert_eq!(
        walk(&app, "linked: false,", 4).await.len(),
        23 - linked.len()
    );

    let search = walk(&app, "search: \"USER1\",", 3).await;
    assert_eq!(search.len(), 10, "user10 to user19");
}

#[tokio::test]
async fn a_cursor_that_is_not_one_of_ours_is_bad_user_input() {
    let app = spawn_admin_app().await;
    let body = gql(
        &app,
        ADMIN,
        "{ adminUsers(after: \"not-a-cursor\") { edges { cursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{body}");
}

#[tokio::test]
async fn the_backfill_report_counts_users_per_status_of_one_run_or_of_all() {
    use crate::backfill_fake::{identity as kratos_identity, run, user, Identities};
    use identity_link::usecases::backfill::BackfillOptions;

    let app = spawn_admin_app().await;
    let query = "query($run: UUID) { adminBackfillReport(runId: $run) { status count } }";
    let empty = gql(&app, ADMIN, query, json!({})).await;
    assert_eq!(empty["data"]["adminBackfillReport"], json!([]), "{empty}");

    let (_, ada) = kratos_identity("ada@example.com", true);
    Identities::new(vec![ada]).mount(&app.kratos, 1.., 0).await;
    user(&app, "ada@example.com", None).await;
    user(&app, "nobody@example.com", None).await;
    let first = run(&app, &BackfillOptions::default()).await;
    run(&app, &BackfillOptions::default()).await;

    let one = gql(&app, ADMIN, query, json!({ "run": first.run.as_uuid() })).await;
    assert_eq!(
        one["data"]["adminBackfillReport"],
        json!([{"status": "linked", "count": 1}, {"status": "missing", "count": 1}]),
        "{one}"
    );
    let all = gql(&app, ADMIN, query, json!({})).await;
    assert_eq!(
        all["data"]["adminBackfillReport"],
        json!([{"status": "linked", "count": 1}, {"status": "missing", "count": 2}]),
        "the second run examined only the user still unlinked: {all}"
    );
    let unknown = gql(&app, ADMIN, query, json!({ "run": Uuid::new_v4() })).await;
    assert_eq!(
        unknown["data"]["adminBackfillReport"],
        json!([]),
        "{unknown}"
    );
}

#[tokio::test]
async fn the_audit_shows_resolutions_of_an_identity_newest_first() {
    let app = spawn_admin_app().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "audited@example.com", true), 1).await;
    assert_eq!(app.resolve(id).await.status(), 200);
    assert_eq!(app.resolve(id).await.status(), 200);
    app.app.audit.flush().await;

    let body = gql(
        &app,
        ADMIN,
        "query($a: UUID) { adminIdentityAudit(authId: $a, first: 10) {
            correlationId occurredAt source action outcome authId userId actor detail } }",
        json!({ "a": id }),
    )
    .await;
    let events = body["data"]["adminIdentityAudit"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let actions: Vec<_> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["resolved", "created"]);
    assert!(events
        .iter()
        .all(|e| e["source"] == "resolve" && e["outcome"] == "ok"));

    let neither = gql(&app, ADMIN, "{ adminIdentityAudit { action } }", json!({})).await;
    assert_eq!(code(&neither), Some("BAD_USER_INPUT"));
}
