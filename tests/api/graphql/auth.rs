//! Who is admitted to `/graphql`.

use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{code, gql, post, serve_session, spawn_admin_app, Caller, ADMIN, ADMIN_IDENTITY};
use crate::helpers::json_body;

const USERS: &str = "{ adminUsers(first: 1) { edges { node { userId } } } }";

#[tokio::test]
async fn anonymous_callers_are_unauthenticated_and_get_no_data() {
    let app = spawn_admin_app().await;
    let response = post(&app, Caller::Anonymous, &json!({ "query": USERS })).await;
    assert!(response.headers().contains_key("x-correlation-id"));
    let body = json_body(response).await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn a_wrong_token_or_another_scheme_gets_no_data() {
    let app = spawn_admin_app().await;
    for caller in [Caller::Token("not-the-admin-token"), Caller::Token("")] {
        let body = gql(&app, caller, USERS, json!({})).await;
        assert_eq!(code(&body), Some("UNAUTHENTICATED"), "{body}");
        assert_eq!(body["data"], Value::Null);
    }
    let basic = app
        .http
        .post(format!("{}/graphql", app.address))
        .basic_auth("admin", Some("admin"))
        .json(&json!({ "query": USERS }))
        .send()
        .await
        .unwrap();
    let body = json_body(basic).await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"));
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn the_admin_token_is_admitted() {
    let app = spawn_admin_app().await;
    let body = gql(&app, ADMIN, USERS, json!({})).await;
    assert_eq!(body["errors"], Value::Null, "{body}");
    assert!(body["data"]["adminUsers"]["edges"].is_array());
}

#[tokio::test]
async fn an_admin_session_is_admitted_and_checked_at_kratos_once_in_a_while() {
    let app = spawn_admin_app().await;
    serve_session(&app, "admin-session", ADMIN_IDENTITY).await;

    for caller in [
        Caller::SessionToken("admin-session"),
        Caller::SessionToken("admin-session"),
        Caller::SessionCookie("admin-session"),
    ] {
        let body = gql(&app, caller, USERS, json!({})).await;
        assert_eq!(body["errors"], Value::Null, "{caller:?}: {body}");
    }
    let whoami_calls = app
        .kratos
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == "/sessions/whoami")
        .count();
    assert_eq!(
        whoami_calls, 2,
        "the second token call is answered from the cache"
    );
}

#[tokio::test]
async fn a_non_admin_session_is_forbidden_and_an_unknown_one_unauthenticated() {
    let app = spawn_admin_app().await;
    serve_session(&app, "user-session", Uuid::new_v4()).await;
    Mock::given(method("GET"))
        .and(path("/sessions/whoami"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": 401, "status": "Unauthorized", "message": "No valid session credentials found"}
        })))
        .mount(&app.kratos)
        .await;

    for caller in [
        Caller::SessionToken("user-session"),
        Caller::SessionCookie("user-session"),
    ] {
        let body = gql(&app, caller, USERS, json!({})).await;
        assert_eq!(code(&body), Some("FORBIDDEN"), "{caller:?}: {body}");
        assert_eq!(body["data"], Value::Null);
    }
    let body = gql(&app, Caller::SessionToken("expired"), USERS, json!({})).await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"), "{body}");
}

#[tokio::test]
async fn kratos_down_during_a_session_check_is_unavailable_not_admitted() {
    let app = spawn_admin_app().await;
    Mock::given(method("GET"))
        .and(path("/sessions/whoami"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.kratos)
        .await;
    let body = gql(&app, Caller::SessionToken("any"), USERS, json!({})).await;
    assert_eq!(code(&body), Some("SERVICE_UNAVAILABLE"), "{body}");
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn introspection_is_for_admins_only() {
    let app = spawn_admin_app().await;
    let introspection = "{ __schema { queryType { name } } }";
    let anonymous = gql(&app, Caller::Anonymous, introspection, json!({})).await;
    assert_eq!(code(&anonymous), Some("UNAUTHENTICATED"));
    assert_eq!(anonymous["data"], Value::Null);

    let admin = gql(&app, ADMIN, introspection, json!({})).await;
    assert_eq!(admin["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = spawn_admin_app().await;
    let response = app.get("/graphql").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("graphiql"));
}
