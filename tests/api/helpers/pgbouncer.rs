//! PgBouncer (Debian's `pgbouncer` package) in transaction pooling mode, in
//! front of the test database's server, on a free port; stopped when dropped.
//! It refuses to run as root: as root it runs as `postgres`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Connections PgBouncer opens to the server per database and user.
pub const SERVER_POOL_SIZE: usize = 4;

pub struct PgBouncer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    let found = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .or_else(|| {
            Command::new("sh")
                .args(["-c", "command -v pgbouncer"])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        });
    found.unwrap_or_else(|| {
        panic!(
            "pgbouncer is not installed: these tests need Debian's `pgbouncer` package \
             (`apt-get install -y pgbouncer`; .ci/run installs it)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn write(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write a PgBouncer file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .expect("make it readable");
}

impl PgBouncer {
    /// Starts PgBouncer in front of the server of `database_url` (a URL of
    /// the test database; every database name is passed through).
    pub fn start(database_url: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;

        let binary = binary();
        let url = url::Url::parse(database_url).expect("a database URL");
        let host = url.host_str().expect("a host").to_owned();
        let server_port = url.port().unwrap_or(5432);
        let user = match url.username() {
            "" => "postgres".to_owned(),
            user => user.to_owned(),
        };
        let dir = tempfile::Builder::new()
            .prefix("identity-link-pgbouncer-")
            .tempdir()
            .expect("a directory for PgBouncer");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("a directory PgBouncer may write to");
        let port = free_port();
        let ini = dir.path().join("pgbouncer.ini");
        write(
            &ini,
            &format!(
                "[databases]\n\
                 * = host={host} port={server_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {auth}\n\
                 pool_mode = transaction\n\
                 max_client_conn = 500\n\
                 default_pool_size = {SERVER_POOL_SIZE}\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 logfile = {log}\n",
                auth = dir.path().join("userlist.txt").display(),
                log = dir.path().join("pgbouncer.log").display(),
            ),
        );
        write(
            &dir.path().join("userlist.txt"),
            &format!("\"{user}\" \"\"\n"),
        );
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        // Quiet: it logs to its file only (a full stderr pipe would stall it).
        let mut child = command
            .arg("-q")
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pgbouncer");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10)
                || child.try_wait().ok().flatten().is_some()
            {
                let _ = child.kill();
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                let log =
                    std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default();
                panic!("pgbouncer did not start listening on {port}: {stderr}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { port, child, dir }
    }

    /// `database_url` with PgBouncer's address instead of the server's.
    pub fn url(&self, database_url: &str) -> String {
        let mut url = url::Url::parse(database_url).expect("a database URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        url.to_string()
    }

    /// What PgBouncer logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // As root the child is `runuser`, which passes the signal on.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
