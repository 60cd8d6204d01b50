//! The admin GraphQL API (CONTRACT §4) at `/graphql`: the admin console
//! (GraphiQL, see [`crate::inbound::pages::console`]) on GET, queries and mutations on POST.
//!
//! Every POST is authenticated before anything is parsed or executed; only an
//! admin's request reaches the executor, so introspection, too, is for admins
//! only. Queries are bounded in depth and complexity, connections in page size,
//! and only single (not batched) JSON requests are accepted. Introspection-only
//! documents may nest deeper, as the console's introspection query does.

mod auth;
mod error;
mod mutations;
mod queries;
#[cfg(test)]
mod tests;
mod types;
mod user_count;

use std::sync::Arc;

use async_graphql::parser::types::Selection;
use async_graphql::{Context, EmptySubscription, Schema, SchemaBuilder};
use async_graphql_poem::GraphQLResponse;
use identity_link_ports::AuditSource;
use poem::endpoint::BoxEndpoint;
use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};
use tracing::Instrument;
use uuid::Uuid;

pub use auth::{Admin, Authenticator, Denied, Presented, SESSION_CACHE_TTL};
pub use error::Code;
pub use mutations::AdminMutation;
pub use queries::{AdminQuery, DEFAULT_PAGE, MAX_PAGE};

use crate::inbound::rest::CorrelationId;
use crate::process::config::Settings;
use crate::usecases::app::App;
use crate::usecases::call::CallContext;

pub type AdminSchema = Schema<AdminQuery, AdminMutation, EmptySubscription>;

/// Deepest selection nesting accepted.
pub const MAX_DEPTH: usize = 10;
/// Deepest nesting of a document that selects nothing but introspection
/// (`__schema`, `__type`, `__typename`): the introspection query of GraphiQL
/// and other tools unwraps nine levels of `ofType` and is 15 deep. It reads
/// the schema only, which is finite, and is for admins only like any query.
pub const MAX_INTROSPECTION_DEPTH: usize = 15;
/// Largest query complexity accepted (fields, with lists weighted by their page size).
pub const MAX_COMPLEXITY: usize = 2_000;

/// The admin behind one request and its correlation id (request data).
#[derive(Debug, Clone)]
pub struct AdminCall {
    pub actor: String,
    pub correlation_id: Uuid,
}

impl AdminCall {
    /// The audit context of this request.
    pub fn context(&self) -> CallContext {
        CallContext {
            correlation_id: self.correlation_id,
            source: AuditSource::Admin,
            actor: Some(self.actor.clone()),
        }
    }
}

/// The application and the admin call; refuses when the request was not
/// admitted (a second line behind the endpoint's check).
fn admin_call<'a>(ctx: &Context<'a>) -> async_graphql::Result<(&'a Arc<App>, &'a AdminCall)> {
    let call = ctx.data_opt::<AdminCall>().ok_or_else(|| {
        error::error(
            Code::Unauthenticated,
            "unauthenticated",
            "admin credentials required",
            Uuid::nil(),
        )
    })?;
    Ok((ctx.data::<Arc<App>>()?, call))
}

fn builder(max_depth: usize) -> SchemaBuilder<AdminQuery, AdminMutation, EmptySubscription> {
    Schema::build(AdminQuery, AdminMutation, EmptySubscription)
        .limit_depth(max_depth)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8)
        .disable_suggestions()
}

/// The schema in SDL (what `identity-link graphql-schema` prints).
pub fn sdl() -> String {
    builder(MAX_DEPTH).finish().sdl()
}

/// Whether every operation of the request selects only introspection fields
/// (parsing the document once, for the executor too).
fn only_introspection(request: &mut async_graphql::Request) -> bool {
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    document.operations.iter().all(|(_, operation)| {
        operation.node.selection_set.node.items.iter().all(|item| {
            matches!(&item.node, Selection::Field(field) if field.node.name.node.starts_with("__"))
        })
    })
}

/// The admin API's state: schemas and authenticator, shared by every listener.
pub struct Graphql {
    schema: AdminSchema,
    /// The same schema, for introspection-only documents.
    introspection: AdminSchema,
    auth: Authenticator,
}

impl Graphql {
    /// The admin API over `app`, open to the admin token and the admin identities of
    /// `settings` (these through `app.sessions`).
    pub fn new(app: Arc<App>, settings: &Settings) -> Arc<Self> {
        let auth = Authenticator::new(
            settings.admin_token.as_ref(),
            &settings.admin_identities,
            app.sessions.clone(),
        );
        let schema = |max_depth| builder(max_depth).data(app.clone()).finish();
        Arc::new(Self {
            schema: schema(MAX_DEPTH),
            introspection: schema(MAX_INTROSPECTION_DEPTH),
            auth,
        })
    }

    /// The `/graphql` endpoint.
    pub fn endpoint(self: &Arc<Self>) -> BoxEndpoint<'static> {
        GraphqlEndpoint(self.clone()).boxed()
    }

    async fn execute(&self, request: Request) -> Response {
        let correlation_id = request
            .extensions()
            .get::<CorrelationId>()
            .map_or_else(Uuid::new_v4, |id| id.0);
        let reply = |status: StatusCode, error| {
            let mut response =
                GraphQLResponse(async_graphql::Response::from_errors(vec![error])).into_response();
            response.set_status(status);
            response
        };
        let admin = match self
            .auth
            .authenticate(&Presented::from_headers(request.headers()))
            .await
        {
            Ok(admin) => admin,
            Err(denied) => {
                return reply(StatusCode::OK, error::from_denied(&denied, correlation_id))
            }
        };
        let is_json = request
            .header(header::CONTENT_TYPE)
            .and_then(|value| value.split(';').next())
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            let refused = error::request_error(
                Code::BadUserInput,
                "bad_user_input",
                "send the GraphQL request as application/json",
                correlation_id,
            );
            return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, refused);
        }
        let body = match request.into_body().into_bytes().await {
            Ok(body) => body,
            Err(error) => return poem::Error::from(error).into_response(),
        };
        let query = match serde_json::from_slice::<async_graphql::Request>(&body) {
            Ok(query) => query,
            Err(parse) => {
                let refused = error::request_error(
                    Code::BadUserInput,
                    "bad_user_input",
                    format!("the body is not a GraphQL request object: {parse}"),
                    correlation_id,
                );
                return reply(StatusCode::BAD_REQUEST, refused);
            }
        };
        let call = AdminCall {
            actor: admin.actor,
            correlation_id,
        };
        let mut query = query.data(call);
        let schema = if only_introspection(&mut query) {
            &self.introspection
        } else {
            &self.schema
        };
        let span = tracing::info_span!(
            "graphql",
            otel.name = %format_args!("graphql {}", query.operation_name.as_deref().unwrap_or("anonymous")),
        );
        let mut response = schema.execute(query).instrument(span).await;
        error::code_uncoded(&mut response.errors, correlation_id);
        GraphQLResponse(response).into_response()
    }
}

struct GraphqlEndpoint(Arc<Graphql>);

impl Endpoint for GraphqlEndpoint {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        match *request.method() {
            Method::POST => Ok(self.0.execute(request).await),
            Method::GET => Ok(crate::inbound::pages::console::page()),
            _ => Err(poem::Error::from_status(StatusCode::METHOD_NOT_ALLOWED)),
        }
    }
}
