//! `identity-link backfill` as operators run it: exit codes, JSON output,
//! a run killed with SIGKILL and rerun, two runs started at once.
//! (Over 300 lines: one command's cases, sharing its process and population helpers.)

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};
use uuid::Uuid;
use wiremock::MockServer;

use crate::backfill_fake::{identity, Identities};
use crate::helpers::binary::{command, output, stderr};
use crate::helpers::TestDb;

fn backfill(db: &TestDb, kratos: &str, args: &[&str]) -> Command {
    let mut all = vec![
        "--database-url",
        &db.url,
        "--kratos-admin-url",
        kratos,
        "backfill",
    ];
    all.extend_from_slice(args);
    command(&all)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout is not one JSON object: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// `linkable` users matching identities in a migrated `db`, plus a user
/// without identity and one with two; returns the identities.
async fn population(db: &TestDb, linkable: usize) -> Vec<Value> {
    db.client()
        .await
        .execute(
            "INSERT INTO users (id, email)
             SELECT gen_random_uuid(), 'user' || g || '@example.com' FROM generate_series(1, $1) g
             UNION ALL SELECT gen_random_uuid(), 'nobody@example.com'
             UNION ALL SELECT gen_random_uuid(), 'twin@example.com'",
            &[&(linkable as i32)],
        )
        .await
        .expect("users");
    let mut identities: Vec<Value> = (1..=linkable)
        .map(|n| identity(&format!("User{n}@Example.com"), true).1)
        .collect();
    identities.push(identity("twin@example.com", true).1);
    identities.push(identity("TWIN@example.com", true).1);
    identities
}

async fn links(db: &TestDb) -> BTreeMap<String, Option<Uuid>> {
    db.client()
        .await
        .query("SELECT email, auth_id FROM users", &[])
        .await
        .expect("users")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.client()
        .await
        .query_one(sql, &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn without_a_database_or_a_kratos_or_with_bad_flags_backfill_exits_2_and_changes_nothing() {
    let no_db = output(command(&[
        "--kratos-admin-url",
        "http://127.0.0.1:9",
        "backfill",
    ]))
    .await;
    assert_eq!(no_db.status.code(), Some(2));
    assert!(
        stderr(&no_db).contains("backfill needs --database-url"),
        "{}",
        stderr(&no_db)
    );
    let no_db_report = output(command(&["backfill", "report"])).await;
    assert_eq!(no_db_report.status.code(), Some(2));

    let db = TestDb::create().await;
    let no_kratos = output(command(&["--database-url", &db.url, "backfill"])).await;
    assert_eq!(no_kratos.status.code(), Some(2));
    assert!(
        stderr(&no_kratos).contains("--kratos-admin-url"),
        "{}",
        stderr(&no_kratos)
    );

    for args in [
        &["--page-size", "501"][..],
        &["--page-size", "0"],
        &["--batch-size", "0"],
        &["--strategy", "guess"],
        &["--dry-run", "report"],
        &["--concurrency", "17"],
    ] {
        let bad = output(backfill(&db, "http://127.0.0.1:9", args)).await;
        assert_eq!(bad.status.code(), Some(2), "{args:?}: {}", stderr(&bad));
    }
    for action in ["report", "revert"] {
        let unknown = Uuid::new_v4().to_string();
        let out = output(backfill(
            &db,
            "http://127.0.0.1:9",
            &[action, "--run", &unknown],
        ))
        .await;
        assert_eq!(out.status.code(), Some(2), "{action}: {}", stderr(&out));
        assert!(stderr(&out).contains("no backfill run"), "{}", stderr(&out));
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM user_authid_backfill_runs").await,
        0
    );
}

#[tokio::test]
async fn an_unreachable_kratos_fails_the_run_with_exit_1_and_links_nothing() {
    let db = TestDb::migrated().await;
    population(&db, 3).await;
    let out = output(backfill(&db, "http://127.0.0.1:9", &["--format", "json"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was linked"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE auth_id IS NOT NULL").await,
        0
    );
    let outcome = count(
        &db,
        "SELECT count(*) FROM user_authid_backfill_runs WHERE outcome = 'failed'",
    )
    .await;
    assert_eq!(outcome, 1);
}

#[tokio::test]
async fn json_output_is_one_object_with_the_run_id_and_the_counts_and_report_agrees() {
    let db = TestDb::migrated().await;
    let identities = population(&db, 5).await;
    let kratos = MockServer::start().await;
    Identities::new(identities).mount(&kratos, 1..=2, 0).await;

    let out = output(backfill(&db, &kratos.uri(), &["--format", "json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = json(&out);
    assert_eq!(summary["counts"]["linked"], 5);
    assert_eq!(summary["counts"]["missing"], 1);
    assert_eq!(summary["counts"]["duplicate"], 1);
    assert_eq!(summary["examined"], 7);
    let run_id = summary["run_id"].as_str().expect("run id").to_owned();

    let report = output(backfill(
        &db,
        &kratos.uri(),
        &["report", "--format", "json"],
    ))
    .await;
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let report = json(&report);
    assert_eq!(report["run_id"], run_id.as_str());
    assert_eq!(report["state"], "finished");
    assert_eq!(report["counts"], summary["counts"]);

    let table = output(backfill(&db, &kratos.uri(), &["report", "--run", &run_id])).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("linked") && text.contains("finished"),
        "{text}"
    );

    let revert = output(backfill(&db, &kratos.uri(), &["revert", "--run", &run_id])).await;
    assert_eq!(revert.status.code(), Some(0), "{}", stderr(&revert));
    assert!(String::from_utf8_lossy(&revert.stdout).contains("reverted:         5"));
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE auth_id IS NOT NULL").await,
        0
    );
    kratos.verify().await;
}

async fn wait_for(db: &TestDb, sql: &str, at_least: i64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(db, sql).await < at_least {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before it could be interrupted");
        }
        assert!(Instant::now() < deadline, "the run made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_run_killed_mid_way_and_rerun_ends_with_the_links_of_an_uninterrupted_run() {
    const USERS: usize = 600;
    let killed_db = TestDb::migrated().await;
    let identities = population(&killed_db, USERS).await;
    let calm_db = TestDb::migrated().await;
    // Same users and identities on a second database, for the uninterrupted run.
    population(&calm_db, USERS).await;
    let kratos = MockServer::start().await;
    Identities::new(identities)
        .slow(Duration::from_millis(50))
        .mount(&kratos, 1.., 0)
        .await;
    let slow_writes = [
        "--batch-size",
        "1",
        "--concurrency",
        "1",
        "--page-size",
        "100",
    ];

    let mut doomed = backfill(&killed_db, &kratos.uri(), &slow_writes)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let linked = "SELECT count(*) FROM users WHERE auth_id IS NOT NULL";
    wait_for(&killed_db, linked, 20, &mut doomed).await;
    doomed.start_kill().expect("SIGKILL");
    let status = doomed.wait().await.expect("reaped");
    assert_eq!(status.code(), None, "killed by a signal");
    let partial = count(&killed_db, linked).await;
    assert!(partial > 0 && partial < USERS as i64, "{partial} linked");

    let interrupted = json(
        &output(backfill(
            &killed_db,
            &kratos.uri(),
            &["report", "--format", "json"],
        ))
        .await,
    );
    assert_eq!(interrupted["state"], "interrupted");

    let resumed = output(backfill(&killed_db, &kratos.uri(), &["--format", "json"])).await;
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert_eq!(json(&resumed)["counts"]["linked"], USERS as i64 - partial);
    let calm = output(backfill(&calm_db, &kratos.uri(), &[])).await;
    assert_eq!(calm.status.code(), Some(0), "{}", stderr(&calm));

    let (killed_links, calm_links) = (links(&killed_db).await, links(&calm_db).await);
    assert_eq!(killed_links, calm_links);
    assert_eq!(killed_links.values().filter(|l| l.is_some()).count(), USERS);
    let double = count(
        &killed_db,
        "SELECT count(*) FROM (SELECT user_id FROM user_authid_backfill_audit
          WHERE resolution_status = 'linked' GROUP BY user_id HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(double, 0);
}

#[tokio::test]
async fn of_two_runs_started_at_once_one_runs_and_the_other_is_refused_clearly() {
    const USERS: usize = 200;
    let db = TestDb::migrated().await;
    let identities = population(&db, USERS).await;
    let kratos = MockServer::start().await;
    // Listing takes three slow pages: the first run holds the lock for seconds.
    Identities::new(identities)
        .slow(Duration::from_secs(1))
        .mount(&kratos, 1.., 0)
        .await;
    let args = ["--page-size", "100", "--format", "json"];

    let (first, second) = tokio::join!(
        output(backfill(&db, &kratos.uri(), &args)),
        output(backfill(&db, &kratos.uri(), &args)),
    );

    let mut codes = [first.status.code(), second.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(1)],
        "{} / {}",
        stderr(&first),
        stderr(&second)
    );
    let (winner, loser) = if first.status.success() {
        (first, second)
    } else {
        (second, first)
    };
    let run_id = json(&winner)["run_id"].as_str().expect("run id").to_owned();
    let message = stderr(&loser);
    assert!(message.contains("another backfill is running"), "{message}");
    assert!(message.contains(&run_id), "{message}");
    assert!(loser.stdout.is_empty());
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE auth_id IS NOT NULL").await,
        USERS as i64
    );
    let linked_rows = count(
        &db,
        "SELECT count(*) FROM user_authid_backfill_audit WHERE resolution_status = 'linked'",
    )
    .await;
    assert_eq!(linked_rows, USERS as i64);
    assert_eq!(
        count(&db, "SELECT count(*) FROM user_authid_backfill_runs").await,
        1
    );
}
