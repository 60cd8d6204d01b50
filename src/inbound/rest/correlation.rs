//! Correlation ids on every response, and the contract's error body on every
//! error response, including those poem produces before a handler runs.

use poem::http::{header, HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use uuid::Uuid;

use super::error::{code_for_status, ErrorBody};

pub const CORRELATION_HEADER: &str = "x-correlation-id";
const REQUEST_ID_HEADER: &str = "x-request-id";

/// The current call's correlation id (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelationId(pub Uuid);

fn from_header(request: &Request, name: &str) -> Option<Uuid> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Uuid::parse_str(value.trim()).ok())
}

/// Adds [`CorrelationId`] to the request and the response; rewrites error
/// responses that are not already the contract's JSON body.
pub struct Correlation;

impl<E: Endpoint> Middleware<E> for Correlation {
    type Output = CorrelationEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorrelationEndpoint { inner }
    }
}

pub struct CorrelationEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for CorrelationEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let id = from_header(&request, CORRELATION_HEADER)
            .or_else(|| from_header(&request, REQUEST_ID_HEADER))
            .unwrap_or_else(Uuid::new_v4);
        request.extensions_mut().insert(CorrelationId(id));
        let response = match self.inner.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let mut response = if needs_contract_body(&response) {
            contract_error(response, id).await
        } else {
            response
        };
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            response.headers_mut().insert(CORRELATION_HEADER, value);
        }
        Ok(response)
    }
}

fn needs_contract_body(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    (status.is_client_error() || status.is_server_error()) && !is_json
}

async fn contract_error(response: Response, id: Uuid) -> Response {
    let original = response.status();
    let (status, code) = code_for_status(original);
    let text = response.into_body().into_string().await.unwrap_or_default();
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(correlation_id = %id, status = original.as_u16(), body = %text, "request failed");
        "an unexpected error occurred; see the service log under this correlation id".to_owned()
    } else if text.trim().is_empty() {
        original
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned()
    } else {
        text
    };
    let body = ErrorBody {
        error: code.to_owned(),
        message,
        correlation_id: id,
        retryable: status == StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = poem::web::Json(body).into_response();
    response.set_status(status);
    response
}
