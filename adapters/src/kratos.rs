//! The Kratos admin API over HTTP (shapes from Kratos's OpenAPI document).

mod budget;
mod client;
#[cfg(test)]
mod failure_tests;
#[cfg(test)]
mod hook_tests;
mod identities;
mod link_header;
mod model;
mod send;
mod settings;
#[cfg(test)]
mod tests;

pub use budget::{within as within_budget, MAX_WAIT as MAX_RETRY_AFTER_WAIT};
pub use client::{CallObserver, HeaderHook, KratosAdmin};
pub use link_header::next_page_token;
pub use model::{identity_from_json, IdentityDto};
pub use settings::{printable, KratosSettings};
