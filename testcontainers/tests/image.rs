//! Starts the local `identity-link` image the way a caller's suite would.

use identity_link_testcontainers::{base_url, IdentityLink};
use serde_json::{json, Value};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, ImageExt};
use testcontainers_modules::postgres::Postgres;
use uuid::Uuid;

/// Ada, a demo identity bundled in the image: active, email verified.
const ADA: &str = "8f1b7e0a-3c1d-4b8e-9a51-0d6f2b9c7e01";

/// The image must have been built (`docker build -t identity-link .`); a
/// missing image fails here, saying so, rather than as a failed pull.
fn require_the_image() {
    let inspected = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .arg(format!("{}:{}", IdentityLink::NAME, IdentityLink::TAG))
        .output();
    match inspected {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the identity-link image is missing: build it with `docker build -t identity-link .` \
             (or scripts/ci-image.sh): {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("these tests need Docker (the `docker` command): {error}"),
    }
}

async fn start(image: impl Into<ContainerRequest<IdentityLink>>) -> ContainerAsync<IdentityLink> {
    require_the_image();
    image
        .into()
        .with_label("identity-link-tests", "true")
        .start()
        .await
        .expect("start the identity-link container")
}

async fn resolve(base: &str, id: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/rest/internal/identity/resolve"))
        .header("X-Caller", "testcontainers")
        .json(&json!({ "kratosIdentityId": id }))
        .send()
        .await
        .expect("resolve request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

fn identity(id: Uuid, email: &str) -> Value {
    json!({
        "id": id,
        "schema_id": "default",
        "schema_url": "http://kratos.test/schemas/ZGVmYXVsdA",
        "state": "active",
        "traits": {"email": email, "name": {"first": "Test", "last": "Caller"}},
        "verifiable_addresses": [{
            "id": Uuid::new_v4(), "value": email, "verified": true,
            "via": "email", "status": "completed"
        }],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    })
}

#[tokio::test]
async fn the_default_image_resolves_a_demo_identity() {
    let container = start(IdentityLink::default()).await;
    let base = base_url(&container).await.expect("the base URL");

    let (status, body) = resolve(&base, ADA).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], true, "{body}");
    let (again, same) = resolve(&base, ADA).await;
    assert_eq!(again, 200, "{same}");
    assert_eq!(same["userId"], body["userId"], "{same}");
    assert_eq!(same["created"], false, "{same}");
}

#[tokio::test]
async fn a_fixture_of_identities_replaces_the_demo_ones() {
    let mine = Uuid::new_v4();
    let fixture = json!([identity(mine, "caller@example.com")]);
    let container = start(IdentityLink::default().with_identities(&fixture)).await;
    let base = base_url(&container).await.expect("the base URL");

    let (status, body) = resolve(&base, &mine.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], true, "{body}");

    let (demo, refused) = resolve(&base, ADA).await;
    assert_eq!(demo, 404, "{refused}");
    assert_eq!(refused["error"], "identity_not_found", "{refused}");
}

#[tokio::test]
async fn with_a_database_url_a_second_container_finds_the_users_of_the_first() {
    // Both containers on one network of their own, where Postgres has an address.
    let network = format!("identity-link-tests-{}", Uuid::new_v4());
    let postgres = Postgres::default()
        .with_tag("16-alpine")
        .with_network(&network)
        .with_label("identity-link-tests", "true")
        .start()
        .await
        .expect("start a Postgres container");
    let address = postgres
        .get_bridge_ip_address()
        .await
        .expect("Postgres's address on the network");
    let database = format!("postgres://postgres:postgres@{address}:5432/postgres");

    let on_the_database = || {
        IdentityLink::default()
            .with_database_url(&database)
            .with_network(&network)
    };

    let first = start(on_the_database()).await;
    let (status, created) = resolve(&base_url(&first).await.expect("base URL"), ADA).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["created"], true, "{created}");
    first.stop().await.expect("stop the first container");

    let second = start(on_the_database()).await;
    let (status, found) = resolve(&base_url(&second).await.expect("base URL"), ADA).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["created"], false, "{found}");
    assert_eq!(found["userId"], created["userId"], "{found}");
}

#[tokio::test]
async fn any_environment_variable_reaches_the_service() {
    let container =
        start(IdentityLink::default().with_env("REQUIRE_VERIFIED_EMAIL", "false")).await;
    let base = base_url(&container).await.expect("the base URL");

    // Alan's email is not verified: refused by default, provisioned when not required.
    let (status, body) = resolve(&base, "8f1b7e0a-3c1d-4b8e-9a51-0d6f2b9c7e03").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], true, "{body}");
}
