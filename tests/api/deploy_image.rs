//! The Dockerfile and the compose stack, read as files. (Building and running
//! them is scripts/ci-image.sh's.)

use std::path::Path;

use serde_json::Value;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {relative}: {error}"))
}

/// The `[workspace] members` list of the root manifest.
fn workspace_members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|line| line.trim_start().starts_with("members"))
        .expect("a members line");
    let list = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("members = [...]");
    list.split(',')
        .map(|member| member.trim().trim_matches('"').to_owned())
        .filter(|member| !member.is_empty())
        .collect()
}

#[test]
fn the_dependency_layer_copies_the_manifest_of_every_workspace_member() {
    let dockerfile = read("Dockerfile");
    let members = workspace_members();
    assert!(members.len() >= 4, "{members:?}");
    for member in members.iter().filter(|member| member.as_str() != ".") {
        assert!(
            dockerfile.contains(&format!("COPY {member}/Cargo.toml {member}/")),
            "the dependency-only build needs {member}/Cargo.toml"
        );
        assert!(
            dockerfile.contains(&format!("{member}/src/lib.rs")),
            "the dependency-only build needs a stub {member}/src/lib.rs"
        );
    }
}

#[test]
fn the_build_context_holds_the_sources_and_no_secrets_or_build_output() {
    let ignore = read(".dockerignore");
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"*"), "everything is left out first");
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "src/",
        "migrations/",
        "benches/",
    ] {
        assert!(rules.contains(&format!("!{needed}").as_str()), "{needed}");
    }
    for member in workspace_members().iter().filter(|m| m.as_str() != ".") {
        assert!(rules.contains(&format!("!{member}/").as_str()), "{member}");
    }
    assert!(!rules.iter().any(|rule| rule.contains(".env")));
}

#[test]
fn the_image_runs_the_server_unprivileged_and_checks_its_own_health() {
    let dockerfile = read("Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    for expected in [
        "FROM gcr.io/distroless/cc-debian12:nonroot AS runtime-base",
        "USER 65532:65532",
        "ENV LISTEN_ADDR=0.0.0.0:8080",
        "CMD [\"identity-link\", \"health\"]",
        "ENTRYPOINT [\"identity-link\"]",
        "CMD [\"serve\"]",
    ] {
        assert!(lines.contains(&expected), "missing: {expected}");
    }
    let dist_builds = lines
        .iter()
        .filter(|line| line.contains("cargo build --profile dist --locked --bin identity-link"))
        .count();
    assert_eq!(dist_builds, 2, "the dependency layer, then the project");
    assert_eq!(
        lines.last().copied(),
        Some("COPY --from=build /out/identity-link /usr/local/bin/identity-link"),
        "the last stage, the default target, is the runtime"
    );
}

#[test]
fn compose_runs_the_service_on_a_durable_postgres_on_loopback() {
    let compose: Value = serde_yaml::from_str(&read("deploy/compose.yaml")).expect("YAML");
    let postgres = &compose["services"]["postgres"];
    assert_eq!(postgres["image"], "postgres:16-alpine");
    assert!(postgres["healthcheck"]["test"].is_array());
    let volume = postgres["volumes"][0].as_str().expect("a volume");
    let (name, target) = volume.split_once(':').expect("name:path");
    assert_eq!(target, "/var/lib/postgresql/data");
    assert!(compose["volumes"].get(name).is_some(), "a named volume");

    let service = &compose["services"]["identity-link"];
    assert_eq!(
        service["build"]["context"], "..",
        "built from the Dockerfile"
    );
    assert_eq!(
        service["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    let url = service["environment"]["DATABASE_URL"]
        .as_str()
        .expect("DATABASE_URL");
    assert!(
        url.starts_with("postgres://") && url.contains("@postgres:5432/"),
        "{url}"
    );
    let port = service["ports"][0].as_str().expect("a published port");
    assert!(port.starts_with("127.0.0.1:"), "loopback only: {port}");
    assert!(port.ends_with(":8080"), "{port}");
    assert!(
        service["command"].is_null(),
        "the image's `serve`, which migrates on start"
    );
}
