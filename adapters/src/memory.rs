//! In-memory adapters with the same semantics as the Postgres ones: the default
//! store when no database is configured, and the fakes of unit tests. The
//! stores made over one [`MemoryUserStore`] share its state (`state.rs`), as
//! the Postgres stores share one database.

mod audit;
mod backfill;
mod outbox;
mod state;
mod users;

pub use audit::MemoryAuditLog;
pub use backfill::MemoryBackfillStore;
pub use outbox::{MemoryWebhookDeliveries, MemoryWriteBackQueue};
pub use users::MemoryUserStore;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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

    async fn backfill_conformance(write_back: bool) {
        let users = Arc::new(MemoryUserStore::new());
        let store = MemoryBackfillStore::new(&users).with_write_back(write_back);
        conformance::backfill::backfill_store(conformance::backfill::BackfillSubjects {
            store: Arc::new(store),
            audit: users.audit_log(),
            write_backs: users.write_backs(),
            users,
            write_back,
        })
        .await;
    }

    #[tokio::test]
    async fn the_memory_backfill_store_passes_the_conformance_suite() {
        backfill_conformance(false).await;
    }

    #[tokio::test]
    async fn the_memory_backfill_store_passes_the_conformance_suite_queuing_write_backs() {
        backfill_conformance(true).await;
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
