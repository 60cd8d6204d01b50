//! A Kratos admin API served by wiremock, shaped like Kratos's OpenAPI document.

use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An identity in Kratos's JSON format.
pub fn identity(id: Uuid, email: &str, verified: bool) -> Value {
    json!({
        "id": id,
        "schema_id": "default",
        "schema_url": "http://kratos.test/schemas/ZGVmYXVsdA",
        "state": "active",
        "state_changed_at": "2026-01-01T00:00:00Z",
        "traits": {
            "email": email,
            "name": {"first": "Test", "last": "User"}
        },
        "verifiable_addresses": [{
            "id": Uuid::new_v4(),
            "value": email,
            "verified": verified,
            "via": "email",
            "status": if verified { "completed" } else { "sent" }
        }],
        "recovery_addresses": [{"id": Uuid::new_v4(), "value": email, "via": "email"}],
        "credentials": {
            "password": {"type": "password", "identifiers": [email.to_lowercase()], "version": 0}
        },
        "metadata_public": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    })
}

/// Kratos's error body.
pub fn error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "status": status, "message": message}})
}

/// Serves `GET /admin/identities/{id}` with `identity`, expecting `times` calls.
pub async fn serve_identity(
    kratos: &MockServer,
    identity: &Value,
    times: impl Into<wiremock::Times>,
) {
    let id = identity["id"].as_str().expect("identity id");
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(identity))
        .expect(times)
        .mount(kratos)
        .await;
}

/// Serves `GET /admin/identities/{id}` as a 404, expecting `times` calls.
pub async fn serve_not_found(kratos: &MockServer, id: Uuid, times: impl Into<wiremock::Times>) {
    Mock::given(method("GET"))
        .and(path(format!("/admin/identities/{id}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(error(
            404,
            "Not Found",
            "Unable to locate the resource",
        )))
        .expect(times)
        .mount(kratos)
        .await;
}

/// Serves the health endpoint Kratos's admin API has.
pub async fn serve_health(kratos: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/health/alive"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .mount(kratos)
        .await;
}

/// Serves `GET /admin/identities` the way Kratos pages it: `page_size` identities
/// per page whatever the client asks (it must ask for 500), ONE comma-joined
/// `Link` header with `rel="first"` and, except on the last page, `rel="next"`
/// carrying an opaque `page_token`. Each page is expected exactly once; returns
/// how many pages there are.
pub async fn serve_identity_pages(
    kratos: &MockServer,
    identities: &[Value],
    page_size: usize,
) -> usize {
    use wiremock::matchers::{query_param, query_param_is_missing};

    let pages: Vec<&[Value]> = if identities.is_empty() {
        vec![&[]]
    } else {
        identities.chunks(page_size).collect()
    };
    let token = |n: usize| format!("eyJwYWdlIjo{n}fQ");
    let link = |n: usize| {
        format!(
            "</admin/identities?page_size={page_size}&page_token={}>",
            token(n)
        )
    };
    for (n, page) in pages.iter().enumerate() {
        let mut header = format!("{}; rel=\"first\"", link(0));
        if n + 1 < pages.len() {
            header.push_str(&format!(",{}; rel=\"next\"", link(n + 1)));
        }
        let request = Mock::given(method("GET"))
            .and(path("/admin/identities"))
            .and(query_param("page_size", "500"));
        let request = if n == 0 {
            request.and(query_param_is_missing("page_token"))
        } else {
            request.and(query_param("page_token", token(n)))
        };
        request
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", header.as_str())
                    .set_body_json(page),
            )
            .expect(1)
            .mount(kratos)
            .await;
    }
    pages.len()
}
