//! The manifests under `deploy/`: valid YAML with a kind each, a CRD that
//! matches the code, and RBAC that allows every call the operator makes.

use std::path::Path;

use example_kube_operator::Website;
use kube::CustomResourceExt as _;
use serde::Deserialize as _;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| {
                panic!("{} is not valid YAML: {e}", path.display())
            })
        })
        .collect()
}

#[test]
fn every_manifest_is_yaml_with_an_api_version_and_a_kind() {
    for file in ["crd.yaml", "rbac.yaml", "deployment.yaml", "website.yaml"] {
        let documents = documents(file);
        assert!(!documents.is_empty(), "{file} is empty");
        for document in documents {
            assert!(document["apiVersion"].is_string(), "{file}: {document}");
            assert!(document["kind"].is_string(), "{file}: {document}");
            assert!(
                document["metadata"]["name"].is_string(),
                "{file}: {document}"
            );
        }
    }
}

#[test]
fn the_committed_crd_is_the_one_the_code_generates() {
    let generated = serde_yaml::to_string(&Website::crd()).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/crd.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/crd.yaml is stale: run `cargo run -p example-kube-operator --bin crdgen > \
         examples/kube-operator/deploy/crd.yaml`"
    );
}

#[test]
fn the_crd_has_a_status_subresource_and_printer_columns() {
    let crd = &documents("crd.yaml")[0];
    let version = &crd["spec"]["versions"][0];
    assert!(version["subresources"]["status"].is_object(), "{version}");
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Pods", "Phase", "Trace"]);
}

/// (API group, resource, verb) for every call the operator makes: the
/// controller's list and watch, the finalizer's patch, server-side apply
/// (patch, which creates), the status patch, and events.
const CALLS: &[(&str, &str, &str)] = &[
    ("book.example.com", "websites", "list"),
    ("book.example.com", "websites", "watch"),
    ("book.example.com", "websites", "patch"),
    ("book.example.com", "websites/status", "patch"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("apps", "deployments", "patch"),
    ("apps", "deployments", "create"),
    ("", "services", "list"),
    ("", "services", "watch"),
    ("", "services", "patch"),
    ("", "services", "create"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
];

#[test]
fn rbac_allows_every_call_the_operator_makes() {
    let documents = documents("rbac.yaml");
    let role = documents
        .iter()
        .find(|d| d["kind"] == "ClusterRole")
        .expect("a ClusterRole");
    let rules = role["rules"].as_array().expect("rules");
    let allowed = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|rule| {
            let has = |field: &str, value: &str| {
                rule[field]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == value || x == "*"))
            };
            has("apiGroups", group)
                && has("resources", resource)
                && has("verbs", verb)
        })
    };
    let missing: Vec<_> =
        CALLS.iter().filter(|(g, r, v)| !allowed(g, r, v)).collect();
    assert!(missing.is_empty(), "not allowed by rbac.yaml: {missing:?}");
}
