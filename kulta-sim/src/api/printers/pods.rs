//! The pod printer: READY, STATUS (`printPod`'s reasoning over init and app container states),
//! RESTARTS and the wide columns.

use serde_json::{Value, json};

use super::{age, count, int, name, strings_of};
use crate::api::table::human_age;

/// A container status's reason when it is not running: waiting or terminated reason, else
/// `Signal:N` / `ExitCode:N`.
fn stopped_reason(state: &Value) -> Option<String> {
    if let Some(reason) = state["waiting"]["reason"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        return Some(reason.to_string());
    }
    let terminated = state.get("terminated")?;
    if let Some(reason) = terminated["reason"].as_str().filter(|r| !r.is_empty()) {
        return Some(reason.to_string());
    }
    match int(&terminated["signal"]) {
        0 => Some(format!("ExitCode:{}", int(&terminated["exitCode"]))),
        signal => Some(format!("Signal:{signal}")),
    }
}

/// The STATUS column: `printPod` without sidecar and readiness-gate subtleties.
fn pod_status(object: &Value) -> (String, i64, i64, Option<String>) {
    let status = &object["status"];
    let mut reason = status["phase"].as_str().unwrap_or_default().to_string();
    if let Some(own) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = own.to_string();
    }
    let mut restarts: i64 = 0;
    let mut last_restart: Option<String> = None;
    let mut note_restart = |container: &Value, restarts: &mut i64| {
        // restartCount is anyone's to write: the sum stops at the ends of i64.
        *restarts = restarts.saturating_add(int(&container["restartCount"]));
        if let Some(finished) = container["lastState"]["terminated"]["finishedAt"].as_str()
            && last_restart.as_deref().is_none_or(|seen| finished > seen)
        {
            last_restart = Some(finished.to_string());
        }
    };
    let init_statuses = status["initContainerStatuses"].as_array();
    let init_total = init_statuses.map_or(0, Vec::len);
    let mut initializing = false;
    for (index, container) in init_statuses.into_iter().flatten().enumerate() {
        note_restart(container, &mut restarts);
        let state = &container["state"];
        if state["terminated"]["exitCode"].as_i64() == Some(0) {
            continue;
        }
        initializing = true;
        reason = match stopped_reason(state) {
            Some(why) if state.get("terminated").is_some() => format!("Init:{why}"),
            Some(why) if why != "PodInitializing" => format!("Init:{why}"),
            _ => format!("Init:{index}/{init_total}"),
        };
        break;
    }
    let mut ready: i64 = 0;
    if !initializing {
        let mut has_running = false;
        let statuses = status["containerStatuses"].as_array();
        for container in statuses.into_iter().flatten().rev() {
            note_restart(container, &mut restarts);
            let state = &container["state"];
            if let Some(why) = stopped_reason(state) {
                reason = why;
            } else if state.get("running").is_some() && container["ready"] == json!(true) {
                has_running = true;
                ready = ready.saturating_add(1);
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    if object["metadata"].get("deletionTimestamp").is_some() {
        reason = if status["reason"] == "NodeLost" {
            "Unknown"
        } else {
            "Terminating"
        }
        .to_string();
    }
    (reason, ready, restarts, last_restart)
}

pub(super) fn pod_row(object: &Value) -> Vec<Value> {
    let (reason, ready, restarts, last_restart) = pod_status(object);
    let total = count(&object["spec"]["containers"]);
    let restarts = match last_restart {
        Some(at) if restarts > 0 => format!("{restarts} ({} ago)", human_age(&at)),
        _ => restarts.to_string(),
    };
    let none_if_empty = |value: &Value| match value.as_str().filter(|s| !s.is_empty()) {
        Some(text) => json!(text),
        None => json!("<none>"),
    };
    let gates = &object["spec"]["readinessGates"];
    let readiness_gates = if count(gates) == 0 {
        json!("<none>")
    } else {
        let met = strings_of(gates, "conditionType")
            .iter()
            .filter(|gate| {
                object["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == json!(gate) && c["status"] == "True")
            })
            .count();
        json!(format!("{met}/{}", count(gates)))
    };
    vec![
        name(object),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age(object),
        none_if_empty(&object["status"]["podIP"]),
        none_if_empty(&object["spec"]["nodeName"]),
        none_if_empty(&object["status"]["nominatedNodeName"]),
        readiness_gates,
    ]
}
