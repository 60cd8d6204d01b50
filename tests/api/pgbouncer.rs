//! Behind PgBouncer in transaction pooling mode (`DATABASE_URL` → PgBouncer,
//! `DATABASE_STATEMENT_CACHE=false`, `DATABASE_DIRECT_URL` → the database):
//! resolves, webhook calls and admin queries from many callers at once are
//! all answered, none with a 5xx.

use std::sync::Arc;

use identity_link_ports::AuthId;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use crate::graphql::{gql, ADMIN, ADMIN_TOKEN};
use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::pgbouncer::PgBouncer;
use crate::helpers::{seed_user, spawn_app_with, Options, TestApp, TestDb};
use crate::webhook::deliver;

const CALLERS: usize = 16;
/// Rounds per caller; each round is a resolve of a linked user, a resolve
/// that creates a user, a webhook delivery and an admin search.
const ROUNDS: usize = 8;

async fn app_behind(bouncer: &PgBouncer, db: &TestDb) -> TestApp {
    spawn_app_with(Options {
        database_url: Some(bouncer.url(&db.url)),
        database_direct_url: Some(db.url.clone()),
        tweak: |settings| {
            settings.database_statement_cache = false;
            settings.admin_token = Some(SecretString::from(ADMIN_TOKEN));
            settings.admin_identities = vec![AuthId::new(Uuid::new_v4())];
        },
        ..Options::default()
    })
    .await
}

/// One caller's rounds; the statuses of its calls, labelled.
async fn rounds(app: Arc<TestApp>, linked: Vec<Uuid>, caller: usize) -> Vec<(String, u16)> {
    let mut statuses = Vec::new();
    for round in 0..ROUNDS {
        let auth_id = linked[(caller * ROUNDS + round) % linked.len()];
        statuses.push((
            "resolve linked".into(),
            app.resolve(auth_id).await.status().as_u16(),
        ));

        let new = Uuid::new_v4();
        let email = format!("new-{caller}-{round}@example.com");
        serve_identity(&app.kratos, &identity(new, &email, true), 1).await;
        statuses.push((
            "resolve new".into(),
            app.resolve(new).await.status().as_u16(),
        ));

        let signed_up = Uuid::new_v4();
        let signed_up_identity = identity(
            signed_up,
            &format!("hook-{caller}-{round}@example.com"),
            true,
        );
        serve_identity(&app.kratos, &signed_up_identity, 1..).await;
        let trigger = Uuid::new_v4().to_string();
        statuses.push((
            "webhook".into(),
            deliver(&app, &signed_up_identity, &trigger)
                .await
                .status()
                .as_u16(),
        ));

        let search = gql(
            &app,
            ADMIN,
            "query($s: String) { adminUsers(search: $s, first: 5) { edges { node { userId } } } }",
            json!({ "s": format!("seed-{}", round) }),
        )
        .await;
        let answered = search["errors"].is_null() && search["data"]["adminUsers"].is_object();
        statuses.push((
            format!("admin search: {search}"),
            if answered { 200 } else { 500 },
        ));
    }
    statuses
}

#[tokio::test]
async fn behind_pgbouncer_in_transaction_mode_many_callers_get_no_5xx() {
    let db = TestDb::migrated().await;
    let bouncer = PgBouncer::start(&db.url);
    let app = Arc::new(app_behind(&bouncer, &db).await);
    let mut linked = Vec::new();
    for n in 0..32 {
        let auth_id = Uuid::new_v4();
        seed_user(&app, &format!("seed-{n}@example.com"), Some(auth_id)).await;
        linked.push(auth_id);
    }

    let callers =
        (0..CALLERS).map(|caller| tokio::spawn(rounds(app.clone(), linked.clone(), caller)));
    let statuses: Vec<(String, u16)> = futures::future::join_all(callers)
        .await
        .into_iter()
        .flat_map(|joined| joined.expect("caller task"))
        .collect();

    assert_eq!(statuses.len(), CALLERS * ROUNDS * 4);
    let failed: Vec<_> = statuses
        .iter()
        .filter(|(_, status)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed, e.g. {:?}\n{}",
        failed.len(),
        statuses.len(),
        &failed[..failed.len().min(5)],
        bouncer.log()
    );
    let created = app
        .count("SELECT count(*) FROM users WHERE email LIKE 'new-%' OR email LIKE 'hook-%'")
        .await;
    assert_eq!(created, (CALLERS * ROUNDS * 2) as i64);
}
