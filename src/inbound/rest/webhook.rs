//! `POST /rest/internal/kratos/webhook`: Kratos `web_hook` actions.

use std::sync::Arc;

use identity_link_ports::{AuditSource, AuthId, IdentityState, KratosIdentity, TriggerId};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request};
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::correlation::CorrelationId;
use super::error::{ApiError, ErrorBody};
use super::hook::{count_failures, Hook};
use super::ApiTags;
use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::link::ResolveError;
use crate::usecases::webhook::{self, Answer, Delivery, Refusal};

pub const SECRET_HEADER: &str = "x-webhook-secret";
const TRIGGER_HEADER: &str = "ory-webhook-trigger-id";

/// What Kratos sends: its hook context's identity, in Kratos's identity format.
#[derive(Debug, Object)]
pub struct WebhookRequest {
    /// `ctx.identity`. Other fields of the body, and of the identity, are ignored.
    pub identity: WebhookIdentity,
}

/// The part of a Kratos identity the webhook reads.
#[derive(Debug, Object)]
pub struct WebhookIdentity {
    /// The identity id: the nil UUID when Kratos has not saved the identity yet.
    pub id: Uuid,
    /// The identity's traits (only read for the email of an identity not saved yet,
    /// or of an email change not saved yet; everything else is read from Kratos).
    pub traits: Option<serde_json::Value>,
}

/// The accepted answer: an empty object, which changes nothing in Kratos.
#[derive(Debug, Object)]
pub struct Accepted {}

/// One message Kratos shows.
#[derive(Debug, Object, serde::Serialize, serde::Deserialize)]
pub struct KratosMessage {
    /// Stable message id (see docs/kratos.md).
    pub id: i64,
    pub text: String,
    /// Always `error`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// `reason` repeats the text (Kratos's generic message 4000001 shows it).
    pub context: MessageContext,
}

#[derive(Debug, Object, serde::Serialize, serde::Deserialize)]
pub struct MessageContext {
    pub reason: String,
}

/// The messages of one form field.
#[derive(Debug, Object, serde::Serialize, serde::Deserialize)]
pub struct KratosFieldMessages {
    /// The field, e.g. `#/traits/email`.
    pub instance_ptr: String,
    pub messages: Vec<KratosMessage>,
}

/// Kratos's interrupting-hook body: it shows these messages and stops the flow.
#[derive(Debug, Object, serde::Serialize, serde::Deserialize)]
pub struct KratosMessages {
    pub messages: Vec<KratosFieldMessages>,
}

/// Every answer of the webhook.
#[derive(Debug, ApiResponse)]
pub enum WebhookResponse {
    /// Accepted: Kratos goes on.
    #[oai(status = 200)]
    Accepted(Json<Accepted>),
    /// The body is malformed (`bad_user_input`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `X-Webhook-Secret` is missing or wrong (`unauthorized`); nothing was done.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Refused: Kratos has no such identity.
    #[oai(status = 404)]
    NotFound(Json<KratosMessages>),
    /// Refused: the email belongs to another user.
    #[oai(status = 409)]
    Conflict(Json<KratosMessages>),
    /// The body is over the size limit (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Refused: the identity lacks a usable email, or is not active.
    #[oai(status = 422)]
    Unprocessable(Json<KratosMessages>),
    /// An unexpected failure (`internal_error`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Kratos or the store is unavailable (`kratos_unavailable`, `database_unavailable`): Kratos retries.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub(super) fn refused(refusal: Refusal, email_pointer: &str) -> WebhookResponse {
    let body = Json(KratosMessages {
        messages: vec![KratosFieldMessages {
            instance_ptr: format!("#/traits{email_pointer}"),
            messages: vec![KratosMessage {
                id: refusal.message_id(),
                text: refusal.text().to_owned(),
                kind: "error".to_owned(),
                context: MessageContext {
                    reason: refusal.text().to_owned(),
                },
            }],
        }],
    });
    match refusal {
        Refusal::IdentityNotFound => WebhookResponse::NotFound(body),
        Refusal::Duplicate => WebhookResponse::Conflict(body),
        Refusal::TraitsMissing | Refusal::Inactive => WebhookResponse::Unprocessable(body),
    }
}

fn failed(error: &ResolveError, correlation_id: Uuid) -> WebhookResponse {
    match ApiError::from_resolve(error, correlation_id) {
        ApiError::Unavailable(body) => WebhookResponse::Unavailable(body),
        ApiError::Internal(body) => WebhookResponse::Internal(body),
        other => {
            tracing::error!(%correlation_id, error = ?other, "a webhook refusal reached the error mapping");
            WebhookResponse::Internal(Json(ErrorBody {
                error: "internal_error".into(),
                message: "an unexpected error occurred".into(),
                correlation_id,
                retryable: false,
            }))
        }
    }
}

/// Printable ASCII, at most 128 characters, or nothing.
fn printable(raw: Option<String>) -> Option<String> {
    raw.map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty() && value.len() <= 128)
        .filter(|value| value.bytes().all(|b| b.is_ascii_graphic()))
}

/// Counts failed calls by hook, and refuses those without the configured secret.
fn guard<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    count_failures(require_webhook_secret(ep))
}

/// The shared secret Kratos sends in `X-Webhook-Secret` (`WEBHOOK_SECRET`), when one is set.
#[derive(Clone)]
pub struct WebhookSecret(pub Option<Arc<SecretString>>);

/// Refuses, before the body is read, a call without the configured secret.
fn require_webhook_secret<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    ep.around(|ep, request: Request| async move {
        let app = request.data::<Arc<App>>().cloned();
        let secret = request.data::<WebhookSecret>().cloned();
        let correlation_id = request
            .data::<CorrelationId>()
            .map_or_else(Uuid::new_v4, |id| id.0);
        let (Some(app), Some(WebhookSecret(secret))) = (app, secret) else {
            return Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR));
        };
        let Some(expected) = &secret else {
            return ep.call(request).await.map(IntoResponse::into_response);
        };
        let given = request.headers().get(SECRET_HEADER).map(|v| v.as_bytes());
        let reason = match given {
            None => "the X-Webhook-Secret header is missing",
            Some(given) if bool::from(expected.expose_secret().as_bytes().ct_eq(given)) => {
                return ep.call(request).await.map(IntoResponse::into_response);
            }
            Some(_) => "the X-Webhook-Secret header does not match",
        };
        let trigger = request
            .headers()
            .get(TRIGGER_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| TriggerId::new(value).ok());
        let context = CallContext {
            correlation_id,
            source: AuditSource::Webhook,
            actor: Some("kratos".into()),
        };
        webhook::unauthorized(&app, &context, trigger.as_ref(), reason);
        Ok(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            reason,
            correlation_id,
        )
        .into_response())
    })
}

pub struct WebhookApi;

#[OpenApi]
impl WebhookApi {
    /// Kratos `web_hook` action: link new sign-ups, capture users at login and
    /// verification, sync profiles on settings changes.
    ///
    /// A saved identity (real id) is re-read from Kratos and resolved like
    /// `resolveIdentity`; an identity already linked gets its email and names synced.
    /// An identity not saved yet (nil id, a registration hook with
    /// `response.parse: true`) is refused when a linked user holds its email.
    /// Refusals carry Kratos's `messages` body; outages are 503 so Kratos retries.
    /// Idempotent by `Ory-Webhook-Trigger-ID`. Calls that fail (any answer but
    /// 200 or a refusal) are counted by `hook` in `identity_link_webhook_failures_total`.
    #[oai(
        path = "/rest/internal/kratos/webhook",
        method = "post",
        operation_id = "kratosWebhook",
        tag = "ApiTags::Internal",
        transform = "guard"
    )]
    // poem-openapi takes each documented parameter as an argument.
    #[allow(clippy::too_many_arguments)]
    async fn webhook(
        &self,
        app: Data<&Arc<App>>,
        correlation: Data<&CorrelationId>,
        /// The Kratos hook the call comes from, as configured in its URL
        /// (`?hook=login`); it names the hook in the metrics. Optional, so URLs
        /// configured without it keep working.
        #[oai(name = "hook")]
        _hook: Query<Option<Hook>>,
        /// Required when the service has `WEBHOOK_SECRET`; checked before the body is read.
        #[oai(name = "X-Webhook-Secret")]
        _secret: Header<Option<String>>,
        /// Kratos's id of the hook execution, the same on every retry (the idempotency key).
        #[oai(name = "Ory-Webhook-Trigger-ID")]
        trigger: Header<Option<String>>,
        /// Kratos's id of this attempt (recorded in the audit).
        #[oai(name = "Ory-Webhook-Request-ID")]
        request_id: Header<Option<String>>,
        body: Json<WebhookRequest>,
    ) -> WebhookResponse {
        let context = CallContext {
            correlation_id: correlation.0 .0,
            source: AuditSource::Webhook,
            actor: Some("kratos".into()),
        };
        let trigger = trigger.0.and_then(|raw| match TriggerId::new(&raw) {
            Ok(trigger) => Some(trigger),
            Err(error) => {
                tracing::warn!(%error, "unusable Ory-Webhook-Trigger-ID: the call is not idempotent");
                None
            }
        });
        let identity = body.0.identity;
        let delivery = Delivery {
            identity: KratosIdentity {
                id: AuthId::new(identity.id),
                state: IdentityState::Active,
                traits: identity.traits.unwrap_or_default(),
                verifiable_addresses: Vec::new(),
                credential_identifiers: Vec::new(),
                external_id: None,
            },
            trigger,
            request_id: printable(request_id.0),
        };
        match webhook::handle(&app, &delivery, &context).await {
            Ok(Answer::Accepted) => WebhookResponse::Accepted(Json(Accepted {})),
            Ok(Answer::Refused(refusal)) => refused(refusal, &app.policy.traits.email),
            Err(error) => failed(&error, context.correlation_id),
        }
    }
}
