//! Sessions ended by the server (`pg_terminate_backend`, a failover to a
//! read-only server) are never a 500: reads and whole transactions run once
//! more on a fresh connection, and the failed connection is not reused.

use std::sync::Arc;
use std::time::Duration;

use identity_link_adapters::postgres::{self, PgPool, PostgresSettings, PostgresUserStore};
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, Email, NewUser, Profile, StoreError, UserId, UserStore,
};
use uuid::Uuid;

use crate::helpers::{seed_user, spawn_app, TestDb};

#[tokio::test]
async fn the_sqlstates_of_failovers_deadlocks_and_shutdowns_are_the_database_being_unavailable() {
    let db = TestDb::create().await;
    let client = db.client().await;
    for code in [
        "25006", "40001", "40P01", "57P01", "57P02", "57P03", "08006",
    ] {
        let error = client
            .batch_execute(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$"
            ))
            .await
            .expect_err("raised");
        assert_eq!(error.code().map(|c| c.code()), Some(code));
        assert!(
            matches!(postgres::store_error(error), StoreError::Unavailable(_)),
            "{code} is the database being unavailable (503)"
        );
    }
    let error = client
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '22012'; END $$")
        .await
        .expect_err("raised");
    assert!(
        matches!(postgres::store_error(error), StoreError::Unknown(_)),
        "a statement's own error stays unexpected"
    );
}

fn pool_of_one(db: &TestDb) -> PgPool {
    postgres::pool(&PostgresSettings {
        url: db.url.clone(),
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_cache: true,
    })
    .expect("pool")
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        profile: Profile {
            email: Email::new(email).expect("email"),
            first_name: None,
            last_name: None,
            avatar_url: None,
        },
        auth_id: Some(AuthId::new(Uuid::new_v4())),
    }
}

/// Makes the pool's one connection read-only, as a session that now leads to
/// a standby after a failover.
async fn turn_read_only(pool: &PgPool) {
    pool.get()
        .await
        .expect("the pooled connection")
        .batch_execute("SET default_transaction_read_only = on")
        .await
        .expect("set read-only");
}

#[tokio::test]
async fn a_transaction_refused_by_a_read_only_server_runs_again_on_a_fresh_connection() {
    let db = TestDb::migrated().await;
    let pool = pool_of_one(&db);
    let store = PostgresUserStore::new(pool.clone());
    turn_read_only(&pool).await;

    let created = store
        .create_linked_recorded(
            new_user("failover@example.com"),
            &ChangeRecord {
                audit: Vec::new(),
                write_back: false,
            },
        )
        .await
        .expect("created on a fresh connection");
    let found = store.find_by_id(created.id).await.expect("read");
    assert_eq!(found.map(|user| user.id), Some(created.id));
}

#[tokio::test]
async fn a_single_write_refused_by_a_read_only_server_is_unavailable_and_its_connection_dropped() {
    let db = TestDb::migrated().await;
    let pool = pool_of_one(&db);
    let store = PostgresUserStore::new(pool.clone());
    turn_read_only(&pool).await;

    let refused = store.create_linked(new_user("standby@example.com")).await;
    assert!(
        matches!(
            refused,
            Err(CreateLinkedError::Store(StoreError::Unavailable(_)))
        ),
        "503, not 500: {refused:?}"
    );
    let read_only: String = pool
        .get()
        .await
        .expect("a connection")
        .query_one("SHOW default_transaction_read_only", &[])
        .await
        .expect("show")
        .get(0);
    assert_eq!(
        read_only, "off",
        "the read-only connection was not handed out again"
    );
    store
        .create_linked(new_user("standby@example.com"))
        .await
        .expect("written on the fresh connection");
}

#[tokio::test]
async fn after_every_session_of_the_database_is_terminated_resolves_are_answered_at_once() {
    let app = Arc::new(spawn_app().await);
    let mut linked = Vec::new();
    for n in 0..16 {
        let auth_id = Uuid::new_v4();
        seed_user(&app, &format!("terminated-{n}@example.com"), Some(auth_id)).await;
        linked.push(auth_id);
    }
    let resolve_all = |linked: Vec<Uuid>| {
        let app = app.clone();
        async move {
            let calls = linked.into_iter().map(|auth_id| {
                let app = app.clone();
                tokio::spawn(async move { app.resolve(auth_id).await.status().as_u16() })
            });
            futures::future::join_all(calls)
                .await
                .into_iter()
                .map(|joined| joined.expect("resolve task"))
                .collect::<Vec<u16>>()
        }
    };
    assert_eq!(resolve_all(linked.clone()).await, vec![200; 16], "before");

    let terminated: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
            &[],
        )
        .await
        .expect("terminate")
        .get(0);
    assert!(
        terminated >= 2,
        "the app's pooled sessions were terminated ({terminated})"
    );

    assert_eq!(
        resolve_all(linked).await,
        vec![200; 16],
        "every resolve answered after the sessions were ended"
    );
}
