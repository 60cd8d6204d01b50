//! Integration tests: one binary, one module per area.

mod backfill;
mod backfill_cli;
mod backfill_fake;
mod backfill_runs;
mod backfill_store;
mod cli;
mod conformance;
mod database_network;
mod direct_url;
mod graphql;
mod health;
mod helpers;
mod http_limits;
mod kratos_docs;
mod kratos_retry_after;
mod openapi;
mod postgres_tls;
mod reconcile;
mod reconcile_cli;
mod resolve;
mod resolve_errors;
mod resolve_kratos;
mod webhook;
mod webhook_link;
mod writeback;
