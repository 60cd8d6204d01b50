//! The backfill's persistence port: runs, a per-run staging area of identity
//! match keys, batches of links written with their audit rows, reports and
//! reverts.

mod facts;
mod run;
mod store;

pub use facts::{CandidateFacts, StagedKey, UserFacts, UserRef, Verdict};
pub use run::{
    ResolutionStatus, RevertOutcome, RunEnd, RunId, RunPlan, RunReport, RunState, StatusCount,
    StatusCounts, Strategy,
};
pub use store::{BackfillSession, BackfillStore, BeginError, ReportError, RevertError};
