//! Periodic work of `serve`: draining the write-back outbox and forgetting old
//! webhook deliveries. Runs on every instance; the stores make that safe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::usecases::app::App;
use crate::usecases::{webhook, writeback};

/// Pause between passes when there was nothing (more) to do.
const POLL: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the background work; it ends when `stop` fires (or its sender is gone).
pub fn spawn(app: Arc<App>, mut stop: broadcast::Receiver<()>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pruned_at: Option<Instant> = None;
        loop {
            let mut more = false;
            if app.write_back_external_id {
                match writeback::process_due(&app, writeback::BATCH).await {
                    Ok(claimed) => more = claimed == writeback::BATCH as usize,
                    Err(error) => tracing::warn!(%error, "cannot claim external_id write-backs"),
                }
            }
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                webhook::prune_deliveries(&app).await;
                pruned_at = Some(Instant::now());
            }
            let pause = if more { Duration::ZERO } else { POLL };
            tokio::select! {
                _ = stop.recv() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    })
}
