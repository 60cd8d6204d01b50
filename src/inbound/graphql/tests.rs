//! `totalCount` of `adminUsers` asks the store only when selected.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::Request;
use async_trait::async_trait;
use identity_link_adapters::memory::MemoryUserStore;
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, Email, ImportOutcome, LinkError, NewUser, Profile,
    StoreError, User, UserCount, UserFilter, UserId, UserPage, UserStore,
};
use serde_json::json;
use uuid::Uuid;

use super::{builder, AdminCall, MAX_DEPTH};
use crate::usecases::app::Rules;
use crate::usecases::test_support::{memory_world, seed_user};

/// The memory store, counting how often it is asked to count.
struct CountingUsers {
    inner: MemoryUserStore,
    counts: AtomicUsize,
}

#[async_trait]
impl UserStore for CountingUsers {
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

#[tokio::test]
async fn the_total_count_is_asked_once_when_selected_and_never_otherwise() {
    let mut world = memory_world(Rules::default());
    let users = Arc::new(CountingUsers {
        inner: MemoryUserStore::new(),
        counts: AtomicUsize::new(0),
    });
    for n in 0..3 {
        seed_user(users.as_ref(), &format!("user{n}@example.com"), None).await;
    }
    seed_user(users.as_ref(), "someone@example.com", None).await;
    world.app.users = users.clone();
    let schema = builder(MAX_DEPTH).data(Arc::new(world.app)).finish();
    let run = |query: &str| {
        let request = Request::new(query).data(AdminCall {
            actor: "test".into(),
            correlation_id: Uuid::new_v4(),
        });
        schema.execute(request)
    };

    let page = run("{ adminUsers(search: \"user\", first: 2) { edges { node { email } } pageInfo { hasNextPage } } }").await;
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    assert_eq!(users.counts.load(Ordering::SeqCst), 0);

    let counted = run("{ adminUsers(search: \"user\", first: 2) { totalCount totalCountIsEstimate edges { cursor } } }").await;
    assert!(counted.errors.is_empty(), "{:?}", counted.errors);
    let data = counted.data.into_json().expect("JSON data");
    assert_eq!(
        data["adminUsers"]["totalCount"],
        json!(3),
        "every page's users"
    );
    assert_eq!(data["adminUsers"]["totalCountIsEstimate"], json!(false));
    assert_eq!(
        users.counts.load(Ordering::SeqCst),
        1,
        "one count for both fields"
    );
}
