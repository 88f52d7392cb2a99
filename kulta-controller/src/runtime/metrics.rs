//! Prometheus metrics (OpenMetrics text via `prometheus-client`). Every metric has a help string
//! and bounded labels: per-Rollout series carry only the Rollout's namespace and name, and are
//! removed when the Rollout goes away.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of per-Rollout series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    /// Rollout namespace.
    pub namespace: String,
    /// Rollout name.
    pub name: String,
}

/// Labels of `kulta_rollout_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutInfoLabels {
    /// Rollout namespace.
    pub namespace: String,
    /// Rollout name.
    pub name: String,
    /// Strategy: `canary`.
    pub strategy: String,
    /// Router key, e.g. `gatewayAPI`.
    pub router: String,
    /// Phase.
    pub phase: String,
}

/// Labels carrying a phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// The phase entered.
    pub phase: String,
}

/// Labels carrying an error category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    /// Bounded error category.
    pub category: String,
}

/// Labels of router operations.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouterOperationLabels {
    /// Router kind.
    pub router: String,
    /// `set_weight`, `verify_weight` or `remove_managed_routes`.
    pub operation: String,
    /// `written`, `unchanged`, `verified`, `pending`, `unsupported`, `ok`, or an error category.
    pub result: String,
}

/// The controller's metrics.
pub struct Metrics {
    registry: Registry,
    rollout_info: Family<RolloutInfoLabels, Gauge>,
    canary_weight: Family<RolloutLabels, Gauge>,
    current_step: Family<RolloutLabels, Gauge>,
    phase_transitions: Family<PhaseLabels, Counter>,
    reconcile_duration: Histogram,
    reconcile_errors: Family<CategoryLabels, Counter>,
    router_operations: Family<RouterOperationLabels, Counter>,
    step_route_latency: Histogram,
    info: Mutex<HashMap<RolloutLabels, RolloutInfoLabels>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `kulta` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kulta");
        let rollout_info = Family::<RolloutInfoLabels, Gauge>::default();
        registry.register(
            "rollout_info",
            "Information about a Rollout; always 1",
            rollout_info.clone(),
        );
        let canary_weight = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_canary_weight",
            "Canary traffic weight (percent) the router last verified",
            canary_weight.clone(),
        );
        let current_step = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_current_step",
            "Index of the canary step being run (the step count once all ran)",
            current_step.clone(),
        );
        let phase_transitions = Family::<PhaseLabels, Counter>::default();
        registry.register(
            "rollout_phase_transitions",
            "Rollout phase changes, by the phase entered",
            phase_transitions.clone(),
        );
        let reconcile_duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile of a Rollout took",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<CategoryLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by error category",
            reconcile_errors.clone(),
        );
        let router_operations = Family::<RouterOperationLabels, Counter>::default();
        registry.register(
            "router_operations",
            "Traffic router calls, by router, operation and result",
            router_operations.clone(),
        );
        let step_route_latency = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "step_route_latency_seconds",
            "Time from a step becoming eligible (pause expiry, promotion, canary available) to its route write",
            step_route_latency.clone(),
        );
        Metrics {
            registry,
            rollout_info,
            canary_weight,
            current_step,
            phase_transitions,
            reconcile_duration,
            reconcile_errors,
            router_operations,
            step_route_latency,
            info: Mutex::new(HashMap::new()),
        }
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Records a Rollout's current state; counts a phase transition when `previous_phase` differs.
    pub fn observe_rollout(
        &self,
        labels: RolloutLabels,
        router: &str,
        phase: &str,
        previous_phase: Option<&str>,
        weight: Option<i32>,
        step: Option<i32>,
    ) {
        let info = RolloutInfoLabels {
            namespace: labels.namespace.clone(),
            name: labels.name.clone(),
            strategy: "canary".to_string(),
            router: router.to_string(),
            phase: phase.to_string(),
        };
        if let Ok(mut known) = self.info.lock()
            && let Some(old) = known.insert(labels.clone(), info.clone())
            && old != info
        {
            self.rollout_info.remove(&old);
        }
        self.rollout_info.get_or_create(&info).set(1);
        if previous_phase != Some(phase) {
            self.phase_transitions
                .get_or_create(&PhaseLabels {
                    phase: phase.to_string(),
                })
                .inc();
        }
        self.canary_weight
            .get_or_create(&labels)
            .set(i64::from(weight.unwrap_or(0)));
        self.current_step
            .get_or_create(&labels)
            .set(i64::from(step.unwrap_or(0)));
    }

    /// Removes a deleted Rollout's series.
    pub fn forget_rollout(&self, labels: &RolloutLabels) {
        if let Ok(mut known) = self.info.lock()
            && let Some(old) = known.remove(labels)
        {
            self.rollout_info.remove(&old);
        }
        self.canary_weight.remove(labels);
        self.current_step.remove(labels);
    }

    /// Records one reconcile's duration.
    pub fn reconciled(&self, took: Duration) {
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, category: &str) {
        self.reconcile_errors
            .get_or_create(&CategoryLabels {
                category: category.to_string(),
            })
            .inc();
    }

    /// Counts a router call.
    pub fn router_operation(&self, router: &str, operation: &str, result: &str) {
        self.router_operations
            .get_or_create(&RouterOperationLabels {
                router: router.to_string(),
                operation: operation.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Records the latency from a step becoming eligible to its route write.
    pub fn step_route_latency(&self, latency: Duration) {
        self.step_route_latency.observe(latency.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> RolloutLabels {
        RolloutLabels {
            namespace: "default".into(),
            name: "app".into(),
        }
    }

    #[test]
    fn every_metric_is_exposed_with_help_text() {
        let metrics = Metrics::new();
        metrics.observe_rollout(
            labels(),
            "gatewayAPI",
            "Progressing",
            None,
            Some(20),
            Some(1),
        );
        metrics.reconciled(Duration::from_millis(12));
        metrics.reconcile_failed("conflict");
        metrics.router_operation("gatewayAPI", "set_weight", "written");
        metrics.step_route_latency(Duration::from_millis(30));
        let text = metrics.encode();
        for name in [
            "kulta_rollout_info",
            "kulta_rollout_canary_weight",
            "kulta_rollout_current_step",
            "kulta_rollout_phase_transitions_total",
            "kulta_reconcile_duration_seconds",
            "kulta_reconcile_errors_total",
            "kulta_router_operations_total",
            "kulta_step_route_latency_seconds",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        assert!(text.contains("# HELP kulta_rollout_canary_weight"));
        assert!(
            text.contains(r#"kulta_rollout_canary_weight{namespace="default",name="app"} 20"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_phase_change_replaces_the_info_series_and_counts_a_transition() {
        let metrics = Metrics::new();
        metrics.observe_rollout(labels(), "gatewayAPI", "Progressing", None, None, None);
        metrics.observe_rollout(
            labels(),
            "gatewayAPI",
            "Progressing",
            Some("Progressing"),
            None,
            None,
        );
        metrics.observe_rollout(
            labels(),
            "gatewayAPI",
            "Healthy",
            Some("Progressing"),
            None,
            None,
        );
        let text = metrics.encode();
        assert!(!text.contains(
            r#"phase="Progressing"} 1"#.replace("phase", "router=\"gatewayAPI\",phase").as_str()
        ));
        assert!(text.contains(r#"kulta_rollout_info{namespace="default",name="app",strategy="canary",router="gatewayAPI",phase="Healthy"} 1"#), "{text}");
        assert!(
            text.contains(r#"kulta_rollout_phase_transitions_total{phase="Progressing"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"kulta_rollout_phase_transitions_total{phase="Healthy"} 1"#),
            "{text}"
        );
        metrics.forget_rollout(&labels());
        assert!(!metrics.encode().contains(r#"name="app""#));
    }
}
