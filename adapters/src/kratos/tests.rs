//! The Kratos adapter against a wiremock Kratos: requests as Kratos's API
//! expects them, answers read into the domain, secrets never printed
//! (failures in `failure_tests`).

use std::time::Duration;

use identity_link_ports::{AuthId, IdentityError, IdentityProvider, PageToken, UserId};
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{KratosAdmin, KratosSettings};

pub(super) fn settings(server: &MockServer, token: Option<&str>) -> KratosSettings {
    KratosSettings {
        admin_url: url::Url::parse(&server.uri()).expect("wiremock URI"),
        token: token.map(|t| SecretString::from(t.to_owned())),
        timeout: Duration::from_millis(300),
        retries: 2,
        backoff: Duration::from_millis(10),
    }
}

fn identity(id: Uuid, email: &str) -> Value {
    json!({
        "id": id, "schema_id": "default", "schema_url": "http://k/s", "state": "active",
        "traits": {"email": email},
        "verifiable_addresses": [{"value": email, "verified": true, "via": "email", "status": "completed"}],
        "credentials": {"password": {"type": "password", "identifiers": [email]}}
    })
}

pub(super) fn kratos_error(code: u16, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "reason": "test"}})
}

#[tokio::test]
async fn the_bearer_token_is_sent_and_never_printed() {
    let server = MockServer::start().await;
    let id = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .and(header("authorization", "Bearer ory_pat_secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity(id, "a@example.com")))
        .expect(1)
        .mount(&server)
        .await;
    let settings = settings(&server, Some("ory_pat_secret"));
    assert!(!format!("{settings:?}").contains("ory_pat_secret"));
    let kratos = KratosAdmin::new(settings).unwrap();
    let found = kratos.get_identity(AuthId::new(id)).await.unwrap();
    assert_eq!(found.id, AuthId::new(id));
}

#[tokio::test]
async fn list_pages_follow_the_next_link_of_one_comma_joined_header() {
    let server = MockServer::start().await;
    let link = "</admin/identities?page_size=2&page_token=first>; rel=\"first\",\
                </admin/identities?page_size=2&page_token=page2>; rel=\"next\"";
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .and(query_param("page_size", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", link)
                .set_body_json(json!([
                    identity(Uuid::new_v4(), "a@example.com"),
                    identity(Uuid::new_v4(), "b@example.com")
                ])),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .and(query_param("page_token", "page2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([identity(Uuid::new_v4(), "c@example.com")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let first = kratos.list_page(2, None).await.unwrap();
    assert_eq!(first.identities.len(), 2);
    assert_eq!(first.next, Some(PageToken("page2".into())));
    let last = kratos.list_page(2, first.next).await.unwrap();
    assert_eq!(last.identities.len(), 1);
    assert_eq!(last.next, None);
}

#[tokio::test]
async fn page_sizes_are_capped_at_kratos_maximum_of_500() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .and(query_param("page_size", "500"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let page = kratos.list_page(10_000, None).await.unwrap();
    assert!(page.identities.is_empty());
}

#[tokio::test]
async fn the_external_id_is_set_with_a_json_patch_and_409_is_a_conflict() {
    let server = MockServer::start().await;
    let id = Uuid::new_v4();
    let user = UserId::generate();
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .and(body_json(
            json!([{"op": "add", "path": "/external_id", "value": user.to_string()}]),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity(id, "a@example.com")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(kratos_error(409, "external_id taken")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    kratos.set_external_id(AuthId::new(id), user).await.unwrap();
    let second = kratos.set_external_id(AuthId::new(id), user).await;
    assert!(
        matches!(second, Err(IdentityError::Conflict(_))),
        "{second:?}"
    );
}

#[tokio::test]
async fn identities_are_found_by_external_id_and_it_can_be_removed() {
    let server = MockServer::start().await;
    let id = Uuid::new_v4();
    let user = UserId::generate();
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/by/external/{user}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity(id, "a@example.com")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/admin/identities/by/external/nobody"))
        .respond_with(ResponseTemplate::new(404).set_body_json(kratos_error(404, "not found")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/admin/identities/{id}")))
        .and(body_json(json!([{"op": "remove", "path": "/external_id"}])))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity(id, "a@example.com")))
        .expect(1)
        .mount(&server)
        .await;
    let kratos = KratosAdmin::new(settings(&server, None)).unwrap();
    let found = kratos.find_by_external_id(&user.to_string()).await.unwrap();
    assert_eq!(found.map(|identity| identity.id), Some(AuthId::new(id)));
    assert_eq!(kratos.find_by_external_id("nobody").await.unwrap(), None);
    kratos.clear_external_id(AuthId::new(id)).await.unwrap();
}

#[test]
fn a_password_in_the_admin_url_is_never_printed() {
    let settings = KratosSettings {
        admin_url: url::Url::parse("https://ops:hunter2@kratos.example/").unwrap(),
        token: None,
        timeout: Duration::from_millis(300),
        retries: 0,
        backoff: Duration::from_millis(10),
    };
    assert!(!format!("{settings:?}").contains("hunter2"));
    let kratos = KratosAdmin::new(settings).unwrap();
    let described = kratos.describe();
    assert!(!described.contains("hunter2"), "{described}");
    assert!(described.contains("kratos.example"), "{described}");
}
