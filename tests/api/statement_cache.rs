//! `DATABASE_STATEMENT_CACHE=false`: no named prepared statement is left on a
//! pooled connection, whatever the store did on it.

use std::time::Duration;

use identity_link_adapters::postgres::{
    self, PgPool, PostgresAuditLog, PostgresSettings, PostgresUserStore, PostgresWebhookDeliveries,
    PostgresWriteBackQueue,
};
use identity_link_ports::{
    AuditLog, AuditQuery, AuditSource, AuthId, ChangeRecord, DeliveryRecord, Email, NewUser,
    Profile, TriggerId, UserFilter, UserId, UserStore, WebhookDeliveries, WriteBackQueue,
};
use uuid::Uuid;

use crate::helpers::TestDb;

fn pool_of_one(db: &TestDb, statement_cache: bool) -> PgPool {
    postgres::pool(&PostgresSettings {
        url: db.url.clone(),
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_cache,
    })
    .expect("pool")
}

/// Runs every kind of statement the stores send, all on the pool's one connection.
async fn exercise(pool: &PgPool) {
    let users = PostgresUserStore::new(pool.clone());
    let auth_id = AuthId::new(Uuid::new_v4());
    let user = users
        .create_linked_recorded(
            NewUser {
                id: UserId::generate(),
                profile: Profile {
                    email: Email::new("cache@example.com").expect("email"),
                    first_name: Some("Ada".into()),
                    last_name: None,
                    avatar_url: None,
                },
                auth_id: Some(auth_id),
            },
            &ChangeRecord {
                audit: Vec::new(),
                write_back: false,
            },
        )
        .await
        .expect("create");
    users.find_by_auth_id(auth_id).await.expect("find");
    users.find_by_auth_ids(&[auth_id]).await.expect("find many");
    users
        .list(&UserFilter::default(), None, 10)
        .await
        .expect("list");
    users
        .list(
            &UserFilter {
                search: Some("ada".into()),
                ..UserFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("search");
    PostgresAuditLog::new(pool.clone())
        .query(&AuditQuery {
            user_id: Some(user.id),
            auth_id: None,
            limit: 10,
        })
        .await
        .expect("audit");
    let deliveries = PostgresWebhookDeliveries::new(pool.clone());
    let trigger = TriggerId::new("trigger-1").expect("trigger");
    deliveries
        .record(
            &trigger,
            &DeliveryRecord {
                outcome: "linked".into(),
                refused: false,
                auth_id: Some(auth_id),
                user_id: Some(user.id),
            },
        )
        .await
        .expect("record");
    deliveries.redelivered(&trigger).await.expect("redelivered");
    let queue = PostgresWriteBackQueue::new(pool.clone());
    queue
        .enqueue(auth_id, user.id, Uuid::new_v4(), AuditSource::Resolve)
        .await
        .expect("enqueue");
    queue
        .claim_due(10, Duration::from_secs(30))
        .await
        .expect("claim");
}

async fn named_statements(pool: &PgPool) -> i64 {
    pool.get()
        .await
        .expect("the pooled connection")
        .query_typed("SELECT count(*) FROM pg_prepared_statements", &[])
        .await
        .expect("count")[0]
        .get(0)
}

#[tokio::test]
async fn without_the_statement_cache_no_named_statement_stays_on_a_connection() {
    let db = TestDb::migrated().await;
    let pool = pool_of_one(&db, false);
    exercise(&pool).await;
    assert_eq!(named_statements(&pool).await, 0);
}

#[tokio::test]
async fn with_the_statement_cache_statements_stay_prepared_on_their_connection() {
    let db = TestDb::migrated().await;
    let pool = pool_of_one(&db, true);
    exercise(&pool).await;
    assert!(named_statements(&pool).await >= 5);
}

#[tokio::test]
async fn both_ways_of_sending_statements_read_the_same_rows() {
    let on = TestDb::migrated().await;
    let off = TestDb::migrated().await;
    let (on, off) = (pool_of_one(&on, true), pool_of_one(&off, false));
    let mut pages = Vec::new();
    for pool in [on, off] {
        exercise(&pool).await;
        let page = PostgresUserStore::new(pool)
            .list(&UserFilter::default(), None, 10)
            .await
            .expect("list");
        pages.push(
            page.users
                .into_iter()
                .map(|user| (user.email.as_str().to_owned(), user.first_name))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[0].len(), 1);
}
