//! The built `identity-link` binary, run as operators run it: with no
//! configuration from the test's own environment, JSON logs on stderr.

use std::process::Output;

use tokio::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_identity-link");

/// Every variable the binary reads that a developer's shell might set.
const CLEARED: [&str; 9] = [
    "DATABASE_URL",
    "HEALTH_URL",
    "KRATOS_ADMIN_URL",
    "KRATOS_ADMIN_TOKEN",
    "KRATOS_FIXTURE_PATH",
    "LISTEN_ADDR",
    "RECONCILE_METRICS_FILE",
    "RUST_LOG",
    "WEBHOOK_SECRET",
];

/// A command of the binary with `args`; killed if the test drops it.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in CLEARED {
        command.env_remove(var);
    }
    command.env("LOG_FORMAT", "json").kill_on_drop(true);
    command
}

/// Runs `command` to completion.
pub async fn output(mut command: Command) -> Output {
    command.output().await.expect("run the binary")
}

/// Runs the binary with `args` to completion.
pub async fn run(args: &[&str]) -> Output {
    output(command(args)).await
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
