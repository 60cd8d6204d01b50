use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

fn session(identity: Uuid, active: bool) -> serde_json::Value {
    json!({
        "id": Uuid::new_v4(),
        "active": active,
        "expires_at": "2099-01-01T00:00:00Z",
        "authenticated_at": "2026-01-01T00:00:00Z",
        "authenticator_assurance_level": "aal1",
        "identity": {"id": identity, "schema_id": "default", "schema_url": "http://kratos/s", "traits": {}}
    })
}

async fn sessions(kratos: &MockServer, timeout_ms: u64) -> KratosSessions {
    let url = Url::parse(&kratos.uri()).unwrap();
    KratosSessions::new(&url, Duration::from_millis(timeout_ms)).unwrap()
}

#[tokio::test]
async fn a_session_token_is_sent_as_x_session_token_and_yields_the_identity() {
    let kratos = MockServer::start().await;
    let identity = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path("/sessions/whoami"))
        .and(header("x-session-token", "tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session(identity, true)))
        .expect(1)
        .mount(&kratos)
        .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let verifier = sessions(&kratos, 500)
        .await
        .with_observer(Arc::new(move |op, status| {
            record.lock().unwrap().push(format!("{op} {status}"));
        }));
    let session = verifier
        .whoami(&SessionCredential::Token("tok-1".into()))
        .await
        .unwrap();
    assert_eq!(session.identity, AuthId::new(identity));
    assert!(session.expires_at.is_some());
    assert_eq!(*seen.lock().unwrap(), ["whoami 200"]);
}

#[tokio::test]
async fn a_session_cookie_is_forwarded_as_the_kratos_cookie_alone() {
    let kratos = MockServer::start().await;
    let identity = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path("/sessions/whoami"))
        .and(header("cookie", "ory_kratos_session=c00kie"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session(identity, true)))
        .expect(1)
        .mount(&kratos)
        .await;
    let session = sessions(&kratos, 500)
        .await
        .whoami(&SessionCredential::Cookie("c00kie".into()))
        .await
        .unwrap();
    assert_eq!(session.identity, AuthId::new(identity));
}

#[tokio::test]
async fn kratos_refusals_and_failures_are_classified() {
    let kratos = MockServer::start().await;
    let cases = [
        (
            "invalid",
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"code": 401, "message": "No valid session"}})),
        ),
        (
            "aal",
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": {"code": 403, "message": "aal2 required"}})),
        ),
        ("down", ResponseTemplate::new(502)),
        (
            "odd",
            ResponseTemplate::new(200).set_body_json(json!({"id": Uuid::new_v4()})),
        ),
        (
            "inactive",
            ResponseTemplate::new(200).set_body_json(session(Uuid::new_v4(), false)),
        ),
        (
            "slow",
            ResponseTemplate::new(200).set_delay(Duration::from_millis(400)),
        ),
    ];
    for (token, response) in cases {
        Mock::given(method("GET"))
            .and(path("/sessions/whoami"))
            .and(header("x-session-token", token))
            .respond_with(response)
            .mount(&kratos)
            .await;
    }
    let verifier = sessions(&kratos, 150).await;
    let check = |token: &str| SessionCredential::Token(token.into());
    assert!(matches!(
        verifier.whoami(&check("invalid")).await,
        Err(SessionError::Invalid)
    ));
    assert!(matches!(
        verifier.whoami(&check("aal")).await,
        Err(SessionError::NeedsSecondFactor)
    ));
    assert!(matches!(
        verifier.whoami(&check("down")).await,
        Err(SessionError::Unavailable(_))
    ));
    assert!(matches!(
        verifier.whoami(&check("odd")).await,
        Err(SessionError::Malformed(_))
    ));
    assert!(matches!(
        verifier.whoami(&check("inactive")).await,
        Err(SessionError::Invalid)
    ));
    assert!(matches!(
        verifier.whoami(&check("slow")).await,
        Err(SessionError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_credential_that_cannot_be_a_header_is_invalid_without_a_call() {
    let kratos = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&kratos)
        .await;
    let result = sessions(&kratos, 500)
        .await
        .whoami(&SessionCredential::Token("bad\nvalue".into()))
        .await;
    assert!(matches!(result, Err(SessionError::Invalid)));
}
