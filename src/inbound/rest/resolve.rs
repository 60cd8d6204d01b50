//! `POST /rest/internal/identity/resolve`.

use std::sync::Arc;

use identity_link_ports::{AuditSource, AuthId};
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::correlation::CorrelationId;
use super::error::ApiError;
use super::ApiTags;
use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::resolve::resolve;

/// Which identity to resolve.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveRequest {
    /// The Kratos identity id.
    pub kratos_identity_id: Uuid,
}

/// The user the identity resolves to.
#[derive(Debug, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ResolveResponse {
    /// The application's user id.
    pub user_id: Uuid,
    /// This call provisioned the user.
    pub created: bool,
    /// The id of this call's audit record (equal to the correlation id).
    pub audit_id: Uuid,
    /// This call attached the identity to an existing unlinked user.
    pub linked: bool,
}

/// Keeps what a caller names itself to something printable and short.
pub fn caller_name(raw: Option<String>) -> Option<String> {
    raw.map(|name| {
        name.chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect::<String>()
    })
    .map(|name| name.trim().to_owned())
    .filter(|name| !name.is_empty())
}

pub struct ResolveApi;

#[OpenApi]
impl ResolveApi {
    /// Resolve a Kratos identity to the application's user, provisioning it when missing.
    ///
    /// Returns the linked user; otherwise reads the identity from Kratos and links it to the
    /// existing unlinked user with the same (verified) email, or creates the user already
    /// linked. Safe to call concurrently from many instances: one user per identity.
    #[oai(
        path = "/rest/internal/identity/resolve",
        method = "post",
        operation_id = "resolveIdentity",
        tag = "ApiTags::Internal"
    )]
    async fn resolve(
        &self,
        app: Data<&Arc<App>>,
        correlation: Data<&CorrelationId>,
        /// Name of the calling service, recorded in the audit.
        #[oai(name = "X-Caller")]
        caller: Header<Option<String>>,
        body: Json<ResolveRequest>,
    ) -> Result<Json<ResolveResponse>, ApiError> {
        let context = CallContext {
            correlation_id: correlation.0 .0,
            source: AuditSource::Resolve,
            actor: caller_name(caller.0),
        };
        let auth_id = AuthId::new(body.0.kratos_identity_id);
        match resolve(&app, auth_id, &context).await {
            Ok(resolution) => Ok(Json(ResolveResponse {
                user_id: resolution.user.id.as_uuid(),
                created: resolution.created,
                audit_id: context.correlation_id,
                linked: resolution.linked,
            })),
            Err(error) => Err(ApiError::from_resolve(&error, context.correlation_id)),
        }
    }
}
