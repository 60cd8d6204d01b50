use super::*;
use identity_link_adapters::memory::MemoryUserStore;

fn file(content: &str, extension: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(extension)
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), content).unwrap();
    file
}

#[tokio::test]
async fn csv_rows_are_imported_once_and_bad_rows_named_by_line() {
    let store = MemoryUserStore::new();
    let csv = file(
        "email,first_name,last_name,avatar_url\n\
         ada@example.com,Ada,Lovelace,\n\
         not-an-email,Bad,Row,\n\
         ADA@example.com,Ada,Again,\n\
         grace@example.com,Grace,Hopper,https://example.com/g.png\n\
         short@example.com,Only\n",
        ".csv",
    );
    let report = import_file(&store, csv.path()).await.unwrap();
    assert_eq!((report.added, report.skipped), (2, 1));
    let lines: Vec<_> = report.invalid.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(lines, ["line 3", "line 6"]);

    let again = import_file(&store, csv.path()).await.unwrap();
    assert_eq!((again.added, again.skipped), (0, 3));
}

#[tokio::test]
async fn hostile_text_in_a_csv_is_cleaned_and_every_row_imported() {
    let store = MemoryUserStore::new();
    let long = "L".repeat(20_000);
    let csv = file(
        &format!(
            "email,first_name,last_name,avatar_url\n\
             nul@example.com,Ada\u{0},Love\u{0}lace,\n\
             bel@example.com,\u{7}Grace,Hopper\u{7},\n\
             long@example.com,{long},{long},https://example.com/{long}\n\
             ctl\u{0}@example.com,\u{1b}[31mRed,,\n"
        ),
        ".csv",
    );
    let report = import_file(&store, csv.path()).await.unwrap();
    assert_eq!(report.invalid, []);
    assert_eq!(report.added, 4);
    let find = |email: &str| {
        let email = identity_link_ports::Email::new(email).unwrap();
        let store = &store;
        async move { store.find_by_email(&email).await.unwrap().unwrap() }
    };
    let nul = find("nul@example.com").await;
    assert_eq!(nul.first_name.as_deref(), Some("Ada"));
    assert_eq!(nul.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(
        find("bel@example.com").await.first_name.as_deref(),
        Some("Grace")
    );
    let long = find("long@example.com").await;
    assert_eq!(long.first_name.map(|n| n.chars().count()), Some(256));
    assert_eq!(long.avatar_url.map(|a| a.chars().count()), Some(2048));
    assert_eq!(
        find("ctl@example.com").await.first_name.as_deref(),
        Some("[31mRed")
    );
}

#[tokio::test]
async fn json_arrays_of_the_same_fields_are_accepted() {
    let store = MemoryUserStore::new();
    let json = file(
        r#"[{"email": "a@example.com", "first_name": "A", "last_name": "B"},
            {"email": "b@example.com"},
            {"email": "c@example.com", "unknown": 1},
            {"first_name": "no email"}]"#,
        ".json",
    );
    let report = import_file(&store, json.path()).await.unwrap();
    assert_eq!(report.added, 2);
    let bad: Vec<_> = report.invalid.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(bad, ["entry 2", "entry 3"]);
}

#[tokio::test]
async fn a_wrong_header_or_unreadable_file_imports_nothing() {
    let store = MemoryUserStore::new();
    let csv = file("mail,first,last\na@example.com,A,B\n", ".csv");
    assert!(matches!(
        import_file(&store, csv.path()).await,
        Err(ImportError::BadFile(_))
    ));
    let missing = import_file(&store, Path::new("/nonexistent/users.csv")).await;
    assert!(matches!(missing, Err(ImportError::BadFile(_))));
    let broken = file("[{\"email\": ", ".json");
    assert!(matches!(
        import_file(&store, broken.path()).await,
        Err(ImportError::BadFile(_))
    ));
}

#[tokio::test]
async fn batches_written_at_once_keep_the_first_row_of_an_email() {
    // The first batch is slow; the second, holding the same email again,
    // would finish first and win, were it not skipped before writing.
    let store = crate::usecases::test_support::HookedUsers::with_slow_import(
        "dup@example.com",
        std::time::Duration::from_millis(200),
    );
    let mut csv = String::from("email,first_name,last_name\ndup@example.com,First,\n");
    for n in 1..BATCH {
        csv.push_str(&format!("user{n}@example.com,Filler,\n"));
    }
    csv.push_str("DUP@example.com,Second,\nlast@example.com,Last,\n");
    let csv = file(&csv, ".csv");

    let report = import_file(&store, csv.path()).await.unwrap();
    assert_eq!((report.added, report.skipped), (BATCH as u64 + 1, 1));
    let dup = store
        .find_by_email(&identity_link_ports::Email::new("dup@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dup.first_name.as_deref(), Some("First"));
}
