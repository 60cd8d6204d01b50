//! The Kubernetes base in `deploy/kubernetes`: what it promises about isolation,
//! privileges and stopping. (Schema validation of `kubectl kustomize`'s output
//! is scripts/ci-image.sh's; these tests read the resources the kustomization
//! lists, so they need no kubectl.)

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

fn base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()))
        })
        .collect()
}

/// Every object the kustomization lists.
fn objects() -> Vec<Value> {
    let kustomization = &documents(&base().join("kustomization.yaml"))[0];
    resources(kustomization)
        .iter()
        .flat_map(|file| documents(&base().join(file)))
        .collect()
}

fn resources(kustomization: &Value) -> Vec<String> {
    kustomization["resources"]
        .as_array()
        .expect("a resources list")
        .iter()
        .map(|file| file.as_str().expect("a file name").to_owned())
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The pod template of a Deployment, Job or CronJob.
fn pod_spec(workload: &Value) -> &Value {
    match workload["kind"].as_str() {
        Some("CronJob") => &workload["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &workload["spec"]["template"]["spec"],
    }
}

fn settings(objects: &[Value]) -> &Value {
    &object(objects, "ConfigMap", "identity-link")["data"]
}

fn port_of(address: &Value) -> u64 {
    address
        .as_str()
        .and_then(|address| address.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not an address: {address}"))
}

#[test]
fn the_kustomization_lists_every_manifest_of_the_directory() {
    let listed = resources(&documents(&base().join("kustomization.yaml"))[0]);
    let mut present: Vec<String> = std::fs::read_dir(base())
        .expect("deploy/kubernetes")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    present.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, present);
}

#[test]
fn the_internal_port_admits_only_labelled_callers_and_kratos() {
    let objects = objects();
    let policy = object(&objects, "NetworkPolicy", "identity-link");
    let deployment = object(&objects, "Deployment", "identity-link");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"],
        "the policy selects the server pods"
    );
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );

    let rules = policy["spec"]["ingress"].as_array().expect("ingress rules");
    let admits_internal = |rule: &&Value| {
        rule["ports"]
            .as_array()
            .expect("every rule names its ports: a rule without ports admits all of them")
            .iter()
            .any(|port| port["port"] == "internal" || port["port"] == 8081)
    };
    let internal: Vec<&Value> = rules.iter().filter(admits_internal).collect();
    assert_eq!(internal.len(), 1, "one rule opens the internal port");
    let peers = internal[0]["from"].as_array().expect("restricted peers");
    let labels: Vec<&Value> = peers
        .iter()
        .map(|peer| &peer["podSelector"]["matchLabels"])
        .collect();
    assert_eq!(
        labels,
        [
            &serde_json::json!({"identity-link/caller": "true"}),
            &serde_json::json!({"app.kubernetes.io/name": "kratos"}),
        ]
    );
    for peer in peers {
        assert!(peer.get("ipBlock").is_none(), "no address range: {peer}");
    }
    let container = &pod_spec(deployment)["containers"][0];
    let internal_port = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|port| port["name"] == "internal")
        .expect("a port named internal");
    assert_eq!(
        internal_port["containerPort"],
        port_of(&settings(&objects)["INTERNAL_LISTEN_ADDR"]),
        "the internal port is where INTERNAL_LISTEN_ADDR listens"
    );
    let service = object(&objects, "Service", "identity-link-internal");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "internal");
    let public = object(&objects, "Service", "identity-link");
    assert_eq!(public["spec"]["ports"].as_array().map(Vec::len), Some(1));
    assert_eq!(public["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn every_workload_runs_unprivileged_on_a_read_only_root_filesystem() {
    let objects = objects();
    let workloads: Vec<&Value> = objects
        .iter()
        .filter(|object| {
            matches!(
                object["kind"].as_str(),
                Some("Deployment" | "Job" | "CronJob")
            )
        })
        .collect();
    assert_eq!(
        workloads.len(),
        4,
        "the server, the migration, the reconcile and the audit prune"
    );
    for workload in workloads {
        let name = &workload["metadata"]["name"];
        let pod = pod_spec(workload);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(pod["securityContext"]["runAsUser"], 65532, "{name}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        for container in pod["containers"].as_array().expect("containers") {
            let security = &container["securityContext"];
            assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(
                security["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{name}"
            );
            assert!(
                container["resources"]["requests"]["memory"].is_string()
                    && container["resources"]["limits"]["memory"].is_string(),
                "{name}: memory requested and limited"
            );
            let secrets = container["envFrom"]
                .as_array()
                .expect("settings from envFrom")
                .iter()
                .any(|source| source["secretRef"]["name"] == "identity-link");
            assert!(secrets, "{name}: secrets from the identity-link Secret");
            assert!(
                container.get("env").is_none(),
                "{name}: no inline values, secrets or not"
            );
        }
    }
}

#[test]
fn the_server_has_two_probed_replicas_and_stops_within_its_grace_period() {
    let objects = objects();
    let deployment = object(&objects, "Deployment", "identity-link");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = pod_spec(deployment);
    let container = &pod["containers"][0];
    assert_eq!(container["args"], serde_json::json!(["serve"]));
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        "/health/live"
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/health/ready"
    );
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .expect("a preStop pause while the endpoints drop the pod");
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("a grace period");
    let drain = identity_link::inbound::serve::DRAIN_TIMEOUT.as_secs();
    assert!(
        grace > pre_stop + drain,
        "grace {grace} s covers the preStop {pre_stop} s, the {drain} s drain and the audit flush"
    );
    assert_eq!(
        port_of(&settings(&objects)["LISTEN_ADDR"]),
        8080,
        "the image's port"
    );
}

#[test]
fn migrations_run_as_a_job_and_reconcile_nightly_as_a_cron_job() {
    let objects = objects();
    let migrate = object(&objects, "Job", "identity-link-migrate");
    assert_eq!(
        pod_spec(migrate)["containers"][0]["args"],
        serde_json::json!(["migrate"])
    );
    let reconcile = object(&objects, "CronJob", "identity-link-reconcile");
    let schedule = reconcile["spec"]["schedule"].as_str().expect("a schedule");
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "{schedule}");
    assert_eq!(&fields[2..], ["*", "*", "*"], "every day: {schedule}");
    assert_eq!(reconcile["spec"]["concurrencyPolicy"], "Forbid");
    let args = &pod_spec(reconcile)["containers"][0]["args"];
    assert_eq!(args[0], "reconcile");
    assert!(
        args.as_array()
            .is_some_and(|args| args.iter().any(|arg| arg == "json")),
        "the report goes to the logs as JSON: {args}"
    );
}
