//! A database network that silently drops everything (no reset, no answer):
//! requests fail fast with 503 and recover once it heals, without a restart.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::helpers::kratos::serve_health;
use crate::helpers::{json_body, seed_user, spawn_app_behind_proxy};

/// Generous bound around the 5 s database timeout, for a loaded machine.
const BLACK_HOLE_BOUND: Duration = Duration::from_secs(12);

#[tokio::test]
async fn a_black_holed_database_is_503_within_the_timeout_and_recovers_when_healed() {
    let (app, proxy) = spawn_app_behind_proxy().await;
    serve_health(&app.kratos).await;
    let auth_id = Uuid::new_v4();
    seed_user(&app, "blackhole@example.com", Some(auth_id)).await;
    assert_eq!(app.resolve(auth_id).await.status(), 200);
    assert_eq!(app.get("/health/ready").await.status(), 200);

    proxy.black_hole();
    let started = Instant::now();
    let response = tokio::time::timeout(BLACK_HOLE_BOUND * 2, app.resolve(auth_id))
        .await
        .expect("resolve answers while the database is black-holed");
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["error"], "database_unavailable", "{body}");
    assert_eq!(body["retryable"], true);
    assert!(took < BLACK_HOLE_BOUND, "resolve took {took:?}");

    let started = Instant::now();
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    assert_ne!(json_body(ready).await["checks"]["database"], "ok");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readiness answers within its own bound"
    );

    proxy.heal();
    let healed = Instant::now();
    let mut status = 0;
    while healed.elapsed() < Duration::from_secs(10) {
        status = app.resolve(auth_id).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "resolve works again once the network heals");
    assert_eq!(app.get("/health/ready").await.status(), 200);
}
