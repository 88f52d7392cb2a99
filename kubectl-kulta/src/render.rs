//! `kubectl kulta get rollout NAME`: the readable view of one Rollout.
//!
//! [`render_rollout`] is pure — Rollout, its ReplicaSets, its events and `now` in, text out — so
//! the view is tested without a cluster and `--watch` can redraw only when the text changes.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kulta_api::labels::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use kulta_api::steps::StepAction;
use kulta_api::{CanaryStep, Phase, Rollout, RolloutStatus, TrafficRouting};

use crate::events::EventLine;
use crate::format::{self, age, indent, table, truncate};

/// Longest condition or event message printed in a table cell.
const MESSAGE_WIDTH: usize = 120;

/// One step, the way a person says it: `setWeight 20`, `pause 5m`, `pause until promoted`,
/// `setWeight 20, then pause 30s`, `setCanaryScale replicas 2`.
pub fn describe_step(step: &CanaryStep) -> String {
    let mut parts = Vec::new();
    if let Some(weight) = step.set_weight {
        parts.push(format!("setWeight {weight}"));
    }
    if let Some(pause) = &step.pause {
        parts.push(match &pause.duration {
            Some(duration) => format!("pause {duration}"),
            None => "pause until promoted".to_string(),
        });
    }
    if let Some(scale) = &step.set_canary_scale {
        parts.push(match (scale.replicas, scale.weight) {
            (Some(replicas), _) => format!("setCanaryScale replicas {replicas}"),
            (None, Some(weight)) => format!("setCanaryScale weight {weight}%"),
            (None, None) => "setCanaryScale matchTrafficWeight".to_string(),
        });
    }
    if parts.is_empty() {
        "(no action)".to_string()
    } else {
        parts.join(", then ")
    }
}

/// The canary steps of a Rollout (empty for another strategy).
pub fn steps(rollout: &Rollout) -> &[CanaryStep] {
    rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .map_or(&[], |canary| canary.steps.as_slice())
}

/// `step 2 of 4: setWeight 50`, `all 4 steps completed`, `no steps`, or `-` before the
/// controller has written a step index.
pub fn step_text(rollout: &Rollout) -> String {
    let steps = steps(rollout);
    let index = rollout
        .status
        .as_ref()
        .and_then(|status| status.current_step_index)
        .and_then(|index| usize::try_from(index).ok());
    match (steps.len(), index) {
        (0, _) => "no steps (a new revision is promoted at once)".to_string(),
        (_, None) => "-".to_string(),
        (count, Some(index)) if index >= count => format!("all {count} steps completed"),
        (count, Some(index)) => {
            format!(
                "{} of {count}: {}",
                index.saturating_add(1),
                describe_step(&steps[index])
            )
        }
    }
}

/// `canary, router gatewayAPI (HTTPRoute app)` and the like.
pub fn strategy_text(rollout: &Rollout) -> String {
    let Some(canary) = &rollout.spec.strategy.canary else {
        return "unknown (no canary strategy)".to_string();
    };
    match &canary.traffic_routing {
        Some(routing) => format!("canary, router {}", router_text(routing)),
        None => "canary, no traffic router".to_string(),
    }
}

fn router_text(routing: &TrafficRouting) -> String {
    if let Some(gateway) = &routing.gateway_api {
        if let Some(route) = &gateway.http_route {
            return format!("gatewayAPI (HTTPRoute {route})");
        }
        let routes: Vec<String> = gateway
            .http_routes
            .iter()
            .flatten()
            .map(|route| match &route.namespace {
                Some(namespace) => format!("{namespace}/{}", route.name),
                None => route.name.clone(),
            })
            .collect();
        return format!("gatewayAPI (HTTPRoutes {})", routes.join(", "));
    }
    match &routing.plugin {
        Some(plugin) => format!("plugin {}", plugin.name),
        None => "none".to_string(),
    }
}

/// `stable 80%, canary 20%` with the desired canary weight when the router has not verified it.
pub fn weights_text(status: &RolloutStatus) -> String {
    let canary = status.canary_weight.unwrap_or(0);
    // The status is anyone's to write: a weight outside 0..=100 is shown as it is, and one
    // so far outside that `100 - canary` does not fit an i32 shows the stable share saturated.
    let mut text = format!(
        "stable {}%, canary {canary}%",
        100_i32.saturating_sub(canary)
    );
    match status.desired_canary_weight {
        Some(desired) if desired != canary => {
            let _ = write!(
                text,
                " (desired canary {desired}%: waiting for the router to verify)"
            );
        }
        Some(_) => text.push_str(" (verified)"),
        None => {}
    }
    text
}

/// How long the current pause lasts: `4m12s remaining (until 10:05:00Z)`, `until promoted`, or
/// `None` when the rollout is not pausing.
pub fn pause_text(rollout: &Rollout, now: DateTime<Utc>) -> Option<String> {
    let status = rollout.status.as_ref()?;
    let paused = status.phase == Some(Phase::Paused) || status.pause_start_time.is_some();
    if !paused {
        return None;
    }
    let index = usize::try_from(status.current_step_index?).ok()?;
    let step = steps(rollout).get(index)?;
    let pause = step
        .actions()
        .ok()?
        .into_iter()
        .find_map(|action| match action {
            StepAction::Pause(duration) => Some(duration),
            _ => None,
        })?;
    let name = rollout.name_any();
    Some(match (pause, status.pause_start_time) {
        (None, _) => format!("until promoted (kubectl kulta promote {name})"),
        (Some(duration), Some(start)) => {
            // A start time written so close to chrono's maximum that the end does not fit
            // ends at that maximum.
            let end = start
                .checked_add_signed(chrono::Duration::from_std(duration).unwrap_or_default())
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let left = end.signed_duration_since(now).num_seconds();
            let until = end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if left > 0 {
                format!("{} remaining (until {until})", format::remaining(left))
            } else {
                format!("expired at {until}; the controller moves on")
            }
        }
        (Some(duration), None) => format!(
            "{} once the step's weight is verified",
            kulta_api::duration::format_duration(duration)
        ),
    })
}

/// The Rollout's ReplicaSets as table rows, stable first, then the canary, then older ones
/// (newest revision first).
fn revision_rows(status: &RolloutStatus, replica_sets: &[ReplicaSet]) -> Vec<Vec<String>> {
    let role = |hash: &str| {
        if status.stable_revision.as_deref() == Some(hash) {
            (0, "stable")
        } else if status.canary_revision.as_deref() == Some(hash) {
            (1, "canary")
        } else {
            (2, "old")
        }
    };
    let revision = |rs: &ReplicaSet| {
        rs.annotations()
            .get(REVISION_ANNOTATION)
            .and_then(|revision| revision.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let mut sorted: Vec<(usize, &str, i64, &ReplicaSet)> = replica_sets
        .iter()
        .map(|rs| {
            let hash = rs
                .labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .map_or("", String::as_str);
            let (order, name) = role(hash);
            (order, name, revision(rs), rs)
        })
        .collect();
    sorted.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.2.cmp(&a.2))
            .then(a.3.name_any().cmp(&b.3.name_any()))
    });
    let mut rows: Vec<Vec<String>> = sorted
        .into_iter()
        .map(|(_, role, revision, rs)| {
            let hash = rs
                .labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .cloned()
                .unwrap_or_else(|| "-".to_string());
            let desired = rs.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1);
            let ready = rs
                .status
                .as_ref()
                .and_then(|status| status.ready_replicas)
                .unwrap_or(0);
            let images: Vec<String> = rs
                .spec
                .as_ref()
                .and_then(|spec| spec.template.as_ref())
                .and_then(|template| template.spec.as_ref())
                .map(|pod| {
                    pod.containers
                        .iter()
                        .filter_map(|c| c.image.clone())
                        .collect()
                })
                .unwrap_or_default();
            vec![
                role.to_string(),
                if revision > 0 {
                    revision.to_string()
                } else {
                    "-".to_string()
                },
                hash,
                rs.name_any(),
                format!("{ready}/{desired}"),
                images.join(","),
            ]
        })
        .collect();
    // A revision the status names but whose ReplicaSet is not (yet) there.
    for (role, hash) in [
        ("stable", status.stable_revision.as_deref()),
        ("canary", status.canary_revision.as_deref()),
    ] {
        if let Some(hash) = hash
            && !rows.iter().any(|row| row[2] == hash)
        {
            rows.push(vec![
                role.to_string(),
                "-".to_string(),
                hash.to_string(),
                "(no ReplicaSet)".to_string(),
                "0/0".to_string(),
                String::new(),
            ]);
        }
    }
    rows
}

/// The full `get` view of a Rollout.
///
/// `replica_sets` are the Rollout's ReplicaSets (any order), `events` its events (any order; the
/// newest five are shown), `now` the time ages and pause remainders are measured from.
pub fn render_rollout(
    rollout: &Rollout,
    replica_sets: &[ReplicaSet],
    events: &[EventLine],
    now: DateTime<Utc>,
) -> String {
    let default_status = RolloutStatus::default();
    let status = rollout.status.as_ref().unwrap_or(&default_status);
    let name = rollout.name_any();
    let mut out = String::new();
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<13}{value}", format!("{label}:"));
    };
    field("Name", &name);
    field("Namespace", &rollout.namespace().unwrap_or_default());
    field("Strategy", &strategy_text(rollout));
    if let Some(canary) = &rollout.spec.strategy.canary {
        field(
            "Services",
            &format!(
                "stable {}, canary {}",
                canary.stable_service, canary.canary_service
            ),
        );
    }
    field(
        "Phase",
        status.phase.map_or("(not yet reconciled)", Phase::as_str),
    );
    if let Some(message) = &status.message {
        field("Message", message);
    }
    let generation = rollout.metadata.generation.unwrap_or(0);
    let generation_text = match status.observed_generation {
        Some(observed) if observed == generation => format!("{generation} (observed)"),
        Some(observed) => {
            format!("{generation} (controller has observed {observed}; an update is pending)")
        }
        None => format!("{generation} (not yet observed by the controller)"),
    };
    field("Generation", &generation_text);
    field("Step", &step_text(rollout));
    if let Some(pause) = pause_text(rollout, now) {
        field("Pause", &pause);
    }
    field("Weights", &weights_text(status));
    field(
        "Replicas",
        &format!(
            "{} desired, {} current, {} ready, {} available, {} updated",
            rollout.spec.desired_replicas(),
            status.replicas,
            status.ready_replicas,
            status.available_replicas,
            status.updated_replicas
        ),
    );
    if let Some(action) = &status.last_action {
        let at_step = action
            .step_index
            .map(|index| format!(" at step {}", index.saturating_add(1)))
            .unwrap_or_default();
        field(
            "Last action",
            &format!(
                "{}={}{at_step}, {} ago",
                action.annotation,
                action.value,
                age(action.time, now)
            ),
        );
    }

    out.push_str("\nRevisions:\n");
    let rows = revision_rows(status, replica_sets);
    if rows.is_empty() {
        out.push_str("  (no ReplicaSets yet)\n");
    } else {
        out.push_str(&indent(
            &table(
                &["ROLE", "REVISION", "HASH", "REPLICASET", "READY", "IMAGES"],
                &rows,
            ),
            "  ",
        ));
    }

    let steps = steps(rollout);
    if !steps.is_empty() {
        out.push_str("\nSteps:\n");
        let current = status
            .current_step_index
            .and_then(|index| usize::try_from(index).ok());
        for (index, step) in steps.iter().enumerate() {
            let marker = match current {
                Some(current) if current == index => "->",
                Some(current) if current > index => "ok",
                _ => "  ",
            };
            let number = index.saturating_add(1);
            let _ = writeln!(out, "  {marker} {number:>2}. {}", describe_step(step));
        }
    }

    out.push_str("\nConditions:\n");
    if status.conditions.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let rows: Vec<Vec<String>> = status
            .conditions
            .iter()
            .map(|condition| {
                vec![
                    condition.type_.clone(),
                    condition.status.clone(),
                    condition.reason.clone(),
                    format::time(&condition.last_transition_time)
                        .map_or_else(|| "-".to_string(), |at| age(at, now)),
                    truncate(&condition.message, MESSAGE_WIDTH),
                ]
            })
            .collect();
        out.push_str(&indent(
            &table(&["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], &rows),
            "  ",
        ));
    }

    out.push_str("\nEvents:\n");
    let events = crate::events::newest(events.to_vec(), 5);
    if events.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|event| {
                let mut message = truncate(&event.message, MESSAGE_WIDTH);
                if event.count > 1 {
                    let _ = write!(message, " (x{})", event.count);
                }
                vec![
                    event
                        .time
                        .map_or_else(|| "-".to_string(), |at| age(at, now)),
                    event.type_.clone(),
                    event.reason.clone(),
                    message,
                ]
            })
            .collect();
        out.push_str(&indent(
            &table(&["AGE", "TYPE", "REASON", "MESSAGE"], &rows),
            "  ",
        ));
    }
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
