//! Values the controller reads from a spec with the defaults applied, so that every caller
//! agrees on what an omitted field means.

use std::time::Duration;

use crate::rollout::{
    CanaryStrategy, DEFAULT_PROGRESS_DEADLINE_SECONDS, DEFAULT_REPLICAS,
    DEFAULT_REVISION_HISTORY_LIMIT, DEFAULT_SCALE_DOWN_DELAY_SECONDS, RolloutSpec, TrafficRouting,
};

/// [`TrafficRouting::router_key`] of the Gateway API router.
pub const GATEWAY_API_ROUTER_KEY: &str = "gatewayAPI";

/// Seconds as a duration; negative values (refused by validation) count as zero.
fn seconds(value: i32) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

impl RolloutSpec {
    /// Pods of the current revision when settled: `replicas`, or [`DEFAULT_REPLICAS`] (1) when
    /// omitted. A negative value (refused by validation) counts as 0.
    pub fn desired_replicas(&self) -> i32 {
        self.replicas.unwrap_or(DEFAULT_REPLICAS).max(0)
    }

    /// How long the canary may take to become available: `progressDeadlineSeconds`, or
    /// [`DEFAULT_PROGRESS_DEADLINE_SECONDS`] (600) when omitted or not positive (validation
    /// refuses the latter).
    pub fn progress_deadline(&self) -> Duration {
        let value = self
            .progress_deadline_seconds
            .filter(|seconds| *seconds > 0)
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        seconds(value)
    }

    /// Old ReplicaSets to keep: `revisionHistoryLimit`, or [`DEFAULT_REVISION_HISTORY_LIMIT`]
    /// (10) when omitted. A negative value (refused by validation) counts as 0.
    pub fn revision_history_limit(&self) -> i32 {
        self.revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
            .max(0)
    }

    /// How long a new pod must be ready to count as available: `minReadySeconds`, or zero.
    pub fn min_ready(&self) -> Duration {
        seconds(self.min_ready_seconds.unwrap_or(0))
    }

    /// Whether to abort when the progress deadline passes: `progressDeadlineAbort`, or `false`.
    pub fn abort_on_progress_deadline(&self) -> bool {
        self.progress_deadline_abort.unwrap_or(false)
    }
}

impl CanaryStrategy {
    /// How long the old stable keeps running after a promotion: `scaleDownDelaySeconds`, or
    /// [`DEFAULT_SCALE_DOWN_DELAY_SECONDS`] (30) when omitted. A negative value (refused by
    /// validation) counts as zero.
    pub fn scale_down_delay(&self) -> Duration {
        seconds(
            self.scale_down_delay_seconds
                .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS),
        )
    }
}

impl TrafficRouting {
    /// The key the controller's router registry knows this router by:
    /// [`GATEWAY_API_ROUTER_KEY`] (`"gatewayAPI"`) or the plugin's name. `None` unless exactly
    /// one router is set (validation refuses the other cases).
    pub fn router_key(&self) -> Option<&str> {
        match (&self.gateway_api, &self.plugin) {
            (Some(_), None) => Some(GATEWAY_API_ROUTER_KEY),
            (None, Some(plugin)) => Some(plugin.name.as_str()),
            _ => None,
        }
    }

    /// The router's own section as JSON: for Gateway API the `gatewayAPI` object (e.g.
    /// `{"httpRoute":"my-app-route"}`), for a plugin its `config`, or `{}` when it has none.
    /// `None` exactly when [`router_key`](Self::router_key) is `None`.
    pub fn router_config(&self) -> Option<serde_json::Value> {
        match (&self.gateway_api, &self.plugin) {
            (Some(gateway), None) => serde_json::to_value(gateway).ok(),
            (None, Some(plugin)) => Some(
                plugin
                    .config
                    .clone()
                    .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
            ),
            _ => None,
        }
    }
}
