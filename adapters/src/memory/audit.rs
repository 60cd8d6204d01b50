//! The in-memory audit log.

use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use identity_link_ports::{AuditError, AuditEvent, AuditLog, AuditQuery};

/// Audit events kept in process memory.
#[derive(Default)]
pub struct MemoryAuditLog {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAuditLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<AuditEvent>> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `events` at once (a store's change records them with it).
    pub(super) fn push(&self, events: &[AuditEvent]) {
        self.lock().extend_from_slice(events);
    }

    /// Every event appended so far, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.lock().clone()
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        self.push(events);
        Ok(())
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        Ok(self
            .lock()
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
