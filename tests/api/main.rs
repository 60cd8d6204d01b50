//! Integration tests: one binary, one module per area.

mod backfill;
mod backfill_cli;
mod backfill_fake;
mod backfill_runs;
mod backfill_store;
mod cli;
mod conformance;
mod email_rule;
mod graphql;
mod health;
mod helpers;
mod hostile_text;
mod hygiene;
mod kratos_docs;
mod migrations;
mod openapi;
mod pages;
mod reconcile;
mod reconcile_cli;
mod resolve;
mod resolve_errors;
mod resolve_kratos;
mod webhook;
mod webhook_failures;
mod webhook_link;
mod writeback;
