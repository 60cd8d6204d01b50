//! Backfill runs over time: reruns, dry runs, reports and reverts.

use identity_link::usecases::backfill::BackfillOptions;
use identity_link_ports::{AuditQuery, AuthId, BackfillStore, ResolutionStatus, RunState, UserId};
use uuid::Uuid;

use crate::backfill_fake::{identity, link_of, operators_query, run, store, user, Identities};
use crate::helpers::{spawn_app, TestApp};

/// Users a@…, b@… linkable, c@… missing, d@… duplicated; returns them in that order.
async fn population(app: &TestApp) -> (Vec<UserId>, Vec<Uuid>) {
    let (a_id, a) = identity("a@example.com", true);
    let (b_id, b) = identity("b@example.com", true);
    let (_, d1) = identity("d@example.com", true);
    let (_, d2) = identity("d@example.com", true);
    Identities::new(vec![a, b, d1, d2])
        .mount(&app.kratos, 1.., 0)
        .await;
    let mut users = Vec::new();
    for email in [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ] {
        users.push(user(app, email, None).await);
    }
    (users, vec![a_id, b_id])
}

async fn links(app: &TestApp) -> Vec<(String, Option<Uuid>)> {
    app.db()
        .await
        .query("SELECT email, auth_id FROM users ORDER BY email", &[])
        .await
        .expect("users")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn options() -> BackfillOptions {
    BackfillOptions {
        batch_size: 2,
        ..BackfillOptions::default()
    }
}

#[tokio::test]
async fn a_rerun_changes_no_link_and_re_examines_only_users_still_unlinked() {
    let app = spawn_app().await;
    let (users, ids) = population(&app).await;

    let first = run(&app, &options()).await;
    let after_first = links(&app).await;
    let second = run(&app, &options()).await;

    assert_eq!(first.count(ResolutionStatus::Linked), 2);
    assert_eq!(links(&app).await, after_first, "the rerun changed links");
    assert_eq!(link_of(&app, users[0]).await, Some(ids[0]));
    assert_eq!(second.count(ResolutionStatus::Linked), 0);
    assert_eq!(second.count(ResolutionStatus::Missing), 1);
    assert_eq!(second.count(ResolutionStatus::Duplicate), 1);
    assert_eq!(second.examined(), 2, "linked users are not examined again");
    let counts = operators_query(&app).await;
    assert_eq!(counts.get("linked"), Some(&2));
    assert_eq!(counts.get("missing"), Some(&2));
    assert_eq!(counts.get("duplicate"), Some(&2));
    let double_linked = app
        .count(
            "SELECT count(*) FROM (SELECT user_id FROM user_authid_backfill_audit
              WHERE resolution_status = 'linked' GROUP BY user_id HAVING count(*) > 1) d",
        )
        .await;
    assert_eq!(double_linked, 0);
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_predicts_the_real_run() {
    let app = spawn_app().await;
    population(&app).await;
    let before = links(&app).await;

    let dry = run(
        &app,
        &BackfillOptions {
            dry_run: true,
            ..options()
        },
    )
    .await;

    assert!(dry.dry_run);
    assert_eq!(links(&app).await, before);
    for table in [
        "user_authid_backfill_runs",
        "user_authid_backfill_audit",
        "identity_audit",
    ] {
        let rows = app.count(&format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(rows, 0, "{table}");
    }
    let real = run(&app, &options()).await;
    assert_eq!(dry.counts, real.counts);
}

#[tokio::test]
async fn the_report_counts_a_run_per_status() {
    let app = spawn_app().await;
    population(&app).await;
    let store = store(&app);
    let done = run(&app, &options()).await;

    let latest = store.report(None).await.expect("report").expect("a run");
    assert_eq!(latest.run, done.run);
    assert_eq!(latest.state, RunState::Finished);
    assert_eq!(latest.counts, done.counts);
    assert!(latest.finished_at.is_some());
    assert_eq!(latest.options["batch_size"], 2);
    let stored: serde_json::Value = app
        .db()
        .await
        .query_one(
            "SELECT counts FROM user_authid_backfill_runs WHERE run_id = $1",
            &[&done.run.as_uuid()],
        )
        .await
        .expect("run row")
        .get(0);
    assert_eq!(stored["linked"], 2);
    assert_eq!(stored["error"], 0);
}

#[tokio::test]
async fn a_revert_removes_exactly_the_run_s_unchanged_links_and_is_audited() {
    let app = spawn_app().await;
    let (users, ids) = population(&app).await;
    let store = store(&app);
    let before = run(&app, &options()).await;
    // Between the run and the revert, an admin relinks b@… to the same identity:
    // a link remade since is no longer the run's.
    app.app
        .users
        .set_link(users[1], None, Some(AuthId::new(ids[1])))
        .await
        .expect("unlink");
    app.app
        .users
        .set_link(users[1], Some(AuthId::new(ids[1])), None)
        .await
        .expect("relink");
    let later = run(&app, &options()).await;
    assert_eq!(later.count(ResolutionStatus::Linked), 0);

    let outcome = store.revert(before.run, 1).await.expect("revert");

    assert_eq!(outcome.reverted, 1);
    assert_eq!(outcome.changed, vec![users[1]]);
    assert_eq!(link_of(&app, users[0]).await, None);
    assert_eq!(link_of(&app, users[1]).await, Some(ids[1]));
    let events = app
        .app
        .audit_log
        .query(&AuditQuery {
            user_id: Some(users[0]),
            auth_id: None,
            limit: 10,
        })
        .await
        .expect("audit");
    assert!(
        events.iter().any(|e| e.action == "unlinked"
            && e.source.as_str() == "backfill"
            && e.auth_id == Some(AuthId::new(ids[0]))),
        "{events:?}"
    );
    let report = store
        .report(Some(before.run))
        .await
        .expect("report")
        .expect("run");
    assert_eq!(report.reverted, 1);
    assert_eq!(
        report.counts[&ResolutionStatus::Linked],
        2,
        "the audit keeps what the run did"
    );

    let again = store.revert(before.run, 10).await.expect("second revert");
    assert_eq!((again.reverted, again.already_reverted), (0, 1));
    assert_eq!(link_of(&app, users[1]).await, Some(ids[1]));

    let relinked = run(&app, &options()).await;
    assert_eq!(
        relinked.count(ResolutionStatus::Linked),
        1,
        "a reverted user can be backfilled again"
    );
    assert_eq!(link_of(&app, users[0]).await, Some(ids[0]));
}

#[tokio::test]
async fn links_a_backfill_makes_are_queued_for_write_back_when_enabled() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        tweak: |settings| settings.write_back_external_id = true,
        ..crate::helpers::Options::default()
    })
    .await;
    let (_, ids) = population(&app).await;
    let summary = run(&app, &options()).await;
    assert_eq!(summary.count(ResolutionStatus::Linked), 2);

    let mut queued: Vec<Uuid> = app
        .db()
        .await
        .query(
            "SELECT auth_id FROM external_id_writeback WHERE source = 'backfill' AND correlation_id = $1",
            &[&summary.run.as_uuid()],
        )
        .await
        .expect("outbox")
        .iter()
        .map(|row| row.get(0))
        .collect();
    queued.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(queued, expected);
}
