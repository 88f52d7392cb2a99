//! Test fixtures (feature `testing`): build Rollouts in one expression.
//!
//! ```
//! use kulta_api::steps::{pause, set_weight};
//! use kulta_api::testing::RolloutBuilder;
//!
//! let rollout = RolloutBuilder::new("app")
//!     .replicas(3)
//!     .image("nginx:1.26")
//!     .steps([set_weight(20), pause(Some("5m")), set_weight(100)])
//!     .build();
//! assert!(kulta_api::validation::validate(&rollout).is_ok());
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::rollout::{
    CanaryStep, CanaryStrategy, GatewayApiRouting, PluginRouting, Rollout, RolloutSpec,
    RolloutStatus, RolloutStrategy, TrafficRouting,
};

/// Builds a valid Rollout and lets a test change what it is about.
///
/// Defaults: namespace `default`; labels `app: <name>` on the selector and the template; one
/// container `app` running `nginx:1.25`; Services `<name>-stable` and `<name>-canary`; Gateway
/// API routing through the HTTPRoute `<name>-route`; no steps; every optional field omitted.
#[derive(Debug, Clone)]
pub struct RolloutBuilder {
    rollout: Rollout,
}

impl RolloutBuilder {
    /// A valid Rollout named `name` with the defaults above.
    pub fn new(name: &str) -> Self {
        let labels = BTreeMap::from([("app".to_owned(), name.to_owned())]);
        let spec = RolloutSpec {
            replicas: None,
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".to_owned(),
                        image: Some("nginx:1.25".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            }
            .into(),
            strategy: RolloutStrategy {
                canary: Some(CanaryStrategy {
                    stable_service: format!("{name}-stable"),
                    canary_service: format!("{name}-canary"),
                    steps: Vec::new(),
                    traffic_routing: Some(TrafficRouting {
                        gateway_api: Some(GatewayApiRouting {
                            http_route: Some(format!("{name}-route")),
                            http_routes: None,
                        }),
                        plugin: None,
                    }),
                    scale_down_delay_seconds: None,
                }),
            },
            min_ready_seconds: None,
            revision_history_limit: None,
            progress_deadline_seconds: None,
            progress_deadline_abort: None,
        };
        let mut rollout = Rollout::new(name, spec);
        rollout.metadata.namespace = Some("default".to_owned());
        Self { rollout }
    }

    /// Sets `metadata.namespace`.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.rollout.metadata.namespace = Some(namespace.to_owned());
        self
    }

    /// Sets `spec.replicas`.
    pub fn replicas(mut self, replicas: i32) -> Self {
        self.rollout.spec.replicas = Some(replicas);
        self
    }

    /// Sets the image of the template's first container (a new revision when it changes).
    pub fn image(mut self, image: &str) -> Self {
        if let Some(container) = self
            .rollout
            .spec
            .template
            .raw_mut()
            .pointer_mut("/spec/containers/0")
            .and_then(serde_json::Value::as_object_mut)
        {
            container.insert("image".to_owned(), image.into());
        }
        self
    }

    /// Adds a label to the template (not to the selector).
    pub fn template_label(mut self, key: &str, value: &str) -> Self {
        if let Ok(mut template) = self.rollout.spec.template.decode() {
            template
                .metadata
                .get_or_insert_with(ObjectMeta::default)
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(key.to_owned(), value.to_owned());
            self.rollout.spec.template.set(&template);
        }
        self
    }

    /// Replaces the canary steps; see [`crate::steps`] for step helpers.
    pub fn steps(mut self, steps: impl IntoIterator<Item = CanaryStep>) -> Self {
        self.canary().steps = steps.into_iter().collect();
        self
    }

    /// Routes through the Gateway API with one HTTPRoute (replacing any router).
    pub fn http_route(mut self, name: &str) -> Self {
        self.canary().traffic_routing = Some(TrafficRouting {
            gateway_api: Some(GatewayApiRouting {
                http_route: Some(name.to_owned()),
                http_routes: None,
            }),
            plugin: None,
        });
        self
    }

    /// Routes through a plugin router registered as `name` with this config (replacing any
    /// router).
    pub fn plugin(mut self, name: &str, config: serde_json::Value) -> Self {
        self.canary().traffic_routing = Some(TrafficRouting {
            gateway_api: None,
            plugin: Some(PluginRouting {
                name: name.to_owned(),
                config: Some(config),
            }),
        });
        self
    }

    /// Sets the stable and canary Service names.
    pub fn services(mut self, stable: &str, canary: &str) -> Self {
        let strategy = self.canary();
        strategy.stable_service = stable.to_owned();
        strategy.canary_service = canary.to_owned();
        self
    }

    /// Sets `spec.strategy.canary.scaleDownDelaySeconds`.
    pub fn scale_down_delay_seconds(mut self, seconds: i32) -> Self {
        self.canary().scale_down_delay_seconds = Some(seconds);
        self
    }

    /// Sets `spec.progressDeadlineSeconds`.
    pub fn progress_deadline_seconds(mut self, seconds: i32) -> Self {
        self.rollout.spec.progress_deadline_seconds = Some(seconds);
        self
    }

    /// Sets `spec.progressDeadlineAbort`.
    pub fn progress_deadline_abort(mut self, abort: bool) -> Self {
        self.rollout.spec.progress_deadline_abort = Some(abort);
        self
    }

    /// Sets `spec.minReadySeconds`.
    pub fn min_ready_seconds(mut self, seconds: i32) -> Self {
        self.rollout.spec.min_ready_seconds = Some(seconds);
        self
    }

    /// Sets `spec.revisionHistoryLimit`.
    pub fn revision_history_limit(mut self, limit: i32) -> Self {
        self.rollout.spec.revision_history_limit = Some(limit);
        self
    }

    /// Adds an annotation, e.g. a user action such as `kulta.io/promote=true`.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.rollout
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets `metadata.generation`.
    pub fn generation(mut self, generation: i64) -> Self {
        self.rollout.metadata.generation = Some(generation);
        self
    }

    /// Sets `metadata.uid`.
    pub fn uid(mut self, uid: &str) -> Self {
        self.rollout.metadata.uid = Some(uid.to_owned());
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: RolloutStatus) -> Self {
        self.rollout.status = Some(status);
        self
    }

    /// Changes anything else in the spec.
    pub fn with_spec(mut self, change: impl FnOnce(&mut RolloutSpec)) -> Self {
        change(&mut self.rollout.spec);
        self
    }

    /// The Rollout.
    pub fn build(self) -> Rollout {
        self.rollout
    }

    /// The canary strategy, created empty if a test removed it.
    fn canary(&mut self) -> &mut CanaryStrategy {
        self.rollout
            .spec
            .strategy
            .canary
            .get_or_insert_with(|| CanaryStrategy {
                stable_service: String::new(),
                canary_service: String::new(),
                steps: Vec::new(),
                traffic_routing: None,
                scale_down_delay_seconds: None,
            })
    }
}
