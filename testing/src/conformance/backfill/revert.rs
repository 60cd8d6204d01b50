//! Reverting a run.

use identity_link_ports::{
    AuditQuery, AuditSource, ResolutionStatus, RevertOutcome, RunEnd, RunId,
};

use super::{auth_id, link_of, plan, seed, to_link, verdict, BackfillSubjects};

/// Returns the runs it recorded.
pub(super) async fn a_revert_removes_exactly_the_unchanged_links_of_its_run(
    s: &BackfillSubjects,
) -> Vec<RunId> {
    let run = plan(false);
    let session = s.store.begin(&run).await.expect("begin");
    let kept = seed(s, "revert-kept@example.com", None).await;
    let relinked = seed(s, "revert-relinked@example.com", None).await;
    let unlinked = seed(s, "revert-unlinked@example.com", None).await;
    let missing = seed(s, "revert-missing@example.com", None).await;
    let (kept_auth, relinked_auth, unlinked_auth) = (auth_id(), auth_id(), auth_id());
    let batch = vec![
        to_link(kept, "revert-kept@example.com", kept_auth),
        to_link(relinked, "revert-relinked@example.com", relinked_auth),
        to_link(unlinked, "revert-unlinked@example.com", unlinked_auth),
        verdict(
            missing,
            "revert-missing@example.com",
            ResolutionStatus::Missing,
        ),
    ];
    s.store.apply_batch(run.id, batch).await.expect("batch");
    session.finish(RunEnd::Finished).await.expect("finish");
    // A link remade since, even to the same identity, is no longer the run's.
    let changes = [
        (relinked, None, Some(relinked_auth)),
        (relinked, Some(relinked_auth), None),
        (unlinked, None, Some(unlinked_auth)),
    ];
    for (user, new, expected) in changes {
        s.users
            .set_link(user, new, expected)
            .await
            .expect("changed");
    }

    let outcome = s.store.revert(run.id, 1).await.expect("revert");

    let mut changed = vec![relinked, unlinked];
    changed.sort();
    let expected = RevertOutcome {
        reverted: 1,
        already_reverted: 0,
        changed: changed.clone(),
    };
    assert_eq!(outcome, expected);
    assert_eq!(link_of(s, kept).await, None);
    let found = s.users.find_by_auth_id(kept_auth).await.expect("find");
    assert!(found.is_none(), "the identity is free again");
    assert_eq!(link_of(s, relinked).await, Some(relinked_auth));
    assert_eq!(link_of(s, unlinked).await, None);
    let query = AuditQuery {
        user_id: Some(kept),
        auth_id: None,
        limit: 10,
    };
    let events = s.audit.query(&query).await.expect("audit");
    assert!(
        events.iter().any(|e| e.action == "unlinked"
            && e.source == AuditSource::Backfill
            && e.auth_id == Some(kept_auth)),
        "{events:?}"
    );
    let report = s.store.report(Some(run.id)).await.expect("report");
    let report = report.expect("run");
    assert_eq!(report.reverted, 1);
    assert_eq!(
        (
            report.counts[&ResolutionStatus::Linked],
            report.counts[&ResolutionStatus::Missing]
        ),
        (3, 1),
        "the audit keeps what the run did"
    );

    let again = s.store.revert(run.id, 10).await.expect("second revert");
    let expected = RevertOutcome {
        reverted: 0,
        already_reverted: 1,
        changed,
    };
    assert_eq!(again, expected);
    assert_eq!(link_of(s, relinked).await, Some(relinked_auth));

    let later = plan(false);
    let session = s.store.begin(&later).await.expect("begin");
    let batch = vec![to_link(kept, "revert-kept@example.com", kept_auth)];
    let recorded = s.store.apply_batch(later.id, batch).await.expect("batch");
    assert_eq!(recorded[0].status, ResolutionStatus::Linked);
    session.finish(RunEnd::Finished).await.expect("finish");
    assert_eq!(
        link_of(s, kept).await,
        Some(kept_auth),
        "a reverted user links again"
    );

    let idle = plan(false);
    let session = s.store.begin(&idle).await.expect("begin");
    session.finish(RunEnd::Finished).await.expect("finish");
    let nothing = s.store.revert(idle.id, 10).await.expect("revert");
    assert_eq!(nothing, RevertOutcome::default());
    vec![run.id, later.id, idle.id]
}
