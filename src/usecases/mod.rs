//! The use cases: what the service does, over ports only. No HTTP, GraphQL,
//! command-line or terminal code lives here; the inbound adapters call in.

pub mod admin;
pub mod app;
pub mod audit;
pub mod backfill;
pub mod call;
pub mod export;
pub mod import;
pub mod link;
pub mod metrics;
pub mod reconcile;
pub mod resolve;
#[cfg(test)]
pub(crate) mod test_support;
pub mod webhook;
pub mod writeback;
