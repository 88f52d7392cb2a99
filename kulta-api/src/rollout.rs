//! The `Rollout` custom resource: spec and status types.
//!
//! Field names follow the Kubernetes API conventions (camelCase in JSON). Optional fields stay
//! `Option` so that a Rollout read from the cluster serialises back exactly as written.

use crate::template::PodTemplate;
use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Replicas when `spec.replicas` is omitted.
pub const DEFAULT_REPLICAS: i32 = 1;
/// `spec.progressDeadlineSeconds` when omitted.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// `spec.strategy.canary.scaleDownDelaySeconds` when omitted.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// `spec.revisionHistoryLimit` when omitted.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Most steps a canary strategy may list. The bound keeps the cost of the CRD's CEL rules within
/// the API server's budget; no real rollout needs more.
pub const MAX_STEPS: usize = 100;
/// Most HTTPRoutes one Rollout may reference.
pub const MAX_HTTP_ROUTES: usize = 16;

/// Desired state of a Rollout: a pod template and how a new revision of it reaches production.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "kulta.io",
    version = "v1alpha1",
    kind = "Rollout",
    plural = "rollouts",
    shortname = "kr",
    namespaced,
    status = "RolloutStatus",
    scale = r#"{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.replicas","labelSelectorPath":".status.selector"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Step","type":"integer","jsonPath":".status.currentStepIndex"}"#,
    printcolumn = r#"{"name":"Canary-Weight","type":"integer","jsonPath":".status.canaryWeight"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("size(self.metadata.name) <= 63").message(
        "metadata.name must be at most 63 characters: it is the value of the kulta.io/rollout label on the Rollout's ReplicaSets"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(self.minReadySeconds) || (has(self.progressDeadlineSeconds) ? self.progressDeadlineSeconds : 600) > self.minReadySeconds"
).message("progressDeadlineSeconds must be greater than minReadySeconds"))]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Number of pods of the current revision when the rollout is settled. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    #[x_kube(validation = Rule::new("self >= 0").message("replicas must not be negative"))]
    pub replicas: Option<i32>,
    /// Label selector for the Rollout's pods; must match `template.metadata.labels`.
    pub selector: LabelSelector,
    /// Pod template. A change to it starts a new revision. Stored as written; a template that
    /// is not a valid pod template makes the Rollout invalid (`InvalidSpec`, naming the field).
    #[schemars(schema_with = "preserve_unknown_object")]
    pub template: PodTemplate,
    /// How a new revision is rolled out.
    pub strategy: RolloutStrategy,
    /// Seconds a new pod must be ready before it counts as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets kept (at zero replicas) for rollback. Defaults to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub revision_history_limit: Option<i32>,
    /// Seconds the canary may take to become available before the rollout is reported as
    /// stuck (`Progressing=False`, reason `ProgressDeadlineExceeded`). Defaults to 600. Must be
    /// greater than `minReadySeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub progress_deadline_seconds: Option<i32>,
    /// Abort the canary when the progress deadline is exceeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_abort: Option<bool>,
}

/// Schema `pattern` of `pause.duration`: Go duration syntax (a bare `0`, or numbers with units).
/// [`crate::duration::parse_duration`] also bounds the value, which a pattern cannot.
pub const DURATION_PATTERN: &str =
    r"^\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

/// CEL rule for a weight field: a percentage.
const WEIGHT_RULE: &str = "self >= 0 && self <= 100";

/// CEL rule for the shape of a step: exactly one action, or the `setWeight` + `pause` pair.
pub const STEP_SHAPE_RULE: &str = "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.setCanaryScale) ? 1 : 0) == 1 || (has(self.setWeight) && has(self.pause) && !has(self.setCanaryScale))";
/// Message of [`STEP_SHAPE_RULE`], shown by the API server when a step breaks it.
pub const STEP_SHAPE_MESSAGE: &str = "a step has exactly one action: setWeight, pause or setCanaryScale (setWeight may be combined with pause)";

/// CEL rule for `setCanaryScale`: exactly one of its fields, `matchTrafficWeight` only as `true`.
pub const CANARY_SCALE_RULE: &str = "(has(self.replicas) ? 1 : 0) + (has(self.weight) ? 1 : 0) + (has(self.matchTrafficWeight) ? 1 : 0) == 1 && (!has(self.matchTrafficWeight) || self.matchTrafficWeight)";
/// Message of [`CANARY_SCALE_RULE`].
pub const CANARY_SCALE_MESSAGE: &str =
    "setCanaryScale sets exactly one of replicas, weight or matchTrafficWeight: true";

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// The rollout strategy. Exactly one strategy is set; today that is `canary`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.canary)").message("strategy.canary is required"))]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// Canary: the new revision runs beside the stable one and takes traffic step by step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
}

/// A canary strategy: Services pinned to each revision and the steps that move traffic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.stableService != self.canaryService").message(
    "stableService and canaryService must name different Services"
))]
#[x_kube(validation = Rule::new("has(self.trafficRouting)").message(
    "trafficRouting is required: name one router, gatewayAPI or plugin"
))]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Service that selects the stable revision's pods. The controller pins its selector to the
    /// stable revision's pod-template-hash. A DNS-1035 label.
    #[schemars(length(min = 1, max = 63))]
    pub stable_service: String,
    /// Service that selects the canary revision's pods. A DNS-1035 label.
    #[schemars(length(min = 1, max = 63))]
    pub canary_service: String,
    /// Steps run in order for each new revision. No steps: a new revision is promoted at once.
    /// At most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_STEPS))]
    pub steps: Vec<CanaryStep>,
    /// The traffic router that splits traffic between the two Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// Seconds the old stable ReplicaSet keeps running after a promotion, so that clients and
    /// proxies drain before its pods go away. Defaults to 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub scale_down_delay_seconds: Option<i32>,
}

/// One canary step. Exactly one action, except the combined form `setWeight` + `pause`
/// (set the weight, then pause) that KULTA's first README used.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(STEP_SHAPE_RULE).message(STEP_SHAPE_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Percentage (0 to 100) of traffic sent to the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    #[x_kube(validation = Rule::new(WEIGHT_RULE).message("setWeight must be between 0 and 100"))]
    pub set_weight: Option<i32>,
    /// Pause for a duration, or until promoted when no duration is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseStep>,
    /// Scale the canary independently of its traffic weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<SetCanaryScale>,
}

/// A pause step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseStep {
    /// How long to pause, in Go duration syntax (`30s`, `5m`, `1h30m`). Absent: pause until a
    /// person promotes with `kulta.io/promote=true`. At most 720h (30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub duration: Option<String>,
}

/// Canary scale independent of traffic weight. Exactly one field is set, and
/// `matchTrafficWeight` counts only when `true`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(CANARY_SCALE_RULE).message(CANARY_SCALE_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    /// An absolute number of canary pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    #[x_kube(validation = Rule::new("self >= 0").message("setCanaryScale.replicas must not be negative"))]
    pub replicas: Option<i32>,
    /// A percentage (0 to 100) of `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    #[x_kube(validation = Rule::new(WEIGHT_RULE).message("setCanaryScale.weight must be between 0 and 100"))]
    pub weight: Option<i32>,
    /// Go back to sizing the canary from its traffic weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_traffic_weight: Option<bool>,
}

/// The traffic router. Exactly one is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.gatewayAPI) != has(self.plugin)").message(
    "trafficRouting names exactly one router: gatewayAPI or plugin"
))]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    /// Gateway API: weights on the backendRefs of HTTPRoutes.
    #[serde(
        default,
        rename = "gatewayAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub gateway_api: Option<GatewayApiRouting>,
    /// A router from a separate crate registered with the controller under `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginRouting>,
}

/// Gateway API routing: the HTTPRoutes whose backendRefs carry the stable and canary Services.
/// Exactly one of `httpRoute` and `httpRoutes` is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.httpRoute) != has(self.httpRoutes)").message(
    "gatewayAPI sets exactly one of httpRoute and httpRoutes"
))]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiRouting {
    /// One HTTPRoute in the Rollout's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub http_route: Option<String>,
    /// Several HTTPRoutes, each optionally in another namespace. At most 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_HTTP_ROUTES))]
    pub http_routes: Option<Vec<RouteRef>>,
}

/// A reference to a route object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteRef {
    /// Name of the route.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the route; defaults to the Rollout's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// A third-party router registered with the controller at build time.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginRouting {
    /// The name the router was registered under.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The router's own configuration, passed to it verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub config: Option<serde_json::Value>,
}

/// Where a Rollout stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// A new revision is being rolled out.
    Progressing,
    /// The rollout waits at a pause step.
    Paused,
    /// The latest revision is fully rolled out and available.
    Healthy,
    /// The rollout was aborted, is stuck, or its spec is invalid.
    Degraded,
}

impl Phase {
    /// The name used in status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::Healthy => "Healthy",
            Phase::Degraded => "Degraded",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user action (annotation) the controller consumed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// The annotation, e.g. `kulta.io/promote`.
    pub annotation: String,
    /// Its value, e.g. `full`.
    pub value: String,
    /// When the controller consumed it.
    pub time: DateTime<Utc>,
    /// The step index at which it was consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
}

/// Observed state of a Rollout. Written by the controller only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the rollout stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// What the controller is doing or waiting for, for a person to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Index of the step being run; equal to the number of steps once all ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Revision hash of the stable pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    /// Revision hash of the canary pod template while a canary runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// Canary traffic weight the router last verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<i32>,
    /// Canary traffic weight the controller asked the router for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_canary_weight: Option<i32>,
    /// When the current pause began; a restarted controller resumes the pause from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_start_time: Option<DateTime<Utc>>,
    /// When the current step (or the canary) started waiting for availability; the progress
    /// deadline counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_start_time: Option<DateTime<Utc>>,
    /// The canary was aborted; cleared by a retry or a new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<bool>,
    /// Pods of every revision owned by the Rollout.
    #[serde(default)]
    pub replicas: i32,
    /// Ready pods of every revision.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Available pods of every revision.
    #[serde(default)]
    pub available_replicas: i32,
    /// Pods of the latest revision.
    #[serde(default)]
    pub updated_replicas: i32,
    /// Label selector of the pods, as a string, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The last user action the controller consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<ActionRecord>,
    /// User actions already carried out whose annotations the controller has not yet seen
    /// removed. Written before the annotations are removed: while an annotation listed here is
    /// still on the Rollout with the same value, it is this action, not a new one, and is not
    /// carried out again. An entry goes once its annotation is gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_actions: Vec<ActionRecord>,
    /// Conditions: `Ready`, `Progressing`, `Paused`, `TrafficRouted`, `InvalidSpec`, `Aborted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
