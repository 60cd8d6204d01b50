//! The binary as operators run it: exit codes, migrate, import and export.

use std::time::Duration;

use crate::helpers::binary::{command, run, serve, stderr, stdout};

use crate::helpers::TestDb;

#[tokio::test]
async fn invalid_configuration_exits_2_with_a_clear_message() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--kratos-admin-url", "not a url", "openapi"],
            "kratos-admin-url",
        ),
        (
            &[
                "--kratos-admin-url",
                "http://127.0.0.1:4434",
                "--kratos-fixture",
                "x.json",
                "openapi",
            ],
            "exclusive",
        ),
        (
            &[
                "--kratos-fixture",
                "/nonexistent/identities.json",
                "openapi",
            ],
            "cannot read",
        ),
        (
            &["--database-url", "mysql://nope", "openapi"],
            "database-url",
        ),
        (&["--trait-email", "email", "openapi"], "JSON pointer"),
    ];
    for (args, expected) in cases {
        let output = run(args).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty());
    }
    let unknown = run(&["no-such-command"]).await;
    assert_eq!(unknown.status.code(), Some(2));
}

#[tokio::test]
async fn openapi_prints_the_generated_document() {
    let output = run(&["openapi"]).await;
    assert_eq!(output.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let generated: serde_json::Value =
        serde_json::from_str(&identity_link::inbound::rest::openapi_json()).expect("JSON");
    assert_eq!(printed, generated);
}

#[tokio::test]
async fn migrate_applies_once_and_reports_status() {
    let db = TestDb::create().await;
    let pending = run(&["--database-url", &db.url, "migrate", "--status"]).await;
    assert_eq!(pending.status.code(), Some(0), "{}", stderr(&pending));
    assert!(stdout(&pending).contains("pending"), "{}", stdout(&pending));

    let first = run(&["--database-url", &db.url, "migrate"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stdout(&first).contains("applied V1"), "{}", stdout(&first));
    let second = run(&["--database-url", &db.url, "migrate"]).await;
    assert!(
        stdout(&second).contains("up to date"),
        "{}",
        stdout(&second)
    );

    let status = run(&["--database-url", &db.url, "migrate", "--status"]).await;
    assert!(!stdout(&status).contains("pending"), "{}", stdout(&status));
}

#[tokio::test]
async fn migrate_without_a_database_or_with_an_unreachable_one_fails_clearly() {
    let no_db = run(&["migrate"]).await;
    assert_eq!(no_db.status.code(), Some(2));
    let unreachable = run(&[
        "--database-url",
        "postgres://postgres@127.0.0.1:1/none",
        "migrate",
    ])
    .await;
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        stderr(&unreachable).contains("database"),
        "{}",
        stderr(&unreachable)
    );
}

#[tokio::test]
async fn users_import_then_export_round_trips_through_postgres() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "email,first_name,last_name\nada@example.com,Ada,Lovelace\nbad-email,X,Y\nGRACE@example.com,Grace,Hopper\n",
    )
    .unwrap();
    let csv = csv.to_string_lossy().to_string();

    let imported = run(&["--database-url", &db.url, "users", "import", &csv]).await;
    assert_eq!(imported.status.code(), Some(0), "{}", stderr(&imported));
    let report = stdout(&imported);
    assert!(report.contains("added:   2"), "{report}");
    assert!(report.contains("line 3"), "{report}");

    let again = run(&["--database-url", &db.url, "users", "import", &csv]).await;
    assert!(stdout(&again).contains("skipped: 2"), "{}", stdout(&again));

    let exported = run(&[
        "--database-url",
        &db.url,
        "export",
        "--format",
        "csv",
        "--unlinked",
    ])
    .await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let text = stdout(&exported);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "user_id,email,first_name,last_name,auth_id,created_at,linked_at"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(text.contains(",ada@example.com,Ada,Lovelace,,"), "{text}");

    let json = run(&[
        "--database-url",
        &db.url,
        "export",
        "--format",
        "json",
        "--linked",
    ])
    .await;
    let linked: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(linked, serde_json::json!([]));

    let missing = run(&[
        "--database-url",
        &db.url,
        "users",
        "import",
        "/nonexistent.csv",
    ])
    .await;
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test]
async fn serve_stops_gracefully_on_sigterm() {
    let serving = serve(command(&["--listen", "127.0.0.1:0", "serve"])).await;
    let (code, log) = tokio::time::timeout(Duration::from_secs(10), serving.stop())
        .await
        .expect("stops within 10 s");
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("demo identities"), "{log}");
    assert!(log.contains("not durable"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}
