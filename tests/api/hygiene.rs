//! What the running binary says at startup about risky exposure.

use crate::helpers::binary::{self, serve};

const WEBHOOK_SECRET: &str = "webhook-5ecr3t-w";

/// Lines logged at WARN.
fn warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains(r#""level":"WARN""#))
        .collect()
}

#[tokio::test]
async fn serve_warns_about_a_webhook_without_secret_and_internal_endpoints_on_a_public_address() {
    let mut command = binary::command(&["serve"]);
    command.env("LISTEN_ADDR", "0.0.0.0:0");
    let (code, log) = serve(command).await.stop().await;
    assert_eq!(code, Some(0), "{log}");
    let warned = warnings(&log);
    assert!(
        warned
            .iter()
            .any(|line| line.contains("WEBHOOK_SECRET is unset")),
        "{log}"
    );
    assert!(
        warned
            .iter()
            .any(|line| line.contains("INTERNAL_LISTEN_ADDR")),
        "{log}"
    );

    let mut command = binary::command(&["serve"]);
    command
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET);
    let (code, log) = serve(command).await.stop().await;
    assert_eq!(code, Some(0), "{log}");
    let warned = warnings(&log);
    assert!(
        !warned.iter().any(|line| line.contains("WEBHOOK_SECRET")),
        "{log}"
    );
    assert!(
        !warned
            .iter()
            .any(|line| line.contains("INTERNAL_LISTEN_ADDR")),
        "{log}"
    );
}
