use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::audit::AuditSource;
use crate::types::{AuthId, UserId};
use crate::users::StoreError;

/// One pending write-back: set identity `auth_id`'s `external_id` to `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBack {
    pub auth_id: AuthId,
    pub user_id: UserId,
    /// Changes whenever the identity is queued again (a newer link); settling
    /// a claimed write-back only takes effect while the version is unchanged.
    pub version: i64,
    /// Attempts made so far, the claimed one included.
    pub attempts: u32,
    /// The call that made the link, so that the write-back's audit records name it.
    pub correlation_id: Uuid,
    pub source: AuditSource,
}

/// The durable outbox of `external_id` write-backs: filled when a link is made,
/// drained by a background worker, so that retries survive restarts.
///
/// Claims are leases, not locks: a claimed write-back is handed out again once
/// its lease ends without it being settled (its worker died), and several
/// workers on several instances never get the same one at once.
#[async_trait]
pub trait WriteBackQueue: Send + Sync + 'static {
    /// Queues the write-back of `user` to identity `auth_id`, due now. Replaces
    /// any write-back of that identity still queued (the newest link wins).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; nothing is queued then.
    async fn enqueue(
        &self,
        auth_id: AuthId,
        user: UserId,
        correlation_id: Uuid,
        source: AuditSource,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` due write-backs for `lease`, counting an attempt on each.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; nothing is claimed then.
    async fn claim_due(&self, limit: u32, lease: Duration) -> Result<Vec<WriteBack>, StoreError>;

    /// Removes a claimed write-back that is done (or no longer wanted); `false`
    /// when it was queued again meanwhile and stays.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn complete(&self, item: &WriteBack) -> Result<bool, StoreError>;

    /// Makes a claimed write-back due again after `delay`, noting `error`;
    /// `false` when it was queued again meanwhile.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn retry_later(
        &self,
        item: &WriteBack,
        delay: Duration,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Gives a claimed write-back up: it stays, marked failed, and is never
    /// claimed again unless queued anew; `false` when it was queued again meanwhile.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn abandon(&self, item: &WriteBack, error: &str) -> Result<bool, StoreError>;
}
