//! Use case: link the existing user base to Kratos identities by email (CONTRACT §5).
//!
//! A run stages every identity's match keys in the store (list: page by page;
//! lookup: user batch by user batch), then walks the unlinked users in id
//! order with their candidates, judges each user with [`classify`], and writes
//! batches — links and audit rows together, one transaction each, several at
//! once. Memory holds a page or a few batches, never the user base: the store
//! indexes the identities side (see `docs/backfill.md`).

mod classify;
mod list;
mod lookup;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use identity_link_ports::{
    BackfillStore, BeginError, IdentityError, ResolutionStatus, RunEnd, RunId, RunPlan,
    StatusCounts, StoreError, Strategy, Verdict,
};
use serde_json::json;

pub use classify::{classify, found_by, staged_keys};

/// What a run tells as it goes: a bar or log lines on the command line, nothing
/// in tests. Every method has a default that does nothing.
pub trait RunProgress: Send + Sync {
    /// A page of `identities` was listed (list strategy).
    fn listed(&self, _identities: usize) {}
    /// Users are about to be examined; `total` of them at most.
    fn start_users(&self, _total: u64) {}
    /// A batch was recorded, with these verdicts.
    fn recorded(&self, _verdicts: &[Verdict]) {}
    /// The run is over (the summary follows).
    fn finish(&self) {}
}

/// Tells nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl RunProgress for Silent {}

use crate::usecases::app::App;

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillOptions {
    pub strategy: Strategy,
    pub dry_run: bool,
    /// Identities per Kratos list call (1–500).
    pub page_size: u32,
    /// Users per transaction.
    pub batch_size: usize,
    /// Batches written at once; lookup: also Kratos calls at once.
    pub concurrency: usize,
    /// Also link identities that hold the user's email as an unverified address.
    pub allow_unverified: bool,
}

impl BackfillOptions {
    /// Batches written at once unless told: list writes are index maintenance
    /// on the database server, where two writers beat four (a million users
    /// on two cores: 40-43 s against 45 s and more); lookups wait on Kratos.
    pub fn default_concurrency(strategy: Strategy) -> usize {
        match strategy {
            Strategy::List => 2,
            Strategy::Lookup => 4,
        }
    }
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::List,
            dry_run: false,
            page_size: 500,
            batch_size: 1000,
            concurrency: Self::default_concurrency(Strategy::List),
            allow_unverified: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: RunId,
    pub strategy: Strategy,
    pub dry_run: bool,
    pub counts: StatusCounts,
    /// Identities listed (list strategy).
    pub identities: Option<u64>,
    pub started_at: DateTime<Utc>,
    pub elapsed: Duration,
}

impl RunSummary {
    pub fn examined(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn count(&self, status: ResolutionStatus) -> u64 {
        self.counts.get(&status).copied().unwrap_or(0)
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("another backfill is running on this database ({0}); wait for it to finish")]
    Busy(String),
    #[error("listing Kratos identities failed, so nothing was linked: {0}")]
    Listing(IdentityError),
    #[error("the database failed: {0} (batches written before stay; rerun to resume)")]
    Store(#[from] StoreError),
}

impl From<BeginError> for BackfillError {
    fn from(error: BeginError) -> Self {
        match error {
            BeginError::Busy(holder) => Self::Busy(holder),
            BeginError::Store(error) => Self::Store(error),
        }
    }
}

/// What the batches of a run share.
struct RunContext<'a> {
    app: &'a App,
    store: &'a dyn BackfillStore,
    run: RunId,
    options: &'a BackfillOptions,
    progress: &'a dyn RunProgress,
    counts: Mutex<StatusCounts>,
    /// Identities listed so far (list strategy).
    identities: AtomicU64,
}

impl RunContext<'_> {
    /// A page of `count` identities was listed.
    fn listed(&self, count: usize) {
        self.identities.fetch_add(count as u64, Ordering::Relaxed);
        self.progress.listed(count);
    }

    fn identities(&self) -> u64 {
        self.identities.load(Ordering::Relaxed)
    }

    /// Records one batch of verdicts (writes nothing in a dry run).
    async fn settle(&self, verdicts: Vec<Verdict>) -> Result<(), StoreError> {
        if verdicts.is_empty() {
            return Ok(());
        }
        let recorded = if self.options.dry_run {
            verdicts
        } else {
            // Links commit with their audit rows and pending write-backs.
            let recorded = self.store.apply_batch(self.run, verdicts).await?;
            for verdict in &recorded {
                self.app
                    .metrics
                    .backfill_users
                    .with_label_values(&[verdict.status.as_str()])
                    .inc();
            }
            recorded
        };
        {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            for verdict in &recorded {
                *counts.entry(verdict.status).or_default() += 1;
            }
        }
        self.progress.recorded(&recorded);
        Ok(())
    }
}

/// Runs a backfill with `options` against `store`.
///
/// # Errors
/// `Busy` when another run holds the lock (nothing done); `Listing` when Kratos
/// cannot be listed (nothing linked); `Store` when the database fails (batches
/// committed before stay; the run is recorded as failed when possible).
#[tracing::instrument(name = "backfill", skip_all, fields(strategy = options.strategy.as_str(), dry_run = options.dry_run))]
pub async fn run(
    app: &App,
    store: &dyn BackfillStore,
    options: &BackfillOptions,
    progress: &dyn RunProgress,
) -> Result<RunSummary, BackfillError> {
    let plan = RunPlan {
        id: RunId::generate(),
        strategy: options.strategy,
        dry_run: options.dry_run,
        options: json!({
            "strategy": options.strategy.as_str(),
            "dry_run": options.dry_run,
            "page_size": options.page_size,
            "batch_size": options.batch_size,
            "concurrency": options.concurrency,
            "allow_unverified": options.allow_unverified,
        }),
    };
    let started_at = Utc::now();
    let started = Instant::now();
    let mut session = store.begin(&plan).await?;
    if options.allow_unverified {
        tracing::warn!(run_id = %plan.id, "--allow-unverified: users are linked to identities that hold their email unverified; anyone can register an address they do not own");
    }
    tracing::info!(run_id = %plan.id, strategy = options.strategy.as_str(), dry_run = options.dry_run, allow_unverified = options.allow_unverified, "backfill started");
    let context = RunContext {
        app,
        store,
        run: plan.id,
        options,
        progress,
        counts: Mutex::new(ResolutionStatus::ALL.iter().map(|s| (*s, 0)).collect()),
        identities: AtomicU64::new(0),
    };
    let result = match options.strategy {
        Strategy::List => list::run(&context, session.as_mut()).await,
        Strategy::Lookup => lookup::run(&context, session.as_mut()).await,
    };
    progress.finish();
    let end = match &result {
        Ok(()) => RunEnd::Finished,
        Err(error) => {
            tracing::warn!(run_id = %plan.id, %error, "backfill failed; `backfill report --run <run_id>` shows what it recorded");
            RunEnd::Failed(error.to_string())
        }
    };
    let finished = session.finish(end).await;
    result?;
    finished?;
    let identities = (options.strategy == Strategy::List).then(|| context.identities());
    let counts = context
        .counts
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let summary = RunSummary {
        run: plan.id,
        strategy: options.strategy,
        dry_run: options.dry_run,
        counts,
        identities,
        started_at,
        elapsed: started.elapsed(),
    };
    tracing::info!(run_id = %plan.id, examined = summary.examined(), linked = summary.count(ResolutionStatus::Linked), elapsed_ms = summary.elapsed.as_millis() as u64, "backfill finished");
    Ok(summary)
}

#[cfg(test)]
mod tests;
