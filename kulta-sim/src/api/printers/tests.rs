//! Row tests of the built-in printers: one object per case, cells by column name.
use super::*;
use crate::kinds::resources::builtin_resources;

fn cells(kind: &str, group: &str, object: Value) -> Vec<(String, Value)> {
    let resource = builtin_resources()
        .into_iter()
        .find(|r| r.kind == kind && r.group == group)
        .unwrap();
    let printer = printer(&resource).unwrap();
    let row = (printer.row)(&object);
    assert_eq!(row.len(), printer.columns.len(), "{kind}");
    printer
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .zip(row)
        .collect()
}

fn cell(cells: &[(String, Value)], column: &str) -> Value {
    cells
        .iter()
        .find(|(name, _)| name == column)
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| panic!("no column {column}"))
}

#[test]
fn every_builtin_kind_has_rows_as_wide_as_its_columns() {
    for resource in builtin_resources() {
        let printer = printer(&resource).unwrap();
        let row = (printer.row)(&json!({"metadata": {"name": "x"}}));
        assert_eq!(row.len(), printer.columns.len(), "{}", resource.kind);
    }
}

#[test]
fn deployments_show_ready_over_desired_and_the_selector() {
    let row = cells(
        "Deployment",
        "apps",
        json!({"metadata": {"name": "shop"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "shop"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]},
                "template": {"spec": {"containers": [{"name": "app", "image": "shop:1"}, {"name": "proxy", "image": "envoy"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
    );
    assert_eq!(cell(&row, "Ready"), "2/3");
    assert_eq!(cell(&row, "Up-to-date"), 3);
    assert_eq!(cell(&row, "Available"), 2);
    assert_eq!(cell(&row, "Containers"), "app,proxy");
    assert_eq!(cell(&row, "Images"), "shop:1,envoy");
    assert_eq!(cell(&row, "Selector"), "app=shop,tier in (api,web)");
}

#[test]
fn pod_status_follows_the_container_states() {
    let pod = |statuses: Value, deleting: bool| {
        let mut object = json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": statuses}});
        if deleting {
            object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        cells("Pod", "", object)
    };
    let running = json!({"running": {}});
    let row = pod(
        json!([{"ready": true, "state": running, "restartCount": 1},
               {"ready": true, "state": running, "restartCount": 2}]),
        false,
    );
    assert_eq!(cell(&row, "Ready"), "2/2");
    assert_eq!(cell(&row, "Status"), "Running");
    assert_eq!(cell(&row, "Restarts"), "3");
    let row = pod(
        json!([{"ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
               {"ready": true, "state": running}]),
        false,
    );
    assert_eq!(cell(&row, "Ready"), "1/2");
    assert_eq!(cell(&row, "Status"), "CrashLoopBackOff");
    let row = pod(
        json!([{"ready": false, "state": {"terminated": {"exitCode": 2}}}]),
        false,
    );
    assert_eq!(cell(&row, "Status"), "ExitCode:2");
    let row = pod(json!([]), true);
    assert_eq!(cell(&row, "Status"), "Terminating");
    assert_eq!(cell(&row, "IP"), "<none>");
}

#[test]
fn restart_counts_at_the_end_of_i64_add_up_without_overflowing() {
    let running = json!({"running": {}});
    let row = cells(
        "Pod",
        "",
        json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": true, "state": running, "restartCount": i64::MAX},
                {"ready": true, "state": running, "restartCount": 1}]}}),
    );
    assert_eq!(cell(&row, "Restarts"), i64::MAX.to_string());
}

#[test]
fn services_show_type_addresses_and_ports() {
    let row = cells(
        "Service",
        "",
        json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.9",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}),
    );
    assert_eq!(cell(&row, "Type"), "NodePort");
    assert_eq!(cell(&row, "Cluster-IP"), "10.96.0.9");
    assert_eq!(cell(&row, "External-IP"), "<none>");
    assert_eq!(cell(&row, "Port(s)"), "80:30080/TCP,53/UDP");
    assert_eq!(cell(&row, "Selector"), "app=web");
    let row = cells(
        "Service",
        "",
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}}),
    );
    assert_eq!(cell(&row, "External-IP"), "<pending>");
    assert_eq!(cell(&row, "Port(s)"), "<none>");
}

#[test]
fn events_of_both_groups_show_object_reason_and_message() {
    let core = cells(
        "Event",
        "",
        json!({"metadata": {"name": "e1"}, "type": "Normal", "reason": "Scaled",
            "involvedObject": {"kind": "Deployment", "name": "shop"}, "message": "scaled up",
            "count": 3, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z"}),
    );
    assert_eq!(cell(&core, "Object"), "deployment/shop");
    assert_eq!(cell(&core, "Message"), "scaled up");
    assert!(
        cell(&core, "Last Seen")
            .as_str()
            .unwrap()
            .contains("(x3 over "),
        "{core:?}"
    );
    let events = cells(
        "Event",
        "events.k8s.io",
        json!({"metadata": {"name": "e2"}, "type": "Warning", "reason": "Aborted",
            "regarding": {"kind": "Rollout", "name": "app"}, "note": "analysis failed",
            "reportingController": "kulta", "eventTime": "2026-01-01T00:00:00.000000Z"}),
    );
    assert_eq!(cell(&events, "Object"), "rollout/app");
    assert_eq!(cell(&events, "Message"), "analysis failed");
    assert_eq!(cell(&events, "Source"), "kulta");
    assert_eq!(cell(&events, "Count"), 1);
}

#[test]
fn bindings_pdbs_and_counts() {
    let binding = cells(
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "kulta"},
            "subjects": [{"kind": "ServiceAccount", "name": "kulta", "namespace": "kulta-system"},
                         {"kind": "User", "name": "alice"}]}),
    );
    assert_eq!(cell(&binding, "Role"), "ClusterRole/kulta");
    assert_eq!(cell(&binding, "ServiceAccounts"), "kulta-system/kulta");
    assert_eq!(cell(&binding, "Users"), "alice");
    let pdb = cells(
        "PodDisruptionBudget",
        "policy",
        json!({"metadata": {"name": "p"}, "spec": {"minAvailable": 1}, "status": {"disruptionsAllowed": 0}}),
    );
    assert_eq!(cell(&pdb, "Min Available"), "1");
    assert_eq!(cell(&pdb, "Max Unavailable"), "N/A");
    assert_eq!(cell(&pdb, "Allowed Disruptions"), 0);
    let config = cells(
        "ConfigMap",
        "",
        json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}),
    );
    assert_eq!(cell(&config, "Data"), 3);
    let role = cells(
        "ClusterRole",
        "rbac.authorization.k8s.io",
        json!({"metadata": {"name": "r", "creationTimestamp": "2026-01-01T00:00:00Z"}}),
    );
    assert_eq!(cell(&role, "Created At"), "2026-01-01T00:00:00Z");
}
