use async_trait::async_trait;
use uuid::Uuid;

use crate::users::StoreError;

/// How many users a backfill gave one `resolution_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// `linked`, `already_linked`, `missing`, `duplicate`, `conflict`, `unverified` or `error`.
    pub status: String,
    pub count: u64,
}

/// Read access to the backfill audit (`user_authid_backfill_audit`).
#[async_trait]
pub trait BackfillReports: Send + Sync + 'static {
    /// Users per `resolution_status`, of one run or (`None`) of every run, ordered by status.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn report(&self, run: Option<Uuid>) -> Result<Vec<StatusCount>, StoreError>;
}
