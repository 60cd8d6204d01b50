//! `identity-link health`: the probe container health checks run.

use crate::helpers::binary::{command, output, run, stderr, stdout};
use crate::helpers::kratos::serve_health;
use crate::helpers::spawn_app;

#[tokio::test]
async fn health_exits_0_when_the_server_answers_ready() {
    let app = spawn_app().await;
    serve_health(&app.kratos).await;

    let url = format!("{}/health/ready", app.address);
    let ready = run(&["health", "--url", &url]).await;

    assert_eq!(ready.status.code(), Some(0), "{}", stderr(&ready));
    assert!(stdout(&ready).contains("ready"), "{}", stdout(&ready));
}

#[tokio::test]
async fn health_accepts_the_base_url_of_the_server() {
    let app = spawn_app().await;
    serve_health(&app.kratos).await;

    let ready = run(&["health", "--url", &app.address]).await;

    assert_eq!(ready.status.code(), Some(0), "{}", stderr(&ready));
    assert!(
        stdout(&ready).contains("/health/ready"),
        "{}",
        stdout(&ready)
    );
}

#[tokio::test]
async fn health_exits_1_naming_the_failing_check_when_the_server_is_not_ready() {
    let app = spawn_app().await;

    let not_ready = run(&["health", "--url", &app.address]).await;

    assert_eq!(not_ready.status.code(), Some(1), "{}", stderr(&not_ready));
    let said = stderr(&not_ready);
    assert!(said.contains("503"), "{said}");
    assert!(said.contains("kratos"), "{said}");
}

#[tokio::test]
async fn health_exits_1_saying_why_when_nothing_answers() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = closed.local_addr().expect("its address");
    drop(closed);

    let down = run(&["health", "--url", &format!("http://{address}")]).await;

    assert_eq!(down.status.code(), Some(1), "{}", stderr(&down));
    assert!(
        stderr(&down).contains(&address.to_string()),
        "{}",
        stderr(&down)
    );
    assert!(stdout(&down).is_empty(), "{}", stdout(&down));
}

#[tokio::test]
async fn health_asks_the_listen_address_on_loopback_when_no_url_is_given() {
    let app = spawn_app().await;
    serve_health(&app.kratos).await;
    let port = app.address.rsplit(':').next().expect("a port");

    let mut probe = command(&["health"]);
    probe.env("LISTEN_ADDR", format!("0.0.0.0:{port}"));
    let ready = output(probe).await;

    assert_eq!(ready.status.code(), Some(0), "{}", stderr(&ready));
    assert!(
        stdout(&ready).contains(&format!("http://127.0.0.1:{port}/health/ready")),
        "{}",
        stdout(&ready)
    );
}

#[tokio::test]
async fn health_with_a_url_that_is_not_http_exits_2() {
    for url in ["not a url", "ftp://127.0.0.1:8080/health/ready"] {
        let bad = run(&["health", "--url", url]).await;

        assert_eq!(bad.status.code(), Some(2), "{url}: {}", stderr(&bad));
        assert!(stderr(&bad).contains("--url"), "{url}: {}", stderr(&bad));
    }
}
