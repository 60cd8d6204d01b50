//! One email rule on a database whose ctype is `C` (where Postgres's own
//! `lower()` folds ASCII only): imports, resolve, backfill and admin search
//! compare emails by the service's normal form, and the migration that
//! introduces it reports the users it cannot give one.

use identity_link::usecases::backfill::BackfillOptions;
use identity_link_ports::{ResolutionStatus, UserFilter};
use uuid::Uuid;

use crate::backfill_fake::{self, Identities};
use crate::helpers::binary::{import_csv, run_on_database, stdout};
use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::{json_body, seed_user, spawn_app_with, Options, TestApp, TestDb};

/// A test app on a fresh `C`-locale database, checked to really be one.
async fn app_on_c_locale() -> (TestApp, TestDb) {
    let db = TestDb::create_c_locale().await;
    let folds: bool = db
        .client()
        .await
        .query_one("SELECT lower('ZOË') = 'zoë'", &[])
        .await
        .expect("lower()")
        .get(0);
    assert!(
        !folds,
        "the database's lower() must not fold Ë for this test to mean anything"
    );
    let app = spawn_app_with(Options {
        database_url: Some(db.url.clone()),
        ..Options::default()
    })
    .await;
    (app, db)
}

#[tokio::test]
async fn on_a_c_locale_database_emails_differing_in_unicode_case_import_as_one_user() {
    let (app, _db) = app_on_c_locale().await;
    let imported = import_csv(
        &app.database_url,
        "email,first_name,last_name\nZOË@EXAMPLE.TEST,Zoë,Upper\nzoë@example.test,Zoë,Lower\nzoe\u{308}@example.test,Zoë,Combining\n",
    )
    .await;
    let printed = stdout(&imported);
    assert_eq!(imported.status.code(), Some(0), "{printed}");
    assert!(printed.contains("added:   1"), "{printed}");
    assert!(printed.contains("skipped: 2"), "{printed}");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn on_a_c_locale_database_a_kratos_identity_links_to_the_user_whose_email_differs_in_case() {
    let (app, _db) = app_on_c_locale().await;
    let user = seed_user(&app, "ÉLODIE.ÅSTRÖM@EXAMPLE.TEST", None).await;
    let id = Uuid::new_v4();
    serve_identity(
        &app.kratos,
        &identity(id, "élodie.åström@example.test", true),
        1,
    )
    .await;

    let response = app.resolve(id).await;

    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["userId"], user.id.to_string());
    assert_eq!(body["linked"], true);
    assert_eq!(body["created"], false);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn on_a_c_locale_database_backfill_and_admin_search_match_across_unicode_case() {
    let (app, _db) = app_on_c_locale().await;
    let (id, elodie) = backfill_fake::identity("élodie.åström@example.test", true);
    Identities::new(vec![elodie])
        .mount(&app.kratos, 1..=2, 0)
        .await;
    let user = backfill_fake::user(&app, "ÉLODIE.ÅSTRÖM@EXAMPLE.TEST", None).await;

    let found = app
        .app
        .users
        .list(
            &UserFilter {
                linked: None,
                search: Some("élodie.åSTRÖM".into()),
            },
            None,
            10,
        )
        .await
        .expect("search");
    assert_eq!(found.users.len(), 1);

    let options = BackfillOptions {
        page_size: 500,
        batch_size: 3,
        concurrency: 2,
        ..BackfillOptions::default()
    };
    let summary = backfill_fake::run(&app, &options).await;
    assert_eq!(summary.count(ResolutionStatus::Linked), 1);
    assert_eq!(backfill_fake::link_of(&app, user).await, Some(id));
}

/// V1–V4 as an older version left them, with users `lower()` under `C` told apart.
async fn before_the_normal_form(db: &TestDb, emails: &[&str]) -> Vec<Uuid> {
    let client = db.client().await;
    for sql in [
        include_str!("../../migrations/V1__users.sql"),
        include_str!("../../migrations/V2__identity_audit.sql"),
        include_str!("../../migrations/V3__backfill.sql"),
        include_str!("../../migrations/V4__webhook.sql"),
    ] {
        client.batch_execute(sql).await.expect("an older migration");
    }
    let mut ids = Vec::new();
    for (age, email) in emails.iter().enumerate() {
        let id = Uuid::new_v4();
        client
            .execute(
                "INSERT INTO users (id, email, created_at) VALUES ($1, $2, now() - make_interval(days => $3))",
                &[&id, email, &(100 - age as i32)],
            )
            .await
            .expect("an older user");
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn the_migration_keeps_the_oldest_of_colliding_emails_and_reports_the_others_until_resolved()
{
    let db = TestDb::create_c_locale().await;
    let ids = before_the_normal_form(
        &db,
        &[
            "ZOË@EXAMPLE.TEST",
            "zoë@example.test",
            "ZOE\u{308}@EXAMPLE.TEST",
            "ada@example.test",
        ],
    )
    .await;
    let (oldest, younger, youngest, ada) = (ids[0], ids[1], ids[2], ids[3]);

    let first = run_on_database(&db.url, &["migrate"]).await;
    let printed = stdout(&first);
    assert_eq!(first.status.code(), Some(0), "{printed}");
    assert!(printed.contains("applied V5"), "{printed}");
    for loser in [younger, youngest] {
        assert!(
            printed.contains(&format!("WARNING: user {loser}")),
            "{printed}"
        );
    }
    assert!(
        printed.contains(&format!("older user {oldest}")),
        "{printed}"
    );

    let client = db.client().await;
    let normal = |id: Uuid| {
        let client = &client;
        async move {
            client
                .query_one("SELECT email_normalized FROM users WHERE id = $1", &[&id])
                .await
                .expect("the user")
                .get::<_, Option<String>>(0)
        }
    };
    assert_eq!(normal(oldest).await.as_deref(), Some("zoë@example.test"));
    assert_eq!(normal(younger).await, None);
    assert_eq!(normal(youngest).await, None);
    assert_eq!(normal(ada).await.as_deref(), Some("ada@example.test"));
    let index: String = client
        .query_one("SELECT pg_get_indexdef('users_email_key'::regclass)", &[])
        .await
        .expect("the email index")
        .get(0);
    assert!(
        index.contains("UNIQUE") && index.contains("(email_normalized)"),
        "{index}"
    );

    // Resolving one of them (a new email) ends its report; the rest stay reported.
    client
        .execute(
            "UPDATE users SET email = 'zoe.two@example.test' WHERE id = $1",
            &[&younger],
        )
        .await
        .expect("rename");
    let again = run_on_database(&db.url, &["migrate"]).await;
    let printed = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{printed}");
    assert!(printed.contains("schema is up to date"), "{printed}");
    assert!(!printed.contains(&younger.to_string()), "{printed}");
    assert!(
        printed.contains(&format!("WARNING: user {youngest}")),
        "{printed}"
    );
    assert_eq!(
        normal(younger).await.as_deref(),
        Some("zoe.two@example.test")
    );
}
