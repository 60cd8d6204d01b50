//! A fresh Postgres database per test, from the first source that works:
//! `TEST_DATABASE_URL` (a server URL; each test gets its own database on it),
//! a testcontainers Postgres when a Docker engine answers, or a throwaway
//! cluster made with the local `initdb`/`pg_ctl`. With none of them the tests
//! fail saying how to provide one; they never skip silently.
//!
//! A test that wants the current schema gets a clone of a template migrated
//! once ([`TestDb::migrated`], see `template`); a test of migrating itself
//! starts from an empty database ([`TestDb::create`] and its variants).

mod cluster;
mod template;

use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use uuid::Uuid;

pub use cluster::{postgres_bin, start_cluster_with, Cluster};

/// The server every test database is created on: an admin URL (database `postgres`).
static SERVER: OnceLock<String> = OnceLock::new();
/// What to stop when the test process exits.
static CLEANUP: Mutex<Vec<Vec<String>>> = Mutex::new(Vec::new());

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn cleanup_at_exit() {
    let commands = CLEANUP.lock().map(|c| c.clone()).unwrap_or_default();
    for command in commands {
        let _ = Command::new(&command[0]).args(&command[1..]).output();
    }
}

fn on_exit(command: Vec<String>) {
    let first = {
        let mut cleanup = CLEANUP.lock().unwrap_or_else(|p| p.into_inner());
        cleanup.push(command);
        cleanup.len() == 1
    };
    if first {
        // SAFETY: registering a plain `extern "C" fn` with the C runtime.
        unsafe {
            atexit(cleanup_at_exit);
        }
    }
}

fn server_url() -> &'static str {
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            return url;
        }
        if docker_answers() {
            return start_container();
        }
        if let Some(bin) = cluster::find_initdb() {
            return cluster::start_cluster(&bin);
        }
        panic!(
            "no Postgres for the tests: set TEST_DATABASE_URL=postgres://user@host:port/postgres, \
             start a Docker engine (see .ci/run), or install PostgreSQL's initdb/pg_ctl"
        )
    })
}

fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|output| output.status.success())
}

fn start_container() -> String {
    // The container must outlive every test's runtime, so it is started on a
    // runtime of its own and removed when the process exits.
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for testcontainers");
        runtime.block_on(async {
            use testcontainers::runners::AsyncRunner;
            use testcontainers::ImageExt;
            let container = testcontainers_modules::postgres::Postgres::default()
                .with_host_auth()
                .with_tag("16-alpine")
                .with_label("identity-link-tests", "true")
                .with_cmd(["-c", "max_connections=500", "-c", "fsync=off"])
                .start()
                .await
                .expect("start a Postgres container");
            let port = container
                .get_host_port_ipv4(5432)
                .await
                .expect("the container's Postgres port");
            let host = container.get_host().await.expect("the container host");
            on_exit(vec![
                "docker".into(),
                "rm".into(),
                "-f".into(),
                container.id().to_owned(),
            ]);
            std::mem::forget(container);
            format!("postgres://postgres@{host}:{port}/postgres")
        })
    })
    .join()
    .expect("container start thread")
}

/// Whether any schema migration ran in the database `client` is connected to.
pub async fn is_migrated(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .expect("query the migration history")
        .get(0)
}

/// A database of its own for one test, dropped when the value is (that
/// database only: never a template).
pub struct TestDb {
    pub url: String,
    name: String,
}

fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server_url(), NoTls)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to the test Postgres server: {error}"));
    tokio::spawn(connection);
    client
}

impl TestDb {
    /// Creates an empty database.
    pub async fn create() -> Self {
        Self::create_with("").await
    }

    /// Creates a database with every migration applied, cloned from the
    /// template migrated once for them (see `template`).
    pub async fn migrated() -> Self {
        let template = tokio::task::spawn_blocking(template::name)
            .await
            .expect("the template database");
        Self::create_with(&format!("TEMPLATE {template}")).await
    }

    /// Creates an empty database whose collation and ctype are `C`: there,
    /// Postgres's `lower()` and `ILIKE` leave every non-ASCII letter alone.
    pub async fn create_c_locale() -> Self {
        Self::create_with("TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'").await
    }

    /// Creates an empty database in the `SQL_ASCII` encoding, as `initdb`
    /// makes them under the C locale (the stand-in `postgres` images do):
    /// ICU collations cannot serve it.
    pub async fn create_sql_ascii() -> Self {
        Self::create_with("TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'")
            .await
    }

    async fn create_with(options: &str) -> Self {
        let name = format!("identity_link_test_{}", Uuid::new_v4().simple());
        let admin = admin().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match admin
                .batch_execute(&format!("CREATE DATABASE {name} {options}"))
                .await
            {
                Ok(()) => break,
                // A database being cloned must have no session: one still
                // ending (the template's builder, say) is waited for.
                Err(error)
                    if error.code() == Some(&SqlState::OBJECT_IN_USE)
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("create the test database ({options}): {error}"),
            }
        }
        Self {
            url: with_database(server_url(), &name),
            name,
        }
    }

    /// A client connected to this database.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = server_url().to_owned();
        // Dropping needs async I/O; do it on a thread of its own so that it
        // works whether or not a runtime is running here.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&server, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
