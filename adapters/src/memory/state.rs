//! What the in-memory stores share: the users with their indexes, and where
//! their changes are recorded (audit log, write-back queue, backfill runs).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, LinkError, NewUser, Profile, User, UserId,
};

use super::backfill::runs::Runs;
use super::{MemoryAuditLog, MemoryWriteBackQueue};

/// Users by id, with the indexes the unique constraints of Postgres keep.
#[derive(Default)]
pub(super) struct Users {
    by_id: BTreeMap<UserId, User>,
    by_email: HashMap<String, UserId>,
    by_auth_id: HashMap<AuthId, UserId>,
}

impl Users {
    pub(super) fn get(&self, id: UserId) -> Option<&User> {
        self.by_id.get(&id)
    }

    /// The user holding this normalized email.
    pub(super) fn by_email(&self, normalized: &str) -> Option<&User> {
        self.by_email
            .get(normalized)
            .and_then(|id| self.by_id.get(id))
    }

    /// The user linked to `auth_id`.
    pub(super) fn by_auth_id(&self, auth_id: AuthId) -> Option<&User> {
        self.by_auth_id
            .get(&auth_id)
            .and_then(|id| self.by_id.get(id))
    }

    /// Every user in id order, starting after `after`.
    pub(super) fn after(&self, after: Option<UserId>) -> impl Iterator<Item = &User> {
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Unbounded,
        };
        self.by_id
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, user)| user)
    }

    pub(super) fn create(&mut self, new: NewUser) -> Result<User, CreateLinkedError> {
        if self.by_email.contains_key(new.profile.email.normalized()) {
            return Err(CreateLinkedError::EmailTaken);
        }
        if let Some(auth_id) = new.auth_id {
            if self.by_auth_id.contains_key(&auth_id) {
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
        self.by_email
            .insert(user.email.normalized().to_owned(), user.id);
        if let Some(auth_id) = user.auth_id {
            self.by_auth_id.insert(auth_id, user.id);
        }
        self.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    /// Links (or unlinks) `id` when its link is still `expected`, the link
    /// made at `at`.
    pub(super) fn set_link(
        &mut self,
        id: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        at: DateTime<Utc>,
    ) -> Result<User, LinkError> {
        let current = self.by_id.get(&id).ok_or(LinkError::UserNotFound)?.auth_id;
        if current != expected {
            return Err(LinkError::Changed { current });
        }
        if let Some(auth_id) = new {
            if self
                .by_auth_id
                .get(&auth_id)
                .is_some_and(|owner| *owner != id)
            {
                return Err(LinkError::AuthIdTaken);
            }
        }
        if let Some(old) = current {
            self.by_auth_id.remove(&old);
        }
        if let Some(auth_id) = new {
            self.by_auth_id.insert(auth_id, id);
        }
        let user = self.by_id.get_mut(&id).ok_or(LinkError::UserNotFound)?;
        user.auth_id = new;
        user.linked_at = new.map(|_| at);
        Ok(user.clone())
    }

    pub(super) fn update_profile(
        &mut self,
        id: UserId,
        profile: &Profile,
    ) -> Result<User, LinkError> {
        let Some(old_email) = self.by_id.get(&id).map(|user| user.email.normalized()) else {
            return Err(LinkError::UserNotFound);
        };
        let old_email = old_email.to_owned();
        if self
            .by_email
            .get(profile.email.normalized())
            .is_some_and(|owner| *owner != id)
        {
            return Err(LinkError::EmailTaken);
        }
        self.by_email.remove(&old_email);
        self.by_email
            .insert(profile.email.normalized().to_owned(), id);
        let user = self.by_id.get_mut(&id).ok_or(LinkError::UserNotFound)?;
        user.email = profile.email.clone();
        user.first_name = profile.first_name.clone();
        user.last_name = profile.last_name.clone();
        user.avatar_url = profile.avatar_url.clone();
        Ok(user.clone())
    }
}

/// The state of one in-memory database: every store made over it sees the
/// same users, and a change's records are written while the users' lock is
/// held, so a change and its records are seen together or not at all. Locks
/// are taken users first, runs second.
#[derive(Default)]
pub(super) struct Shared {
    users: Mutex<Users>,
    runs: Mutex<Runs>,
    pub(super) audit: Arc<MemoryAuditLog>,
    pub(super) write_backs: Arc<MemoryWriteBackQueue>,
}

/// A panic while holding a lock cannot leave the state half-updated: every
/// change checks first and writes after.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(super) fn users(&self) -> MutexGuard<'_, Users> {
        lock(&self.users)
    }

    pub(super) fn runs(&self) -> MutexGuard<'_, Runs> {
        lock(&self.runs)
    }

    /// Stores `record` for `user`; called with the users' lock held.
    pub(super) fn record(&self, user: &User, record: &ChangeRecord) {
        self.audit.push(&record.audit);
        if let (true, Some(auth_id), Some(first)) =
            (record.write_back, user.auth_id, record.audit.first())
        {
            self.write_backs
                .enqueue_now(auth_id, user.id, first.correlation_id, first.source);
        }
    }
}
