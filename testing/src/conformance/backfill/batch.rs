//! Batches: links only where still possible, one audit row per user, all or nothing.

use std::time::Duration;

use identity_link_ports::{AuditQuery, AuditSource, ResolutionStatus, RunEnd, RunId};

use super::{auth_id, counts, link_of, plan, run_counts, seed, to_link, verdict, BackfillSubjects};

pub(super) async fn only_users_still_unlinked_are_linked_and_the_others_already_linked(
    s: &BackfillSubjects,
) -> RunId {
    let run = plan(false);
    let session = s.store.begin(&run).await.expect("begin");
    let free = seed(s, "batch-free@example.com", None).await;
    let raced = seed(s, "batch-raced@example.com", None).await;
    let judged = seed(s, "batch-judged@example.com", None).await;
    let (theirs, also) = (auth_id(), auth_id());
    for (user, auth_id) in [(raced, theirs), (judged, also)] {
        let linked = s.users.set_link(user, Some(auth_id), None).await;
        linked.expect("linked meanwhile");
    }
    let (free_auth, raced_auth) = (auth_id(), auth_id());

    let recorded = s
        .store
        .apply_batch(
            run.id,
            vec![
                to_link(free, "batch-free@example.com", free_auth),
                to_link(raced, "batch-raced@example.com", raced_auth),
                verdict(
                    judged,
                    "batch-judged@example.com",
                    ResolutionStatus::Missing,
                ),
            ],
        )
        .await
        .expect("batch");

    let statuses: Vec<_> = recorded
        .iter()
        .map(|v| (v.user, v.status, v.auth_id))
        .collect();
    use ResolutionStatus::{AlreadyLinked, Linked};
    assert_eq!(
        statuses,
        [
            (free, Linked, Some(free_auth)),
            (raced, AlreadyLinked, Some(theirs)),
            (judged, AlreadyLinked, Some(also))
        ]
    );
    let linked = s.users.find_by_auth_id(free_auth).await.expect("find");
    let linked = linked.expect("the user store sees the backfill's link");
    assert_eq!((linked.id, linked.linked_at.is_some()), (free, true));
    assert_eq!(link_of(s, raced).await, Some(theirs));
    let query = |user| AuditQuery {
        user_id: Some(user),
        auth_id: None,
        limit: 10,
    };
    let events = s.audit.query(&query(free)).await.expect("audit");
    assert!(
        events.iter().any(|e| e.action == "linked"
            && e.source == AuditSource::Backfill
            && e.correlation_id == run.id.as_uuid()
            && e.auth_id == Some(free_auth)),
        "the link is audited with it: {events:?}"
    );
    let events = s.audit.query(&query(raced)).await.expect("audit");
    assert!(events.iter().all(|e| e.source != AuditSource::Backfill));

    let due = s
        .write_backs
        .claim_due(100, Duration::from_secs(3600))
        .await;
    let due = due.expect("claim write-backs");
    match due.iter().find(|item| item.auth_id == free_auth) {
        Some(item) if s.write_back => {
            assert_eq!((item.user_id, item.source), (free, AuditSource::Backfill));
            assert_eq!(item.correlation_id, run.id.as_uuid());
        }
        None if !s.write_back => {}
        queued => panic!("write-back {} but queued {queued:?}", s.write_back),
    }
    assert!(due
        .iter()
        .all(|item| ![theirs, also, raced_auth].contains(&item.auth_id)));
    session.finish(RunEnd::Finished).await.expect("finish");

    let report = s
        .store
        .report(Some(run.id))
        .await
        .expect("report")
        .expect("run");
    assert_eq!(report.counts[&Linked], 1);
    assert_eq!(report.counts[&AlreadyLinked], 2);
    assert_eq!(report.counts.values().sum::<u64>(), 3);
    let expected = counts(&[("already_linked", 2), ("linked", 1)]);
    assert_eq!(run_counts(s, run.id).await, expected);
    run.id
}

pub(super) async fn an_identity_linked_elsewhere_becomes_a_conflict(s: &BackfillSubjects) -> RunId {
    let run = plan(false);
    let session = s.store.begin(&run).await.expect("begin");
    let ours = seed(s, "conflict-ours@example.com", None).await;
    let contested = auth_id();
    let owner = seed(s, "conflict-owner@example.com", Some(contested)).await;
    let own = auth_id();
    let itself = seed(s, "conflict-itself@example.com", Some(own)).await;
    let free = seed(s, "conflict-free@example.com", None).await;
    let free_auth = auth_id();

    let recorded = s
        .store
        .apply_batch(
            run.id,
            vec![
                to_link(ours, "conflict-ours@example.com", contested),
                to_link(itself, "conflict-itself@example.com", own),
                to_link(free, "conflict-free@example.com", free_auth),
            ],
        )
        .await
        .expect("batch");

    assert_eq!(recorded[0].status, ResolutionStatus::Conflict);
    assert_eq!(recorded[0].auth_id, Some(contested));
    let detail = recorded[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains(&owner.to_string()), "{detail}");
    assert_eq!(recorded[1].status, ResolutionStatus::AlreadyLinked);
    assert_eq!(recorded[1].auth_id, Some(own));
    assert_eq!(recorded[2].status, ResolutionStatus::Linked);
    assert_eq!(link_of(s, ours).await, None);
    assert_eq!(link_of(s, owner).await, Some(contested));
    assert_eq!(link_of(s, free).await, Some(free_auth));
    session.finish(RunEnd::Finished).await.expect("finish");
    let expected = counts(&[("already_linked", 1), ("conflict", 1), ("linked", 1)]);
    assert_eq!(run_counts(s, run.id).await, expected);
    run.id
}

pub(super) async fn a_batch_is_written_whole_or_not_at_all(s: &BackfillSubjects) -> RunId {
    let run = plan(false);
    let session = s.store.begin(&run).await.expect("begin");
    let first = seed(s, "whole-first@example.com", None).await;
    let second = seed(s, "whole-second@example.com", None).await;
    let first_auth = auth_id();
    let batch = vec![to_link(first, "whole-first@example.com", first_auth)];
    s.store.apply_batch(run.id, batch).await.expect("batch");

    // The run has recorded `first` already: one audit row per user per run.
    let again = vec![
        to_link(second, "whole-second@example.com", auth_id()),
        verdict(first, "whole-first@example.com", ResolutionStatus::Missing),
    ];
    assert!(s.store.apply_batch(run.id, again).await.is_err());

    assert_eq!(
        link_of(s, second).await,
        None,
        "nothing of the batch is written"
    );
    assert_eq!(link_of(s, first).await, Some(first_auth));
    session.finish(RunEnd::Finished).await.expect("finish");
    assert_eq!(run_counts(s, run.id).await, counts(&[("linked", 1)]));
    run.id
}
