//! Hostile text from Kratos (resolve and webhook) and in import files:
//! control characters dropped, long names and avatars capped, never a 5xx,
//! nothing lost; an import row that still cannot be stored is reported by its
//! line and the other rows are imported.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::binary::{import_csv, stdout};
use crate::helpers::kratos::{identity, serve_identity};
use crate::helpers::{json_body, spawn_app, TestApp};
use crate::webhook::{deliver, insert_user};

/// 20,000 characters.
fn huge() -> String {
    "Ж".repeat(20_000)
}

/// An identity whose names carry NUL and BEL, an oversized last name and avatar.
fn hostile_identity(id: Uuid, email: &str) -> Value {
    let mut identity = identity(id, email, true);
    identity["traits"]["name"] = json!({"first": "\u{0}Ada\u{7}", "last": huge()});
    identity["traits"]["picture"] = json!(format!("https://example.test/{}\u{0}", huge()));
    identity
}

/// The stored profile of the user linked to `id`.
struct Stored {
    email: String,
    first: String,
    last: String,
    avatar: Option<String>,
}

async fn stored_profile(app: &TestApp, id: Uuid) -> Stored {
    let row = app
        .db()
        .await
        .query_one(
            "SELECT email, first_name, last_name, avatar_url FROM users WHERE auth_id = $1",
            &[&id],
        )
        .await
        .expect("the linked user");
    Stored {
        email: row.get(0),
        first: row.get(1),
        last: row.get(2),
        avatar: row.get(3),
    }
}

fn assert_cleaned(first: &str, last: &str) {
    assert_eq!(first, "Ada");
    assert_eq!(last.chars().count(), 256);
    assert!(last.chars().all(|c| c == 'Ж'));
}

#[tokio::test]
async fn resolve_provisions_an_identity_with_nul_bel_and_huge_traits_cleaned() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    serve_identity(
        &app.kratos,
        &hostile_identity(id, "hostile@example.test"),
        1,
    )
    .await;

    let response = app.resolve(id).await;

    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["created"], true);
    let stored = stored_profile(&app, id).await;
    assert_cleaned(&stored.first, &stored.last);
    let avatar = stored.avatar.expect("an avatar");
    assert_eq!(avatar.chars().count(), 2048);
    assert!(!avatar.contains('\u{0}'));
}

#[tokio::test]
async fn resolve_takes_an_email_trait_with_control_characters_as_the_address_without_them() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut kratos = identity(id, "ctl@example.test", true);
    kratos["traits"]["email"] = json!("ctl@example.test\u{0}\u{7}");
    serve_identity(&app.kratos, &kratos, 1).await;

    let response = app.resolve(id).await;

    assert_eq!(response.status(), 200);
    assert_eq!(stored_profile(&app, id).await.email, "ctl@example.test");
}

#[tokio::test]
async fn the_webhook_syncs_hostile_names_to_a_linked_user_without_a_5xx() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    insert_user(&app, "synced@example.test", Some(id)).await;
    serve_identity(&app.kratos, &hostile_identity(id, "synced@example.test"), 1).await;
    // The body is only a hint (and at most 16 KiB): what counts is Kratos's answer.
    let hint = identity(id, "synced@example.test", true);

    let response = deliver(&app, &hint, &Uuid::new_v4().to_string()).await;

    assert_eq!(response.status(), 200);
    let stored = stored_profile(&app, id).await;
    assert_cleaned(&stored.first, &stored.last);
}

#[tokio::test]
async fn the_webhook_precheck_of_an_unsaved_hostile_identity_passes() {
    let app = spawn_app().await;
    let mut unsaved = identity(Uuid::nil(), "new\u{0}@example.test", false);
    unsaved["traits"]["name"] = json!({"first": "\u{0}Eve\u{7}", "last": "x".repeat(10_000)});

    let response = deliver(&app, &unsaved, &Uuid::new_v4().to_string()).await;

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_import_keeps_hostile_rows_cleaned_and_reports_only_the_row_the_database_refuses() {
    let app = spawn_app().await;
    // Something the service cannot clean away: a rule of this database.
    app.db()
        .await
        .batch_execute(
            "ALTER TABLE users ADD CONSTRAINT no_mallory CHECK (first_name IS DISTINCT FROM 'Mallory')",
        )
        .await
        .expect("add a constraint");
    let long = huge();
    let imported = import_csv(
        &app.database_url,
        &format!(
            "email,first_name,last_name,avatar_url\n\
             nul@example.test,Ada\u{0},Love\u{0}lace,\n\
             bel@example.test,\u{7}Grace,Hopper,\n\
             refused@example.test,Mallory,Bad,\n\
             long@example.test,{long},{long},https://example.test/{long}\n\
             last@example.test,Last,Row,\n"
        ),
    )
    .await;

    let printed = stdout(&imported);
    assert_eq!(imported.status.code(), Some(0), "{printed}");
    assert!(printed.contains("added:   4"), "{printed}");
    assert!(printed.contains("invalid: 1"), "{printed}");
    assert!(printed.contains("line 4: cannot be stored"), "{printed}");
    let rows = app
        .db()
        .await
        .query(
            "SELECT email, first_name, last_name FROM users ORDER BY email",
            &[],
        )
        .await
        .expect("users");
    let users: Vec<(String, String, String)> = rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let emails: Vec<&str> = users.iter().map(|(email, _, _)| email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "bel@example.test",
            "last@example.test",
            "long@example.test",
            "nul@example.test"
        ]
    );
    assert_eq!(users[0].1, "Grace");
    assert_eq!(users[2].1.chars().count(), 256);
    assert_eq!(
        (users[3].1.as_str(), users[3].2.as_str()),
        ("Ada", "Lovelace")
    );
}
