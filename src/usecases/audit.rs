//! The audit sink: callers hand events over without waiting for the database;
//! a background task appends them in batches (one statement per batch), so the
//! audit costs one amortised insert per call. `flush` waits until everything
//! handed over so far is written; `serve` flushes on shutdown.

use std::sync::Arc;
use std::time::Duration;

use identity_link_ports::{AuditError, AuditEvent, AuditLog};
use prometheus::IntCounter;
use tokio::sync::{mpsc, oneshot};

const BATCH: usize = 1024;
const CAPACITY: usize = 65_536;

enum Message {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// Hands audit events to the background writer.
#[derive(Clone)]
pub struct AuditSink {
    sender: mpsc::Sender<Message>,
    dropped: IntCounter,
}

impl AuditSink {
    /// Starts the writer task on the current runtime.
    pub fn spawn(log: Arc<dyn AuditLog>, dropped: IntCounter, failed: IntCounter) -> Self {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        tokio::spawn(write_batches(log, receiver, failed));
        Self { sender, dropped }
    }

    /// Queues an event. Never blocks: when the queue is full (the database has
    /// been down for a long while) the event is logged and counted as dropped.
    pub fn record(&self, event: AuditEvent) {
        if let Err(error) = self.sender.try_send(Message::Event(Box::new(event))) {
            self.dropped.inc();
            if let mpsc::error::TrySendError::Full(Message::Event(event))
            | mpsc::error::TrySendError::Closed(Message::Event(event)) = error
            {
                tracing::error!(
                    correlation_id = %event.correlation_id,
                    action = %event.action,
                    outcome = event.outcome.as_str(),
                    "audit queue full; event dropped"
                );
            }
        }
    }

    /// Waits until every event recorded before this call has been written (or
    /// given up on after retries).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(
    log: Arc<dyn AuditLog>,
    mut receiver: mpsc::Receiver<Message>,
    failed: IntCounter,
) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(event) => batch.push(*event),
                Message::Flush(done) => waiters.push(done),
            }
            if batch.len() < BATCH {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            append_with_retries(log.as_ref(), &batch, &failed).await;
            batch.clear();
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn append_with_retries(log: &dyn AuditLog, batch: &[AuditEvent], failed: &IntCounter) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match log.append(batch).await {
            Ok(()) => return,
            // The database refused the batch itself (not an outage): one event
            // it cannot store must not take the others with it.
            Err(AuditError::Unknown(error)) if batch.len() > 1 => {
                tracing::warn!(%error, events = batch.len(), "audit batch refused; writing its events one by one");
                return append_one_by_one(log, batch, failed).await;
            }
            Err(error) if attempt < 5 => {
                tracing::warn!(%error, attempt, events = batch.len(), "audit write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(error) => {
                failed.inc_by(batch.len() as u64);
                tracing::error!(%error, events = batch.len(), "audit write failed; events lost");
            }
        }
    }
}

/// Appends each event on its own (with the retries of one); logs and counts the
/// ones refused.
async fn append_one_by_one(log: &dyn AuditLog, batch: &[AuditEvent], failed: &IntCounter) {
    for event in batch {
        if let Err(error) = log.append(std::slice::from_ref(event)).await {
            failed.inc();
            tracing::error!(
                %error,
                correlation_id = %event.correlation_id,
                action = %event.action,
                "the database refused an audit event; it is lost"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use identity_link_ports::{AuditOutcome, AuditQuery, AuditSource};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    /// Refuses any batch holding an event whose action is `poison`.
    #[derive(Default)]
    struct Picky {
        stored: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl AuditLog for Picky {
        async fn append(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
            if events.iter().any(|event| event.action == "poison") {
                return Err(AuditError::Unknown(anyhow::anyhow!(
                    "invalid byte sequence"
                )));
            }
            let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
            stored.extend(events.iter().map(|event| event.action.clone()));
            Ok(())
        }

        async fn query(&self, _: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
            Ok(Vec::new())
        }
    }

    fn event(action: &str) -> AuditEvent {
        AuditEvent {
            correlation_id: Uuid::new_v4(),
            occurred_at: chrono::Utc::now(),
            source: AuditSource::Resolve,
            action: action.into(),
            outcome: AuditOutcome::Ok,
            auth_id: None,
            user_id: None,
            actor: None,
            detail: json!({}),
        }
    }

    #[tokio::test]
    async fn one_refused_event_never_takes_its_batch_with_it() {
        let log = std::sync::Arc::new(Picky::default());
        let failed = IntCounter::new("failed", "failed").unwrap();
        let batch = [event("resolved"), event("poison"), event("resolved")];
        append_with_retries(log.as_ref(), &batch, &failed).await;
        let stored = log.stored.lock().unwrap().clone();
        assert_eq!(stored, vec!["resolved", "resolved"]);
        assert_eq!(failed.get(), 1);
    }
}
