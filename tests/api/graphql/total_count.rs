//! `adminUsers { totalCount totalCountIsEstimate }` on Postgres: exact for a
//! few users, an estimate flagged as one above 10,000.

use serde_json::{json, Value};

use super::{gql, spawn_admin_app, ADMIN};
use crate::helpers::TestApp;

const USERS: i64 = 30_000;

async fn app_with_users() -> TestApp {
    let app = spawn_admin_app().await;
    let db = app.db().await;
    db.execute(
        "INSERT INTO users (id, email, email_normalized, first_name, last_name)
         SELECT gen_random_uuid(), 'user' || n || '@example.test', 'user' || n || '@example.test',
                'First', 'Last' || n
           FROM generate_series(1, $1::bigint) AS n",
        &[&USERS],
    )
    .await
    .unwrap();
    db.batch_execute("ANALYZE users").await.unwrap();
    app
}

async fn total(app: &TestApp, arguments: &str) -> (i64, bool) {
    let body = gql(
        app,
        ADMIN,
        &format!("{{ adminUsers({arguments}) {{ totalCount totalCountIsEstimate }} }}"),
        Value::Null,
    )
    .await;
    let users = &body["data"]["adminUsers"];
    let count = users["totalCount"].as_i64();
    let estimated = users["totalCountIsEstimate"].as_bool();
    match (count, estimated) {
        (Some(count), Some(estimated)) => (count, estimated),
        _ => panic!("no count in {body}"),
    }
}

#[tokio::test]
async fn a_few_matching_users_are_counted_exactly() {
    let app = app_with_users().await;
    // user2999 and user29990..user29999
    assert_eq!(total(&app, "search: \"user2999\"").await, (11, false));
    assert_eq!(total(&app, "linked: true").await, (0, false));
    assert_eq!(
        total(&app, "linked: false, search: \"nobody\"").await,
        (0, false)
    );
}

#[tokio::test]
async fn more_than_ten_thousand_matching_users_are_estimated_and_flagged() {
    let app = app_with_users().await;
    let (everyone, estimated) = total(&app, "first: 1").await;
    assert!(estimated, "30,000 users are estimated");
    // The planner's estimate after ANALYZE: the table's row count.
    assert!(
        (27_000..=33_000).contains(&everyone),
        "estimate {everyone} for 30,000 users"
    );
    let (unlinked, estimated) = total(&app, "linked: false").await;
    assert!(estimated);
    assert!(
        (27_000..=33_000).contains(&unlinked),
        "estimate {unlinked} for 30,000 unlinked users"
    );
    // user1, user10..19, user100..199, user1000..1999, user10000..19999: 11,111.
    let (searched, estimated) = total(&app, "search: \"user1\"").await;
    assert!(estimated, "11,111 users match");
    assert!(
        (10_001..=USERS).contains(&searched),
        "estimate {searched} for 11,111 users: above the bound, at most the table"
    );

    // Every user rewritten (as a backfill does) and not yet vacuumed: twice
    // the pages, the same users; the estimate stays with the users.
    app.db()
        .await
        .batch_execute("UPDATE users SET updated_at = now()")
        .await
        .unwrap();
    let (rewritten, estimated) = total(&app, "first: 1").await;
    assert!(estimated);
    assert!(
        (27_000..=33_000).contains(&rewritten),
        "estimate {rewritten} for 30,000 users after a rewrite"
    );

    // The page itself is unchanged by the count beside it.
    let body = gql(
        &app,
        ADMIN,
        "{ adminUsers(search: \"user2999\", first: 20) { totalCount edges { node { email } } } }",
        Value::Null,
    )
    .await;
    assert_eq!(
        body["data"]["adminUsers"]["totalCount"],
        json!(11),
        "{body}"
    );
    let edges = body["data"]["adminUsers"]["edges"].as_array().map(Vec::len);
    assert_eq!(edges, Some(11));
}
