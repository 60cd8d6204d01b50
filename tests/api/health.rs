use std::time::Duration;

use uuid::Uuid;

use crate::helpers::kratos::{identity, serve_health, serve_identity};
use crate::helpers::{json_body, spawn_app};

#[tokio::test]
async fn liveness_needs_nothing_and_readiness_checks_both_dependencies() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), 200);

    let not_ready = app.get("/health/ready").await;
    assert_eq!(
        not_ready.status(),
        503,
        "the wiremock Kratos has no health route yet"
    );
    let body = json_body(not_ready).await;
    assert_eq!(body["checks"]["database"], "ok");
    assert_ne!(body["checks"]["kratos"], "ok");

    serve_health(&app.kratos).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(json_body(ready).await["status"], "ready");
}

#[tokio::test]
async fn a_database_outage_is_503_and_recovers_without_a_restart() {
    let (app, proxy) = crate::helpers::spawn_app_behind_proxy().await;
    serve_health(&app.kratos).await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "outage@example.com", true), 1).await;
    assert_eq!(app.resolve(id).await.status(), 200);

    proxy.down();
    let response = app.resolve(id).await;
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["error"], "database_unavailable");
    assert_eq!(body["retryable"], true);
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    assert_ne!(json_body(ready).await["checks"]["database"], "ok");

    proxy.up();
    let mut recovered = false;
    for _ in 0..50 {
        if app.resolve(id).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "resolve works again once the database is back");
    assert_eq!(app.get("/health/ready").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_resolutions_and_kratos_calls() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "metrics@example.com", true), 1).await;
    app.resolve(id).await;
    app.resolve(id).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("identity_link_resolutions_total{outcome=\"created\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("identity_link_resolutions_total{outcome=\"resolved\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "identity_link_kratos_requests_total{operation=\"get_identity\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("identity_link_resolve_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_and_interactive_docs_are_served() {
    let app = spawn_app().await;
    let document = json_body(app.get("/openapi.json").await).await;
    assert!(document["paths"]["/rest/internal/identity/resolve"].is_object());
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "an interactive page"
    );
}

#[tokio::test]
async fn with_an_internal_listener_the_public_one_hides_internal_routes() {
    use identity_link::inbound::rest::Exposure;
    use identity_link::inbound::serve;

    let app = spawn_app().await;
    let public = serve::bind("127.0.0.1:0".parse().unwrap(), Exposure::Public)
        .await
        .unwrap();
    let internal = serve::bind("127.0.0.1:0".parse().unwrap(), Exposure::Internal)
        .await
        .unwrap();
    let (public_url, internal_url) = (
        format!("http://{}", public.addr),
        format!("http://{}", internal.addr),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(
        app.app.clone(),
        app.settings.clone(),
        vec![public, internal],
        async move {
            let _ = stopped.await;
        },
    ));
    let id = Uuid::new_v4();
    serve_identity(&app.kratos, &identity(id, "split@example.com", true), 1).await;
    let body = serde_json::json!({ "kratosIdentityId": id });

    let hidden = app
        .http
        .post(format!("{public_url}/rest/internal/identity/resolve"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
    assert_eq!(json_body(hidden).await["error"], "not_found");
    assert_eq!(
        app.http
            .get(format!("{public_url}/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let served = app
        .http
        .post(format!("{internal_url}/rest/internal/identity/resolve"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(
        app.http
            .get(format!("{internal_url}/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(format!("{internal_url}/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
