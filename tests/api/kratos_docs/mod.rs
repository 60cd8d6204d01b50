//! docs/kratos.md and docs/kratos/ stay true: the recommended kratos.yml is
//! checked hook by hook against Kratos's behaviour (`config`), and each jsonnet
//! body is evaluated the way Kratos does and posted to the webhook through the
//! URL the configuration gives its hook (`bodies`).

mod bodies;
mod config;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{json, Value};

use config::{blocking, bodies, parse, problems, shipped, web_hooks, with_prechecks};

/// The secret the configuration carries (to be replaced by the operator).
pub const SNIPPET_SECRET: &str = "change-me";

pub fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn docs_kratos_md_quotes_the_recommended_kratos_yml_as_shipped() {
    let text = std::fs::read_to_string(docs().join("kratos.md")).expect("docs/kratos.md");
    let start = text.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + text[start..].find("```").expect("the block's end");
    assert_eq!(
        &text[start..end],
        shipped(),
        "docs/kratos.md quotes docs/kratos/kratos.yml word for word"
    );
}

#[test]
fn as_shipped_kratos_waits_for_no_hook_and_every_hook_sends_its_own_body() {
    let config = parse(&shipped());
    assert_eq!(problems(&config), Vec::<String>::new());
    assert_eq!(
        blocking(&config),
        BTreeSet::new(),
        "sign-in never waits on identity-link"
    );
    assert_eq!(
        bodies(&config),
        set(&[
            "login.jsonnet",
            "registration.jsonnet",
            "settings.jsonnet",
            "verification.jsonnet"
        ])
    );
    let registration_methods = web_hooks(&config)
        .iter()
        .filter(|hook| hook.hook.as_deref() == Some("registration"))
        .count();
    assert_eq!(
        registration_methods, 5,
        "password, oidc, code, passkey and webauthn"
    );
}

#[test]
fn with_its_optional_prechecks_enabled_kratos_waits_for_those_two_only() {
    let config = parse(&with_prechecks(&shipped()));
    assert_eq!(problems(&config), Vec::<String>::new());
    assert_eq!(
        blocking(&config),
        set(&["registration-precheck", "settings-precheck"])
    );
    let shipped_bodies: BTreeSet<String> = std::fs::read_dir(docs().join("kratos"))
        .expect("docs/kratos")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".jsonnet"))
        .collect();
    assert_eq!(
        bodies(&config),
        shipped_bodies,
        "every body file is used, and only those"
    );
}

/// The recommended configuration with pre-checks, changed by `edit`.
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut config = parse(&with_prechecks(&shipped()));
    edit(&mut config);
    config
}

fn flows(config: &mut Value) -> &mut Value {
    &mut config["selfservice"]["flows"]
}

fn assert_found(config: &Value, expected: &str) {
    let found = problems(config);
    assert!(
        found.iter().any(|problem| problem.contains(expected)),
        "expected a problem containing {expected:?}, found {found:#?}"
    );
}

#[test]
fn the_check_fails_on_a_hook_kratos_would_wait_for_or_could_not_run() {
    let login =
        |config: &mut Value| -> Value { flows(config)["login"]["after"]["hooks"][0].clone() };

    let waited_for = edited(|config| {
        flows(config)["login"]["after"]["hooks"][0]["config"]["response"] = json!({});
    });
    assert_found(&waited_for, "`login` is not response.ignore: true");

    let ignore_and_parse = edited(|config| {
        flows(config)["verification"]["after"]["hooks"][0]["config"]["response"]["parse"] =
            json!(true);
    });
    assert_found(&ignore_and_parse, "ignore cannot be combined with parse");

    let precheck_in_background = edited(|config| {
        flows(config)["settings"]["after"]["profile"]["hooks"][1]["config"]["response"] =
            json!({"ignore": true});
    });
    assert_found(
        &precheck_in_background,
        "`settings-precheck` runs before saving only with response.parse: true",
    );

    let precheck_in_the_global_list = edited(|config| {
        let precheck = flows(config)["settings"]["after"]["profile"]["hooks"][1].clone();
        flows(config)["settings"]["after"]["hooks"] = json!([precheck]);
    });
    assert_found(
        &precheck_in_the_global_list,
        "Kratos does not run the `settings-precheck` hook from here",
    );

    let unnamed = edited(|config| {
        flows(config)["login"]["after"]["hooks"][0]["config"]["url"] =
            json!("http://identity-link:8080/rest/internal/kratos/webhook");
    });
    assert_found(&unnamed, "the url names no `hook`");

    let wrong_body = edited(|config| {
        flows(config)["login"]["after"]["hooks"][0]["config"]["url"] =
            json!("http://identity-link:8080/rest/internal/kratos/webhook?hook=logout");
    });
    assert_found(&wrong_body, "docs/kratos/logout.jsonnet does not exist");

    let misspelt = edited(|config| {
        let mut hook = login(config);
        hook["config"]["respone"] = json!({"ignore": true});
        flows(config)["login"]["after"]["hooks"][0] = hook;
    });
    assert_found(
        &misspelt,
        "`respone` is not a web_hook setting Kratos knows",
    );

    let session_first = edited(|config| {
        let list = flows(config)["registration"]["after"]["code"]["hooks"]
            .as_array_mut()
            .expect("the code method's hooks");
        list.rotate_right(1);
    });
    assert_found(
        &session_first,
        "registration.after.code: the session hook is not last",
    );
}
