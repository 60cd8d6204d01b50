//! Kratos's admin API on a test's wiremock server, shaped like Kratos's OpenAPI
//! document: single answers, and pages from the shared fake Kratos, each with
//! the calls the test expects.

pub use identity_link_testing::kratos_json::{error, identity};
use identity_link_testing::FakeKratos;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

/// Serves `GET /admin/identities` from the fake Kratos, `page_size` identities
/// per page whatever the client asks (it must ask for 500): keyset pages in the
/// order given, ONE comma-joined `Link` header with `rel="first"` and, except on
/// the last page, `rel="next"`. Each page is expected exactly once; returns how
/// many pages there are.
pub async fn serve_identity_pages(
    kratos: &MockServer,
    identities: &[Value],
    page_size: usize,
) -> usize {
    use wiremock::matchers::{query_param, query_param_is_missing};

    let fake = FakeKratos::listed(identities.to_vec()).largest_page(page_size);
    let tokens = fake.page_tokens(500);
    let pages = tokens.len() + 1;
    for token in std::iter::once(None).chain(tokens.into_iter().map(Some)) {
        let request = Mock::given(method("GET"))
            .and(path("/admin/identities"))
            .and(query_param("page_size", "500"));
        let request = match token {
            None => request.and(query_param_is_missing("page_token")),
            Some(token) => request.and(query_param("page_token", token)),
        };
        request
            .respond_with(fake.clone())
            .expect(1)
            .mount(kratos)
            .await;
    }
    pages
}
