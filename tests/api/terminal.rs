//! Commands at an operator's terminal: their own progress and summary, not
//! their libraries' log lines; `-q`, `-v`, `RUST_LOG` and `NO_COLOR`; JSON
//! logs when stderr is not a terminal.

use serde_json::Value;
use wiremock::MockServer;

use crate::backfill_fake::{identity, Identities};
use crate::helpers::binary::{command, output, stderr};
use crate::helpers::pty::{on_terminal, Screen};
use crate::helpers::TestDb;

/// A migrated database with three users, two of them matching `identities`.
async fn population() -> (TestDb, Vec<Value>) {
    let db = TestDb::migrated().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO users (id, email) VALUES
               (gen_random_uuid(), 'ada@example.com'),
               (gen_random_uuid(), 'grace@example.com'),
               (gen_random_uuid(), 'nobody@example.com')",
        )
        .await
        .expect("users");
    let identities = vec![
        identity("ada@example.com", true).1,
        identity("grace@example.com", true).1,
    ];
    (db, identities)
}

async fn backfill_on_terminal(flags: &[&str], env: &[(&str, &str)]) -> Screen {
    let (db, identities) = population().await;
    let kratos = MockServer::start().await;
    Identities::new(identities).mount(&kratos, 1..=2, 0).await;
    let uri = kratos.uri();
    let mut args = flags.to_vec();
    args.extend([
        "--database-url",
        &db.url,
        "--kratos-admin-url",
        &uri,
        "backfill",
    ]);
    on_terminal(&args, env).await
}

const LIBRARY_CHATTER: [&str; 5] = [
    "tokio_postgres",
    "refinery_core",
    "NOTICE",
    "no migrations to apply",
    "current version",
];

#[tokio::test]
async fn backfill_on_a_terminal_shows_its_summary_and_no_line_of_its_libraries() {
    let screen = backfill_on_terminal(&[], &[]).await;
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    assert!(screen.text.contains("backfill run "), "{}", screen.text);
    assert!(
        screen
            .text
            .lines()
            .any(|line| line.starts_with("linked") && line.ends_with(" 2")),
        "{}",
        screen.text
    );
    assert!(
        screen.text.lines().any(|line| line.starts_with("total")),
        "{}",
        screen.text
    );
    for chatter in LIBRARY_CHATTER {
        assert!(!screen.text.contains(chatter), "{chatter}: {}", screen.text);
    }
    assert_eq!(
        screen.text.matches("schema up to date (V").count(),
        1,
        "the migration step says one line: {}",
        screen.text
    );
}

#[tokio::test]
async fn verbose_adds_the_run_detail_and_a_second_v_or_rust_log_the_libraries() {
    let normal = backfill_on_terminal(&[], &[]).await;
    let detail = "walking the unlinked users";
    assert!(!normal.text.contains(detail), "{}", normal.text);

    let verbose = backfill_on_terminal(&["-v"], &[]).await;
    assert_eq!(verbose.code, Some(0), "{}", verbose.text);
    assert!(verbose.text.contains(detail), "{}", verbose.text);
    assert!(
        !verbose.text.contains("tokio_postgres::"),
        "{}",
        verbose.text
    );

    let very = backfill_on_terminal(&["-vv"], &[]).await;
    assert!(very.text.contains("tokio_postgres::"), "{}", very.text);

    let overridden = backfill_on_terminal(&["-q"], &[("RUST_LOG", "refinery_core=info")]).await;
    assert_eq!(overridden.code, Some(0), "{}", overridden.text);
    assert!(
        overridden.text.contains("no migrations to apply"),
        "{}",
        overridden.text
    );
}

#[tokio::test]
async fn quiet_export_prints_exactly_the_json() {
    let (db, _) = population().await;
    let screen = on_terminal(
        &[
            "-q",
            "--database-url",
            &db.url,
            "export",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    let users: Value = serde_json::from_str(&screen.text)
        .unwrap_or_else(|error| panic!("not only JSON ({error}): {:?}", screen.text));
    let emails: Vec<&str> = users
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|user| user["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 3, "{emails:?}");
    assert!(emails.contains(&"ada@example.com"), "{emails:?}");
}

#[tokio::test]
async fn with_no_color_a_terminal_gets_no_colours() {
    let (db, identities) = population().await;
    let coloured = on_terminal(&["-v", "--database-url", &db.url, "migrate"], &[]).await;
    assert_eq!(coloured.code, Some(0), "{}", coloured.text);
    assert!(coloured.has_colours(), "{:?}", coloured.text);

    let plain = on_terminal(
        &["-v", "--database-url", &db.url, "migrate"],
        &[("NO_COLOR", "1")],
    )
    .await;
    assert_eq!(plain.code, Some(0), "{}", plain.text);
    assert!(
        plain.text.contains("schema is up to date (V"),
        "{}",
        plain.text
    );
    assert!(!plain.has_escapes(), "{:?}", plain.text);

    let kratos = MockServer::start().await;
    Identities::new(identities).mount(&kratos, 1..=2, 0).await;
    let uri = kratos.uri();
    let backfill = on_terminal(
        &[
            "--database-url",
            &db.url,
            "--kratos-admin-url",
            &uri,
            "backfill",
        ],
        &[("NO_COLOR", "1")],
    )
    .await;
    assert_eq!(backfill.code, Some(0), "{}", backfill.text);
    assert!(!backfill.has_colours(), "{:?}", backfill.text);
}

#[tokio::test]
async fn without_a_terminal_logs_are_still_json_lines() {
    let (db, _) = population().await;
    let mut export = command(&["--database-url", &db.url, "export"]);
    export.env_remove("LOG_FORMAT");
    let out = output(export).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let finished = stderr(&out)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "export finished")
        .unwrap_or_else(|| panic!("no JSON line: {}", stderr(&out)));
    assert_eq!(finished["level"], "INFO");
    assert_eq!(finished["users"], 3);
}
