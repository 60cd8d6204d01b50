use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::types::{AuthId, UserId};
use crate::users::StoreError;

/// Kratos's `Ory-Webhook-Trigger-ID`: the same on every retry of one hook
/// execution, so it names a delivery for idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TriggerId(String);

/// Why a header value is not a usable trigger id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerIdError {
    #[error("the trigger id is empty")]
    Empty,
    #[error("the trigger id is longer than {0} characters")]
    TooLong(usize),
    #[error("the trigger id has characters other than printable ASCII")]
    Unprintable,
}

impl TriggerId {
    /// Kratos sends a UUID; anything short and printable is accepted so that a
    /// change of format upstream does not turn idempotency off.
    pub const MAX_LEN: usize = 128;

    /// # Errors
    /// [`TriggerIdError`] when `raw` is empty, too long or not printable ASCII.
    pub fn new(raw: &str) -> Result<Self, TriggerIdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TriggerIdError::Empty);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(TriggerIdError::TooLong(Self::MAX_LEN));
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TriggerIdError::Unprintable);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TriggerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The final answer given to one webhook delivery, kept so that a redelivery
/// gets the same answer without anything being done again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// What the delivery did (`created`, `linked`, `profile_synced`…) or, when
    /// `refused`, the refusal's code.
    pub outcome: String,
    /// The delivery was refused (Kratos showed the user a message).
    pub refused: bool,
    pub auth_id: Option<AuthId>,
    pub user_id: Option<UserId>,
}

/// The deliveries of Kratos webhooks already answered, by trigger id.
#[async_trait]
pub trait WebhookDeliveries: Send + Sync + 'static {
    /// The stored answer to `trigger`, if it was answered before; counts the
    /// redelivery when it was.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn redelivered(&self, trigger: &TriggerId) -> Result<Option<DeliveryRecord>, StoreError>;

    /// Stores the answer to `trigger` unless one is stored already (the first
    /// answer wins, across instances); `true` when this one was stored.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; nothing is stored then.
    async fn record(
        &self,
        trigger: &TriggerId,
        record: &DeliveryRecord,
    ) -> Result<bool, StoreError>;

    /// Forgets deliveries first answered before `before`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_id_is_short_printable_ascii() {
        let id = TriggerId::new(" 3f1c2a9e-8a8b-4f43-9d8e-0c5a1b7d9e11 ").unwrap();
        assert_eq!(id.as_str(), "3f1c2a9e-8a8b-4f43-9d8e-0c5a1b7d9e11");
        assert_eq!(TriggerId::new("  "), Err(TriggerIdError::Empty));
        assert_eq!(
            TriggerId::new(&"a".repeat(129)),
            Err(TriggerIdError::TooLong(128))
        );
        assert_eq!(TriggerId::new("a b"), Err(TriggerIdError::Unprintable));
        assert_eq!(TriggerId::new("é"), Err(TriggerIdError::Unprintable));
    }
}
