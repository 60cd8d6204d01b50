//! Liveness, readiness and metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::usecases::app::App;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of the service and of each dependency.
#[derive(Debug, Object, serde::Serialize, serde::Deserialize)]
pub struct HealthStatus {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Each dependency's state: `ok` or why it failed.
    pub checks: BTreeMap<String, String>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<HealthStatus>),
    /// A dependency does not answer; `checks` names it.
    #[oai(status = 503)]
    Unavailable(Json<HealthStatus>),
}

async fn check<F, E>(future: F) -> String
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(CHECK_TIMEOUT, future).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {} ms", CHECK_TIMEOUT.as_millis()),
    }
}

pub struct HealthApi;

#[OpenApi]
impl HealthApi {
    /// Liveness: the process answers.
    #[oai(
        path = "/health/live",
        method = "get",
        operation_id = "healthLive",
        tag = "ApiTags::Operations"
    )]
    async fn live(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".into(),
            checks: BTreeMap::new(),
        })
    }

    /// Readiness: the store and Kratos answer.
    #[oai(
        path = "/health/ready",
        method = "get",
        operation_id = "healthReady",
        tag = "ApiTags::Operations"
    )]
    async fn ready(&self, app: Data<&Arc<App>>) -> ReadyResponse {
        let (store, kratos) = tokio::join!(check(app.users.ping()), check(app.identities.ping()));
        let ready = store == "ok" && kratos == "ok";
        let status = HealthStatus {
            status: if ready { "ready" } else { "unavailable" }.into(),
            checks: BTreeMap::from([
                ("database".to_owned(), store),
                ("kratos".to_owned(), kratos),
            ]),
        };
        if ready {
            ReadyResponse::Ready(Json(status))
        } else {
            ReadyResponse::Unavailable(Json(status))
        }
    }

    /// Prometheus metrics in the text exposition format.
    #[oai(
        path = "/metrics",
        method = "get",
        operation_id = "metrics",
        tag = "ApiTags::Operations"
    )]
    async fn metrics(&self, app: Data<&Arc<App>>) -> PlainText<String> {
        PlainText(app.metrics.render())
    }
}
