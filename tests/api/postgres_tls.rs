//! TLS to Postgres with libpq's `sslmode` and `sslrootcert`, against a
//! cluster that accepts TLS only and one that offers no TLS.

use std::path::Path;
use std::time::Duration;

use identity_link_adapters::postgres::{self, Database, PostgresSettings};
use uuid::Uuid;

use crate::helpers::binary::{run, stderr};
use crate::helpers::db::is_migrated;
use crate::helpers::tls_postgres::{tls_clusters, TlsClusters};

fn root(path: &Path) -> String {
    format!("sslrootcert={}", path.display())
}

/// A fresh database on the TLS cluster, created over a verified connection.
async fn fresh_database(clusters: &TlsClusters) -> String {
    let name = format!("tls_{}", Uuid::new_v4().simple());
    let admin = clusters.tls_url(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&{}", root(&clusters.ca)),
    );
    Database::parse(&admin, Duration::from_secs(5))
        .expect("admin URL")
        .connect()
        .await
        .expect("connect to the TLS cluster")
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a database");
    name
}

/// Whether any migration ran in `db` (read over a verified connection).
async fn migrated(clusters: &TlsClusters, db: &str) -> bool {
    let url = clusters.tls_url(
        "localhost",
        db,
        &format!("sslmode=verify-full&{}", root(&clusters.ca)),
    );
    let client = Database::parse(&url, Duration::from_secs(5))
        .expect("URL")
        .connect()
        .await
        .expect("connect");
    is_migrated(&client).await
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_connects_the_pool_over_tls_by_ip_address_and_by_name() {
    let clusters = tls_clusters();
    let db = fresh_database(clusters).await;
    for host in ["127.0.0.1", "localhost"] {
        let url = clusters.tls_url(
            host,
            &db,
            &format!("sslmode=verify-full&{}", root(&clusters.ca)),
        );
        let migrate = run(&["--database-url", &url, "migrate"]).await;
        assert_eq!(migrate.status.code(), Some(0), "{}", stderr(&migrate));
        let pool = postgres::pool(&PostgresSettings {
            url,
            pool_size: 2,
            acquire_timeout: Duration::from_secs(5),
            statement_cache: true,
        })
        .expect("pool");
        let client = pool.get().await.expect("a pooled connection");
        let row = client
            .query_one(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl");
        assert!(row.get::<_, bool>(0), "pg_stat_ssl shows TLS for {host}");
        assert!(row.get::<_, String>(1).starts_with("TLS"), "{host}");
    }
}

#[tokio::test]
async fn require_encrypts_without_verifying_and_verify_ca_ignores_the_host_name() {
    let clusters = tls_clusters();
    let db = fresh_database(clusters).await;
    let require = clusters.tls_url("127.0.0.1", &db, "sslmode=require");
    let output = run(&["--database-url", &require, "migrate"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let verify_ca = clusters.tls_url(
        "127.0.0.2",
        &db,
        &format!("sslmode=verify-ca&{}", root(&clusters.ca)),
    );
    let output = run(&["--database-url", &verify_ca, "migrate", "--status"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_clearly_and_nothing_changes() {
    let clusters = tls_clusters();
    let db = fresh_database(clusters).await;
    let url = clusters.tls_url(
        "127.0.0.1",
        &db,
        &format!("sslmode=verify-full&{}", root(&clusters.other_ca)),
    );
    let output = run(&["--database-url", &url, "migrate"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("untrusted TLS certificate"),
        "{}",
        stderr(&output)
    );
    assert!(!migrated(clusters, &db).await, "nothing was migrated");
}

#[tokio::test]
async fn a_host_name_the_certificate_does_not_hold_is_refused_under_verify_full() {
    let clusters = tls_clusters();
    let db = fresh_database(clusters).await;
    let url = clusters.tls_url(
        "127.0.0.2",
        &db,
        &format!("sslmode=verify-full&{}", root(&clusters.ca)),
    );
    let output = run(&["--database-url", &url, "serve"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("TLS name mismatch"),
        "{}",
        stderr(&output)
    );
    assert!(!migrated(clusters, &db).await, "nothing was migrated");
}

#[tokio::test]
async fn require_against_a_server_without_tls_is_refused_clearly() {
    let clusters = tls_clusters();
    let url = clusters.plain_url("postgres", "sslmode=require");
    let output = run(&["--database-url", &url, "migrate"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("does not offer TLS"),
        "{}",
        stderr(&output)
    );
    let prefer = clusters.plain_url("postgres", "sslmode=prefer");
    let output = run(&["--database-url", &prefer, "migrate", "--status"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "prefer falls back: {}",
        stderr(&output)
    );
}

#[tokio::test]
async fn an_unreadable_sslrootcert_is_a_configuration_error() {
    let output = run(&[
        "--database-url",
        "postgres://postgres@127.0.0.1:1/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        "migrate",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("sslrootcert"),
        "{}",
        stderr(&output)
    );
}
