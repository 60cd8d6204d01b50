//! `identity-link reconcile` as operators run it: output formats, exit codes,
//! the metrics file.

use std::process::Output;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::kratos::{self, serve_identity_pages};
use crate::helpers::{binary, spawn_app, TestApp};
use crate::reconcile::{person, user};

async fn run(app: Option<&TestApp>, args: &[&str]) -> Output {
    let mut command = binary::command(args);
    command.env("KRATOS_RETRIES", "0");
    if let Some(app) = app {
        command
            .env("DATABASE_URL", &app.database_url)
            .env("KRATOS_ADMIN_URL", app.kratos.uri());
    }
    binary::output(command).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn json_output_is_one_object_with_an_array_per_finding_kind() {
    let app = spawn_app().await;
    let (linked, renamed, unlinked, gone) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    serve_identity_pages(
        &app.kratos,
        &[
            person(linked, "ada@example.com", "Ada", "Lovelace"),
            person(renamed, "grace@example.com", "Grace", "Hopper"),
            person(unlinked, "new@example.com", "New", "Person"),
        ],
        2,
    )
    .await;
    kratos::serve_not_found(&app.kratos, gone, 1).await;
    user(&app, "ada@example.com", "Ada", "Lovelace", Some(linked)).await;
    let grace = user(&app, "grace@example.com", "Grace", "Murray", Some(renamed)).await;
    let orphan = user(&app, "orphan@example.com", "Or", "Phan", Some(gone)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = dir.path().join("reconcile.prom");
    let metrics_arg = metrics.to_string_lossy().to_string();

    let output = run(
        Some(&app),
        &[
            "reconcile",
            "--format",
            "json",
            "--metrics-file",
            &metrics_arg,
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(
        report["orphaned_users"],
        json!([{"user_id": orphan.id, "identity_id": gone, "email": "orphan@example.com",
                "linked_at": report["orphaned_users"][0]["linked_at"]}])
    );
    assert!(report["orphaned_users"][0]["linked_at"].is_string());
    assert_eq!(
        report["unlinked_identities"],
        json!([{"identity_id": unlinked, "email": "new@example.com"}])
    );
    assert_eq!(
        report["drifted_users"],
        json!([{"user_id": grace.id, "identity_id": renamed,
                "differences": {"last_name": {"user": "Murray", "identity": "Hopper"}}}])
    );
    assert_eq!(report["counts"]["identities"], 3);
    assert_eq!(report["counts"]["kratos_pages"], 2);
    assert_eq!(report["sync_profiles"], false);
    assert!(Uuid::parse_str(report["run_id"].as_str().expect("run id")).is_ok());

    let exposition = std::fs::read_to_string(&metrics).expect("the metrics file");
    for line in [
        r#"identity_link_reconcile_findings{kind="orphaned_user"} 1"#,
        r#"identity_link_reconcile_findings{kind="unlinked_identity"} 1"#,
        r#"identity_link_reconcile_findings{kind="drifted_user"} 1"#,
        r#"identity_link_reconcile_findings{kind="sync_refused"} 0"#,
        "identity_link_reconcile_last_success_timestamp_seconds ",
    ] {
        assert!(exposition.contains(line), "{line} in {exposition}");
    }
}

#[tokio::test]
async fn the_table_names_the_findings_and_sync_profiles_reports_what_it_did() {
    let app = spawn_app().await;
    let renamed = Uuid::new_v4();
    serve_identity_pages(
        &app.kratos,
        &[person(renamed, "Grace@example.com", "Grace", "Hopper")],
        2,
    )
    .await;
    let grace = user(&app, "grace@example.com", "Grace", "Hopper", Some(renamed)).await;

    let output = run(Some(&app), &["reconcile", "--sync-profiles"]).await;

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    assert!(
        table.contains("linked users whose email or names differ from Kratos: 1"),
        "{table}"
    );
    assert!(table.contains(&grace.id.to_string()), "{table}");
    assert!(
        table.contains("grace@example.com -> Grace@example.com (case only)  updated"),
        "{table}"
    );
    assert!(table.contains("profiles synced: 1, refused: 0"), "{table}");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email = 'Grace@example.com'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM identity_audit WHERE source = 'reconcile' AND action = 'profile_synced'")
            .await,
        1,
        "the change is audited before the process exits"
    );
}

#[tokio::test]
async fn a_run_that_cannot_complete_exits_1_without_a_report() {
    let app = spawn_app().await;
    kratos::serve_health(&app.kratos).await;
    wiremock::Mock::given(wiremock::matchers::path("/admin/identities"))
        .respond_with(
            wiremock::ResponseTemplate::new(503).set_body_json(kratos::error(
                503,
                "Service Unavailable",
                "overloaded",
            )),
        )
        .mount(&app.kratos)
        .await;

    let output = run(Some(&app), &["reconcile", "--format", "json"]).await;

    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("reconcile could not complete"), "{stderr}");
    assert!(stderr.contains("page 1"), "{stderr}");
}

#[tokio::test]
async fn reconcile_needs_a_database_and_a_kratos() {
    let no_database = run(
        None,
        &["--kratos-admin-url", "http://127.0.0.1:1", "reconcile"],
    )
    .await;
    assert_eq!(no_database.status.code(), Some(2));
    assert!(
        text(&no_database.stderr).contains("--database-url"),
        "{}",
        text(&no_database.stderr)
    );

    let db = crate::helpers::TestDb::create().await;
    let no_kratos = run(None, &["--database-url", &db.url, "reconcile"]).await;
    assert_eq!(no_kratos.status.code(), Some(2));
    assert!(
        text(&no_kratos.stderr).contains("--kratos-admin-url"),
        "{}",
        text(&no_kratos.stderr)
    );
    assert!(no_kratos.stdout.is_empty());
}
