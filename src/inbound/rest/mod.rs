//! The REST API (poem + poem-openapi): routes, the generated OpenAPI document,
//! and which listener serves what.

mod correlation;
pub mod error;
mod health;
mod hook;
mod limit;
pub mod resolve;
mod timeout;
mod trace;
pub mod webhook;

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::{EndpointExt, IntoEndpoint, Request, Route};
use poem_openapi::{OpenApiService, Tags};

pub use correlation::{CorrelationId, CORRELATION_HEADER};

use crate::inbound::pages;
use crate::process::config::Settings;
use crate::usecases::app::App;

/// Largest request body of the internal endpoints.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Largest request body elsewhere (GraphQL documents).
pub const MAX_OTHER_BODY_BYTES: usize = 256 * 1024;
const INTERNAL_PREFIX: &str = "/rest/internal/";

#[derive(Tags)]
pub enum ApiTags {
    /// Endpoints for internal services and Kratos; keep them off the public network.
    Internal,
    /// Health, readiness and metrics.
    Operations,
}

pub type Apis = (resolve::ResolveApi, webhook::WebhookApi, health::HealthApi);

/// The OpenAPI service describing every REST endpoint.
pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (resolve::ResolveApi, webhook::WebhookApi, health::HealthApi),
        "identity-link",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Keeps the application's users linked one-to-one to their Ory Kratos identities.")
}

/// The OpenAPI document as JSON (what `identity-link openapi` prints).
pub fn openapi_json() -> String {
    api_service().spec()
}

/// Which endpoints a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Everything (one listener).
    All,
    /// Everything but `/rest/internal/*` (the public listener when an internal one exists).
    Public,
    /// Only `/rest/internal/*` and health (the internal listener).
    Internal,
}

fn allowed(exposure: Exposure, path: &str) -> bool {
    let internal = path.starts_with(INTERNAL_PREFIX);
    match exposure {
        Exposure::All => true,
        Exposure::Public => !internal,
        Exposure::Internal => internal || path.starts_with("/health/"),
    }
}

/// Every route, in a server span, behind correlation ids, error bodies, body limits and the
/// request timeout.
pub fn routes(
    app: Arc<App>,
    settings: &Settings,
    exposure: Exposure,
    graphql: Option<BoxEndpoint<'static>>,
) -> BoxEndpoint<'static> {
    let service = api_service();
    let spec = service.spec_endpoint();
    let mut route = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", pages::docs::endpoint());
    if let Some(graphql) = graphql {
        route = route
            .at("/graphql", graphql)
            .nest(pages::console::ASSETS_PATH, pages::console::assets());
    }
    let route = route.nest("/", service);
    let request_timeout = settings.http_request_timeout;
    route
        .before(move |request: Request| async move {
            if allowed(exposure, request.uri().path()) {
                Ok(request)
            } else {
                Err(poem::Error::from_status(StatusCode::NOT_FOUND))
            }
        })
        .with(limit::BodyLimit::new(
            INTERNAL_PREFIX,
            MAX_BODY_BYTES,
            MAX_OTHER_BODY_BYTES,
        ))
        .data(app)
        .data(webhook::WebhookSecret(
            settings.webhook_secret.clone().map(Arc::new),
        ))
        .with(timeout::RequestTimeout(request_timeout))
        .with(correlation::Correlation)
        .with(trace::ServerSpan)
        .into_endpoint()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_listener_serves_only_internal_routes_and_health() {
        assert!(allowed(
            Exposure::Internal,
            "/rest/internal/identity/resolve"
        ));
        assert!(allowed(Exposure::Internal, "/health/ready"));
        assert!(!allowed(Exposure::Internal, "/graphql"));
        assert!(!allowed(Exposure::Public, "/rest/internal/kratos/webhook"));
        assert!(allowed(Exposure::Public, "/graphql"));
        assert!(allowed(Exposure::All, "/rest/internal/identity/resolve"));
    }
}
