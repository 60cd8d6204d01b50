//! Integration tests: one binary, one module per area.

mod cli;
mod conformance;
mod graphql;
mod health;
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
