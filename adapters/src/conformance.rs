//! One conformance suite per port, run against every implementation (the
//! in-memory adapters in unit tests, the Postgres adapters in integration tests),
//! so that the fakes cannot drift from the real thing.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use identity_link_ports::{
    AuditEvent, AuditLog, AuditOutcome, AuditQuery, AuditSource, AuthId, CreateLinkedError, Email,
    LinkError, NewUser, Profile, UserFilter, UserId, UserStore,
};
use serde_json::json;
use uuid::Uuid;

pub mod backfill;
mod count;
mod outbox;
pub use outbox::{webhook_deliveries, write_back_queue};

fn profile(email: &str) -> Profile {
    Profile {
        email: Email::new(email).expect("test emails are valid"),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        avatar_url: None,
    }
}

fn new_user(email: &str, auth_id: Option<AuthId>) -> NewUser {
    NewUser {
        id: UserId::generate(),
        profile: profile(email),
        auth_id,
    }
}

fn auth_id() -> AuthId {
    AuthId::new(Uuid::new_v4())
}

/// Runs every user-store check against `store`, which must start empty.
pub async fn user_store(store: Arc<dyn UserStore>) {
    created_users_are_found_by_every_key(store.as_ref()).await;
    uniqueness_holds_for_email_and_identity(store.as_ref()).await;
    set_link_is_a_compare_and_set(store.as_ref()).await;
    profile_updates_keep_emails_unique(store.as_ref()).await;
    import_is_idempotent_by_email(store.as_ref()).await;
    listing_walks_every_user_once_with_filters(store.as_ref()).await;
    count::users_are_counted_exactly_up_to_the_bound(store.as_ref()).await;
    many_identities_are_looked_up_at_once(store.as_ref()).await;
    concurrent_creates_of_one_identity_make_one_user(store).await;
}

async fn created_users_are_found_by_every_key(store: &dyn UserStore) {
    let id = auth_id();
    let created = store
        .create_linked(new_user("Found@Example.com", Some(id)))
        .await
        .expect("create");
    assert_eq!(created.auth_id, Some(id));
    assert!(created.linked_at.is_some());
    let by_auth = store
        .find_by_auth_id(id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(by_auth, created);
    let by_id = store
        .find_by_id(created.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(by_id, created);
    let other_case = Email::new("  found@EXAMPLE.com").expect("valid");
    let by_email = store
        .find_by_email(&other_case)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(by_email.id, created.id);
    assert_eq!(by_email.email.as_str(), "Found@Example.com");
    assert!(store
        .find_by_auth_id(auth_id())
        .await
        .expect("find")
        .is_none());
    assert!(store
        .find_by_id(UserId::generate())
        .await
        .expect("find")
        .is_none());
}

async fn uniqueness_holds_for_email_and_identity(store: &dyn UserStore) {
    let id = auth_id();
    store
        .create_linked(new_user("unique@example.com", Some(id)))
        .await
        .expect("create");
    let same_email = store
        .create_linked(new_user("UNIQUE@example.com", Some(auth_id())))
        .await;
    assert!(
        matches!(same_email, Err(CreateLinkedError::EmailTaken)),
        "{same_email:?}"
    );
    let same_identity = store
        .create_linked(new_user("other@example.com", Some(id)))
        .await;
    assert!(
        matches!(same_identity, Err(CreateLinkedError::AuthIdTaken)),
        "{same_identity:?}"
    );
    let other = Email::new("other@example.com").expect("valid");
    assert!(
        store.find_by_email(&other).await.expect("find").is_none(),
        "nothing written"
    );
}

async fn set_link_is_a_compare_and_set(store: &dyn UserStore) {
    let user = store
        .create_linked(new_user("cas@example.com", None))
        .await
        .expect("create");
    assert_eq!(user.auth_id, None);
    assert_eq!(user.linked_at, None);
    let first = auth_id();
    let linked = store
        .set_link(user.id, Some(first), None)
        .await
        .expect("link");
    assert_eq!(linked.auth_id, Some(first));
    assert!(linked.linked_at.is_some());

    let stale = store.set_link(user.id, Some(auth_id()), None).await;
    assert!(
        matches!(stale, Err(LinkError::Changed { current: Some(c) }) if c == first),
        "{stale:?}"
    );

    let holder = store
        .create_linked(new_user("holder@example.com", Some(auth_id())))
        .await
        .expect("create");
    let taken = store.set_link(user.id, holder.auth_id, Some(first)).await;
    assert!(matches!(taken, Err(LinkError::AuthIdTaken)), "{taken:?}");
    assert_eq!(
        store
            .find_by_id(user.id)
            .await
            .expect("find")
            .expect("some")
            .auth_id,
        Some(first),
        "a refused link changes nothing"
    );

    let unlinked = store
        .set_link(user.id, None, Some(first))
        .await
        .expect("unlink");
    assert_eq!(unlinked.auth_id, None);
    assert_eq!(unlinked.linked_at, None);
    assert!(store.find_by_auth_id(first).await.expect("find").is_none());

    let missing = store
        .set_link(UserId::generate(), Some(auth_id()), None)
        .await;
    assert!(
        matches!(missing, Err(LinkError::UserNotFound)),
        "{missing:?}"
    );
}

async fn profile_updates_keep_emails_unique(store: &dyn UserStore) {
    let user = store
        .create_linked(new_user("sync@example.com", Some(auth_id())))
        .await
        .expect("create");
    store
        .create_linked(new_user("taken@example.com", None))
        .await
        .expect("create");
    let refused = store
        .update_profile(user.id, &profile("Taken@example.com"))
        .await;
    assert!(matches!(refused, Err(LinkError::EmailTaken)), "{refused:?}");

    let mut renamed = profile("SYNC@example.com");
    renamed.first_name = Some("Augusta".into());
    let updated = store
        .update_profile(user.id, &renamed)
        .await
        .expect("own email, new case");
    assert_eq!(updated.email.as_str(), "SYNC@example.com");
    assert_eq!(updated.first_name.as_deref(), Some("Augusta"));
    assert_eq!(
        updated.auth_id, user.auth_id,
        "a profile sync keeps the link"
    );

    let moved = store
        .update_profile(user.id, &profile("moved@example.com"))
        .await
        .expect("update");
    assert_eq!(moved.email.as_str(), "moved@example.com");
    let old = Email::new("sync@example.com").expect("valid");
    assert!(store.find_by_email(&old).await.expect("find").is_none());
}

async fn import_is_idempotent_by_email(store: &dyn UserStore) {
    let batch = || {
        vec![
            new_user("import-1@example.com", None),
            new_user("Import-2@example.com", None),
        ]
    };
    let first = store.import(batch()).await.expect("import");
    assert_eq!((first.added, first.skipped), (2, 0));
    let again = store
        .import(vec![
            new_user("IMPORT-1@example.com", None),
            new_user("import-3@example.com", None),
        ])
        .await
        .expect("import");
    assert_eq!((again.added, again.skipped), (1, 1));
    let imported = store
        .find_by_email(&Email::new("import-2@example.com").expect("valid"))
        .await
        .expect("find")
        .expect("some");
    assert_eq!(imported.auth_id, None);
}

async fn listing_walks_every_user_once_with_filters(store: &dyn UserStore) {
    let everyone = UserFilter::default();
    let mut seen = HashSet::new();
    let mut after = None;
    loop {
        let page = store.list(&everyone, after, 3).await.expect("list");
        assert!(page.users.len() <= 3);
        for user in &page.users {
            assert!(seen.insert(user.id), "user {} listed twice", user.id);
        }
        after = page.users.last().map(|user| user.id);
        if !page.has_more {
            break;
        }
    }
    let total = seen.len();
    assert_eq!(total, 9, "the checks above created nine users");

    let linked = UserFilter {
        linked: Some(true),
        search: None,
    };
    let unlinked = UserFilter {
        linked: Some(false),
        search: None,
    };
    let count = |filter: UserFilter| async move {
        let page = store.list(&filter, None, 1000).await.expect("list");
        assert!(!page.has_more);
        page.users
    };
    let linked_users = count(linked).await;
    let unlinked_users = count(unlinked).await;
    assert!(linked_users.iter().all(|user| user.auth_id.is_some()));
    assert!(unlinked_users.iter().all(|user| user.auth_id.is_none()));
    assert_eq!(linked_users.len() + unlinked_users.len(), total);

    let search = count(UserFilter {
        linked: None,
        search: Some("IMPORT-".into()),
    })
    .await;
    assert_eq!(search.len(), 3, "case-insensitive substring of the email");
}

async fn many_identities_are_looked_up_at_once(store: &dyn UserStore) {
    let (first, second) = (auth_id(), auth_id());
    let mut expected = Vec::new();
    for (n, id) in [first, second].into_iter().enumerate() {
        let user = store
            .create_linked(new_user(&format!("batch-{n}@example.com"), Some(id)))
            .await
            .expect("create");
        expected.push(user);
    }
    let unlinked = store
        .create_linked(new_user("batch-unlinked@example.com", None))
        .await
        .expect("create");

    let unknown = auth_id();
    let mut found = store
        .find_by_auth_ids(&[second, unknown, first, second])
        .await
        .expect("find");
    found.sort_by_key(|user| user.auth_id);
    expected.sort_by_key(|user| user.auth_id);
    assert_eq!(found, expected, "each linked user once, unknown ids absent");
    assert!(found.iter().all(|user| user.id != unlinked.id));
    assert!(store.find_by_auth_ids(&[]).await.expect("find").is_empty());
    assert!(store
        .find_by_auth_ids(&[unknown])
        .await
        .expect("find")
        .is_empty());
}

async fn concurrent_creates_of_one_identity_make_one_user(store: Arc<dyn UserStore>) {
    let id = auth_id();
    let attempts = (0..32).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_linked(new_user(&format!("race-{n}@example.com"), Some(id)))
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .into_iter()
        .map(|joined| joined.expect("task"))
        .filter(|result| match result {
            Ok(_) => true,
            Err(CreateLinkedError::AuthIdTaken) => false,
            Err(other) => panic!("unexpected {other:?}"),
        })
        .count();
    assert_eq!(created, 1);
}

/// Runs every audit-log check against `log`.
pub async fn audit_log(log: Arc<dyn AuditLog>) {
    let user = UserId::generate();
    let identity = auth_id();
    let event = |action: &str, user_id, auth_id| AuditEvent {
        correlation_id: Uuid::new_v4(),
        occurred_at: Utc::now(),
        source: AuditSource::Admin,
        action: action.into(),
        outcome: AuditOutcome::Ok,
        auth_id,
        user_id,
        actor: Some("admin:test".into()),
        detail: json!({"note": action}),
    };
    log.append(&[event("first", Some(user), None)])
        .await
        .expect("append");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    log.append(&[
        event("second", None, Some(identity)),
        event("unrelated", Some(UserId::generate()), None),
    ])
    .await
    .expect("append");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut failed = event("third", Some(user), Some(identity));
    failed.outcome = AuditOutcome::Failed("conflict".into());
    log.append(&[failed]).await.expect("append");

    let found = log
        .query(&AuditQuery {
            user_id: Some(user),
            auth_id: Some(identity),
            limit: 10,
        })
        .await
        .expect("query");
    let actions: Vec<_> = found.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["third", "second", "first"],
        "newest first, either key"
    );
    assert_eq!(found[0].outcome, AuditOutcome::Failed("conflict".into()));
    assert_eq!(found[0].actor.as_deref(), Some("admin:test"));
    assert_eq!(found[0].detail, json!({"note": "third"}));
    assert_eq!(found[0].source, AuditSource::Admin);

    let limited = log
        .query(&AuditQuery {
            user_id: Some(user),
            auth_id: None,
            limit: 1,
        })
        .await
        .expect("query");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].action, "third");
}
