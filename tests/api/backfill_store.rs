//! The Postgres backfill store: the port's conformance suite, and what only a
//! database has (sessions that end unfinished, the statistics, SQL details).

use std::sync::Arc;
use std::time::Duration;

use identity_link_adapters::postgres::{
    PostgresAuditLog, PostgresUserStore, PostgresWriteBackQueue,
};
use identity_link_adapters::postgres_backfill::PostgresBackfillStore;
use identity_link_ports::{
    AuthId, BackfillStore, ResolutionStatus, RunEnd, RunId, RunPlan, RunState, Strategy, UserId,
    Verdict,
};
use identity_link_testing::conformance::backfill::{backfill_store, BackfillSubjects};
use serde_json::json;
use uuid::Uuid;

use crate::backfill_fake::{store, user};
use crate::conformance::migrated_pool_with;
use crate::helpers::{spawn_app, TestApp, TestDb};

fn plan(dry_run: bool) -> RunPlan {
    RunPlan {
        id: RunId::generate(),
        strategy: Strategy::List,
        dry_run,
        options: json!({"test": true}),
    }
}

fn to_link(user: UserId, email: &str, auth_id: Uuid) -> Verdict {
    Verdict {
        user,
        email: email.to_owned(),
        status: ResolutionStatus::Linked,
        auth_id: Some(AuthId::new(auth_id)),
        detail: None,
    }
}

async fn conformance(statement_cache: bool, write_back: bool) {
    let db = TestDb::create().await;
    let pool = migrated_pool_with(&db, statement_cache).await;
    let store =
        PostgresBackfillStore::new(pool.clone(), db.url.clone()).with_write_back(write_back);
    backfill_store(BackfillSubjects {
        store: Arc::new(store),
        users: Arc::new(PostgresUserStore::new(pool.clone())),
        audit: Arc::new(PostgresAuditLog::new(pool.clone())),
        write_backs: Arc::new(PostgresWriteBackQueue::new(pool)),
        write_back,
    })
    .await;
}

#[tokio::test]
async fn the_postgres_backfill_store_passes_the_conformance_suite() {
    conformance(true, false).await;
}

#[tokio::test]
async fn the_postgres_backfill_store_passes_the_conformance_suite_without_the_statement_cache_queuing_write_backs(
) {
    conformance(false, true).await;
}

#[tokio::test]
async fn a_link_and_its_audit_row_share_their_time() {
    let app = spawn_app().await;
    let store = store(&app);
    let run = plan(false);
    let session = store.begin(&run).await.expect("begin");
    let free = user(&app, "free@example.com", None).await;

    store
        .apply_batch(
            run.id,
            vec![to_link(free, "free@example.com", Uuid::new_v4())],
        )
        .await
        .expect("batch");

    let linked_at_matches: bool = app
        .db()
        .await
        .query_one(
            "SELECT u.linked_at = a.examined_at FROM users u JOIN user_authid_backfill_audit a
                 ON a.user_id = u.id WHERE u.id = $1",
            &[&free.as_uuid()],
        )
        .await
        .expect("row")
        .get(0);
    assert!(
        linked_at_matches,
        "a revert recognises an unchanged link by this time"
    );
    session.finish(RunEnd::Finished).await.expect("finish");
}

#[tokio::test]
async fn a_run_whose_session_ended_without_finishing_is_reported_interrupted() {
    let app = spawn_app().await;
    let store = store(&app);
    let killed = plan(false);
    let session = store.begin(&killed).await.expect("begin");
    let live = store
        .report(Some(killed.id))
        .await
        .expect("report")
        .expect("run");
    assert_eq!(live.state, RunState::Running);

    drop(session);
    let mut state = RunState::Running;
    for _ in 0..50 {
        state = store
            .report(Some(killed.id))
            .await
            .expect("report")
            .expect("run")
            .state;
        if state != RunState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, RunState::Interrupted);

    let next = store
        .begin(&plan(false))
        .await
        .expect("the lock went with the session");
    next.finish(RunEnd::Failed("stopped".into()))
        .await
        .expect("finish");
    let outcome: String = app
        .db()
        .await
        .query_one(
            "SELECT outcome FROM user_authid_backfill_runs WHERE run_id = $1",
            &[&killed.id.as_uuid()],
        )
        .await
        .expect("row")
        .get(0);
    assert_eq!(outcome, "interrupted");
    let latest = store.report(None).await.expect("report").expect("run");
    assert_eq!(latest.state, RunState::Failed);
    assert_eq!(latest.failure.as_deref(), Some("stopped"));
}

async fn users_analyzed(app: &TestApp) -> bool {
    app.db()
        .await
        .query_one(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'users'",
            &[],
        )
        .await
        .expect("table statistics")
        .get(0)
}

#[tokio::test]
async fn a_run_that_linked_users_refreshes_the_statistics_of_the_users_table() {
    let app = spawn_app().await;
    let store = store(&app);
    let idle = plan(false);
    store
        .begin(&idle)
        .await
        .expect("begin")
        .finish(RunEnd::Finished)
        .await
        .expect("finish");
    assert!(!users_analyzed(&app).await, "a run that linked nobody");

    let run = plan(false);
    let session = store.begin(&run).await.expect("begin");
    let free = user(&app, "free@example.com", None).await;
    store
        .apply_batch(
            run.id,
            vec![to_link(free, "free@example.com", Uuid::new_v4())],
        )
        .await
        .expect("batch");
    session.finish(RunEnd::Finished).await.expect("finish");
    // Plans that filter on the link must not go on believing nobody is linked.
    assert!(users_analyzed(&app).await);
}
