//! The Kratos adapter against a wiremock Kratos that fails: failures
//! classified by upstream status, retries only where they can help, and
//! bounded.

use std::time::Duration;

use identity_link_ports::{AuthId, IdentityError, IdentityProvider, PageToken};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::tests::{kratos_error, settings};
use super::{KratosAdmin, KratosSettings};

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_reported_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .and(query_param("credentials_identifier", "a@example.com"))
        .respond_with(ResponseTemplate::new(429).set_body_json(kratos_error(429, "slow down")))
        .expect(3)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let result = kratos.find_by_identifier("a@example.com").await;
    assert!(
        matches!(result, Err(IdentityError::Unavailable(ref m)) if m.contains("slow down")),
        "{result:?}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_kratos_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .respond_with(ResponseTemplate::new(400).set_body_json(kratos_error(400, "bad page token")))
        .expect(1)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let result = kratos
        .list_page(10, Some(PageToken("garbage".into())))
        .await;
    assert!(
        matches!(result, Err(IdentityError::Rejected { status: 400, ref message }) if message.contains("bad page token")),
        "{result:?}"
    );
}

#[tokio::test]
async fn timeouts_are_retried_and_bounded() {
    let server = MockServer::start().await;
    let id = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .expect(3)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let started = std::time::Instant::now();
    let result = kratos.get_identity(AuthId::new(id)).await;
    assert!(
        matches!(result, Err(IdentityError::Unavailable(ref m)) if m.contains("timeout")),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_bodies_are_classified_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"not": "an array"})))
        .expect(1)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let result = kratos.list_page(10, None).await;
    assert!(
        matches!(result, Err(IdentityError::Malformed(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unreachable_kratos_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let kratos = KratosAdmin::new(KratosSettings {
        admin_url: url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        token: None,
        timeout: Duration::from_millis(200),
        retries: 1,
        backoff: Duration::from_millis(5),
    })
    .unwrap();
    let result = kratos.get_identity(AuthId::new(Uuid::new_v4())).await;
    assert!(
        matches!(result, Err(IdentityError::Unavailable(ref m)) if m.contains("connect")),
        "{result:?}"
    );
    assert!(kratos.ping().await.is_err());
}

#[tokio::test]
async fn a_failed_lookup_does_not_echo_the_email_it_looked_up() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let failure = kratos
        .find_by_identifier("victim@example.com")
        .await
        .expect_err("times out");
    let text = failure.to_string();
    assert!(text.contains("timeout"), "{text}");
    assert!(!text.contains("victim"), "{text}");
}
