//! `kubectl kulta list [-n NS | -A]`: one line per Rollout.
//!
//! Like `kubectl get`, the NAMESPACE column appears with `-A` only.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kulta_api::Rollout;

use crate::format::{self, age, table};
use crate::render;

/// The table for `rollouts`, sorted by namespace and name.
pub fn render_list(rollouts: &[Rollout], all_namespaces: bool, now: DateTime<Utc>) -> String {
    let mut sorted: Vec<&Rollout> = rollouts.iter().collect();
    sorted.sort_by_key(|rollout| (rollout.namespace(), rollout.name_any()));
    let rows: Vec<Vec<String>> = sorted
        .into_iter()
        .map(|rollout| {
            let status = rollout.status.as_ref();
            let steps = render::steps(rollout).len();
            let step = match status.and_then(|status| status.current_step_index) {
                _ if steps == 0 => "-".to_string(),
                Some(index) => {
                    let shown = usize::try_from(index)
                        .unwrap_or(0)
                        .saturating_add(1)
                        .min(steps);
                    format!("{shown}/{steps}")
                }
                None => format!("-/{steps}"),
            };
            let weight = match status.and_then(|status| status.canary_weight) {
                Some(weight) => weight.to_string(),
                None => "-".to_string(),
            };
            let mut row = Vec::with_capacity(8);
            if all_namespaces {
                row.push(rollout.namespace().unwrap_or_default());
            }
            row.extend([
                rollout.name_any(),
                status
                    .and_then(|status| status.phase)
                    .map_or("-", |phase| phase.as_str())
                    .to_string(),
                step,
                weight,
                format!(
                    "{}/{}",
                    status.map_or(0, |status| status.ready_replicas),
                    rollout.spec.desired_replicas()
                ),
                rollout
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(format::time)
                    .map_or_else(|| "-".to_string(), |created| age(created, now)),
            ]);
            row
        })
        .collect();
    let mut headers = Vec::with_capacity(7);
    if all_namespaces {
        headers.push("NAMESPACE");
    }
    headers.extend(["NAME", "PHASE", "STEP", "CANARY-WEIGHT", "READY", "AGE"]);
    table(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kulta_api::steps::{pause_indefinitely, set_weight};
    use kulta_api::testing::RolloutBuilder;
    use kulta_api::{Phase, RolloutStatus};

    #[test]
    fn list_table_snapshot() {
        let created: k8s_openapi::jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 7, 0).single().unwrap();
        let mut paused = RolloutBuilder::new("checkout")
            .namespace("shop")
            .replicas(4)
            .steps([set_weight(25), pause_indefinitely(), set_weight(50)])
            .status(RolloutStatus {
                phase: Some(Phase::Paused),
                current_step_index: Some(1),
                canary_weight: Some(25),
                ready_replicas: 5,
                ..RolloutStatus::default()
            })
            .build();
        paused.metadata.creation_timestamp = Some(Time(created));
        let fresh = RolloutBuilder::new("api").build();
        let rollouts = vec![paused, fresh];
        assert_eq!(
            render_list(&rollouts, true, now),
            "NAMESPACE   NAME       PHASE    STEP   CANARY-WEIGHT   READY   AGE\n\
             default     api        -        -      -               0/1     -\n\
             shop        checkout   Paused   2/3    25              5/4     7m\n"
        );
        assert_eq!(
            render_list(&rollouts[..1], false, now),
            "NAME       PHASE    STEP   CANARY-WEIGHT   READY   AGE\n\
             checkout   Paused   2/3    25              5/4     7m\n"
        );
    }
}
