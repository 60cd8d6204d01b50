//! The in-memory user store.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use identity_link_ports::text::email_key;
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, Email, ImportOutcome, LinkError, NewUser, Profile,
    StoreError, User, UserCount, UserFilter, UserId, UserPage, UserStore,
};

use super::state::Shared;
use super::{MemoryAuditLog, MemoryWriteBackQueue};

/// Users kept in process memory; lost on exit. A change's record goes to the
/// store's audit log and write-back queue while the users' lock is held, so a
/// change and its record are seen together or not at all.
#[derive(Default)]
pub struct MemoryUserStore {
    pub(super) shared: Arc<Shared>,
}

impl MemoryUserStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The audit log changes are recorded in (hand it to the application).
    pub fn audit_log(&self) -> Arc<MemoryAuditLog> {
        self.shared.audit.clone()
    }

    /// The write-back queue changes are recorded in (hand it to the application).
    pub fn write_backs(&self) -> Arc<MemoryWriteBackQueue> {
        self.shared.write_backs.clone()
    }
}

fn matches_filter(user: &User, filter: &UserFilter) -> bool {
    if let Some(linked) = filter.linked {
        if user.auth_id.is_some() != linked {
            return false;
        }
    }
    match filter.search.as_deref() {
        None => true,
        Some(search) => {
            let needle = search.to_lowercase();
            user.email.normalized().contains(&email_key(search))
                || [user.first_name.as_deref(), user.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|field| field.to_lowercase().contains(&needle))
        }
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError> {
        Ok(self.shared.users().by_auth_id(auth_id).cloned())
    }

    async fn find_by_auth_ids(&self, auth_ids: &[AuthId]) -> Result<Vec<User>, StoreError> {
        let users = self.shared.users();
        let mut wanted = auth_ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        Ok(wanted
            .into_iter()
            .filter_map(|auth_id| users.by_auth_id(auth_id))
            .cloned()
            .collect())
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.shared.users().get(id).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(self.shared.users().by_email(email.normalized()).cloned())
    }

    async fn create_linked(&self, new: NewUser) -> Result<User, CreateLinkedError> {
        self.shared.users().create(new)
    }

    async fn set_link(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError> {
        self.shared.users().set_link(id, new, expected, Utc::now())
    }

    async fn update_profile(&self, id: UserId, profile: &Profile) -> Result<User, LinkError> {
        self.shared.users().update_profile(id, profile)
    }

    async fn create_linked_recorded(
        &self,
        new: NewUser,
        record: &ChangeRecord,
    ) -> Result<User, CreateLinkedError> {
        let mut users = self.shared.users();
        let user = users.create(new)?;
        self.shared.record(&user, record);
        Ok(user)
    }

    async fn set_link_recorded(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        let mut users = self.shared.users();
        let user = users.set_link(id, new, expected, Utc::now())?;
        self.shared.record(&user, record);
        Ok(user)
    }

    async fn update_profile_recorded(
        &self,
        id: UserId,
        profile: &Profile,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        let mut users = self.shared.users();
        let user = users.update_profile(id, profile)?;
        self.shared.record(&user, record);
        Ok(user)
    }

    async fn import(&self, new_users: Vec<NewUser>) -> Result<ImportOutcome, StoreError> {
        let mut outcome = ImportOutcome::default();
        for new in new_users {
            let unlinked = NewUser {
                auth_id: None,
                ..new
            };
            match self.create_linked(unlinked).await {
                Ok(_) => outcome.added += 1,
                Err(CreateLinkedError::EmailTaken | CreateLinkedError::AuthIdTaken) => {
                    outcome.skipped += 1
                }
                Err(CreateLinkedError::Store(error)) => return Err(error),
            }
        }
        Ok(outcome)
    }

    async fn list(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        let users = self.shared.users();
        let mut matching = users
            .after(after)
            .filter(|user| matches_filter(user, filter));
        let page: Vec<User> = matching.by_ref().take(limit as usize).cloned().collect();
        let has_more = matching.next().is_some();
        Ok(UserPage {
            users: page,
            has_more,
        })
    }

    /// Always exact: the users are at hand.
    async fn count(&self, filter: &UserFilter, _exact_up_to: u64) -> Result<UserCount, StoreError> {
        let count = self
            .shared
            .users()
            .after(None)
            .filter(|user| matches_filter(user, filter))
            .count();
        Ok(UserCount {
            count: count as u64,
            estimated: false,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
