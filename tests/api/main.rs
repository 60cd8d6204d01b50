//! Integration tests: one binary, one module per area.

mod backfill;
mod backfill_cli;
mod backfill_fake;
mod backfill_runs;
mod backfill_store;
mod cli;
mod conformance;
mod deploy_image;
mod deploy_kubernetes;
mod graphql;
mod health;
mod health_cli;
mod helpers;
mod kratos_docs;
mod openapi;
mod reconcile;
mod reconcile_cli;
mod resolve;
mod resolve_errors;
mod resolve_kratos;
mod webhook;
mod webhook_link;
mod writeback;
