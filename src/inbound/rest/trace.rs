//! The server span of each request, continuing the caller's W3C trace
//! (`traceparent`/`tracestate`) or starting one. When spans are exported it
//! is a `tracing` span; otherwise only the ids, kept for the request's log
//! lines and Kratos calls ([`telemetry::local`]).

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::process::telemetry;

pub struct ServerSpan;

impl<E: Endpoint> Middleware<E> for ServerSpan {
    type Output = ServerSpanEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ServerSpanEndpoint { inner }
    }
}

pub struct ServerSpanEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for ServerSpanEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if !telemetry::tracing_enabled() {
            let trace = telemetry::local::RequestTrace::continuing(request.headers());
            return trace
                .scope(self.inner.call(request))
                .await
                .map(IntoResponse::into_response);
        }
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let span = tracing::info_span!(
            "request",
            otel.name = %format_args!("{method} {path}"),
            otel.kind = "server",
            http.request.method = %method,
            url.path = %path,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        // A malformed or absent traceparent leaves a new root trace.
        let _ = span.set_parent(telemetry::ids::extract(request.headers()));
        let result = self
            .inner
            .call(request)
            .instrument(span.clone())
            .await
            .map(IntoResponse::into_response);
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.status(),
        };
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}
