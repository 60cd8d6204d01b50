//! Where `pg_trgm` cannot be created (here: a role without `CREATE` on the
//! database, as a managed service's application role often is), `migrate`
//! builds the btree prefix indexes instead, says so, and admin search finds
//! users by the start of an email or a name through them.

use std::time::Duration;

use identity_link_adapters::postgres::{
    self, user_search, PostgresSettings, PostgresUserStore, SearchIndex,
};
use identity_link_ports::{UserFilter, UserStore};
use uuid::Uuid;

use crate::helpers::TestDb;

const USERS: i64 = 30_000;

/// `db`'s URL for a new login role that may create tables in `public` but
/// not extensions; the role's name is returned too.
async fn role_without_extensions(db: &TestDb) -> (String, String) {
    let role = format!("il_no_ext_{}", Uuid::new_v4().simple());
    let client = db.client().await;
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             REVOKE CREATE ON DATABASE {database} FROM PUBLIC;
             GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role};
             GRANT CREATE, USAGE ON SCHEMA public TO {role};",
            database = database_name(&db.url),
        ))
        .await
        .expect("create the role");
    let mut url = url::Url::parse(&db.url).expect("a URL");
    url.set_username(&role).expect("a URL with a user");
    (url.to_string(), role)
}

fn database_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Drops the role (and what it owns in the test database) when the test ends,
/// passed or not; declared after the database, so dropped before it.
struct RoleGuard {
    url: String,
    role: String,
}

impl Drop for RoleGuard {
    fn drop(&mut self) {
        let (url, role) = (self.url.clone(), self.role.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|error| error.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
                    .await
                    .map_err(|error| error.to_string())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop the test role: {error}");
        }
    }
}

#[tokio::test]
async fn without_pg_trgm_search_finds_prefixes_through_the_btree_indexes() {
    let db = TestDb::create().await;
    let (url, role) = role_without_extensions(&db).await;
    let _role = RoleGuard {
        url: db.url.clone(),
        role: role.clone(),
    };

    let migrated = postgres::migrate(&url).await.expect("migrate");
    match &migrated.search_index {
        SearchIndex::Prefix {
            reason: Some(reason),
        } => assert!(reason.contains("permission denied"), "{reason}"),
        other => panic!("expected the prefix indexes, got {other:?}"),
    }
    assert!(matches!(
        postgres::search_index_in_use(&url)
            .await
            .expect("read the catalog"),
        SearchIndex::Prefix { .. }
    ));

    let client = db.client().await;
    client
        .execute(crate::admin_search::SEED_USERS, &[&USERS])
        .await
        .expect("insert users");
    client
        .batch_execute(&format!("GRANT ALL ON users TO {role}; ANALYZE users"))
        .await
        .expect("analyze");

    // The adapter's query can be planned on the prefix indexes.
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .expect("set");
    let query = user_search::search("id", "user29999", false);
    let plan: Vec<String> = client
        .query(
            &format!("EXPLAIN {}", query.sql),
            &[
                &Uuid::nil(),
                &None::<bool>,
                &51_i64,
                &query.names,
                &query.email,
            ],
        )
        .await
        .expect("explain")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    for index in [
        "users_search_prefix_email_idx",
        "users_search_prefix_first_idx",
        "users_search_prefix_last_idx",
    ] {
        assert!(plan.contains(index), "{index} not in\n{plan}");
    }
    assert!(!plan.contains("Seq Scan"), "{plan}");

    // The store searches by prefix: the start of an email or a name.
    let pool = postgres::pool(&PostgresSettings {
        url: url.clone(),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_cache: true,
    })
    .expect("pool");
    let store = PostgresUserStore::new(pool);
    let search = |text: &str| UserFilter {
        linked: None,
        search: Some(text.to_owned()),
    };
    let found = store
        .list(&search("USER2999"), None, 50)
        .await
        .expect("search");
    let mut emails: Vec<&str> = found.users.iter().map(|user| user.email.as_str()).collect();
    emails.sort_unstable();
    // user2999, user29990..user29999
    assert_eq!(emails.len(), 11, "{emails:?}");
    assert!(emails.contains(&"User2999@Example.test"), "{emails:?}");
    let names = store
        .list(&search("zwölf"), None, 50)
        .await
        .expect("search");
    assert_eq!(names.users.len(), 1);
    assert_eq!(names.users[0].last_name.as_deref(), Some("Zwölfhundert"));
    // Not at the start: not found by prefix.
    let inside = store
        .list(&search("ser2999"), None, 50)
        .await
        .expect("search");
    assert!(inside.users.is_empty(), "{:?}", inside.users);
    let counted = store
        .count(&search("user2999"), 10_000)
        .await
        .expect("count");
    assert_eq!((counted.count, counted.estimated), (11, false));
}
