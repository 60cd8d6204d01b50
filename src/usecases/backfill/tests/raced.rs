//! A user linked by someone else while the run examines it.

use std::sync::Arc;

use async_trait::async_trait;
use identity_link_adapters::fixture::FixtureIdentities;
use identity_link_adapters::memory::MemoryBackfillStore;
use identity_link_ports::{
    AuthId, IdentityError, IdentityPage, IdentityProvider, KratosIdentity, PageToken,
    ResolutionStatus, Strategy, UserId, UserStore,
};
use uuid::Uuid;

use super::{identity, kratos_has, link_of, options, run_with};
use crate::usecases::app::{App, Ports, Rules};
use crate::usecases::metrics::Metrics;
use crate::usecases::test_support::{memory_world, seed_user};

/// The fixture Kratos, whose lookup of `raced@…` first links that user
/// elsewhere, as a resolve would while the run examines it.
struct Raced {
    kratos: Arc<FixtureIdentities>,
    users: Arc<dyn UserStore>,
    victim: UserId,
    other: AuthId,
}

#[async_trait]
impl IdentityProvider for Raced {
    async fn get_identity(&self, id: AuthId) -> Result<KratosIdentity, IdentityError> {
        self.kratos.get_identity(id).await
    }

    async fn find_by_identifier(&self, email: &str) -> Result<Vec<KratosIdentity>, IdentityError> {
        if email == "raced@example.com" {
            let linked = self
                .users
                .set_link(self.victim, Some(self.other), None)
                .await;
            linked.map_err(|error| IdentityError::Unavailable(error.to_string()))?;
        }
        self.kratos.find_by_identifier(email).await
    }

    async fn list_page(
        &self,
        size: u32,
        page: Option<PageToken>,
    ) -> Result<IdentityPage, IdentityError> {
        self.kratos.list_page(size, page).await
    }

    async fn set_external_id(&self, id: AuthId, user: UserId) -> Result<(), IdentityError> {
        self.kratos.set_external_id(id, user).await
    }

    async fn find_by_external_id(&self, id: &str) -> Result<Option<KratosIdentity>, IdentityError> {
        self.kratos.find_by_external_id(id).await
    }

    async fn clear_external_id(&self, id: AuthId) -> Result<(), IdentityError> {
        self.kratos.clear_external_id(id).await
    }

    async fn ping(&self) -> Result<(), IdentityError> {
        self.kratos.ping().await
    }

    fn describe(&self) -> String {
        "raced fixture".into()
    }
}

#[tokio::test]
async fn a_user_linked_while_the_run_examines_it_is_already_linked_and_keeps_its_link() {
    let world = memory_world(Rules::default());
    let store = MemoryBackfillStore::new(&world.users);
    kratos_has(&world, identity("raced@example.com", true));
    let calm_auth = kratos_has(&world, identity("calm@example.com", true));
    let victim = seed_user(world.users.as_ref(), "raced@example.com", None)
        .await
        .id;
    let calm = seed_user(world.users.as_ref(), "calm@example.com", None)
        .await
        .id;
    let other = AuthId::new(Uuid::new_v4());
    let ports = Ports {
        users: world.app.users.clone(),
        identities: Arc::new(Raced {
            kratos: world.kratos.clone(),
            users: world.app.users.clone(),
            victim,
            other,
        }),
        audit_log: world.app.audit_log.clone(),
        deliveries: world.app.deliveries.clone(),
        write_backs: world.app.write_backs.clone(),
        backfill: None,
        sessions: None,
    };
    let raced = App::new(ports, Rules::default(), Metrics::new());

    let summary = run_with(&raced, &store, &options(Strategy::Lookup)).await;

    assert_eq!(summary.count(ResolutionStatus::AlreadyLinked), 1);
    assert_eq!(summary.count(ResolutionStatus::Linked), 1);
    assert_eq!(link_of(&world, victim).await, Some(other));
    assert_eq!(link_of(&world, calm).await, Some(calm_auth));
}
