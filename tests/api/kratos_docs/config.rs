//! docs/kratos/kratos.yml, the recommended configuration, checked against what
//! Kratos does with it (its `selfservice/hook/web_hook.go` and the hook lists
//! of its configuration): a hook without `response.ignore: true` is waited for,
//! and fails the flow when identity-link is down; only the two optional
//! pre-checks may do that.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{docs, SNIPPET_SECRET};

const BODY_PREFIX: &str = "file:///etc/config/kratos/identity-link/";
const WEBHOOK_PATH: &str = "/rest/internal/kratos/webhook";
/// The keys Kratos's configuration schema allows in a `web_hook`'s `config`.
const WEB_HOOK_KEYS: [&str; 9] = [
    "id",
    "response",
    "url",
    "method",
    "headers",
    "body",
    "can_interrupt",
    "emit_analytics_event",
    "auth",
];
const PRECHECKS: [&str; 2] = ["registration-precheck", "settings-precheck"];

/// The recommended configuration, as shipped (its pre-checks commented out).
pub fn shipped() -> String {
    std::fs::read_to_string(docs().join("kratos").join("kratos.yml"))
        .expect("docs/kratos/kratos.yml")
}

/// `text` with its commented YAML lines enabled, as an operator does by removing
/// the leading `# ` (prose comments never continue with `- ` or two spaces).
pub fn with_prechecks(text: &str) -> String {
    text.lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            match line[indent..].strip_prefix("# ") {
                Some(yaml) if yaml.starts_with("- ") || yaml.starts_with("  ") => {
                    format!("{}{yaml}\n", &line[..indent])
                }
                _ => format!("{line}\n"),
            }
        })
        .collect()
}

pub fn parse(text: &str) -> Value {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).expect("kratos.yml is YAML");
    serde_json::to_value(yaml).expect("kratos.yml as JSON")
}

/// One `web_hook` of a configuration: where it is, its config, and the hook
/// named by its URL's `hook` parameter.
pub struct WebHook {
    pub at: String,
    pub config: Value,
    pub hook: Option<String>,
}

/// Every `web_hook`, aliases resolved.
pub fn web_hooks(config: &Value) -> Vec<WebHook> {
    let mut found = Vec::new();
    collect(config, "", &mut found);
    found
}

fn collect(node: &Value, at: &str, found: &mut Vec<WebHook>) {
    match node {
        Value::Object(map) => {
            if map.get("hook").and_then(Value::as_str) == Some("web_hook") {
                let config = map.get("config").cloned().unwrap_or(Value::Null);
                let hook = config["url"]
                    .as_str()
                    .and_then(|url| url::Url::parse(url).ok())
                    .and_then(|url| {
                        url.query_pairs()
                            .find(|(name, _)| name == "hook")
                            .map(|(_, value)| value.into_owned())
                    });
                found.push(WebHook {
                    at: at.to_owned(),
                    config,
                    hook,
                });
            }
            for (key, value) in map {
                collect(value, &format!("{at}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                collect(item, &format!("{at}[{n}]"), found);
            }
        }
        _ => {}
    }
}

/// The hooks Kratos waits for (every one that does not ignore its response).
pub fn blocking(config: &Value) -> BTreeSet<String> {
    web_hooks(config)
        .into_iter()
        .filter(|hook| hook.config["response"]["ignore"] != true)
        .map(|hook| hook.hook.unwrap_or_default())
        .collect()
}

/// The jsonnet files the hooks send.
pub fn bodies(config: &Value) -> BTreeSet<String> {
    web_hooks(config)
        .iter()
        .filter_map(|hook| hook.config["body"].as_str()?.strip_prefix(BODY_PREFIX))
        .map(str::to_owned)
        .collect()
}

/// Where Kratos reads each hook from: registration and settings hooks that parse
/// their response run before saving only from a method's list.
fn placed_right(hook: &str, at: &str) -> bool {
    let within = |prefix: &str| at.starts_with(prefix);
    match hook {
        "registration" | "registration-precheck" => {
            within(".selfservice.flows.registration.after.")
                && !within(".selfservice.flows.registration.after.hooks")
        }
        "login" => within(".selfservice.flows.login.after."),
        "verification" => within(".selfservice.flows.verification.after.hooks["),
        "settings" | "settings-precheck" => {
            within(".selfservice.flows.settings.after.profile.hooks[")
        }
        _ => false,
    }
}

/// Everything wrong with a configuration's identity-link hooks (empty: nothing).
pub fn problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let hooks = web_hooks(config);
    if hooks.is_empty() {
        problems.push("no web_hook at all".to_owned());
    }
    for WebHook { at, config, hook } in &hooks {
        let mut problem = |text: String| problems.push(format!("{at}: {text}"));
        for key in config.as_object().into_iter().flat_map(|map| map.keys()) {
            if !WEB_HOOK_KEYS.contains(&key.as_str()) {
                problem(format!("`{key}` is not a web_hook setting Kratos knows"));
            }
        }
        for key in config["response"]
            .as_object()
            .into_iter()
            .flat_map(|map| map.keys())
        {
            if key != "ignore" && key != "parse" {
                problem(format!("`response.{key}` is not a setting Kratos knows"));
            }
        }
        let url = config["url"]
            .as_str()
            .and_then(|url| url::Url::parse(url).ok());
        if url.as_ref().map(url::Url::path) != Some(WEBHOOK_PATH) {
            problem(format!("the url is not identity-link's {WEBHOOK_PATH}"));
        }
        if config["method"] != "POST" {
            problem("the method is not POST".to_owned());
        }
        let expected_auth = json!({"type": "api_key", "config": {"name": "X-Webhook-Secret", "value": SNIPPET_SECRET, "in": "header"}});
        if config["auth"] != expected_auth {
            problem("the auth is not the X-Webhook-Secret api_key".to_owned());
        }
        let Some(hook) = hook else {
            problem("the url names no `hook`".to_owned());
            continue;
        };
        let file = format!("{hook}.jsonnet");
        if config["body"].as_str() != Some(&format!("{BODY_PREFIX}{file}")) {
            problem(format!("the body is not {BODY_PREFIX}{file}"));
        }
        if !docs().join("kratos").join(&file).is_file() {
            problem(format!("docs/kratos/{file} does not exist"));
        }
        if !placed_right(hook, at) {
            problem(format!("Kratos does not run the `{hook}` hook from here"));
        }
        if config.get("can_interrupt").is_some() {
            problem("can_interrupt is deprecated (response.parse replaces it)".to_owned());
        }
        let (ignore, parse) = (
            config["response"]["ignore"] == true,
            config["response"]["parse"] == true,
        );
        if ignore && parse {
            problem("response.ignore cannot be combined with parse".to_owned());
        } else if PRECHECKS.contains(&hook.as_str()) && !parse {
            problem(format!(
                "`{hook}` runs before saving only with response.parse: true"
            ));
        } else if !PRECHECKS.contains(&hook.as_str()) && !ignore {
            problem(format!(
                "`{hook}` is not response.ignore: true, so Kratos waits for it and fails the flow while identity-link is down"
            ));
        }
    }
    let registration = &config["selfservice"]["flows"]["registration"]["after"];
    for (method, list) in registration.as_object().into_iter().flatten() {
        let Some(list) = list["hooks"].as_array() else {
            continue;
        };
        if list.last().map(|hook| &hook["hook"]) != Some(&json!("session")) {
            problems.push(format!(
                "registration.after.{method}: the session hook is not last, so hooks after it never run"
            ));
        }
    }
    problems
}
