use std::sync::Arc;
use std::time::Duration;

use identity_link_adapters::fixture::FixtureIdentities;
use identity_link_adapters::kratos::{identity_from_json, KratosAdmin, KratosSettings};
use identity_link_adapters::postgres::{
    self, PgPool, PostgresAuditLog, PostgresSettings, PostgresUserStore,
};
use identity_link_testing::{conformance, FakeKratos};

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

#[tokio::test]
async fn the_fixture_identities_pass_the_identity_provider_suite() {
    let identities = conformance::provider_identities()
        .into_iter()
        .map(|identity| identity_from_json(identity).expect("the set reads as identities"))
        .collect();
    let fixture = FixtureIdentities::from_identities(identities, "the conformance set");
    conformance::identity_provider(Arc::new(fixture)).await;
}

/// The Kratos adapter against the fake Kratos serving the conformance set.
async fn kratos_on(fake: &FakeKratos) -> (KratosAdmin, identity_link_testing::RunningFake) {
    let running = fake.serve(0).await.expect("the fake Kratos listens");
    let kratos = KratosAdmin::new(KratosSettings {
        admin_url: url::Url::parse(&running.uri()).expect("the fake's URL"),
        token: None,
        timeout: Duration::from_secs(5),
        retries: 0,
        backoff: Duration::from_millis(10),
    })
    .expect("client");
    (kratos, running)
}

#[tokio::test]
async fn the_kratos_adapter_passes_the_identity_provider_suite_against_the_fake_kratos() {
    let fake = FakeKratos::listed(conformance::provider_identities());
    let (kratos, _running) = kratos_on(&fake).await;
    conformance::identity_provider(Arc::new(kratos)).await;
    assert!(fake.stats().list_calls > 0 && fake.stats().patch_calls > 0);
}

#[tokio::test]
async fn the_kratos_adapter_passes_the_identity_provider_suite_when_a_full_page_links_an_empty_one()
{
    let fake = FakeKratos::listed(conformance::provider_identities()).next_after_full_page();
    let (kratos, _running) = kratos_on(&fake).await;
    conformance::identity_provider(Arc::new(kratos)).await;
}
