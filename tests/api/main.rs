//! Integration tests: one binary, one module per area.

mod cli;
mod conformance;
mod health;
mod helpers;
mod kratos_docs;
mod openapi;
mod resolve;
mod resolve_errors;
mod resolve_kratos;
mod webhook;
mod webhook_link;
mod writeback;
