//! Conformance suite of the user store: creation, uniqueness, links, profiles, import.

use std::sync::Arc;

use identity_link_ports::{CreateLinkedError, Email, LinkError, UserId, UserStore};

use super::{auth_id, count, listing, new_user, profile};

/// Runs every user-store check against `store`, which must start empty.
pub async fn user_store(store: Arc<dyn UserStore>) {
    created_users_are_found_by_every_key(store.as_ref()).await;
    uniqueness_holds_for_email_and_identity(store.as_ref()).await;
    set_link_is_a_compare_and_set(store.as_ref()).await;
    profile_updates_keep_emails_unique(store.as_ref()).await;
    import_is_idempotent_by_email(store.as_ref()).await;
    listing::listing_walks_every_user_once_with_filters(store.as_ref()).await;
    count::users_are_counted_exactly_up_to_the_bound(store.as_ref()).await;
    listing::many_identities_are_looked_up_at_once(store.as_ref()).await;
    listing::concurrent_creates_of_one_identity_make_one_user(store).await;
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
