//! Admin search goes through the trigram index on the email and names: the
//! adapter's own query can be planned on the index (no sequential scan), and
//! it finds a fragment anywhere in an email or a name.

use identity_link_adapters::postgres::user_search;
use identity_link_ports::{UserFilter, UserId};

use crate::helpers::spawn_app;

const USERS: i64 = 30_000;

/// Inserts users 1..=$1: `User<n>@Example.test`, `First<n>`, `Last<n>` (user 777's last name
/// is `Zwölfhundert`).
pub const SEED_USERS: &str =
    "INSERT INTO users (id, email, email_normalized, first_name, last_name)
     SELECT gen_random_uuid(), 'User' || n || '@Example.test', 'user' || n || '@example.test',
            'First' || n, CASE WHEN n = 777 THEN 'Zwölfhundert' ELSE 'Last' || n END
       FROM generate_series(1, $1::bigint) AS n";

async fn app_with_users() -> crate::helpers::TestApp {
    let app = spawn_app().await;
    let db = app.db().await;
    db.execute(SEED_USERS, &[&USERS]).await.unwrap();
    db.batch_execute("ANALYZE users").await.unwrap();
    app
}

#[tokio::test]
async fn the_search_query_of_the_adapter_is_planned_on_the_trigram_index() {
    let app = app_with_users().await;
    let db = app.db().await;
    // On a table this small a sequential scan is as cheap; the test asks
    // whether the index can serve the query, as it does at millions of rows.
    db.batch_execute("SET enable_seqscan = off").await.unwrap();
    let query = user_search::search("id", "user29999", true);
    let plan: Vec<String> = db
        .query(
            &format!("EXPLAIN {}", query.sql),
            &[
                &uuid::Uuid::nil(),
                &None::<bool>,
                &51_i64,
                &query.names,
                &query.email,
            ],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("users_search_trgm_idx"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

#[tokio::test]
async fn a_fragment_of_an_email_or_a_name_finds_its_users_in_id_order() {
    let app = app_with_users().await;
    let search = |text: &str| UserFilter {
        linked: None,
        search: Some(text.to_owned()),
    };
    let page = app
        .app
        .users
        .list(&search("SER2999"), None, 50)
        .await
        .unwrap();
    let mut emails: Vec<String> = page
        .users
        .iter()
        .map(|user| user.email.as_str().to_owned())
        .collect();
    emails.sort();
    // user2999, user29990..user29999
    assert_eq!(emails.len(), 11, "{emails:?}");
    assert!(emails.contains(&"User29999@Example.test".to_owned()));
    let ids: Vec<UserId> = page.users.iter().map(|user| user.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| id.as_uuid());
    assert_eq!(ids, sorted);

    let names = app
        .app
        .users
        .list(&search("zwölf"), None, 50)
        .await
        .unwrap();
    assert_eq!(names.users.len(), 1);
    assert_eq!(names.users[0].last_name.as_deref(), Some("Zwölfhundert"));

    // Keyset pagination: the next page starts after the last id.
    let first = app
        .app
        .users
        .list(&search("user1"), None, 100)
        .await
        .unwrap();
    assert!(first.has_more);
    let last = first.users.last().map(|user| user.id);
    let second = app
        .app
        .users
        .list(&search("user1"), last, 100)
        .await
        .unwrap();
    assert!(second
        .users
        .iter()
        .all(|user| user.id.as_uuid() > last.unwrap().as_uuid()));
}

#[tokio::test]
async fn pages_smaller_than_the_planning_floor_hold_exactly_their_users() {
    // Searches are planned with a LIMIT of at least 51 (`user_search::LIMIT_FLOOR`);
    // the rows beyond the page must be dropped and still tell that more follow.
    let app = app_with_users().await;
    let search = UserFilter {
        linked: None,
        search: Some("SER2999".to_owned()),
    };
    let everyone = app.app.users.list(&search, None, 50).await.unwrap();
    assert_eq!(everyone.users.len(), 11);
    assert!(!everyone.has_more);

    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = app.app.users.list(&search, after, 1).await.unwrap();
        assert!(
            page.users.len() <= 1,
            "a page of one held {}",
            page.users.len()
        );
        walked.extend(page.users.iter().map(|user| user.id));
        after = page.users.last().map(|user| user.id);
        if !page.has_more {
            break;
        }
    }
    let expected: Vec<UserId> = everyone.users.iter().map(|user| user.id).collect();
    assert_eq!(
        walked, expected,
        "pages of one walk the same users in id order"
    );

    let ten = app.app.users.list(&search, None, 10).await.unwrap();
    assert_eq!(ten.users.len(), 10);
    assert!(ten.has_more);
}
