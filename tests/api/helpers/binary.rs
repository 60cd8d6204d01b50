//! The built `identity-link` binary, run as operators run it: with no
//! configuration from the test's own environment, JSON logs on stderr.

use std::process::Output;

use tokio::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_identity-link");

/// Every variable the binary reads that a developer's shell might set.
pub const CLEARED: &[&str] = &[
    "DATABASE_DIRECT_URL",
    "DATABASE_URL",
    "HEALTH_URL",
    "KRATOS_ADMIN_URL",
    "KRATOS_ADMIN_TOKEN",
    "KRATOS_FIXTURE_PATH",
    "LISTEN_ADDR",
    "RECONCILE_METRICS_FILE",
    "RUST_LOG",
    "WEBHOOK_SECRET",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
];

/// A command of the binary with `args`; killed if the test drops it.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in CLEARED.iter().copied() {
        command.env_remove(var);
    }
    command.env("LOG_FORMAT", "json").kill_on_drop(true);
    command
}

/// Runs the binary with `args` against the database at `url`, to completion.
pub async fn run_on_database(url: &str, args: &[&str]) -> Output {
    let mut command = command(args);
    command.env("DATABASE_URL", url);
    output(command).await
}

/// Runs `users import` of a CSV file holding `csv` against the database at `url`.
pub async fn import_csv(url: &str, csv: &str) -> Output {
    let file = tempfile::Builder::new()
        .suffix(".csv")
        .tempfile()
        .expect("a CSV file");
    std::fs::write(file.path(), csv).expect("write the CSV");
    let path = file.path().to_string_lossy().to_string();
    run_on_database(url, &["users", "import", &path]).await
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

/// `serve` running as a process, its stderr (JSON log lines) collected.
pub struct Serving {
    child: tokio::process::Child,
    /// The address of its (first) listener.
    pub addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

/// How long `serve` may take to listen, then to answer.
const STARTUP: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts `command` (a `serve`) and waits until it listens and answers.
pub async fn serve(mut command: Command) -> Serving {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (listening, addr) = tokio::sync::oneshot::channel();
    let collected = log.clone();
    let reader = tokio::spawn(async move {
        let mut listening = Some(listening);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if parsed["message"] == "listening" {
                if let Some(addr) = parsed["addr"].as_str().and_then(|a| a.parse().ok()) {
                    if let Some(listening) = listening.take() {
                        let _ = listening.send(addr);
                    }
                }
            }
            let mut log = collected.lock().unwrap_or_else(|p| p.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    let addr = match tokio::time::timeout(STARTUP, addr).await {
        Ok(Ok(addr)) => addr,
        _ => {
            let _ = child.kill().await;
            let log = log.lock().map(|l| l.clone()).unwrap_or_default();
            panic!("serve did not start listening: {log}");
        }
    };
    // Listening is logged before the stop signals are handled: wait until it
    // answers, which it does once it runs.
    let live = format!("http://{addr}/health/live");
    let deadline = std::time::Instant::now() + STARTUP;
    while !reqwest::get(&live)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill().await;
            let log = log.lock().map(|l| l.clone()).unwrap_or_default();
            panic!(
                "serve listens on {addr} but {live} did not answer 200 within {STARTUP:?}: {log}"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Serving {
        child,
        addr,
        log,
        reader,
    }
}

impl Serving {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kills it with SIGKILL (a crash: nothing is flushed); returns what it logged.
    pub async fn kill(mut self) -> String {
        let _ = self.child.kill().await;
        let _ = self.reader.await;
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops it with SIGTERM; returns its exit code and everything it logged.
    pub async fn stop(mut self) -> (Option<i32>, String) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops within 30 s")
            .expect("wait");
        let _ = self.reader.await;
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        (status.code(), log)
    }
}
