//! What the memory store does where Postgres has a database session.

use identity_link_ports::{
    AuthId, Email, NewUser, Profile, ResolutionStatus, RunEnd, RunPlan, RunState, UserStore,
};
use identity_link_ports::{Strategy, UserId};
use serde_json::json;
use uuid::Uuid;

use super::*;

fn plan() -> RunPlan {
    RunPlan {
        id: RunId::generate(),
        strategy: Strategy::List,
        dry_run: false,
        options: json!({}),
    }
}

#[tokio::test]
async fn a_session_dropped_unfinished_is_an_interrupted_run_and_frees_the_lock() {
    let users = MemoryUserStore::new();
    let store = MemoryBackfillStore::new(&users);
    let dropped = plan();
    let session = store.begin(&dropped).await.expect("begin");

    drop(session);

    let report = store.report(Some(dropped.id)).await.expect("report");
    let report = report.expect("the run is recorded");
    assert_eq!(
        (report.state, report.finished_at),
        (RunState::Interrupted, None)
    );
    assert!(report
        .failure
        .is_some_and(|failure| failure.contains("ended")));
    let next = store
        .begin(&plan())
        .await
        .expect("the lock went with the session");
    next.finish(RunEnd::Finished).await.expect("finish");
    let again = store.report(Some(dropped.id)).await.expect("report");
    assert_eq!(again.expect("run").state, RunState::Interrupted);
}

#[tokio::test]
async fn stores_over_one_user_store_share_runs_and_the_lock() {
    let users = MemoryUserStore::new();
    let (one, other) = (
        MemoryBackfillStore::new(&users),
        MemoryBackfillStore::new(&users),
    );
    let run = plan();
    let session = one.begin(&run).await.expect("begin");

    assert!(matches!(
        other.begin(&plan()).await,
        Err(BeginError::Busy(_))
    ));
    let seen = other.report(None).await.expect("report").expect("a run");
    assert_eq!(seen.run, run.id);

    session.finish(RunEnd::Finished).await.expect("finish");
    let elsewhere = MemoryBackfillStore::new(&MemoryUserStore::new());
    assert_eq!(elsewhere.report(None).await.expect("report"), None);
}

#[tokio::test]
async fn a_link_a_batch_makes_is_dated_like_its_audit_row() {
    let users = MemoryUserStore::new();
    let store = MemoryBackfillStore::new(&users);
    let user = users
        .create_linked(NewUser {
            id: UserId::generate(),
            profile: Profile {
                email: Email::new("dated@example.com").expect("valid"),
                first_name: None,
                last_name: None,
                avatar_url: None,
            },
            auth_id: None,
        })
        .await
        .expect("seed");
    let run = plan();
    let session = store.begin(&run).await.expect("begin");
    let auth_id = AuthId::new(Uuid::new_v4());
    let verdict = Verdict {
        user: user.id,
        email: "dated@example.com".into(),
        status: ResolutionStatus::Linked,
        auth_id: Some(auth_id),
        detail: None,
    };
    store
        .apply_batch(run.id, vec![verdict])
        .await
        .expect("batch");
    session.finish(RunEnd::Finished).await.expect("finish");

    let linked = users
        .find_by_id(user.id)
        .await
        .expect("find")
        .expect("user");
    let runs = store.shared.runs();
    let row = runs.audit.iter().find(|row| row.verdict.user == user.id);
    assert_eq!(linked.linked_at, row.map(|row| row.examined_at));
}
