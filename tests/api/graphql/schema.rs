//! The committed GraphQL schema is the one the code generates.

use std::path::PathBuf;

use tokio::process::Command;

#[test]
fn the_committed_graphql_schema_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi/schema.graphql");
    let generated = identity_link::graphql::sdl();
    if std::env::var_os("UPDATE_GRAPHQL_SCHEMA").is_some()
        || std::env::var_os("UPDATE_OPENAPI").is_some()
    {
        std::fs::write(&path, &generated).expect("write openapi/schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/schema.graphql is out of date; regenerate it with \
         `cargo run -- graphql-schema > openapi/schema.graphql` (or UPDATE_GRAPHQL_SCHEMA=1 cargo test)"
    );
}

#[tokio::test]
async fn graphql_schema_prints_the_sdl_and_exits_0() {
    let output = Command::new(env!("CARGO_BIN_EXE_identity-link"))
        .arg("graphql-schema")
        .env_remove("DATABASE_URL")
        .env_remove("KRATOS_ADMIN_URL")
        .env_remove("KRATOS_FIXTURE_PATH")
        .output()
        .await
        .expect("run the binary");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        identity_link::graphql::sdl()
    );
}
