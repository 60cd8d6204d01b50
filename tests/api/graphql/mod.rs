//! The admin GraphQL API: authentication, queries, mutations, the schema.

mod auth;
mod hardening;
mod mutations;
mod queries;
mod schema;
mod total_count;

use identity_link_ports::AuthId;
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{json_body, spawn_app_with, Options, TestApp};
pub use crate::helpers::{seed_user, stored_link};

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";
pub const ADMIN_IDENTITY: Uuid = Uuid::from_u128(0x0a0a_0a0a_0a0a_4a0a_8a0a_0a0a_0a0a_0a0a);

/// How a test calls `/graphql`.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Anonymous,
    Token(&'a str),
    SessionToken(&'a str),
    SessionCookie(&'a str),
}

pub const ADMIN: Caller<'static> = Caller::Token(ADMIN_TOKEN);

/// An app whose admins are the bearer of [`ADMIN_TOKEN`] and [`ADMIN_IDENTITY`]'s sessions.
pub async fn spawn_admin_app() -> TestApp {
    spawn_app_with(Options {
        tweak: |settings| {
            settings.admin_token = Some(SecretString::from(ADMIN_TOKEN));
            settings.admin_identities = vec![AuthId::new(ADMIN_IDENTITY)];
        },
        ..Options::default()
    })
    .await
}

pub async fn post(app: &TestApp, caller: Caller<'_>, body: &Value) -> reqwest::Response {
    let request = app.http.post(format!("{}/graphql", app.address)).json(body);
    let request = match caller {
        Caller::Anonymous => request,
        Caller::Token(token) => request.bearer_auth(token),
        Caller::SessionToken(token) => request.header("X-Session-Token", token),
        Caller::SessionCookie(cookie) => {
            request.header("Cookie", format!("theme=dark; ory_kratos_session={cookie}"))
        }
    };
    request.send().await.expect("request")
}

/// Runs a GraphQL document and returns the response body.
pub async fn gql(app: &TestApp, caller: Caller<'_>, query: &str, variables: Value) -> Value {
    let response = post(
        app,
        caller,
        &json!({ "query": query, "variables": variables }),
    )
    .await;
    json_body(response).await
}

/// The `extensions.code` of the first error, if any.
pub fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Serves `whoami` for a session token and a session cookie of `identity`.
pub async fn serve_session(app: &TestApp, secret: &str, identity: Uuid) {
    let session = json!({
        "id": Uuid::new_v4(),
        "active": true,
        "expires_at": "2099-01-01T00:00:00Z",
        "authenticated_at": "2026-01-01T00:00:00Z",
        "authenticator_assurance_level": "aal1",
        "identity": crate::helpers::kratos::identity(identity, "someone@example.com", true)
    });
    for (name, value) in [
        ("x-session-token", secret.to_owned()),
        ("cookie", format!("ory_kratos_session={secret}")),
    ] {
        Mock::given(method("GET"))
            .and(path("/sessions/whoami"))
            .and(header(name, value.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(&session))
            .mount(&app.kratos)
            .await;
    }
}
