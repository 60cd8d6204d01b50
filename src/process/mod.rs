//! What the process needs around the use cases: validated configuration (and
//! the secrets in it), the wiring of adapters into an `App`, logs and traces,
//! and the terminal that log lines and progress bars share.

pub mod config;
pub mod secrets;
pub mod telemetry;
pub mod terminal;
pub mod wiring;
