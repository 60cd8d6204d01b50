//! What the running binary says and hides: startup warnings about risky
//! exposure, no secret anywhere it writes or answers, and an unexpected error
//! logged once, on one line.

use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::binary::{self, serve, Serving};
use crate::helpers::TestDb;

const KRATOS_TOKEN: &str = "kratos-token-5ecr3t-k";
const ADMIN_TOKEN: &str = "admin-token-5ecr3t-a";
const WEBHOOK_SECRET: &str = "webhook-5ecr3t-w";
const SESSION: &str = "session-5ecr3t-s";
const DB_PASSWORD: &str = "db-pa55w0rd-5ecr3t-d";

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

/// The test database's URL with a password (trust authentication ignores
/// it); the one it has already, if any, is the secret to look for.
fn with_password(url: &str) -> (String, String) {
    let mut parsed = url::Url::parse(url).expect("database URL");
    match parsed.password() {
        Some(password) => (url.to_owned(), password.to_owned()),
        None => {
            parsed.set_password(Some(DB_PASSWORD)).expect("a password");
            (parsed.to_string(), DB_PASSWORD.to_owned())
        }
    }
}

/// A command of the binary with every secret set, debug logs, and a Kratos that fails.
fn with_secrets(args: &[&str], database_url: &str, kratos: &MockServer) -> tokio::process::Command {
    let mut command = binary::command(args);
    command
        .env("DATABASE_URL", database_url)
        .env("KRATOS_ADMIN_URL", kratos.uri())
        .env("KRATOS_PUBLIC_URL", kratos.uri())
        .env("KRATOS_ADMIN_TOKEN", KRATOS_TOKEN)
        .env("KRATOS_RETRIES", "1")
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ADMIN_IDENTITY_IDS", Uuid::new_v4().to_string())
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("WRITE_BACK_EXTERNAL_ID", "true")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "debug");
    command
}

/// Every answer the running service gives to right and wrong credentials.
async fn answers(serving: &Serving) -> Vec<String> {
    let http = reqwest::Client::new();
    let graphql = json!({"query": "{ adminUsers(first: 5) { edges { node { email } } } }"});
    let webhook =
        json!({"identity": {"id": Uuid::new_v4(), "traits": {"email": "a@example.test"}}});
    let requests = [
        http.post(serving.url("/rest/internal/identity/resolve"))
            .json(&json!({"kratosIdentityId": Uuid::new_v4()})),
        http.post(serving.url("/rest/internal/kratos/webhook"))
            .header("X-Webhook-Secret", "wrong")
            .json(&webhook),
        http.post(serving.url("/rest/internal/kratos/webhook"))
            .header("X-Webhook-Secret", WEBHOOK_SECRET)
            .header("Ory-Webhook-Trigger-ID", Uuid::new_v4().to_string())
            .json(&webhook),
        http.post(serving.url("/graphql"))
            .bearer_auth("wrong-token")
            .json(&graphql),
        http.post(serving.url("/graphql"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&graphql),
        http.post(serving.url("/graphql"))
            .header("X-Session-Token", SESSION)
            .json(&graphql),
        http.post(serving.url("/graphql"))
            .header("Cookie", format!("ory_kratos_session={SESSION}"))
            .json(&graphql),
        http.get(serving.url("/health/ready")),
        http.get(serving.url("/health/live")),
        http.get(serving.url("/metrics")),
    ];
    let mut answers = Vec::new();
    for request in requests {
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        answers.push(format!(
            "{status} {headers} {}",
            response.text().await.expect("body")
        ));
    }
    answers
}

#[tokio::test]
async fn no_secret_shows_in_logs_answers_metrics_health_audit_or_help() {
    let db = TestDb::create().await;
    let (database_url, db_password) = with_password(&db.url);
    let kratos = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": {"code": 500, "status": "Internal Server Error", "message": "down"}
        })))
        .mount(&kratos)
        .await;
    let secrets = [
        KRATOS_TOKEN,
        ADMIN_TOKEN,
        WEBHOOK_SECRET,
        SESSION,
        db_password.as_str(),
    ];

    let serving = serve(with_secrets(&["serve"], &database_url, &kratos)).await;
    let answers = answers(&serving).await;
    let (code, log) = serving.stop().await;
    assert_eq!(code, Some(0), "{log}");

    let mut written = vec![log.clone()];
    written.extend(answers);
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["reconcile"],
        &["migrate", "--status"],
    ] {
        let output = binary::output(with_secrets(args, &database_url, &kratos)).await;
        written.push(binary::stdout(&output));
        written.push(binary::stderr(&output));
    }
    let audit: Vec<String> = db
        .client()
        .await
        .query("SELECT row_to_json(a)::text FROM identity_audit a", &[])
        .await
        .expect("audit rows")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!audit.is_empty(), "the calls were audited");
    written.extend(audit);

    // The run did use every secret: debug logs on, the token sent to Kratos.
    assert!(log.contains(r#""level":"DEBUG""#), "{log}");
    let sent = kratos.received_requests().await.expect("recorded requests");
    assert!(sent.iter().any(|request| request
        .headers
        .get("authorization")
        .is_some_and(|value| value.as_bytes() == format!("Bearer {KRATOS_TOKEN}").as_bytes())));
    for text in &written {
        for secret in secrets {
            assert!(!text.contains(secret), "`{secret}` shows in: {text}");
        }
    }
}

#[tokio::test]
async fn an_unexpected_error_is_logged_once_on_one_short_line_without_a_backtrace() {
    let db = TestDb::create().await;
    let mut command = binary::command(&["serve"]);
    command
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_BACKTRACE", "1");
    let serving = serve(command).await;
    // A schema the service does not expect: every user query fails.
    db.client()
        .await
        .batch_execute("ALTER TABLE users RENAME COLUMN avatar_url TO avatar_gone")
        .await
        .expect("break the schema");
    let correlation_id = Uuid::new_v4();
    let response = reqwest::Client::new()
        .post(serving.url("/rest/internal/identity/resolve"))
        .header("X-Correlation-Id", correlation_id.to_string())
        .json(&json!({"kratosIdentityId": Uuid::new_v4()}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 500);
    let (_, log) = serving.stop().await;

    let errors: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(r#""level":"ERROR""#))
        .filter(|line| line.contains(&correlation_id.to_string()))
        .collect();
    assert_eq!(errors.len(), 1, "{log}");
    let line = errors[0];
    assert!(line.contains("avatar_url"), "the cause is named: {line}");
    assert!(
        !line.contains("backtrace") && !line.contains("\\n"),
        "{line}"
    );
    assert!(line.len() < 2048, "{} bytes: {line}", line.len());
}
