//! `DATABASE_DIRECT_URL`: sessions of their own (migrations' lock) use it;
//! without it they use `DATABASE_URL`.

use crate::helpers::binary::{run, stderr};
use crate::helpers::db::is_migrated;
use crate::helpers::TestDb;

async fn migrated(db: &TestDb) -> bool {
    is_migrated(&db.client().await).await
}

#[tokio::test]
async fn migrations_run_over_the_direct_url_when_one_is_given() {
    let db = TestDb::create().await;
    let unreachable = "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=1";
    let output = run(&[
        "--database-url",
        unreachable,
        "--database-direct-url",
        &db.url,
        "migrate",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(migrated(&db).await);
}

#[tokio::test]
async fn without_a_direct_url_migrations_use_the_database_url() {
    let db = TestDb::create().await;
    let output = run(&["--database-url", &db.url, "migrate"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(migrated(&db).await);
    let unreachable = "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=1";
    let output = run(&["--database-url", unreachable, "migrate"]).await;
    assert_eq!(output.status.code(), Some(1));
}
