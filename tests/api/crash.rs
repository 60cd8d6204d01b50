//! Crashes of the real binary: a link and its audit event, and a link and its
//! pending write-back, are stored together or not at all (CONTRACT §6.2).

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::binary::{self, serve, Serving};
use crate::helpers::db::TestDb;
use crate::helpers::kratos::{error, identity};

const USERS: usize = 60;

async fn start(db: &TestDb, kratos: &MockServer, write_back: bool) -> Serving {
    let mut command = binary::command(&["serve"]);
    command
        .env("DATABASE_URL", &db.url)
        .env("KRATOS_ADMIN_URL", kratos.uri())
        .env("KRATOS_RETRIES", "0")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("DATABASE_TIMEOUT_MS", "2000")
        .env("WRITE_BACK_EXTERNAL_ID", write_back.to_string());
    serve(command).await
}

async fn serve_identities(kratos: &MockServer, ids: &[Uuid]) {
    for (n, id) in ids.iter().enumerate() {
        let body = identity(*id, &format!("crash-{n}@example.com"), true);
        Mock::given(method("GET"))
            .and(path(format!("/admin/identities/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(&body))
            .mount(kratos)
            .await;
    }
}

/// Resolves every id at once, each request given up after `patience`.
async fn resolve_all(serving: &Serving, ids: &[Uuid], patience: Duration) -> Vec<Option<u16>> {
    let http = reqwest::Client::builder()
        .timeout(patience)
        .build()
        .expect("client");
    let url = serving.url("/rest/internal/identity/resolve");
    let calls = ids.iter().map(|id| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(&url)
                .json(&json!({ "kratosIdentityId": id }))
                .send()
                .await
                .ok()
                .map(|response| response.status().as_u16())
        }
    });
    futures::future::join_all(calls).await
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect("count").get(0)
}

const LINKS_WITHOUT_AUDIT: &str = "SELECT count(*) FROM users u
      WHERE u.auth_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM identity_audit a
                         WHERE a.auth_id = u.auth_id AND a.user_id = u.id
                           AND a.action IN ('created', 'linked'))";

#[tokio::test]
async fn every_link_that_survives_a_crash_has_its_audit_event() {
    let db = TestDb::migrated().await;
    let kratos = MockServer::start().await;
    let ids: Vec<Uuid> = (0..USERS).map(|_| Uuid::new_v4()).collect();
    serve_identities(&kratos, &ids).await;
    let serving = start(&db, &kratos, false).await;

    // The audit table is locked by someone else while the users are provisioned.
    let mut locker = db.client().await;
    let lock = locker.transaction().await.expect("begin");
    lock.batch_execute("LOCK TABLE identity_audit IN SHARE ROW EXCLUSIVE MODE")
        .await
        .expect("lock identity_audit");
    resolve_all(&serving, &ids, Duration::from_secs(1)).await;
    let log = serving.kill().await;
    lock.rollback().await.expect("release the lock");

    let client = db.client().await;
    assert_eq!(count(&client, LINKS_WITHOUT_AUDIT).await, 0, "{log}");

    // Restarted, the service provisions everyone, each with its event.
    let serving = start(&db, &kratos, false).await;
    let statuses = resolve_all(&serving, &ids, Duration::from_secs(30)).await;
    assert!(statuses.iter().all(|s| *s == Some(200)), "{statuses:?}");
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM users WHERE auth_id IS NOT NULL"
        )
        .await,
        USERS as i64
    );
    assert_eq!(count(&client, LINKS_WITHOUT_AUDIT).await, 0);
}

#[tokio::test]
async fn every_link_gets_its_external_id_written_back_after_a_crash() {
    let db = TestDb::migrated().await;
    let kratos = MockServer::start().await;
    let ids: Vec<Uuid> = (0..USERS / 3).map(|_| Uuid::new_v4()).collect();
    serve_identities(&kratos, &ids).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(500).set_body_json(error(
            500,
            "Internal Server Error",
            "down",
        )))
        .mount(&kratos)
        .await;
    let serving = start(&db, &kratos, true).await;
    let statuses = resolve_all(&serving, &ids, Duration::from_secs(30)).await;
    assert!(statuses.iter().all(|s| *s == Some(200)), "{statuses:?}");
    serving.kill().await;

    // Kratos heals; the restarted service writes every link back.
    kratos.reset().await;
    serve_identities(&kratos, &ids).await;
    for id in &ids {
        Mock::given(method("PATCH"))
            .and(path(format!("/admin/identities/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(identity(
                *id,
                "x@example.com",
                true,
            )))
            .mount(&kratos)
            .await;
    }
    let serving = start(&db, &kratos, true).await;
    let client = db.client().await;
    // Retries are at most a minute apart; claims cut short by the crash end
    // with their lease.
    let mut pending = i64::MAX;
    for _ in 0..400 {
        pending = count(&client, "SELECT count(*) FROM external_id_writeback").await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(pending, 0, "write-backs still queued");
    let requests = kratos.received_requests().await.unwrap_or_default();
    for id in &ids {
        let wanted = format!("/admin/identities/{id}");
        assert!(
            requests
                .iter()
                .any(|r| r.method.as_str() == "PATCH" && r.url.path() == wanted),
            "no write-back of {id}"
        );
    }
}
