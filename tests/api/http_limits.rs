//! The HTTP server's limits, tried with raw sockets: stalled clients are cut
//! off within the configured timeouts and never delay anyone else.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use uuid::Uuid;

use crate::helpers::binary::command;
use crate::helpers::{seed_user, spawn_app_with, Options};

const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(2000);
/// Slack for a loaded machine on top of a configured timeout.
const SLACK: Duration = Duration::from_secs(3);

/// Sends `bytes`, says so on `sent`, and reads until the server closes;
/// returns what it answered and when the connection was closed.
async fn stall(addr: SocketAddr, bytes: Vec<u8>, sent: UnboundedSender<()>) -> (String, Instant) {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    socket
        .write_all(&bytes)
        .await
        .expect("send the partial request");
    let _ = sent.send(());
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), socket.read_to_end(&mut answer)).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        Instant::now(),
    )
}

fn half_request_line() -> Vec<u8> {
    b"POST /rest/internal/identity/res".to_vec()
}

fn half_body() -> Vec<u8> {
    let body = format!("{{\"kratosIdentityId\": \"{}\"}}", Uuid::new_v4());
    let head = format!(
        "POST /rest/internal/identity/resolve HTTP/1.1\r\nhost: test\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body.as_bytes()[..body.len() / 2]);
    bytes
}

#[tokio::test]
async fn two_hundred_stalled_connections_are_closed_in_time_and_delay_no_one() {
    let app = spawn_app_with(Options {
        tweak: |settings| {
            settings.http_header_timeout = HEADER_TIMEOUT;
            settings.http_request_timeout = REQUEST_TIMEOUT;
        },
        ..Options::default()
    })
    .await;
    let auth_id = Uuid::new_v4();
    seed_user(&app, "steady@example.com", Some(auth_id)).await;
    let addr: SocketAddr = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("the app's address");

    let opened = Instant::now();
    let (sent, mut stalled) = unbounded_channel();
    let heads: Vec<_> = (0..100)
        .map(|_| tokio::spawn(stall(addr, half_request_line(), sent.clone())))
        .collect();
    let bodies: Vec<_> = (0..100)
        .map(|_| tokio::spawn(stall(addr, half_body(), sent.clone())))
        .collect();
    drop(sent);
    let in_place = tokio::time::Instant::now() + Duration::from_secs(10);
    for stalled_so_far in 0..200 {
        let one_more = tokio::time::timeout_at(in_place, stalled.recv()).await;
        assert!(
            matches!(one_more, Ok(Some(()))),
            "only {stalled_so_far} of the 200 clients connected and sent their part"
        );
    }

    let started = Instant::now();
    let response = app.resolve(auth_id).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert!(
        took < Duration::from_secs(1),
        "a normal resolve beside 200 stalled clients took {took:?}"
    );

    for head in heads {
        let (answer, closed) = head.await.expect("stalled client");
        let after = closed - opened;
        assert!(
            after >= HEADER_TIMEOUT && after < HEADER_TIMEOUT + SLACK,
            "a half request line was closed after {after:?}"
        );
        assert!(
            answer.is_empty(),
            "no answer to half a request line: {answer}"
        );
    }
    for body in bodies {
        let (answer, closed) = body.await.expect("stalled client");
        let after = closed - opened;
        assert!(
            after >= REQUEST_TIMEOUT && after < REQUEST_TIMEOUT + SLACK,
            "a half body was cut off after {after:?}"
        );
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
        assert!(answer.contains("\"retryable\":true"), "{answer}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_timeout() {
    let app = spawn_app_with(Options {
        tweak: |settings| settings.http_header_timeout = HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    let addr = app.address.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    let request = b"GET /health/live HTTP/1.1\r\nhost: test\r\n\r\n";
    socket.write_all(request).await.expect("first request");
    let mut buffer = [0u8; 4096];
    let read = socket.read(&mut buffer).await.expect("first answer");
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));

    // Idling past the header timeout is what is tried here.
    tokio::time::sleep(HEADER_TIMEOUT * 2).await;
    socket
        .write_all(request)
        .await
        .expect("the kept-alive connection is still open");
    let read = socket.read(&mut buffer).await.expect("second answer");
    assert!(
        String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"),
        "idle keep-alive lasts longer than the header timeout"
    );
}

#[tokio::test]
async fn with_the_defaults_a_connection_that_sends_no_headers_is_closed_after_about_ten_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _server = command(&["--listen", &listen, "serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut socket = loop {
        match TcpStream::connect(&listen).await {
            Ok(socket) => break socket,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("serve never listened on {listen}: {error}"),
        }
    };
    let opened = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .expect("read until closed");
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_secs(9) && after < Duration::from_secs(13),
        "closed after {after:?}"
    );
}
