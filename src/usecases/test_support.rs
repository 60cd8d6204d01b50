//! What the service's unit tests share: an [`App`] over in-memory adapters and
//! an in-process Kratos, and a way to seed users.

use std::sync::Arc;

use identity_link_adapters::fixture::FixtureIdentities;
use identity_link_adapters::memory::{MemoryAuditLog, MemoryUserStore, MemoryWebhookDeliveries};
use identity_link_ports::{
    AuthId, Email, IdentityState, KratosIdentity, NewUser, Profile, User, UserId, UserStore,
    VerifiableAddress,
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
