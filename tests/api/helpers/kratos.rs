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
