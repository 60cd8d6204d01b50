//! The committed GraphQL schema is the one the code generates.

use std::path::PathBuf;

#[test]
fn the_committed_graphql_schema_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi/schema.graphql");
    let generated = identity_link::inbound::graphql::sdl();
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
    let output = crate::helpers::binary::run(&["graphql-schema"]).await;
    assert!(output.status.success());
    assert_eq!(
        crate::helpers::binary::stdout(&output),
        identity_link::inbound::graphql::sdl()
    );
}
