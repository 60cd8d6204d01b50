//! identity-link: keeps an application's users linked one-to-one to their Ory
//! Kratos identities. Use cases and inbound adapters; the ports live in
//! `identity-link-ports`, the outbound adapters in `identity-link-adapters`.

pub mod admin;
pub mod app;
pub mod audit;
pub mod audit_prune;
pub mod backfill;
pub mod background;
pub mod cli;
pub mod config;
pub mod export;
pub mod exposure;
pub mod graphql;
pub mod health_probe;
pub mod import;
pub mod link;
pub mod metrics;
pub mod pages;
pub mod reconcile;
pub mod resolve;
pub mod rest;
pub mod secrets;
pub mod serve;
pub mod telemetry;
pub mod terminal;
#[cfg(test)]
mod test_support;
pub mod webhook;
pub mod wiring;
pub mod writeback;
