use std::sync::Arc;
use std::time::Duration;

use identity_link_adapters::postgres::{
    self, PgPool, PostgresAuditLog, PostgresSettings, PostgresUserStore,
};
use identity_link_testing::conformance;

use crate::helpers::TestDb;

/// A pool on a migrated `db`; `statement_cache` as `DATABASE_STATEMENT_CACHE`.
pub async fn migrated_pool_with(db: &TestDb, statement_cache: bool) -> PgPool {
    postgres::migrate(&db.url).await.expect("migrate");
    postgres::pool(&PostgresSettings {
        url: db.url.clone(),
        pool_size: 8,
        acquire_timeout: Duration::from_secs(5),
        statement_cache,
    })
    .expect("pool")
}

async fn migrated_pool(db: &TestDb) -> PgPool {
    migrated_pool_with(db, true).await
}

#[tokio::test]
async fn the_postgres_user_store_passes_the_conformance_suite() {
    let db = TestDb::create().await;
    let pool = migrated_pool(&db).await;
    conformance::user_store(Arc::new(PostgresUserStore::new(pool))).await;
}

#[tokio::test]
async fn the_postgres_user_store_passes_the_conformance_suite_without_the_statement_cache() {
    let db = TestDb::create().await;
    let pool = migrated_pool_with(&db, false).await;
    conformance::user_store(Arc::new(PostgresUserStore::new(pool))).await;
}

#[tokio::test]
async fn the_postgres_audit_log_passes_the_conformance_suite() {
    let db = TestDb::create().await;
    let pool = migrated_pool(&db).await;
    conformance::audit_log(Arc::new(PostgresAuditLog::new(pool))).await;
}

#[tokio::test]
async fn the_postgres_audit_log_passes_the_conformance_suite_without_the_statement_cache() {
    let db = TestDb::create().await;
    let pool = migrated_pool_with(&db, false).await;
    conformance::audit_log(Arc::new(PostgresAuditLog::new(pool))).await;
}

#[tokio::test]
async fn migrations_are_safe_to_run_twice_and_concurrently() {
    let db = TestDb::create().await;
    let runs = (0..4).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move { postgres::migrate(&url).await })
    });
    let applied: usize = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("migrate").applied.len())
        .sum();
    let known = postgres::migration_status(&db.url).await.expect("status");
    assert_eq!(
        applied,
        known.len(),
        "each migration applied exactly once across racing instances"
    );
    assert!(known.iter().all(|m| m.applied_on.is_some()));
    let rerun = postgres::migrate(&db.url).await.expect("rerun");
    assert!(rerun.applied.is_empty());
    assert!(rerun.email_collisions.is_empty());
}

#[tokio::test]
async fn the_postgres_webhook_deliveries_pass_the_conformance_suite() {
    let db = TestDb::create().await;
    let pool = migrated_pool(&db).await;
    conformance::webhook_deliveries(Arc::new(postgres::PostgresWebhookDeliveries::new(pool))).await;
}

#[tokio::test]
async fn the_postgres_write_back_queue_passes_the_conformance_suite() {
    let db = TestDb::create().await;
    let pool = migrated_pool(&db).await;
    conformance::write_back_queue(Arc::new(postgres::PostgresWriteBackQueue::new(pool))).await;
}

#[tokio::test]
async fn the_postgres_webhook_deliveries_pass_the_conformance_suite_without_the_statement_cache() {
    let db = TestDb::create().await;
    let pool = migrated_pool_with(&db, false).await;
    conformance::webhook_deliveries(Arc::new(postgres::PostgresWebhookDeliveries::new(pool))).await;
}

#[tokio::test]
async fn the_postgres_write_back_queue_passes_the_conformance_suite_without_the_statement_cache() {
    let db = TestDb::create().await;
    let pool = migrated_pool_with(&db, false).await;
    conformance::write_back_queue(Arc::new(postgres::PostgresWriteBackQueue::new(pool))).await;
}
