use async_trait::async_trait;

use crate::audit::AuditEvent;
use crate::types::{AuthId, Email, NewUser, Profile, User, UserId};

/// A failure of the store itself, as opposed to a business outcome.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or timed out; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why [`UserStore::create_linked`] did not create the user.
#[derive(Debug, thiserror::Error)]
pub enum CreateLinkedError {
    /// Another user holds that email (case-insensitively).
    #[error("a user with that email exists")]
    EmailTaken,
    /// Another user is linked to that identity.
    #[error("a user is linked to that identity")]
    AuthIdTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why [`UserStore::set_link`] or [`UserStore::update_profile`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no such user")]
    UserNotFound,
    /// The user's current link is not the expected one (compare-and-set lost).
    #[error("the user's link changed meanwhile (now {current:?})")]
    Changed { current: Option<AuthId> },
    /// Another user is linked to that identity.
    #[error("the identity is linked to another user")]
    AuthIdTaken,
    /// Another user holds the new email.
    #[error("another user holds that email")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What commits together with a change of a user (a creation, a link, an
/// unlink, a profile sync): its audit events and, when `write_back` is set and
/// the change links an identity, the pending `external_id` write-back of the
/// user's id to that identity (correlation id and source taken from the first
/// event). Either all of it is stored with the change, or nothing is.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub audit: Vec<AuditEvent>,
    pub write_back: bool,
}

impl ChangeRecord {
    /// One audit event, no write-back.
    pub fn audit(event: AuditEvent) -> Self {
        Self {
            audit: vec![event],
            write_back: false,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub added: u64,
    /// Rows whose email was already present (case-insensitively).
    pub skipped: u64,
}

/// Filters for listing users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// `Some(true)`: only linked users; `Some(false)`: only unlinked ones.
    pub linked: Option<bool>,
    /// Case-insensitive substring of email, first or last name.
    pub search: Option<String>,
}

/// One page of users in id order; `has_more` when users follow the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<User>,
    pub has_more: bool,
}

/// How many users match a filter: exact up to the bound the caller asked
/// for, above it possibly an estimate (`estimated` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCount {
    pub count: u64,
    /// The count is an estimate (the store's statistics), not a count of rows.
    pub estimated: bool,
}

/// Persistence of users and their links.
///
/// Every method is atomic on its own, and the guarantees hold across any number
/// of service instances sharing the store: one user per identity, one user per
/// email (case-insensitive).
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// The user linked to `auth_id`, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_by_auth_id(&self, auth_id: AuthId) -> Result<Option<User>, StoreError>;

    /// The users linked to any of `auth_ids`, in no particular order; ids no user
    /// is linked to are simply absent. One round trip for a whole page of
    /// identities: reconcile asks this for every page it lists.
    ///
    /// The default asks [`UserStore::find_by_auth_id`] once per id; adapters
    /// answer in one query.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_by_auth_ids(&self, auth_ids: &[AuthId]) -> Result<Vec<User>, StoreError> {
        let mut users = Vec::new();
        for auth_id in auth_ids {
            if let Some(user) = self.find_by_auth_id(*auth_id).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// The user with this id, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user holding this email (case-insensitive), if any.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// Creates a user, linked when `user.auth_id` is set, in one atomic step.
    ///
    /// # Errors
    /// `EmailTaken` or `AuthIdTaken` when a uniqueness guarantee would break
    /// (nothing is written), [`StoreError`] when the store fails.
    async fn create_linked(&self, user: NewUser) -> Result<User, CreateLinkedError>;

    /// Compare-and-set of a user's link: sets `auth_id` to `new` (`None` unlinks)
    /// only when it currently equals `expected`.
    ///
    /// # Errors
    /// `UserNotFound`; `Changed` with the current link when it is not `expected`;
    /// `AuthIdTaken` when another user is linked to `new`; [`StoreError`].
    async fn set_link(
        &self,
        user: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
    ) -> Result<User, LinkError>;

    /// As [`UserStore::create_linked`], storing `record` in the same transaction.
    ///
    /// # Errors
    /// As [`UserStore::create_linked`]; nothing of the user or the record is written then.
    async fn create_linked_recorded(
        &self,
        user: NewUser,
        record: &ChangeRecord,
    ) -> Result<User, CreateLinkedError>;

    /// As [`UserStore::set_link`], storing `record` in the same transaction.
    ///
    /// # Errors
    /// As [`UserStore::set_link`]; nothing of the link or the record is written then.
    async fn set_link_recorded(
        &self,
        user: UserId,
        new: Option<AuthId>,
        expected: Option<AuthId>,
        record: &ChangeRecord,
    ) -> Result<User, LinkError>;

    /// As [`UserStore::update_profile`], storing `record` in the same transaction.
    ///
    /// # Errors
    /// As [`UserStore::update_profile`]; nothing is written then.
    async fn update_profile_recorded(
        &self,
        user: UserId,
        profile: &Profile,
        record: &ChangeRecord,
    ) -> Result<User, LinkError>;

    /// Replaces the user's email and names with `profile` (a profile sync).
    ///
    /// # Errors
    /// `UserNotFound`; `EmailTaken` when another user holds the new email; [`StoreError`].
    async fn update_profile(&self, user: UserId, profile: &Profile) -> Result<User, LinkError>;

    /// Adds unlinked users, skipping any whose email is already present.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; nothing of the batch is written then.
    async fn import(&self, users: Vec<NewUser>) -> Result<ImportOutcome, StoreError>;

    /// Users in id order after `after`, at most `limit` of them.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn list(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError>;

    /// How many users match `filter`: exact when at most `exact_up_to` do;
    /// above that the store may answer an estimate instead of reading every
    /// matching row (never less than `exact_up_to + 1` then).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn count(&self, filter: &UserFilter, exact_up_to: u64) -> Result<UserCount, StoreError>;

    /// Checks that the store answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn ping(&self) -> Result<(), StoreError>;
}
