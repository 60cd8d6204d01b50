//! identity-link: keeps an application's users linked one-to-one to their Ory
//! Kratos identities.
//!
//! The crate is three rooms, each importing only the ones below it:
//! - [`inbound`]: what drives the service — the REST and admin GraphQL APIs, their
//!   browser pages, the HTTP server and its background work, the command line;
//! - [`process`]: what the process needs around the use cases — configuration,
//!   the wiring of adapters into an [`usecases::app::App`], logs and traces, the terminal;
//! - [`usecases`]: the use cases and the one link rule, speaking to the outside
//!   only through the ports of `identity-link-ports`.
//!
//! The ports live in `identity-link-ports`, the outbound adapters in
//! `identity-link-adapters`. `docs/architecture.md` says where each change goes.

pub mod inbound;
pub mod process;
pub mod usecases;
