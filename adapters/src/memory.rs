//! In-memory adapters with the same semantics as the Postgres ones: the default
//! store when no database is configured, and the fakes of unit tests. (One
//! file: users, their audit and write-backs share one lock, see `MemoryUserStore`.)

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;
use identity_link_ports::text::email_key;
use identity_link_ports::{
    AuditError, AuditEvent, AuditLog, AuditQuery, AuthId, ChangeRecord, CreateLinkedError, Email,
    ImportOutcome, LinkError, NewUser, Profile, StoreError, User, UserCount, UserFilter, UserId,
    UserPage, UserStore,
};

mod outbox;
pub use outbox::{MemoryWebhookDeliveries, MemoryWriteBackQueue};

#[derive(Default)]
struct Users {
    by_id: BTreeMap<UserId, User>,
    by_email: HashMap<String, UserId>,
    by_auth_id: HashMap<AuthId, UserId>,
}

/// Users kept in process memory; lost on exit. A change's record goes to the
/// store's audit log and write-back queue while the users' lock is held, so a
/// change and its record are seen together or not at all.
#[derive(Default)]
pub struct MemoryUserStore {
    users: Mutex<Users>,
    audit: Arc<MemoryAuditLog>,
    write_backs: Arc<MemoryWriteBackQueue>,
}

impl MemoryUserStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The audit log changes are recorded in (hand it to the application).
    pub fn audit_log(&self) -> Arc<MemoryAuditLog> {
        self.audit.clone()
    }

    /// The write-back queue changes are recorded in (hand it to the application).
    pub fn write_backs(&self) -> Arc<MemoryWriteBackQueue> {
        self.write_backs.clone()
    }

    /// Stores `record` for `user`; called with the users' lock held.
    fn record(&self, user: &User, record: &ChangeRecord) {
        self.audit.push(&record.audit);
        if let (true, Some(auth_id), Some(first)) =
            (record.write_back, user.auth_id, record.audit.first())
        {
            self.write_backs
                .enqueue_now(auth_id, user.id, first.correlation_id, first.source);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Users> {
        // A panic while holding the lock cannot leave the maps half-updated:
        // every mutation below checks first and writes after.
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

fn create_locked(users: &mut Users, new: NewUser) -> Result<User, CreateLinkedError> {
    if users.by_email.contains_key(new.profile.email.normalized()) {
        return Err(CreateLinkedError::EmailTaken);
    }
    if let Some(auth_id) = new.auth_id {
        if users.by_auth_id.contains_key(&auth_id) {
            return Err(CreateLinkedError::AuthIdTaken);
        }
    }
    let now = Utc::now();
    let user = User {
        id: new.id,
        email: new.profile.email,
        first_name: new.profile.first_name,
        last_name: new.profile.last_name,
        avatar_url: new.profile.avatar_url,
        auth_id: new.auth_id,
        created_at: now,
        linked_at: new.auth_id.map(|_| now),
    };
    users
        .by_email
        .insert(user.email.normalized().to_owned(), user.id);
    if let Some(auth_id) = user.auth_id {
        users.by_auth_id.insert(auth_id, user.id);
    }
    users.by_id.insert(user.id, user.clone());
    Ok(user)
}

fn set_link_locked(
    users: &mut Users,
    id: UserId,
    new: Option<AuthId>,
    expected: Option<AuthId>,
) -> Result<User, LinkError> {
    let current = users.by_id.get(&id).ok_or(LinkError::UserNotFound)?.auth_id;
    if current != expected {
        return Err(LinkError::Changed { current });
    }
    if let Some(auth_id) = new {
        if users
            .by_auth_id
            .get(&auth_id)
            .is_some_and(|owner| *owner != id)
        {
            return Err(LinkError::AuthIdTaken);
        }
    }
    if let Some(old) = current {
        users.by_auth_id.remove(&old);
    }
    if let Some(auth_id) = new {
        users.by_auth_id.insert(auth_id, id);
    }
    let user = users.by_id.get_mut(&id).ok_or(LinkError::UserNotFound)?;
    user.auth_id = new;
    user.linked_at = new.map(|_| Utc::now());
    Ok(user.clone())
}

fn update_profile_locked(
    users: &mut Users,
    id: UserId,
    profile: &Profile,
) -> Result<User, LinkError> {
    if !users.by_id.contains_key(&id) {
        return Err(LinkError::UserNotFound);
    }
    if users
        .by_email
        .get(profile.email.normalized())
        .is_some_and(|owner| *owner != id)
    {
        return Err(LinkError::EmailTaken);
    }
    let old_email = users.by_id[&id].email.normalized().to_owned();
    users.by_email.remove(&old_email);
    users
        .by_email
        .insert(profile.email.normalized().to_owned(), id);
    let user = users.by_id.get_mut(&id).ok_or(LinkError::UserNotFound)?;
    user.email = profile.email.clone();
    user.first_name = profile.first_name.clone();
    user.last_name = profile.last_name.clone();
    user.avatar_url = profile.avatar_url.clone();
    Ok(user.clone())
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError> {
        let users = self.lock();
        Ok(users
            .by_auth_id
            .get(&auth_id)
            .and_then(|id| users.by_id.get(id))
            .cloned())
    }

    async fn find_by_auth_ids(&self, auth_ids: &[AuthId]) -> Result<Vec<User>, StoreError> {
        let users = self.lock();
        let mut wanted = auth_ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        Ok(wanted
            .iter()
            .filter_map(|auth_id| users.by_auth_id.get(auth_id))
            .filter_map(|id| users.by_id.get(id))
            .cloned()
            .collect())
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock().by_id.get(&id).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let users = self.lock();
        Ok(users
            .by_email
            .get(email.normalized())
            .and_then(|id| users.by_id.get(id))
            .cloned())
    }

    async fn create_linked(&self, new: NewUser) -> Result<User, CreateLinkedError> {
        create_locked(&mut self.lock(), new)
    }

    async fn set_link(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError> {
        set_link_locked(&mut self.lock(), id, new, expected)
    }

    async fn update_profile(&self, id: UserId, profile: &Profile) -> Result<User, LinkError> {
        update_profile_locked(&mut self.lock(), id, profile)
    }

    async fn create_linked_recorded(
        &self,
        new: NewUser,
        record: &ChangeRecord,
    ) -> Result<User, CreateLinkedError> {
        let mut users = self.lock();
        let user = create_locked(&mut users, new)?;
        self.record(&user, record);
        Ok(user)
    }

    async fn set_link_recorded(
        &self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        let mut users = self.lock();
        let user = set_link_locked(&mut users, id, new, expected)?;
        self.record(&user, record);
        Ok(user)
    }

    async fn update_profile_recorded(
        &self,
        id: UserId,
        profile: &Profile,
        record: &ChangeRecord,
    ) -> Result<User, LinkError> {
        let mut users = self.lock();
        let user = update_profile_locked(&mut users, id, profile)?;
        self.record(&user, record);
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
        let users = self.lock();
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Unbounded,
        };
        let mut matching = users
            .by_id
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, user)| user)
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
        let users = self.lock();
        let count = users
            .by_id
            .values()
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

/// Audit events kept in process memory.
#[derive(Default)]
pub struct MemoryAuditLog {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAuditLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, events: &[AuditEvent]) {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(events);
    }

    /// Every event appended so far, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(events);
        Ok(())
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        Ok(events
            .iter()
            .rev()
            .filter(|event| {
                (query.user_id.is_some() && event.user_id == query.user_id)
                    || (query.auth_id.is_some() && event.auth_id == query.auth_id)
            })
            .take(query.limit as usize)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_link_testing::conformance;

    #[tokio::test]
    async fn the_memory_user_store_passes_the_conformance_suite() {
        conformance::user_store(Arc::new(MemoryUserStore::new())).await;
    }

    #[tokio::test]
    async fn the_memory_audit_log_passes_the_conformance_suite() {
        conformance::audit_log(Arc::new(MemoryAuditLog::new())).await;
    }

    #[tokio::test]
    async fn the_memory_webhook_deliveries_pass_the_conformance_suite() {
        conformance::webhook_deliveries(Arc::new(MemoryWebhookDeliveries::new())).await;
    }

    #[tokio::test]
    async fn the_memory_write_back_queue_passes_the_conformance_suite() {
        conformance::write_back_queue(Arc::new(MemoryWriteBackQueue::new())).await;
    }
}
