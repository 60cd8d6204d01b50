//! What the service's unit tests share: an [`App`] over in-memory adapters and
//! an in-process Kratos, and a way to seed users.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use identity_link_adapters::fixture::FixtureIdentities;
use identity_link_adapters::memory::{MemoryAuditLog, MemoryUserStore, MemoryWebhookDeliveries};
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, Email, IdentityState, ImportOutcome, KratosIdentity,
    LinkError, NewUser, Profile, StoreError, User, UserCount, UserFilter, UserId, UserPage,
    UserStore, VerifiableAddress,
};
use serde_json::json;
use uuid::Uuid;

use crate::usecases::app::{App, Ports, Rules};
use crate::usecases::metrics::Metrics;

/// An app whose stores and Kratos the test can also reach directly.
pub struct MemoryWorld {
    pub app: App,
    pub users: Arc<MemoryUserStore>,
    pub kratos: Arc<FixtureIdentities>,
    pub audit: Arc<MemoryAuditLog>,
}

/// An app with `rules`, empty stores and a Kratos with no identities.
pub fn memory_world(rules: Rules) -> MemoryWorld {
    let users = Arc::new(MemoryUserStore::new());
    let kratos = Arc::new(FixtureIdentities::from_identities(Vec::new(), "test"));
    let audit = users.audit_log();
    let ports = Ports {
        users: users.clone(),
        identities: kratos.clone(),
        audit_log: audit.clone(),
        deliveries: Arc::new(MemoryWebhookDeliveries::new()),
        write_backs: users.write_backs(),
        backfill: None,
        sessions: None,
    };
    let app = App::new(ports, rules, Metrics::new());
    MemoryWorld {
        app,
        users,
        kratos,
        audit,
    }
}

/// Stores a user with `email` and no names, linked when `auth_id` is given.
pub async fn seed_user(store: &dyn UserStore, email: &str, auth_id: Option<AuthId>) -> User {
    store
        .create_linked(NewUser {
            id: UserId::generate(),
            profile: Profile {
                email: Email::new(email).expect("a valid test email"),
                first_name: None,
                last_name: None,
                avatar_url: None,
            },
            auth_id,
        })
        .await
        .expect("seed a user")
}

/// An active identity holding `email` as its trait, its one address (`verified` or
/// not) and its password identifier (lowercased, as Kratos stores identifiers).
pub fn identity(email: &str, verified: bool) -> KratosIdentity {
    KratosIdentity {
        id: AuthId::new(Uuid::new_v4()),
        state: IdentityState::Active,
        traits: json!({"email": email, "name": {"first": "Ada", "last": "Lovelace"}}),
        verifiable_addresses: vec![VerifiableAddress {
            value: email.to_owned(),
            verified,
            via: "email".into(),
        }],
        credential_identifiers: vec![email.trim().to_lowercase()],
        external_id: None,
    }
}

/// The memory store, with what tests observe and steer: how often it was
/// asked to count, and an import that waits before writing the first batch
/// holding a given email.
#[derive(Default)]
pub struct HookedUsers {
    pub inner: MemoryUserStore,
    pub counts: AtomicUsize,
    /// (normalised email, delay): the first batch holding the email waits that long.
    slow_import: Option<(String, Duration)>,
    slowed: AtomicBool,
}

impl HookedUsers {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first import of a batch holding `email` waits `delay`.
    pub fn with_slow_import(email: &str, delay: Duration) -> Self {
        Self {
            slow_import: Some((email.to_owned(), delay)),
            ..Self::default()
        }
    }
}

#[async_trait]
impl UserStore for HookedUsers {
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError> {
        self.inner.find_by_auth_id(auth_id).await
    }
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.find_by_id(id).await
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.find_by_email(email).await
    }
    async fn create_linked(&self, user: NewUser) -> Result<User, CreateLinkedError> {
        self.inner.create_linked(user).await
    }
    async fn set_link(
        &self,
        user: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError> {
        self.inner.set_link(user, new, expected).await
    }
    async fn create_linked_recorded(
        &self,
        user: NewUser,
        record: &ChangeRecord,
    ) -> Result<User, CreateLinkedError> {
        self.inner.create_linked_recorded(user, record).await
    }
    async fn set_link_recorded(
        &self,
        user: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        self.inner
            .set_link_recorded(user, new, expected, record)
            .await
    }
    async fn update_profile_recorded(
        &self,
        user: UserId,
        profile: &Profile,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        self.inner
            .update_profile_recorded(user, profile, record)
            .await
    }
    async fn update_profile(&self, user: UserId, profile: &Profile) -> Result<User, LinkError> {
        self.inner.update_profile(user, profile).await
    }
    async fn import(&self, users: Vec<NewUser>) -> Result<ImportOutcome, StoreError> {
        if let Some((email, delay)) = &self.slow_import {
            if users
                .iter()
                .any(|user| user.profile.email.normalized() == email)
                && !self.slowed.swap(true, Ordering::SeqCst)
            {
                tokio::time::sleep(*delay).await;
            }
        }
        self.inner.import(users).await
    }
    async fn list(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        self.inner.list(filter, after, limit).await
    }
    async fn count(&self, filter: &UserFilter, exact_up_to: u64) -> Result<UserCount, StoreError> {
        self.counts.fetch_add(1, Ordering::SeqCst);
        self.inner.count(filter, exact_up_to).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
