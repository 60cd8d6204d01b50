//! A throwaway Postgres cluster made with the local `initdb`/`pg_ctl` (run as
//! the `postgres` user when root), stopped and removed when the test process
//! exits.

use std::path::{Path, PathBuf};
use std::process::Command;

use uuid::Uuid;

use super::on_exit;

pub(super) fn find_initdb() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let candidates = from_pg_config.into_iter().chain(
        std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin")),
    );
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn as_postgres(bin: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin).args(args);
        command
    } else {
        let mut command = Command::new(bin);
        command.args(args);
        command
    }
}

/// A cluster for the test databases; its admin URL.
pub(super) fn start_cluster(bin: &Path) -> String {
    let cluster = start_cluster_with(bin, "", |_| {});
    format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port)
}

/// A throwaway cluster made with the local `initdb`/`pg_ctl`, stopped and
/// removed when the test process exits.
pub struct Cluster {
    pub port: u16,
}

/// The local PostgreSQL's `bin` directory, or a panic saying what is missing.
pub fn postgres_bin() -> PathBuf {
    find_initdb().expect("PostgreSQL's initdb and pg_ctl are installed (see .ci/run)")
}

/// Starts a cluster with extra `postgres` options, after `prepare` has
/// adjusted its fresh data directory (certificates, `pg_hba.conf`…).
pub fn start_cluster_with(bin: &Path, options: &str, prepare: impl FnOnce(&Path)) -> Cluster {
    let dir = std::env::temp_dir().join(format!("identity-link-pg-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a directory for the cluster");
    let chown = |path: &Path| {
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status()
                .expect("chown the cluster directory");
            assert!(status.success(), "chown of {} failed", path.display());
        }
    };
    chown(&dir);
    let data = dir.join("data");
    let data_str = data.to_string_lossy().to_string();
    let initdb = as_postgres(
        &bin.join("initdb"),
        &[
            "-D",
            &data_str,
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
    )
    .output()
    .expect("run initdb");
    assert!(
        initdb.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&initdb.stderr)
    );
    prepare(&data);
    chown(&data);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=500 {options}",
        dir.display()
    );
    let log = dir.join("log").to_string_lossy().to_string();
    let started = as_postgres(
        &bin.join("pg_ctl"),
        &["-D", &data_str, "-o", &options, "-l", &log, "-w", "start"],
    )
    .output()
    .expect("run pg_ctl");
    assert!(
        started.status.success(),
        "pg_ctl start failed: {} {}",
        String::from_utf8_lossy(&started.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let stop = as_postgres(
        &bin.join("pg_ctl"),
        &["-D", &data_str, "-m", "immediate", "stop"],
    );
    let mut command = vec![stop.get_program().to_string_lossy().to_string()];
    command.extend(stop.get_args().map(|arg| arg.to_string_lossy().to_string()));
    on_exit(command);
    on_exit(vec![
        "rm".into(),
        "-rf".into(),
        dir.to_string_lossy().to_string(),
    ]);
    Cluster { port }
}
