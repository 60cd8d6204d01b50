//! The backfill store itself: the lock, batches and their races, reports.

use std::time::Duration;

use identity_link_ports::{
    AuthId, BackfillStore, BeginError, ReportError, ResolutionStatus, RevertError, RunEnd, RunId,
    RunPlan, RunState, Strategy, UserId, Verdict,
};
use serde_json::json;
use uuid::Uuid;

use crate::backfill_fake::{link_of, store, user};
use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

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

async fn audit_status(app: &TestApp, run: RunId, user: UserId) -> String {
    app.db()
        .await
        .query_one(
            "SELECT resolution_status FROM user_authid_backfill_audit WHERE run_id = $1 AND user_id = $2",
            &[&run.as_uuid(), &user.as_uuid()],
        )
        .await
        .expect("audit row")
        .get(0)
}

#[tokio::test]
async fn a_batch_links_only_users_still_unlinked_and_records_the_others_as_already_linked() {
    let app = spawn_app().await;
    let store = store(&app);
    let run = plan(false);
    let session = store.begin(&run).await.expect("begin");
    let free = user(&app, "free@example.com", None).await;
    let raced = user(&app, "raced@example.com", None).await;
    let theirs = AuthId::new(Uuid::new_v4());
    app.app
        .users
        .set_link(raced, Some(theirs), None)
        .await
        .expect("linked meanwhile");
    let (free_auth, raced_auth) = (Uuid::new_v4(), Uuid::new_v4());

    let recorded = store
        .apply_batch(
            run.id,
            vec![
                to_link(free, "free@example.com", free_auth),
                to_link(raced, "raced@example.com", raced_auth),
            ],
        )
        .await
        .expect("batch");

    assert_eq!(recorded[0].status, ResolutionStatus::Linked);
    assert_eq!(recorded[1].status, ResolutionStatus::AlreadyLinked);
    assert_eq!(recorded[1].auth_id, Some(theirs));
    assert_eq!(link_of(&app, free).await, Some(free_auth));
    assert_eq!(link_of(&app, raced).await, Some(theirs.as_uuid()));
    assert_eq!(audit_status(&app, run.id, raced).await, "already_linked");
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
        "a link and its audit row share their time"
    );
    session.finish(RunEnd::Finished).await.expect("finish");
}

#[tokio::test]
async fn an_identity_linked_elsewhere_meanwhile_becomes_a_conflict_through_the_unique_constraint() {
    let app = spawn_app().await;
    let store = store(&app);
    let run = plan(false);
    let session = store.begin(&run).await.expect("begin");
    let ours = user(&app, "ours@example.com", None).await;
    let contested = Uuid::new_v4();
    let owner = user(&app, "owner@example.com", Some(contested)).await;

    let recorded = store
        .apply_batch(run.id, vec![to_link(ours, "ours@example.com", contested)])
        .await
        .expect("batch");

    assert_eq!(recorded[0].status, ResolutionStatus::Conflict);
    assert!(recorded[0]
        .detail
        .as_deref()
        .unwrap_or_default()
        .contains(&owner.to_string()));
    assert_eq!(link_of(&app, ours).await, None);
    assert_eq!(link_of(&app, owner).await, Some(contested));
    assert_eq!(audit_status(&app, run.id, ours).await, "conflict");
    session.finish(RunEnd::Finished).await.expect("finish");
}

#[tokio::test]
async fn without_the_statement_cache_a_batch_links_queues_write_backs_and_records_conflicts() {
    let app = spawn_app_with(Options {
        tweak: |settings| {
            settings.database_statement_cache = false;
            settings.write_back_external_id = true;
        },
        ..Options::default()
    })
    .await;
    let store = store(&app);
    let run = plan(false);
    let session = store.begin(&run).await.expect("begin");
    let free = user(&app, "free@example.com", None).await;
    let ours = user(&app, "ours@example.com", None).await;
    let contested = Uuid::new_v4();
    user(&app, "owner@example.com", Some(contested)).await;
    let free_auth = Uuid::new_v4();

    let recorded = store
        .apply_batch(
            run.id,
            vec![
                to_link(free, "free@example.com", free_auth),
                to_link(ours, "ours@example.com", contested),
            ],
        )
        .await
        .expect("batch");

    assert_eq!(recorded[0].status, ResolutionStatus::Linked);
    assert_eq!(recorded[1].status, ResolutionStatus::Conflict);
    assert_eq!(link_of(&app, free).await, Some(free_auth));
    assert_eq!(audit_status(&app, run.id, ours).await, "conflict");
    assert_eq!(
        app.count("SELECT count(*) FROM external_id_writeback")
            .await,
        1,
        "the link's write-back is queued with it"
    );
    session.finish(RunEnd::Finished).await.expect("finish");
    let report = store
        .report(Some(run.id))
        .await
        .expect("report")
        .expect("run");
    assert_eq!(report.counts.get(&ResolutionStatus::Linked), Some(&1));
}

#[tokio::test]
async fn one_run_or_revert_at_a_time_holds_the_lock_and_dry_runs_take_none() {
    let app = spawn_app().await;
    let store = store(&app);
    let first = plan(false);
    let session = store.begin(&first).await.expect("first run");

    let refused = store
        .begin(&plan(false))
        .await
        .err()
        .expect("second run refused");
    match refused {
        BeginError::Busy(holder) => assert!(holder.contains(&first.id.to_string()), "{holder}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(matches!(
        store.revert(first.id, 10).await,
        Err(RevertError::Busy(_))
    ));
    let dry = store
        .begin(&plan(true))
        .await
        .expect("a dry run needs no lock");
    dry.finish(RunEnd::Finished).await.expect("dry finish");

    session.finish(RunEnd::Finished).await.expect("finish");
    let next = store.begin(&plan(false)).await.expect("free again");
    next.finish(RunEnd::Finished).await.expect("finish");
    let runs = app
        .count("SELECT count(*) FROM user_authid_backfill_runs")
        .await;
    assert_eq!(runs, 2, "dry runs leave no run row");
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

#[tokio::test]
async fn reports_need_a_recorded_run() {
    let app = spawn_app().await;
    let store = store(&app);
    assert_eq!(store.report(None).await.expect("report"), None);
    let unknown = RunId::generate();
    assert!(matches!(
        store.report(Some(unknown)).await,
        Err(ReportError::UnknownRun(run)) if run == unknown
    ));
    assert!(matches!(
        store.revert(unknown, 10).await,
        Err(RevertError::UnknownRun(_))
    ));
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
