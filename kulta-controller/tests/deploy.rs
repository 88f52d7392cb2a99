//! The deployment artefacts under `deploy/`: least-privilege RBAC, a hardened pod, and objects
//! that are valid Kubernetes.
//!
//! Every rendering is checked the same way: the kustomize base read from disk (always), `kubectl
//! kustomize` of the base and the `ha` overlay (when kubectl is found), and `helm template` of the
//! chart with its default values, `values-ha.yaml`, a single watched namespace and the
//! ServiceMonitor (when helm is found). Without a tool its half prints `... NOT CHECKED` and
//! fails when `KULTA_REQUIRE_KUBECTL=1` (as CI sets). `scripts/check-deploy.sh` applies the same
//! renderings to kulta-sim.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::{apps, core, policy, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// Every RBAC rule the artefacts may grant, one `role group/resource verb [name=...]` a line
/// (`core` is the core API group). The controller's own rules are the ones tests/rbac.rs saw it
/// use. A rendered rule missing here fails the test as a widening; a
/// rule listed here but not rendered fails it as a narrowing the controller may not survive.
const ALLOWED_RULES: &[&str] = &[
    // The controller, cluster-wide (or a Role in the watched namespace).
    "kulta-controller kulta.io/rollouts get",
    "kulta-controller kulta.io/rollouts list",
    "kulta-controller kulta.io/rollouts watch",
    "kulta-controller kulta.io/rollouts patch",
    "kulta-controller kulta.io/rollouts/status update",
    "kulta-controller kulta.io/rollouts/finalizers update",
    "kulta-controller apps/replicasets get",
    "kulta-controller apps/replicasets list",
    "kulta-controller apps/replicasets watch",
    "kulta-controller apps/replicasets create",
    "kulta-controller apps/replicasets patch",
    "kulta-controller apps/replicasets delete",
    "kulta-controller core/services list",
    "kulta-controller core/services watch",
    "kulta-controller core/services patch",
    "kulta-controller gateway.networking.k8s.io/httproutes get",
    "kulta-controller gateway.networking.k8s.io/httproutes list",
    "kulta-controller gateway.networking.k8s.io/httproutes watch",
    "kulta-controller gateway.networking.k8s.io/httproutes patch",
    "kulta-controller events.k8s.io/events create",
    "kulta-controller events.k8s.io/events patch",
    // Leader election, a Role in the controller's namespace, limited to its one Lease.
    "kulta-leader-election coordination.k8s.io/leases create",
    "kulta-leader-election coordination.k8s.io/leases get name=kulta-controller",
    "kulta-leader-election coordination.k8s.io/leases update name=kulta-controller",
    // Aggregated into the built-in view and edit/admin roles, for people, not the controller.
    "kulta-view kulta.io/rollouts get",
    "kulta-view kulta.io/rollouts list",
    "kulta-view kulta.io/rollouts watch",
    "kulta-edit kulta.io/rollouts get",
    "kulta-edit kulta.io/rollouts list",
    "kulta-edit kulta.io/rollouts watch",
    "kulta-edit kulta.io/rollouts create",
    "kulta-edit kulta.io/rollouts update",
    "kulta-edit kulta.io/rollouts patch",
    "kulta-edit kulta.io/rollouts delete",
    "kulta-edit kulta.io/rollouts deletecollection",
];

/// The roles a binding may grant to the controller's ServiceAccount.
const CONTROLLER_ROLES: &[&str] = &["kulta-controller", "kulta-leader-election"];
const SERVICE_ACCOUNT: &str = "kulta-controller";
const CRD_PATH: &str = "deploy/crds/rollouts.kulta.io.yaml";

// ---------------------------------------------------------------------------------------------
// Renderings

/// One set of manifests as a user would apply it.
struct Rendering {
    name: String,
    documents: Vec<Value>,
    /// Where the controller runs; `None` when the files leave it to kustomize.
    namespace: Option<String>,
    replicas: i64,
    watch_namespace: Option<String>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn parse_documents(name: &str, text: &str) -> Vec<Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text)
        .unwrap_or_else(|error| panic!("{name} is not YAML: {error}"));
    documents
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

/// The documents of a kustomization, read from disk: its `resources`, recursively. Patches are
/// not applied (the `ha` overlay is checked through `kubectl kustomize`).
fn kustomization_documents(dir: &Path) -> Vec<Value> {
    let path = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let kustomization: Value = serde_saphyr::from_str(&text).expect("kustomization.yaml");
    let mut documents = Vec::new();
    for resource in kustomization["resources"].as_array().expect("resources") {
        let resource = dir.join(resource.as_str().expect("resource path"));
        if resource.is_dir() {
            documents.extend(kustomization_documents(&resource));
        } else {
            let text = std::fs::read_to_string(&resource)
                .unwrap_or_else(|error| panic!("{}: {error}", resource.display()));
            documents.extend(parse_documents(&resource.display().to_string(), &text));
        }
    }
    documents
}

/// The first of `HELM`/`KUBECTL` (env), `$KULTA_TOOLS_DIR/bin`, `<workspace>/.tools/bin`.
fn find_tool(tool: &str) -> Option<PathBuf> {
    let from_env = std::env::var_os(tool.to_uppercase()).map(PathBuf::from);
    let from_tools_dir =
        std::env::var_os("KULTA_TOOLS_DIR").map(|dir| PathBuf::from(dir).join("bin").join(tool));
    let from_workspace = Some(workspace().join(".tools/bin").join(tool));
    [from_env, from_tools_dir, from_workspace]
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
}

/// A missing tool is a visible skip, and a failure where CI requires the tools.
fn tool_or_skip(tool: &str, what: &str) -> Option<PathBuf> {
    let found = find_tool(tool);
    if found.is_none() {
        let message = format!("{what} NOT CHECKED: {tool} not found (run scripts/kube-tools.sh)");
        assert!(
            std::env::var("KULTA_REQUIRE_KUBECTL").as_deref() != Ok("1"),
            "{message}"
        );
        eprintln!("{message}");
    }
    found
}

fn run_tool(tool: &Path, args: &[&str]) -> String {
    let output = Command::new(tool)
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run tool");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {} failed:\n{stderr}",
        tool.display(),
        args.join(" ")
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn helm_rendering(helm: &Path, name: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "kulta",
        "deploy/helm/kulta",
        "--namespace",
        "kulta-system",
    ];
    args.extend_from_slice(extra);
    parse_documents(name, &run_tool(helm, &args))
}

// ---------------------------------------------------------------------------------------------
// Checks

fn kind(document: &Value) -> &str {
    document["kind"].as_str().unwrap_or_default()
}

fn name(document: &Value) -> &str {
    document["metadata"]["name"].as_str().unwrap_or_default()
}

fn of_kind<'a>(rendering: &'a Rendering, wanted: &str) -> Vec<&'a Value> {
    rendering
        .documents
        .iter()
        .filter(|document| kind(document) == wanted)
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every string anywhere in a value.
fn all_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| all_strings(item, out)),
        Value::Object(map) => map.iter().for_each(|(key, item)| {
            out.push(key);
            all_strings(item, out);
        }),
        _ => {}
    }
}

fn check_rbac(rendering: &Rendering) {
    let name_of = &rendering.name;
    let mut granted = BTreeSet::new();
    for role in of_kind(rendering, "ClusterRole")
        .into_iter()
        .chain(of_kind(rendering, "Role"))
    {
        let role_name = name(role);
        assert!(
            role.get("aggregationRule").is_none(),
            "{name_of}: {role_name} aggregates other roles"
        );
        let mut texts = Vec::new();
        all_strings(&role["rules"], &mut texts);
        assert!(
            !texts.iter().any(|text| text.contains('*')),
            "{name_of}: {role_name} has a wildcard: {:#}",
            role["rules"]
        );
        assert!(
            !texts.contains(&"secrets"),
            "{name_of}: {role_name} grants Secrets"
        );
        for rule in role["rules"].as_array().expect("rules") {
            assert!(
                rule.get("nonResourceURLs").is_none(),
                "{name_of}: {role_name} grants non-resource URLs"
            );
            let names = strings(&rule["resourceNames"]);
            for group in strings(&rule["apiGroups"]) {
                let group = if group.is_empty() { "core" } else { group };
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        if names.is_empty() {
                            granted.insert(format!("{role_name} {group}/{resource} {verb}"));
                        }
                        for resource_name in &names {
                            granted.insert(format!(
                                "{role_name} {group}/{resource} {verb} name={resource_name}"
                            ));
                        }
                    }
                }
            }
        }
    }
    let allowed: BTreeSet<String> = ALLOWED_RULES.iter().map(|rule| rule.to_string()).collect();
    let widened: Vec<_> = granted.difference(&allowed).collect();
    let narrowed: Vec<_> = allowed.difference(&granted).collect();
    assert!(
        widened.is_empty() && narrowed.is_empty(),
        "{name_of}: RBAC differs from the allow-list in kulta-controller/tests/deploy.rs\n\
         granted but not allowed (a widening; allow it in the test only on purpose): {widened:#?}\n\
         allowed but not granted (the controller may need it): {narrowed:#?}"
    );

    // Bindings give the controller's account exactly its two roles, nothing else to anyone.
    let bindings: Vec<_> = of_kind(rendering, "ClusterRoleBinding")
        .into_iter()
        .chain(of_kind(rendering, "RoleBinding"))
        .collect();
    let bound: BTreeSet<&str> = bindings
        .iter()
        .map(|binding| binding["roleRef"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        bound,
        CONTROLLER_ROLES.iter().copied().collect::<BTreeSet<_>>(),
        "{name_of}: bound roles"
    );
    for binding in bindings {
        let subjects = binding["subjects"].as_array().expect("subjects");
        assert_eq!(
            subjects.len(),
            1,
            "{name_of}: {} binds more than the controller",
            name(binding)
        );
        assert_eq!(
            subjects[0]["kind"],
            "ServiceAccount",
            "{name_of}: {}",
            name(binding)
        );
        assert_eq!(
            subjects[0]["name"],
            SERVICE_ACCOUNT,
            "{name_of}: {}",
            name(binding)
        );
        assert_eq!(
            subjects[0]["namespace"],
            "kulta-system",
            "{name_of}: {}",
            name(binding)
        );
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
        let role_ref = binding["roleRef"]["name"].as_str().unwrap_or_default();
        assert!(
            rendering
                .documents
                .iter()
                .any(|document| kind(document) == role_kind && name(document) == role_ref),
            "{name_of}: {} refers to {role_kind} {role_ref}, which is not rendered",
            name(binding)
        );
    }
    // The controller's rules live where it watches; leader election where it runs.
    let controller_role = rendering
        .documents
        .iter()
        .find(|document| name(document) == "kulta-controller" && kind(document).ends_with("Role"))
        .expect("controller role");
    match &rendering.watch_namespace {
        None => assert_eq!(kind(controller_role), "ClusterRole", "{name_of}"),
        Some(namespace) => {
            assert_eq!(kind(controller_role), "Role", "{name_of}");
            assert_eq!(
                controller_role["metadata"]["namespace"],
                namespace.as_str(),
                "{name_of}"
            );
        }
    }
    let lease_role = of_kind(rendering, "Role")
        .into_iter()
        .find(|role| name(role) == "kulta-leader-election")
        .expect("leader-election Role");
    if let Some(namespace) = &rendering.namespace {
        assert_eq!(
            lease_role["metadata"]["namespace"],
            namespace.as_str(),
            "{name_of}: leases in the controller's namespace"
        );
    }
}

fn env_value<'a>(container: &'a Value, variable: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|entry| entry["name"] == variable)
}

fn check_deployment(rendering: &Rendering) {
    let name_of = &rendering.name;
    let deployments = of_kind(rendering, "Deployment");
    assert_eq!(deployments.len(), 1, "{name_of}: one Deployment");
    let deployment = deployments[0];
    assert_eq!(
        deployment["spec"]["replicas"], rendering.replicas,
        "{name_of}: replicas"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            &labels[key], value,
            "{name_of}: the selector matches the pod labels"
        );
    }

    assert_eq!(pod["serviceAccountName"], SERVICE_ACCOUNT, "{name_of}");
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "{name_of}: the controller needs its token"
    );
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod.get(field).is_none(), "{name_of}: {field} is set");
    }
    let grace = pod["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds");
    assert!(
        (15..=60).contains(&grace),
        "{name_of}: terminationGracePeriodSeconds {grace}"
    );
    let pod_security = &pod["securityContext"];
    assert_eq!(
        pod_security["runAsNonRoot"], true,
        "{name_of}: pod runAsNonRoot"
    );
    assert_eq!(pod_security["runAsUser"], 65532, "{name_of}: pod runAsUser");
    assert_eq!(
        pod_security["seccompProfile"]["type"], "RuntimeDefault",
        "{name_of}: pod seccomp"
    );

    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{name_of}: one container");
    let container = &containers[0];
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true, "{name_of}: runAsNonRoot");
    assert_eq!(security["runAsUser"], 65532, "{name_of}: runAsUser");
    assert_eq!(
        security["readOnlyRootFilesystem"], true,
        "{name_of}: readOnlyRootFilesystem"
    );
    assert_eq!(
        security["allowPrivilegeEscalation"], false,
        "{name_of}: allowPrivilegeEscalation"
    );
    assert_ne!(security["privileged"], true, "{name_of}: privileged");
    assert_eq!(
        strings(&security["capabilities"]["drop"]),
        ["ALL"],
        "{name_of}: capabilities.drop"
    );
    assert!(
        security["capabilities"].get("add").is_none(),
        "{name_of}: capabilities.add"
    );
    assert_eq!(
        security["seccompProfile"]["type"], "RuntimeDefault",
        "{name_of}: seccomp"
    );

    assert_eq!(container["args"][0], "run", "{name_of}: `kulta run`");
    let admin_port = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|port| port["name"] == "admin")
        .expect("an `admin` container port");
    let port_number = admin_port["containerPort"].as_i64().expect("containerPort");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let http = &container[probe]["httpGet"];
        assert_eq!(http["path"], path, "{name_of}: {probe} path");
        assert_eq!(
            http["port"], "admin",
            "{name_of}: {probe} on the admin port"
        );
    }
    let admin_addr = env_value(container, "KULTA_ADMIN_ADDR")
        .and_then(|entry| entry["value"].as_str())
        .expect("KULTA_ADMIN_ADDR");
    assert!(
        admin_addr.ends_with(&format!(":{port_number}")),
        "{name_of}: KULTA_ADMIN_ADDR {admin_addr} vs containerPort {port_number}"
    );
    for (variable, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let entry = env_value(container, variable)
            .unwrap_or_else(|| panic!("{name_of}: {variable} is not set"));
        assert_eq!(
            entry["valueFrom"]["fieldRef"]["fieldPath"], field,
            "{name_of}: {variable} from the downward API"
        );
    }
    let leader_election =
        env_value(container, "KULTA_LEADER_ELECTION").and_then(|entry| entry["value"].as_str());
    assert_eq!(
        leader_election,
        Some("true"),
        "{name_of}: leader election on"
    );
    // The Role may only touch the Lease the controller is told to use.
    let lease = env_value(container, "KULTA_LEASE_NAME").and_then(|entry| entry["value"].as_str());
    assert_eq!(
        lease,
        Some("kulta-controller"),
        "{name_of}: lease name matches the Role's resourceNames"
    );
    let watched = env_value(container, "KULTA_NAMESPACE").and_then(|entry| entry["value"].as_str());
    assert_eq!(
        watched,
        rendering.watch_namespace.as_deref(),
        "{name_of}: KULTA_NAMESPACE"
    );
    // SIGKILL must not cut the shutdown short: finish reconciles, then release the Lease.
    let shutdown_grace = env_value(container, "KULTA_SHUTDOWN_GRACE")
        .and_then(|entry| entry["value"].as_str())
        .map(|text| kulta_api::duration::parse_duration(text).expect("KULTA_SHUTDOWN_GRACE"))
        .unwrap_or(std::time::Duration::from_secs(10));
    assert!(
        shutdown_grace.as_secs() + 5 <= grace.unsigned_abs(),
        "{name_of}: terminationGracePeriodSeconds {grace} leaves no time after a {shutdown_grace:?} shutdown grace"
    );
    let resources = &container["resources"];
    for path in ["/requests/cpu", "/requests/memory", "/limits/memory"] {
        assert!(
            resources.pointer(path).is_some(),
            "{name_of}: resources{path} is not set"
        );
    }

    // The metrics Service reaches the admin port of these pods.
    let services = of_kind(rendering, "Service");
    assert_eq!(services.len(), 1, "{name_of}: one Service");
    for (key, value) in services[0]["spec"]["selector"]
        .as_object()
        .expect("Service selector")
    {
        assert_eq!(
            &labels[key], value,
            "{name_of}: the Service selects the controller pods"
        );
    }
    assert_eq!(
        services[0]["spec"]["ports"][0]["targetPort"], "admin",
        "{name_of}"
    );
    assert_eq!(
        services[0]["spec"]["ports"][0]["name"], "metrics",
        "{name_of}"
    );

    // HA: a PodDisruptionBudget exactly when there is more than one replica.
    let budgets = of_kind(rendering, "PodDisruptionBudget");
    assert_eq!(
        budgets.len(),
        usize::from(rendering.replicas > 1),
        "{name_of}: PodDisruptionBudget"
    );
    for budget in budgets {
        assert_eq!(
            budget["spec"]["selector"]["matchLabels"],
            deployment["spec"]["selector"]["matchLabels"],
            "{name_of}: the budget selects the controller pods"
        );
    }
}

/// The JSON pointers at which two values differ (a key present on one side only counts).
fn differences(left: &Value, right: &Value, path: &str, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(left), Value::Object(right)) => {
            let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            for key in keys {
                let (left, right) = (left.get(key.as_str()), right.get(key.as_str()));
                let path = format!("{path}/{key}");
                match (left, right) {
                    (Some(left), Some(right)) => differences(left, right, &path, out),
                    (left, right) => out.push(format!("{path}: {left:?} vs {right:?}")),
                }
            }
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => {
            for (index, (left, right)) in left.iter().zip(right).enumerate() {
                differences(left, right, &format!("{path}/{index}"), out);
            }
        }
        (Value::Number(left_number), Value::Number(right_number))
            if left_number.as_f64() == right_number.as_f64() => {}
        _ if left == right => {}
        _ => out.push(format!("{path}: {left} vs {right}")),
    }
}

/// Decodes a built-in object into its k8s-openapi type and back: a misspelt or misplaced field
/// is dropped on the way and shows up as a difference. Covers the kinds kulta-sim cannot apply.
fn check_schema(rendering: &Rendering) {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
        name_of: &str,
        document: &Value,
    ) {
        let typed: T = serde_json::from_value(document.clone()).unwrap_or_else(|error| {
            panic!(
                "{name_of}: {} {} does not decode: {error}",
                kind(document),
                name(document)
            )
        });
        let back = serde_json::to_value(typed).expect("serialize");
        let mut found = Vec::new();
        differences(document, &back, "", &mut found);
        assert!(
            found.is_empty(),
            "{name_of}: {} {} has fields its schema does not know (rendered vs decoded):\n{}",
            kind(document),
            name(document),
            found.join("\n")
        );
    }
    for document in &rendering.documents {
        let name_of = rendering.name.as_str();
        match kind(document) {
            "Namespace" => round_trip::<core::v1::Namespace>(name_of, document),
            "ServiceAccount" => round_trip::<core::v1::ServiceAccount>(name_of, document),
            "Service" => round_trip::<core::v1::Service>(name_of, document),
            "Deployment" => round_trip::<apps::v1::Deployment>(name_of, document),
            "PodDisruptionBudget" => {
                round_trip::<policy::v1::PodDisruptionBudget>(name_of, document)
            }
            "ClusterRole" => round_trip::<rbac::v1::ClusterRole>(name_of, document),
            "ClusterRoleBinding" => round_trip::<rbac::v1::ClusterRoleBinding>(name_of, document),
            "Role" => round_trip::<rbac::v1::Role>(name_of, document),
            "RoleBinding" => round_trip::<rbac::v1::RoleBinding>(name_of, document),
            "CustomResourceDefinition" => round_trip::<CustomResourceDefinition>(name_of, document),
            "ServiceMonitor" => {}
            other => panic!("{name_of}: unexpected kind {other}"),
        }
    }
}

/// The rendered CRD is the generated one (the chart links to it; kustomize includes it).
fn check_crd(rendering: &Rendering) {
    let text = std::fs::read_to_string(workspace().join(CRD_PATH)).expect("generated CRD");
    let generated = parse_documents(CRD_PATH, &text);
    let rendered = of_kind(rendering, "CustomResourceDefinition");
    assert_eq!(
        rendered.len(),
        generated.len(),
        "{}: CRDs rendered",
        rendering.name
    );
    for (rendered, generated) in rendered.into_iter().zip(&generated) {
        let mut found = Vec::new();
        differences(&rendered["spec"], &generated["spec"], "/spec", &mut found);
        assert!(
            found.is_empty(),
            "{}: the CRD differs from {CRD_PATH} (rendered vs generated):\n{}",
            rendering.name,
            found.join("\n")
        );
    }
}

fn check(rendering: &Rendering) {
    check_rbac(rendering);
    check_deployment(rendering);
    check_schema(rendering);
    check_crd(rendering);
}

fn rendering(name: &str, documents: Vec<Value>, replicas: i64) -> Rendering {
    Rendering {
        name: name.to_string(),
        documents,
        namespace: Some("kulta-system".to_string()),
        replicas,
        watch_namespace: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn kustomize_base_files_grant_only_the_allow_list_and_harden_the_pod() {
    let documents = kustomization_documents(&workspace().join("deploy/kustomize/base"));
    // The files leave namespaces to kustomize's `namespace:`.
    check(&Rendering {
        namespace: None,
        ..rendering("deploy/kustomize/base (files)", documents, 1)
    });
}

#[test]
fn kustomize_renderings_grant_only_the_allow_list_and_harden_the_pod() {
    let Some(kubectl) = tool_or_skip("kubectl", "kustomize rendering") else {
        return;
    };
    for (overlay, replicas) in [("base", 1), ("ha", 2)] {
        let name = format!("kubectl kustomize deploy/kustomize/{overlay}");
        let text = run_tool(
            &kubectl,
            &["kustomize", &format!("deploy/kustomize/{overlay}")],
        );
        let rendered = rendering(&name, parse_documents(&name, &text), replicas);
        for document in &rendered.documents {
            let cluster_scoped = [
                "Namespace",
                "CustomResourceDefinition",
                "ClusterRole",
                "ClusterRoleBinding",
            ]
            .contains(&kind(document));
            if !cluster_scoped {
                assert_eq!(
                    document["metadata"]["namespace"],
                    "kulta-system",
                    "{name}: {} {}",
                    kind(document),
                    self::name(document)
                );
            }
        }
        check(&rendered);
    }
}

#[test]
fn helm_renderings_grant_only_the_allow_list_and_harden_the_pod() {
    let Some(helm) = tool_or_skip("helm", "helm rendering") else {
        return;
    };
    check(&rendering(
        "helm template (default values)",
        helm_rendering(&helm, "default", &[]),
        1,
    ));
    check(&rendering(
        "helm template -f values-ha.yaml",
        helm_rendering(&helm, "ha", &["-f", "deploy/helm/kulta/values-ha.yaml"]),
        2,
    ));
    let single_namespace =
        helm_rendering(&helm, "watchNamespace", &["--set", "watchNamespace=team-a"]);
    check(&Rendering {
        watch_namespace: Some("team-a".to_string()),
        ..rendering(
            "helm template --set watchNamespace=team-a",
            single_namespace,
            1,
        )
    });

    // The ServiceMonitor scrapes the metrics Service's port.
    let with_monitor = helm_rendering(
        &helm,
        "serviceMonitor",
        &["--set", "serviceMonitor.enabled=true"],
    );
    let monitor = with_monitor
        .iter()
        .find(|document| kind(document) == "ServiceMonitor")
        .expect("a ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let service = with_monitor
        .iter()
        .find(|document| kind(document) == "Service")
        .expect("the metrics Service");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor selects the metrics Service"
        );
    }

    // Without the CRD, nothing of it is rendered; by default it survives `helm uninstall`.
    let without_crd = helm_rendering(
        &helm,
        "crds.install=false",
        &["--set", "crds.install=false"],
    );
    assert!(
        without_crd
            .iter()
            .all(|document| kind(document) != "CustomResourceDefinition")
    );
    let default = helm_rendering(&helm, "default", &[]);
    let crd = default
        .iter()
        .find(|document| kind(document) == "CustomResourceDefinition")
        .expect("CRD");
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
}
