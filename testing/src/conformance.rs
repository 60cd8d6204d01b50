//! One conformance suite per port, run against every implementation (the
//! in-memory adapters in unit tests, the Postgres adapters in integration tests,
//! the fixture and the Kratos adapter against the fake Kratos), so that the
//! fakes cannot drift from the real thing.

use identity_link_ports::{AuthId, Email, NewUser, Profile, UserId};
use uuid::Uuid;

mod audit;
pub mod backfill;
mod count;
mod identities;
mod listing;
mod outbox;
mod users;

pub use audit::audit_log;
pub use identities::{identity_provider, provider_identities};
pub use outbox::{webhook_deliveries, write_back_queue};
pub use users::user_store;

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
