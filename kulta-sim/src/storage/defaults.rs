//! Defaults the real API server fills into built-in kinds on every write, so clients meet the
//! same defaulted objects they would on a cluster (a controller that compares its desired object
//! with a defaulted live one must not loop): Deployment and ReplicaSet specs, pod templates,
//! containers, and Services (including a cluster IP, allocated once and kept on updates).

use serde_json::{Map, Value, json};

use crate::kinds::resources::ResourceType;

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

fn image_pull_policy(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image);
    let tag = name
        .split_once('@')
        .map(|_| "digest")
        .or_else(|| name.split_once(':').map(|(_, t)| t));
    match tag {
        None | Some("latest") => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_container(container: &mut Value) {
    let Some(map) = container.as_object_mut() else {
        return;
    };
    let image = map
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_default(map, "imagePullPolicy", json!(image_pull_policy(&image)));
    set_default(map, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(map, "terminationMessagePolicy", json!("File"));
    set_default(map, "resources", json!({}));
    if let Some(ports) = map.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(port, "protocol", json!("TCP"));
        }
    }
}

/// Pod spec defaults (also inside templates).
pub(crate) fn default_pod_spec(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    set_default(map, "restartPolicy", json!("Always"));
    set_default(map, "terminationGracePeriodSeconds", json!(30));
    set_default(map, "dnsPolicy", json!("ClusterFirst"));
    set_default(map, "securityContext", json!({}));
    set_default(map, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(containers) = map.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(default_container);
        }
    }
}

fn default_template(spec: &mut Map<String, Value>) {
    if let Some(template_spec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        default_pod_spec(template_spec);
    }
}

fn default_service(
    object: &mut Value,
    old: Option<&Value>,
    next_cluster_ip: &mut dyn FnMut() -> String,
) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(port, "protocol", json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                set_default(port, "targetPort", number);
            }
        }
    }
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
    }
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    if spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        let kept = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .filter(|ip| !ip.is_empty());
        let ip = kept.map(str::to_string).unwrap_or_else(next_cluster_ip);
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    } else {
        let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
        set_default(spec, "clusterIPs", json!([ip]));
    }
}

/// Secrets: `type` Opaque, and `stringData` folded into `data` (base64), as the real server's
/// conversion does; `stringData` is never stored and wins over `data` for the same key.
fn default_secret(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    set_default(map, "type", json!("Opaque"));
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    if !map.get("data").is_some_and(Value::is_object) {
        map.insert("data".into(), json!({}));
    }
    let Some(data) = map.get_mut("data").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, value) in string_data {
        let text = value.as_str().unwrap_or_default().as_bytes().to_vec();
        if let Ok(encoded) = serde_json::to_value(k8s_openapi::ByteString(text)) {
            data.insert(key, encoded);
        }
    }
}

/// Applies the built-in defaults of `resource` to `object` (`old` on updates).
pub(crate) fn apply(
    resource: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    next_cluster_ip: &mut dyn FnMut() -> String,
) {
    if resource.custom {
        return;
    }
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("apps", "Deployment") => {
            let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
                return;
            };
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            default_deployment_strategy(spec);
            default_template(spec);
        }
        ("apps", "ReplicaSet") => {
            let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
                return;
            };
            set_default(spec, "replicas", json!(1));
            default_template(spec);
        }
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec") {
                default_pod_spec(spec);
            }
        }
        ("", "Service") => default_service(object, old, next_cluster_ip),
        ("", "Secret") => default_secret(object),
        _ => {}
    }
}

/// As kube-apiserver defaults it field by field: an absent or empty `type` is RollingUpdate, and
/// a rolling update's absent `maxUnavailable`/`maxSurge` are 25% (so `strategy: {}`, which
/// `kubectl create deployment` sends, is a full RollingUpdate strategy).
fn default_deployment_strategy(spec: &mut Map<String, Value>) {
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if strategy.is_null() {
        *strategy = json!({});
    }
    let Some(strategy) = strategy.as_object_mut() else {
        return;
    };
    let kind = strategy.entry("type").or_insert_with(|| json!(""));
    if kind.as_str().is_none_or(str::is_empty) {
        *kind = json!("RollingUpdate");
    }
    if strategy["type"] != "RollingUpdate" {
        return;
    }
    let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
    if rolling.is_null() {
        *rolling = json!({});
    }
    if let Some(rolling) = rolling.as_object_mut() {
        set_default(rolling, "maxUnavailable", json!("25%"));
        set_default(rolling, "maxSurge", json!("25%"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::resources::builtin_resources;

    fn resource(kind: &str) -> ResourceType {
        builtin_resources()
            .into_iter()
            .find(|r| r.kind == kind)
            .unwrap()
    }

    #[test]
    fn defaults_deployments_and_their_containers() {
        let mut object = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "nginx:1.26", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "nginx"}
        ]}}}});
        apply(&resource("Deployment"), &mut object, None, &mut || {
            "10.96.0.1".into()
        });
        assert_eq!(object["spec"]["replicas"], 1);
        let containers = &object["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(containers[0]["ports"][0]["protocol"], "TCP");
        assert_eq!(containers[1]["imagePullPolicy"], "Always");
        assert_eq!(
            object["spec"]["template"]["spec"]["restartPolicy"],
            "Always"
        );
    }

    #[test]
    fn a_deployment_strategy_is_defaulted_field_by_field() {
        let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
        for (given, expected) in [
            (None, rolling.clone()),
            (Some(json!({})), rolling.clone()),
            (Some(json!({"type": ""})), rolling.clone()),
            (
                Some(json!({"rollingUpdate": {"maxSurge": 1}})),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}}),
            ),
            (
                Some(json!({"type": "Recreate"})),
                json!({"type": "Recreate"}),
            ),
        ] {
            let mut object = json!({"spec": {"template": {"spec": {"containers": []}}}});
            if let Some(strategy) = given.clone() {
                object["spec"]["strategy"] = strategy;
            }
            apply(&resource("Deployment"), &mut object, None, &mut || {
                "10.96.0.1".into()
            });
            assert_eq!(object["spec"]["strategy"], expected, "from {given:?}");
        }
    }

    #[test]
    fn secrets_fold_string_data_into_data() {
        let mut object = json!({"data": {"a": "b2xk", "b": "Yg=="}, "stringData": {"a": "new"}});
        apply(&resource("Secret"), &mut object, None, &mut || {
            String::new()
        });
        assert_eq!(
            object,
            json!({"type": "Opaque", "data": {"a": "bmV3", "b": "Yg=="}})
        );
    }

    #[test]
    fn services_keep_their_cluster_ip() {
        let mut object = json!({"spec": {"ports": [{"port": 80}]}});
        apply(&resource("Service"), &mut object, None, &mut || {
            "10.96.0.7".into()
        });
        assert_eq!(object["spec"]["clusterIP"], "10.96.0.7");
        assert_eq!(object["spec"]["ports"][0]["targetPort"], 80);
        let old = object.clone();
        let mut update = json!({"spec": {"ports": [{"port": 81}]}});
        apply(&resource("Service"), &mut update, Some(&old), &mut || {
            "10.96.0.8".into()
        });
        assert_eq!(update["spec"]["clusterIP"], "10.96.0.7");
    }
}
