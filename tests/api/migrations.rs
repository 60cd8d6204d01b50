//! Migrations never block the application for long: a statement that cannot
//! get its lock within a few seconds fails the migration (exit 1), nothing of
//! it is applied, and a rerun applies it.

use std::time::Duration;

use identity_link_adapters::postgres;

use crate::helpers::binary::{run_on_database, stderr, stdout};
use crate::helpers::TestDb;

async fn v5_applied(db: &TestDb) -> bool {
    db.client()
        .await
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM refinery_schema_history WHERE version = 5)",
            &[],
        )
        .await
        .expect("history")
        .get(0)
}

#[tokio::test]
async fn a_migration_blocked_by_a_lock_fails_with_exit_1_applies_nothing_and_reruns() {
    let db = TestDb::create().await;
    postgres::migrate(&db.url).await.expect("migrate");
    // V5 and later pending again (each is safe to run twice), its table held by a transaction.
    let admin = db.client().await;
    admin
        .batch_execute("DELETE FROM refinery_schema_history WHERE version >= 5")
        .await
        .expect("forget V5");
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("hold a lock");

    let blocked = tokio::time::timeout(
        Duration::from_secs(60),
        run_on_database(&db.url, &["migrate"]),
    )
    .await
    .expect("the migration gives up instead of waiting");

    let said = stderr(&blocked);
    assert_eq!(blocked.status.code(), Some(1), "{said}");
    assert!(said.contains("lock timeout"), "{said}");
    assert!(
        !v5_applied(&db).await,
        "nothing of the failed migration is applied"
    );

    holder.batch_execute("ROLLBACK").await.expect("release");
    let rerun = run_on_database(&db.url, &["migrate"]).await;
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    assert!(stdout(&rerun).contains("applied V5"), "{}", stdout(&rerun));
    assert!(v5_applied(&db).await);
}

#[tokio::test]
async fn migrations_apply_on_a_sql_ascii_database_and_fill_the_normal_form_there() {
    let db = TestDb::create_sql_ascii().await;
    let migrated = run_on_database(&db.url, &["migrate"]).await;
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    assert!(v5_applied(&db).await);

    // A writer that leaves the normal form out gets the database's approximation.
    let client = db.client().await;
    let normalized: Option<String> = client
        .query_one(
            "INSERT INTO users (id, email, first_name) \
             VALUES (gen_random_uuid(), 'Ada@Example.TEST', 'Ada') RETURNING email_normalized",
            &[],
        )
        .await
        .expect("insert without the normal form")
        .get(0);
    assert_eq!(normalized.as_deref(), Some("ada@example.test"));
}
