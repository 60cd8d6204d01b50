//! The header hook: what the service adds (its `traceparent`) reaches Kratos
//! on every attempt of every call, the admin and the public API alike.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use identity_link_ports::{AuthId, IdentityProvider, SessionCredential, SessionVerifier, UserId};
use reqwest::header::{HeaderMap, HeaderValue};
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{HeaderHook, KratosAdmin, KratosSettings};
use crate::kratos_session::KratosSessions;

/// Adds `traceparent` with a number that grows with each request built.
fn numbering_hook() -> (HeaderHook, Arc<AtomicUsize>) {
    let built = Arc::new(AtomicUsize::new(0));
    let count = built.clone();
    let hook: HeaderHook = Arc::new(move |headers: &mut HeaderMap| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let value = format!("00-{:032x}-{:016x}-01", 7, n + 1);
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert("traceparent", value);
        }
    });
    (hook, built)
}

#[tokio::test]
async fn every_attempt_carries_the_hooks_headers_fresh() {
    let server = MockServer::start().await;
    let id = Uuid::new_v4();
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let (hook, built) = numbering_hook();
    let kratos = KratosAdmin::new(KratosSettings {
        admin_url: url::Url::parse(&server.uri()).expect("wiremock URI"),
        token: None,
        timeout: Duration::from_millis(500),
        retries: 2,
        backoff: Duration::from_millis(5),
    })
    .expect("client")
    .with_headers(hook);

    kratos
        .set_external_id(AuthId::new(id), UserId::new(Uuid::new_v4()))
        .await
        .expect("written on the second attempt");

    let sent: Vec<String> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter_map(|r| {
            r.headers
                .get("traceparent")?
                .to_str()
                .ok()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(built.load(Ordering::SeqCst), 2);
    assert_eq!(
        sent,
        [
            format!("00-{:032x}-{:016x}-01", 7, 1),
            format!("00-{:032x}-{:016x}-01", 7, 2)
        ]
    );
}

#[tokio::test]
async fn whoami_carries_the_hooks_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sessions/whoami"))
        .and(header(
            "traceparent",
            format!("00-{:032x}-{:016x}-01", 7, 1).as_str(),
        ))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let (hook, _) = numbering_hook();
    let url = url::Url::parse(&server.uri()).expect("wiremock URI");
    let sessions = KratosSessions::new(&url, Duration::from_millis(500))
        .expect("client")
        .with_headers(hook);
    let answer = sessions
        .whoami(&SessionCredential::Token("tok".into()))
        .await;
    assert!(answer.is_err(), "401 is no session");
}
