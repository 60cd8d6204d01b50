//! `audit prune` deletes only rows older than the cutoff, in batches, while
//! the service keeps resolving (and auditing) meanwhile.

use uuid::Uuid;

use crate::helpers::binary::{run_on_database, stderr, stdout};
use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::spawn_app;

const OLD: i64 = 20_000;
const RECENT: i64 = 50;

#[tokio::test]
async fn only_rows_older_than_the_cutoff_go_while_resolves_keep_working() {
    let app = spawn_app().await;
    let db = app.db().await;
    db.execute(
        "INSERT INTO identity_audit (correlation_id, occurred_at, source, action, outcome)
         SELECT gen_random_uuid(), now() - interval '200 days' - n * interval '1 second',
                'resolve', 'resolved', 'ok'
           FROM generate_series(1, $1::bigint) AS n
         UNION ALL
         SELECT gen_random_uuid(), now() - interval '10 days', 'resolve', 'resolved', 'ok'
           FROM generate_series(1, $2::bigint)",
        &[&OLD, &RECENT],
    )
    .await
    .unwrap();
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "busy@example.com", true), 1).await;
    assert_eq!(app.resolve(id).await.status(), 200);

    let url = app.database_url.clone();
    let prune = tokio::spawn(async move {
        run_on_database(
            &url,
            &[
                "audit",
                "prune",
                "--older-than",
                "180d",
                "--batch-size",
                "500",
            ],
        )
        .await
    });
    let mut resolved = 0;
    while !prune.is_finished() {
        let response = app.resolve(id).await;
        assert_eq!(response.status(), 200);
        resolved += 1;
    }
    let pruned = prune.await.unwrap();
    assert_eq!(pruned.status.code(), Some(0), "{}", stderr(&pruned));
    let printed = stdout(&pruned);
    assert!(
        printed.contains(&format!("removed:     {OLD}")),
        "{printed}"
    );
    assert!(printed.contains("oldest kept: "), "{printed}");
    assert!(resolved > 0);

    let old = app
        .count(
            "SELECT count(*) FROM identity_audit WHERE occurred_at < now() - interval '180 days'",
        )
        .await;
    assert_eq!(old, 0);
    let recent = app
        .count("SELECT count(*) FROM identity_audit WHERE occurred_at > now() - interval '11 days' AND occurred_at < now() - interval '9 days'")
        .await;
    assert_eq!(recent, RECENT);

    let again = run_on_database(
        &app.database_url,
        &["audit", "prune", "--older-than", "180d"],
    )
    .await;
    assert!(
        stdout(&again).contains("removed:     0"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn audit_prune_without_a_database_is_a_usage_error() {
    let output = crate::helpers::binary::run(&["audit", "prune", "--older-than", "30d"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
