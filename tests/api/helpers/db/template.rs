//! The migrated template that [`TestDb::migrated`](super::TestDb::migrated)
//! clones: `CREATE DATABASE … TEMPLATE` copies a database's files, far less
//! work than running every migration again for each test.
//!
//! - It is named after a hash of what migrating does: the migration files and
//!   the two steps in Rust that complete them (`email_keys.rs`,
//!   `search_index.rs`). A changed migration makes a new template; an
//!   unchanged one serves later runs too, so templates stay on the server.
//!   Nothing drops them: Postgres refuses to drop a database marked as a
//!   template, and a `TestDb` drops only its own database.
//! - It is built once per server, under an advisory lock taken in the admin
//!   database, since several test processes may share a server (and its
//!   admin URL); the others wait for it.
//! - It is marked `IS_TEMPLATE` only once migrated, which is what says it is
//!   complete: a database of that name left unmarked by an interrupted build
//!   is dropped and built again. `ALLOW_CONNECTIONS false` keeps sessions off
//!   it, since a database being cloned must have none.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Key of the advisory lock held while a template is built ("il-tmpl").
const BUILD_LOCK_KEY: i64 = 0x696c_2d74_6d70_6c00;
/// How long a test process waits for another one building the template.
const BUILD_PATIENCE: Duration = Duration::from_secs(300);

static NAME: OnceLock<String> = OnceLock::new();

/// The name of the template for the current migrations, built first if the
/// server has none. It blocks: call it off the async runtime.
pub(super) fn name() -> &'static str {
    NAME.get_or_init(|| {
        let name = format!("identity_link_template_{}", content_hash());
        // Its sessions must end with the build, not with the runtime of the
        // test that happened to ask first: a runtime of its own.
        let built = name.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to build the template")
                .block_on(ensure(&built));
        })
        .join()
        .expect("the template database is built");
        name
    })
}

/// The first 16 hex digits of a SHA-256 over every file that decides the
/// migrated schema, each with its path.
fn content_hash() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("migrations"))
        .expect("read the migrations directory")
        .map(|entry| entry.expect("a migrations directory entry").path())
        .collect();
    files.sort();
    files.extend(
        ["email_keys.rs", "search_index.rs"]
            .map(|step| root.join("adapters/src/postgres").join(step)),
    );
    let mut hasher = Sha256::new();
    for file in files {
        let contents =
            std::fs::read(&file).unwrap_or_else(|error| panic!("read {}: {error}", file.display()));
        let relative = file.strip_prefix(root).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `name` exists and is marked as a template.
async fn state(admin: &tokio_postgres::Client, name: &str) -> Option<bool> {
    admin
        .query_opt(
            "SELECT datistemplate FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("look the template up")
        .map(|row| row.get(0))
}

async fn ensure(name: &str) {
    let admin = super::admin().await;
    if state(&admin, name).await == Some(true) {
        return;
    }
    let deadline = Instant::now() + BUILD_PATIENCE;
    loop {
        let locked: bool = admin
            .query_one("SELECT pg_try_advisory_lock($1)", &[&BUILD_LOCK_KEY])
            .await
            .expect("ask for the template lock")
            .get(0);
        if locked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "another test process has been building the template {name} for {BUILD_PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match state(&admin, name).await {
        Some(true) => {}
        Some(false) => {
            admin
                .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await
                .expect("drop an unfinished template");
            build(&admin, name).await;
        }
        None => build(&admin, name).await,
    }
    // Panicking above ends the session, which releases the lock as well.
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&BUILD_LOCK_KEY])
        .await
        .expect("release the template lock");
}

async fn build(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the template database");
    let url = super::with_database(super::server_url(), name);
    identity_link_adapters::postgres::migrate(&url)
        .await
        .unwrap_or_else(|error| panic!("migrate the template database {name}: {error:#}"));
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        ))
        .await
        .expect("mark the template database");
}
