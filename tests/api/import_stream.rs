//! `users import` streams its file: a file far larger than any read buffer
//! or write batch imports fully, bad rows in its middle are reported by line
//! (CSV) or entry (JSON) and skipped, and a rerun imports nothing.

use std::fmt::Write as _;

use crate::helpers::binary::{run_on_database, stderr, stdout};
use crate::helpers::TestDb;

const ROWS: usize = 50_000;
/// Rows (1-based data row numbers) that are bad, spread over the file.
const BAD: [usize; 3] = [7, 25_000, 49_999];

fn csv_file() -> tempfile::NamedTempFile {
    let mut csv = String::from("email,first_name,last_name,avatar_url\n");
    for row in 1..=ROWS {
        if BAD.contains(&row) {
            writeln!(csv, "not-an-email-{row},Bad,Row,").unwrap();
        } else {
            writeln!(
                csv,
                "User{row}@Example.test,First{row},Last{row},https://example.test/{row}.png"
            )
            .unwrap();
        }
    }
    let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::fs::write(file.path(), csv).unwrap();
    file
}

fn json_file() -> tempfile::NamedTempFile {
    let mut json = String::from("[\n");
    for row in 1..=ROWS {
        let separator = if row == ROWS { "" } else { "," };
        if BAD.contains(&row) {
            writeln!(
                json,
                r#"  {{"email": "user{row}@example.test", "extra": 1}}{separator}"#
            )
            .unwrap();
        } else {
            writeln!(
                json,
                r#"  {{"email": "user{row}@example.test", "first_name": "F", "last_name": "L"}}{separator}"#
            )
            .unwrap();
        }
    }
    json.push_str("]\n");
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), json).unwrap();
    file
}

async fn import(db: &TestDb, file: &tempfile::NamedTempFile) -> std::process::Output {
    let path = file.path().to_string_lossy().to_string();
    run_on_database(&db.url, &["users", "import", &path]).await
}

async fn users(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_large_csv_is_imported_with_its_bad_rows_reported_by_line_and_a_rerun_adds_nothing() {
    let db = TestDb::create().await;
    let file = csv_file();
    assert!(std::fs::metadata(file.path()).unwrap().len() > 2_000_000);

    let first = import(&db, &file).await;
    let printed = stdout(&first);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        printed.contains(&format!("added:   {}", ROWS - BAD.len())),
        "{printed}"
    );
    assert!(printed.contains("invalid: 3"), "{printed}");
    // Data row n is on line n + 1 (the header is line 1).
    for row in BAD {
        assert!(printed.contains(&format!("line {}:", row + 1)), "{printed}");
    }
    assert_eq!(users(&db).await, (ROWS - BAD.len()) as i64);
    let row = db
        .client()
        .await
        .query_one(
            "SELECT email, email_normalized, first_name FROM users WHERE email_normalized = 'user30000@example.test'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "User30000@Example.test");
    assert_eq!(row.get::<_, String>(2), "First30000");

    let again = import(&db, &file).await;
    let printed = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(printed.contains("added:   0"), "{printed}");
    assert!(
        printed.contains(&format!("skipped: {}", ROWS - BAD.len())),
        "{printed}"
    );
    assert_eq!(users(&db).await, (ROWS - BAD.len()) as i64);
}

#[tokio::test]
async fn a_large_json_array_is_streamed_with_its_bad_entries_reported_and_a_rerun_adds_nothing() {
    let db = TestDb::create().await;
    let file = json_file();

    let first = import(&db, &file).await;
    let printed = stdout(&first);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        printed.contains(&format!("added:   {}", ROWS - BAD.len())),
        "{printed}"
    );
    // Entries are numbered from 0.
    for row in BAD {
        assert!(
            printed.contains(&format!("entry {}:", row - 1)),
            "{printed}"
        );
    }

    let again = import(&db, &file).await;
    assert!(stdout(&again).contains("added:   0"), "{}", stdout(&again));
    assert_eq!(users(&db).await, (ROWS - BAD.len()) as i64);
}

#[tokio::test]
async fn a_json_file_broken_near_its_end_imports_nothing_and_exits_2() {
    let db = TestDb::create().await;
    let file = json_file();
    let mut text = std::fs::read_to_string(file.path()).unwrap();
    text.truncate(text.len() - 10);
    std::fs::write(file.path(), text).unwrap();

    let broken = import(&db, &file).await;
    assert_eq!(broken.status.code(), Some(2), "{}", stdout(&broken));
    assert!(stderr(&broken).contains("JSON"), "{}", stderr(&broken));
    assert_eq!(users(&db).await, 0);
}
