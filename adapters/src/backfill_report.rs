//! Backfill reports until the backfill audit exists: nothing has run, so every
//! report is empty. Replace with an adapter over `user_authid_backfill_audit`.

use async_trait::async_trait;
use identity_link_ports::{BackfillReports, StatusCount, StoreError};
use uuid::Uuid;

/// A [`BackfillReports`] that knows of no backfill run.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBackfillReports;

#[async_trait]
impl BackfillReports for NoBackfillReports {
    async fn report(&self, _run: Option<Uuid>) -> Result<Vec<StatusCount>, StoreError> {
        Ok(Vec::new())
    }
}
