//! Test support of identity-link, for its tests, benchmarks and examples only
//! (a dev-dependency, never a dependency): the conformance suites every
//! adapter of a port passes.

pub mod conformance;
