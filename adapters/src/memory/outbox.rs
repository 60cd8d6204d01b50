//! In-memory webhook deliveries and write-back queue.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use identity_link_ports::{
    AuditSource, AuthId, DeliveryRecord, StoreError, TriggerId, UserId, WebhookDeliveries,
    WriteBack, WriteBackQueue,
};
use uuid::Uuid;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Delivery {
    record: DeliveryRecord,
    answered_at: DateTime<Utc>,
    redeliveries: u32,
}

/// Webhook deliveries kept in process memory.
#[derive(Default)]
pub struct MemoryWebhookDeliveries {
    deliveries: Mutex<HashMap<TriggerId, Delivery>>,
}

impl MemoryWebhookDeliveries {
    pub fn new() -> Self {
        Self::default()
    }

    /// How often `trigger` was delivered again after its first answer.
    pub fn redeliveries(&self, trigger: &TriggerId) -> Option<u32> {
        lock(&self.deliveries)
            .get(trigger)
            .map(|delivery| delivery.redeliveries)
    }
}

#[async_trait]
impl WebhookDeliveries for MemoryWebhookDeliveries {
    async fn redelivered(&self, trigger: &TriggerId) -> Result<Option<DeliveryRecord>, StoreError> {
        Ok(lock(&self.deliveries).get_mut(trigger).map(|delivery| {
            delivery.redeliveries += 1;
            delivery.record.clone()
        }))
    }

    async fn record(
        &self,
        trigger: &TriggerId,
        record: &DeliveryRecord,
    ) -> Result<bool, StoreError> {
        let mut deliveries = lock(&self.deliveries);
        if deliveries.contains_key(trigger) {
            return Ok(false);
        }
        deliveries.insert(
            trigger.clone(),
            Delivery {
                record: record.clone(),
                answered_at: Utc::now(),
                redeliveries: 0,
            },
        );
        Ok(true)
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut deliveries = lock(&self.deliveries);
        let count = deliveries.len();
        deliveries.retain(|_, delivery| delivery.answered_at >= before);
        Ok((count - deliveries.len()) as u64)
    }
}

struct Queued {
    item: WriteBack,
    due: DateTime<Utc>,
    failed: bool,
}

/// The write-back outbox kept in process memory (lost on exit).
#[derive(Default)]
pub struct MemoryWriteBackQueue {
    queued: Mutex<HashMap<AuthId, Queued>>,
}

impl MemoryWriteBackQueue {
    pub fn new() -> Self {
        Self::default()
    }
}

fn after(delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| Utc::now().checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl MemoryWriteBackQueue {
    /// Queues a write-back at once: what [`WriteBackQueue::enqueue`] does,
    /// callable while the user store holds its lock (a link and its
    /// write-back are stored together).
    pub fn enqueue_now(
        &self,
        auth_id: AuthId,
        user: UserId,
        correlation_id: Uuid,
        source: AuditSource,
    ) {
        let mut queued = lock(&self.queued);
        let version = queued
            .get(&auth_id)
            .map_or(1, |entry| entry.item.version + 1);
        queued.insert(
            auth_id,
            Queued {
                item: WriteBack {
                    auth_id,
                    user_id: user,
                    version,
                    attempts: 0,
                    correlation_id,
                    source,
                },
                due: Utc::now(),
                failed: false,
            },
        );
    }

    /// Identities with a write-back queued (pending or given up).
    pub fn queued(&self) -> Vec<AuthId> {
        lock(&self.queued).keys().copied().collect()
    }

    /// Applies `change` to the queued write-back of `item` when its version is unchanged.
    fn settle(&self, item: &WriteBack, change: impl FnOnce(&mut HashMap<AuthId, Queued>)) -> bool {
        let mut queued = lock(&self.queued);
        let current = queued
            .get(&item.auth_id)
            .is_some_and(|entry| entry.item.version == item.version);
        if current {
            change(&mut queued);
        }
        current
    }
}

#[async_trait]
impl WriteBackQueue for MemoryWriteBackQueue {
    async fn enqueue(
        &self,
        auth_id: AuthId,
        user: UserId,
        correlation_id: Uuid,
        source: AuditSource,
    ) -> Result<(), StoreError> {
        self.enqueue_now(auth_id, user, correlation_id, source);
        Ok(())
    }

    async fn claim_due(&self, limit: u32, lease: Duration) -> Result<Vec<WriteBack>, StoreError> {
        let now = Utc::now();
        let mut queued = lock(&self.queued);
        let mut due: Vec<&mut Queued> = queued
            .values_mut()
            .filter(|entry| !entry.failed && entry.due <= now)
            .collect();
        due.sort_by_key(|entry| entry.due);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|entry| {
                entry.item.attempts += 1;
                entry.due = after(lease);
                entry.item.clone()
            })
            .collect())
    }

    async fn complete(&self, item: &WriteBack) -> Result<bool, StoreError> {
        Ok(self.settle(item, |queued| {
            queued.remove(&item.auth_id);
        }))
    }

    async fn retry_later(
        &self,
        item: &WriteBack,
        delay: Duration,
        _error: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.settle(item, |queued| {
            if let Some(entry) = queued.get_mut(&item.auth_id) {
                entry.due = after(delay);
            }
        }))
    }

    async fn abandon(&self, item: &WriteBack, _error: &str) -> Result<bool, StoreError> {
        Ok(self.settle(item, |queued| {
            if let Some(entry) = queued.get_mut(&item.auth_id) {
                entry.failed = true;
            }
        }))
    }
}
