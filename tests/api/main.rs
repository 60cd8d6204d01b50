//! Integration tests: one binary, one module per area.

mod backfill;
mod backfill_cli;
mod backfill_fake;
mod backfill_runs;
mod backfill_store;
mod cli;
mod conformance;
mod health;
mod helpers;
mod openapi;
mod resolve;
mod resolve_errors;
mod resolve_kratos;
