//! Conformance suite of the backfill store: the lock, batches, reports,
//! status counts and reverts, checked through the port and the stores over
//! the same data (users, audit log, write-back queue).

mod batch;
mod revert;
mod walk;

use std::collections::BTreeMap;
use std::sync::Arc;

use identity_link_ports::{
    AuditLog, AuthId, BackfillStore, BeginError, Email, NewUser, Profile, ReportError,
    ResolutionStatus, RevertError, RunEnd, RunId, RunPlan, RunState, StatusCount, Strategy, UserId,
    UserStore, Verdict, WriteBackQueue,
};
use serde_json::json;
use uuid::Uuid;

/// A backfill store and the stores over the same data it is checked through.
pub struct BackfillSubjects {
    pub store: Arc<dyn BackfillStore>,
    /// Seeds users and shows their links.
    pub users: Arc<dyn UserStore>,
    /// Where links and unlinks leave their `identity_audit` events.
    pub audit: Arc<dyn AuditLog>,
    pub write_backs: Arc<dyn WriteBackQueue>,
    /// The store was made to queue the write-back of every link it makes.
    pub write_back: bool,
}

/// Runs every backfill-store check; the stores must start empty (no users, no runs).
pub async fn backfill_store(subjects: BackfillSubjects) {
    let s = &subjects;
    reports_need_a_recorded_run(s).await;
    let mut runs = one_run_or_revert_at_a_time_holds_the_lock_and_dry_runs_take_none(s).await;
    walk::the_walk_gives_every_unlinked_user_with_its_staged_candidates(s).await;
    runs.push(batch::only_users_still_unlinked_are_linked_and_the_others_already_linked(s).await);
    runs.push(batch::an_identity_linked_elsewhere_becomes_a_conflict(s).await);
    runs.push(batch::a_batch_is_written_whole_or_not_at_all(s).await);
    runs.extend(revert::a_revert_removes_exactly_the_unchanged_links_of_its_run(s).await);
    status_counts_of_every_run_add_up_by_status(s, &runs).await;
}

fn plan(dry_run: bool) -> RunPlan {
    RunPlan {
        id: RunId::generate(),
        strategy: Strategy::List,
        dry_run,
        options: json!({"test": true, "batch_size": 2}),
    }
}

fn auth_id() -> AuthId {
    AuthId::new(Uuid::new_v4())
}

fn verdict(user: UserId, email: &str, status: ResolutionStatus) -> Verdict {
    Verdict {
        user,
        email: email.to_owned(),
        status,
        auth_id: None,
        detail: None,
    }
}

fn to_link(user: UserId, email: &str, auth_id: AuthId) -> Verdict {
    Verdict {
        auth_id: Some(auth_id),
        ..verdict(user, email, ResolutionStatus::Linked)
    }
}

async fn seed(s: &BackfillSubjects, email: &str, auth_id: Option<AuthId>) -> UserId {
    let new = NewUser {
        id: UserId::generate(),
        profile: Profile {
            email: Email::new(email).expect("test emails are valid"),
            first_name: None,
            last_name: None,
            avatar_url: None,
        },
        auth_id,
    };
    s.users.create_linked(new).await.expect("seed a user").id
}

async fn link_of(s: &BackfillSubjects, user: UserId) -> Option<AuthId> {
    s.users
        .find_by_id(user)
        .await
        .expect("find a user")
        .expect("the user exists")
        .auth_id
}

fn counts(pairs: &[(&str, u64)]) -> Vec<StatusCount> {
    pairs
        .iter()
        .map(|(status, count)| StatusCount {
            status: (*status).to_owned(),
            count: *count,
        })
        .collect()
}

async fn run_counts(s: &BackfillSubjects, run: RunId) -> Vec<StatusCount> {
    s.store
        .status_counts(Some(run))
        .await
        .expect("status counts")
}

async fn reports_need_a_recorded_run(s: &BackfillSubjects) {
    assert_eq!(s.store.report(None).await.expect("report"), None);
    let unknown = RunId::generate();
    assert!(matches!(
        s.store.report(Some(unknown)).await,
        Err(ReportError::UnknownRun(run)) if run == unknown
    ));
    assert!(matches!(
        s.store.revert(unknown, 10).await,
        Err(RevertError::UnknownRun(run)) if run == unknown
    ));
    assert_eq!(s.store.status_counts(None).await.expect("counts"), vec![]);
}

/// Returns the runs it recorded.
async fn one_run_or_revert_at_a_time_holds_the_lock_and_dry_runs_take_none(
    s: &BackfillSubjects,
) -> Vec<RunId> {
    let first = plan(false);
    let session = s.store.begin(&first).await.expect("first run");
    let live = s.store.report(Some(first.id)).await.expect("report");
    let live = live.expect("the run is recorded");
    assert_eq!((live.state, live.finished_at), (RunState::Running, None));
    assert_eq!(
        (live.strategy, &live.options),
        (Strategy::List, &first.options)
    );
    assert_eq!(live.counts.len(), ResolutionStatus::ALL.len());
    assert!(live.counts.values().all(|count| *count == 0));

    let refused = s.store.begin(&plan(false)).await.err();
    match refused.expect("a second run is refused") {
        BeginError::Busy(holder) => assert!(holder.contains(&first.id.to_string()), "{holder}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(matches!(
        s.store.revert(first.id, 10).await,
        Err(RevertError::Busy(_))
    ));
    let dry = plan(true);
    let dry_session = s.store.begin(&dry).await.expect("a dry run needs no lock");
    dry_session
        .finish(RunEnd::Finished)
        .await
        .expect("dry finish");
    session.finish(RunEnd::Finished).await.expect("finish");

    let done = s.store.report(Some(first.id)).await.expect("report");
    let done = done.expect("the run is recorded");
    assert_eq!((done.state, done.failure), (RunState::Finished, None));
    assert!(done.finished_at.is_some_and(|at| at >= done.started_at));

    let next = RunPlan {
        strategy: Strategy::Lookup,
        ..plan(false)
    };
    let session = s.store.begin(&next).await.expect("the lock is free again");
    session
        .finish(RunEnd::Failed("stopped".into()))
        .await
        .expect("finish");
    let latest = s.store.report(None).await.expect("report").expect("a run");
    assert_eq!((latest.run, latest.strategy), (next.id, Strategy::Lookup));
    assert_eq!(latest.state, RunState::Failed);
    assert_eq!(latest.failure.as_deref(), Some("stopped"));
    assert!(
        matches!(
            s.store.report(Some(dry.id)).await,
            Err(ReportError::UnknownRun(_))
        ),
        "a dry run leaves no run"
    );
    vec![first.id, next.id]
}

async fn status_counts_of_every_run_add_up_by_status(s: &BackfillSubjects, runs: &[RunId]) {
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for run in runs {
        for count in run_counts(s, *run).await {
            *expected.entry(count.status).or_default() += count.count;
        }
    }
    let total = s.store.status_counts(None).await.expect("status counts");
    let names: Vec<&str> = total.iter().map(|count| count.status.as_str()).collect();
    assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "{names:?}");
    let total: BTreeMap<String, u64> = total
        .into_iter()
        .map(|count| (count.status, count.count))
        .collect();
    assert_eq!(total, expected);
    assert!(total.contains_key("conflict") && total.contains_key("linked"));
}
