use std::time::Duration;

use identity_link_adapters::memory::MemoryUserStore;
use identity_link_ports::{
    AuditOutcome, AuditSource, IdentityState, KratosIdentity, UserStore, VerifiableAddress,
};

use super::*;
use serde_json::json;

use crate::usecases::app::Rules;
use crate::usecases::call::CallContext;
use crate::usecases::test_support::{memory_world, seed_user, MemoryWorld};

type Fixture = MemoryWorld;

fn fixture() -> Fixture {
    fixture_with(Rules::default())
}

fn fixture_with(rules: Rules) -> Fixture {
    memory_world(rules)
}

fn identity(email: &str, state: IdentityState) -> KratosIdentity {
    KratosIdentity {
        id: AuthId::new(Uuid::new_v4()),
        state,
        traits: json!({"email": email}),
        verifiable_addresses: vec![VerifiableAddress {
            value: email.to_owned(),
            verified: true,
            via: "email".into(),
        }],
        credential_identifiers: vec![email.to_owned()],
        external_id: None,
    }
}

async fn user(store: &MemoryUserStore, email: &str, auth_id: Option<AuthId>) -> User {
    seed_user(store, email, auth_id).await
}

fn admin() -> CallContext {
    CallContext {
        correlation_id: Uuid::new_v4(),
        source: AuditSource::Admin,
        actor: Some("kratos:admin".into()),
    }
}

#[tokio::test]
async fn linking_an_unlinked_user_is_written_and_audited_under_the_admin() {
    let f = fixture();
    let ada = user(&f.users, "ada@example.com", None).await;
    let id = identity("ada@example.com", IdentityState::Active);
    f.kratos.upsert(id.clone());
    let context = admin();

    let linked = link_identity(&f.app, ada.id, id.id, None, &context)
        .await
        .unwrap();

    assert_eq!(linked.auth_id, Some(id.id));
    let events = f.audit.events();
    assert_eq!(events.len(), 1, "flushed before answering");
    let event = &events[0];
    assert_eq!(event.action, "linked");
    assert_eq!(event.outcome, AuditOutcome::Ok);
    assert_eq!(event.actor.as_deref(), Some("kratos:admin"));
    assert_eq!(event.correlation_id, context.correlation_id);
    assert_eq!(event.source, AuditSource::Admin);
    assert_eq!(event.detail["emailMatches"], true);
}

#[tokio::test]
async fn a_stale_expected_link_changes_nothing_and_is_audited_as_refused() {
    let f = fixture();
    let old = identity("ada@example.com", IdentityState::Active);
    let new = identity("ada2@example.com", IdentityState::Active);
    f.kratos.upsert(new.clone());
    let ada = user(&f.users, "ada@example.com", Some(old.id)).await;

    let result = link_identity(&f.app, ada.id, new.id, None, &admin()).await;

    assert!(
        matches!(result, Err(AdminError::LinkChanged { current }) if current == Some(old.id)),
        "{result:?}"
    );
    let stored = f.users.find_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(stored.auth_id, Some(old.id));
    let events = f.audit.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].outcome,
        AuditOutcome::Failed("link_changed".into())
    );
    assert_eq!(events[0].detail["currentAuthId"], json!(old.id));
}

#[tokio::test]
async fn an_identity_linked_elsewhere_is_refused_naming_its_user() {
    let f = fixture();
    let id = identity("eve@example.com", IdentityState::Active);
    f.kratos.upsert(id.clone());
    let eve = user(&f.users, "eve@example.com", Some(id.id)).await;
    let ada = user(&f.users, "ada@example.com", None).await;

    let result = link_identity(&f.app, ada.id, id.id, None, &admin()).await;

    assert!(
        matches!(result, Err(AdminError::LinkedElsewhere { user: Some(owner), .. }) if owner == eve.id),
        "{result:?}"
    );
    assert_eq!(
        f.users.find_by_id(ada.id).await.unwrap().unwrap().auth_id,
        None
    );
    assert_eq!(f.audit.events()[0].detail["linkedUserId"], json!(eve.id));
}

#[tokio::test]
async fn the_identity_must_exist_in_kratos_and_pass_the_link_rule() {
    let f = fixture();
    let ada = user(&f.users, "ada@example.com", None).await;
    let missing = AuthId::new(Uuid::new_v4());
    let result = link_identity(&f.app, ada.id, missing, None, &admin()).await;
    assert!(matches!(result, Err(AdminError::IdentityNotFound(id)) if id == missing));

    let inactive = identity("ada@example.com", IdentityState::Inactive);
    f.kratos.upsert(inactive.clone());
    let result = link_identity(&f.app, ada.id, inactive.id, None, &admin()).await;
    let error = result.unwrap_err();
    assert_eq!(error.reason(), "identity_inactive");

    assert_eq!(
        f.users.find_by_id(ada.id).await.unwrap().unwrap().auth_id,
        None
    );
    let outcomes: Vec<_> = f.audit.events().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AuditOutcome::Failed("identity_not_found".into()),
            AuditOutcome::Failed("identity_inactive".into())
        ]
    );
}

#[tokio::test]
async fn relinking_audits_both_the_new_and_the_replaced_identity() {
    let f = fixture();
    let old = identity("ada@example.com", IdentityState::Active);
    let new = identity("ada@example.org", IdentityState::Active);
    f.kratos.upsert(new.clone());
    let ada = user(&f.users, "ada@example.com", Some(old.id)).await;

    let user = link_identity(&f.app, ada.id, new.id, Some(old.id), &admin())
        .await
        .unwrap();

    assert_eq!(user.auth_id, Some(new.id));
    let events = f.audit.events();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.action.as_str(), e.auth_id))
        .collect();
    assert_eq!(
        summary,
        [("linked", Some(new.id)), ("unlinked", Some(old.id))]
    );
    assert_eq!(events[0].detail["emailMatches"], false);
}

#[tokio::test]
async fn linking_to_the_identity_already_linked_writes_nothing() {
    let f = fixture();
    let id = identity("ada@example.com", IdentityState::Active);
    f.kratos.upsert(id.clone());
    let ada = user(&f.users, "ada@example.com", Some(id.id)).await;

    let same = link_identity(&f.app, ada.id, id.id, Some(id.id), &admin())
        .await
        .unwrap();

    assert_eq!(same.linked_at, ada.linked_at);
}

#[tokio::test]
async fn unlinking_needs_the_current_link() {
    let f = fixture();
    let id = identity("ada@example.com", IdentityState::Active);
    let ada = user(&f.users, "ada@example.com", Some(id.id)).await;

    let stale = unlink_identity(&f.app, ada.id, AuthId::new(Uuid::new_v4()), &admin()).await;
    assert!(matches!(stale, Err(AdminError::LinkChanged { current }) if current == Some(id.id)));
    let missing = unlink_identity(&f.app, UserId::generate(), id.id, &admin()).await;
    assert!(matches!(missing, Err(AdminError::UserNotFound(_))));

    let unlinked = unlink_identity(&f.app, ada.id, id.id, &admin())
        .await
        .unwrap();
    assert_eq!(unlinked.auth_id, None);
    let actions: Vec<_> = f
        .audit
        .events()
        .into_iter()
        .map(|e| (e.action, e.outcome.as_str().to_owned()))
        .collect();
    assert_eq!(
        actions,
        [
            ("unlink".to_owned(), "link_changed".to_owned()),
            ("unlink".to_owned(), "user_not_found".to_owned()),
            ("unlinked".to_owned(), "ok".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_audit_query_needs_a_user_or_an_identity() {
    let f = fixture();
    let result = audit(&f.app, None, None, 10).await;
    assert!(matches!(result, Err(AdminError::InvalidInput(_))));
}

#[tokio::test]
async fn an_admin_link_is_queued_for_write_back_when_enabled() {
    let f = fixture_with(Rules {
        write_back_external_id: true,
        ..Rules::default()
    });
    let ada = user(&f.users, "ada@example.com", None).await;
    let id = identity("ada@example.com", IdentityState::Active);
    f.kratos.upsert(id.clone());

    link_identity(&f.app, ada.id, id.id, None, &admin())
        .await
        .unwrap();

    let queued = f
        .app
        .write_backs
        .claim_due(10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].auth_id, id.id);
    assert_eq!(queued[0].user_id, ada.id);
}

#[tokio::test]
async fn an_admin_vouches_for_an_unverified_address_but_not_for_a_missing_email() {
    let f = fixture();
    let ada = user(&f.users, "ada@example.com", None).await;
    let mut unverified = identity("ada@example.net", IdentityState::Active);
    unverified.verifiable_addresses[0].verified = false;
    f.kratos.upsert(unverified.clone());
    let mut nameless = identity("bob@example.com", IdentityState::Active);
    nameless.traits = json!({});
    f.kratos.upsert(nameless.clone());
    let bob = user(&f.users, "bob@example.com", None).await;

    let linked = link_identity(&f.app, ada.id, unverified.id, None, &admin())
        .await
        .unwrap();
    let refused = link_identity(&f.app, bob.id, nameless.id, None, &admin()).await;
    let again = link_identity(&f.app, ada.id, unverified.id, None, &admin()).await;

    assert_eq!(linked.auth_id, Some(unverified.id));
    let events = f.audit.events();
    assert_eq!(events[0].detail["emailVerified"], false);
    assert_eq!(events[0].detail["emailMatches"], false);
    assert_eq!(refused.unwrap_err().reason(), "identity_traits_missing");
    assert_eq!(
        f.users.find_by_id(bob.id).await.unwrap().unwrap().auth_id,
        None
    );
    assert!(
        matches!(again, Err(AdminError::LinkChanged { current }) if current == Some(unverified.id)),
        "linking again needs the current link: {again:?}"
    );
}
