//! The committed OpenAPI document is the one the code generates.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let generated = format!("{}\n", identity_link::inbound::rest::openapi_json());
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; regenerate it with \
         `cargo run -- openapi > openapi/openapi.json` (or UPDATE_OPENAPI=1 cargo test)"
    );
}

#[test]
fn the_document_describes_the_resolve_endpoint_and_its_errors() {
    let document: serde_json::Value =
        serde_json::from_str(&identity_link::inbound::rest::openapi_json()).expect("JSON");
    let resolve = &document["paths"]["/rest/internal/identity/resolve"]["post"];
    for status in ["200", "400", "404", "409", "413", "422", "503"] {
        assert!(resolve["responses"][status].is_object(), "missing {status}");
    }
    assert!(document["paths"]["/health/ready"]["get"].is_object());
}
