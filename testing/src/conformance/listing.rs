//! Conformance checks of the user store's listing, batch lookup and racing creates.

use std::collections::HashSet;
use std::sync::Arc;

use identity_link_ports::{CreateLinkedError, UserFilter, UserStore};

use super::{auth_id, new_user};

pub(super) async fn listing_walks_every_user_once_with_filters(store: &dyn UserStore) {
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

pub(super) async fn many_identities_are_looked_up_at_once(store: &dyn UserStore) {
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

pub(super) async fn concurrent_creates_of_one_identity_make_one_user(store: Arc<dyn UserStore>) {
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
