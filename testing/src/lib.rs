//! Test support of identity-link, for its tests, benchmarks and examples only
//! (a dev-dependency, never a dependency): Kratos's JSON shapes, one fake of
//! Kratos's admin API, and the conformance suites every adapter of a port
//! passes.

pub mod conformance;
pub mod fake_kratos;
pub mod kratos_json;

pub use fake_kratos::{FakeKratos, RunningFake};
