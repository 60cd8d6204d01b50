use std::sync::Arc;

use identity_link_adapters::memory::MemoryUserStore;
use identity_link_ports::IdentityState;
use serde_json::json;

use super::*;
use crate::usecases::call::CallContext;
use crate::usecases::test_support::identity;

static CONTEXT: std::sync::LazyLock<CallContext> =
    std::sync::LazyLock::new(|| CallContext::new(identity_link_ports::AuditSource::Resolve));

fn journal() -> Journal<'static> {
    Journal::new(&CONTEXT, json!({}), true)
}

#[tokio::test]
async fn a_link_and_a_creation_are_stored_with_their_audit_event_and_write_back() {
    let store = MemoryUserStore::new();
    let user = unlinked_user(&store, "kept@example.com").await;
    let linked = identity("kept@example.com", true);
    link_or_provision(&store, &linked, &LinkPolicy::default(), &journal())
        .await
        .unwrap();
    let created = identity("made@example.com", true);
    let made = link_or_provision(&store, &created, &LinkPolicy::default(), &journal())
        .await
        .unwrap();
    let events = store.audit_log().events();
    let actions: Vec<_> = events
        .iter()
        .map(|event| (event.action.as_str(), event.user_id, event.auth_id))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("linked", Some(user.id), Some(linked.id)),
            ("created", Some(made.user.id), Some(created.id)),
        ]
    );
    let mut queued = store.write_backs().queued();
    queued.sort();
    let mut wanted = vec![linked.id, created.id];
    wanted.sort();
    assert_eq!(queued, wanted);

    // A refusal stores nothing.
    let before = store.audit_log().events().len();
    let squatter = identity("kept@example.com", false);
    assert!(
        link_or_provision(&store, &squatter, &LinkPolicy::default(), &journal())
            .await
            .is_err()
    );
    assert_eq!(store.audit_log().events().len(), before);
}

async fn unlinked_user(store: &MemoryUserStore, email: &str) -> User {
    crate::usecases::test_support::seed_user(store, email, None).await
}

#[tokio::test]
async fn a_new_verified_identity_provisions_a_linked_user() {
    let store = MemoryUserStore::new();
    let id = identity("new@example.com", true);
    let resolution = link_or_provision(&store, &id, &LinkPolicy::default(), &journal())
        .await
        .unwrap();
    assert!(resolution.created && !resolution.linked);
    assert_eq!(resolution.user.auth_id, Some(id.id));
    assert_eq!(resolution.user.first_name.as_deref(), Some("Ada"));

    let again = link_or_provision(&store, &id, &LinkPolicy::default(), &journal())
        .await
        .unwrap();
    assert!(!again.created && !again.linked);
    assert_eq!(again.user.id, resolution.user.id);
}

#[tokio::test]
async fn an_existing_unlinked_user_is_linked_when_the_email_is_verified() {
    let store = MemoryUserStore::new();
    let user = unlinked_user(&store, "Existing@Example.com").await;
    let id = identity("existing@example.com", true);
    let resolution = link_or_provision(&store, &id, &LinkPolicy::default(), &journal())
        .await
        .unwrap();
    assert!(resolution.linked && !resolution.created);
    assert_eq!(resolution.user.id, user.id);
    assert_eq!(resolution.user.auth_id, Some(id.id));
}

#[tokio::test]
async fn an_unverified_email_never_takes_over_an_existing_user() {
    let store = MemoryUserStore::new();
    let user = unlinked_user(&store, "victim@example.com").await;
    let policy = LinkPolicy {
        require_verified_email: false,
        ..LinkPolicy::default()
    };
    let result = link_or_provision(
        &store,
        &identity("victim@example.com", false),
        &policy,
        &journal(),
    )
    .await;
    assert!(
        matches!(result, Err(ResolveError::LinkUnverified)),
        "{result:?}"
    );
    let stored = store.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.auth_id, None);
}

#[tokio::test]
async fn provisioning_an_unverified_email_follows_the_policy() {
    let store = MemoryUserStore::new();
    let id = identity("fresh@example.com", false);
    let strict = link_or_provision(&store, &id, &LinkPolicy::default(), &journal()).await;
    assert!(
        matches!(strict, Err(ResolveError::EmailUnverified)),
        "{strict:?}"
    );
    assert!(store.find_by_auth_id(id.id).await.unwrap().is_none());

    let lenient = LinkPolicy {
        require_verified_email: false,
        ..LinkPolicy::default()
    };
    let resolution = link_or_provision(&store, &id, &lenient, &journal())
        .await
        .unwrap();
    assert!(resolution.created);
}

#[tokio::test]
async fn an_email_held_by_a_user_linked_elsewhere_is_a_duplicate() {
    let store = MemoryUserStore::new();
    let first = identity("taken@example.com", true);
    link_or_provision(&store, &first, &LinkPolicy::default(), &journal())
        .await
        .unwrap();
    let second = identity("TAKEN@example.com", true);
    let result = link_or_provision(&store, &second, &LinkPolicy::default(), &journal()).await;
    assert!(
        matches!(result, Err(ResolveError::IdentityDuplicate)),
        "{result:?}"
    );
}

#[tokio::test]
async fn inactive_identities_and_missing_traits_are_refused_before_any_write() {
    let store = MemoryUserStore::new();
    let mut inactive = identity("inactive@example.com", true);
    inactive.state = IdentityState::Inactive;
    let result = link_or_provision(&store, &inactive, &LinkPolicy::default(), &journal()).await;
    assert!(matches!(result, Err(ResolveError::Inactive)), "{result:?}");

    let mut no_email = identity("x@example.com", true);
    no_email.traits = json!({"name": {"first": "X"}});
    let result = link_or_provision(&store, &no_email, &LinkPolicy::default(), &journal()).await;
    assert!(
        matches!(result, Err(ResolveError::TraitsMissing(_))),
        "{result:?}"
    );
    assert_eq!(ResolveError::Inactive.code(), "identity_inactive");
}

#[tokio::test]
async fn concurrent_resolutions_of_one_identity_provision_one_user() {
    let store = Arc::new(MemoryUserStore::new());
    let id = identity("race@example.com", true);
    let tasks = (0..64).map(|_| {
        let store = store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            link_or_provision(store.as_ref(), &id, &LinkPolicy::default(), &journal()).await
        })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    let ids: std::collections::HashSet<_> = results.iter().map(|r| r.user.id).collect();
    assert_eq!(ids.len(), 1);
}
