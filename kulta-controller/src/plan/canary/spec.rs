//! The parts of a valid Rollout spec the canary plan uses, read once per reconcile.

use std::collections::BTreeMap;
use std::time::Duration;

use kulta_api::Rollout;
use kulta_api::steps::StepAction;
use kulta_api::validation::FieldError;

/// The parts of a valid spec the plan uses, parsed once.
pub(in crate::plan) struct Spec {
    pub template_hash: String,
    /// The pod template's labels.
    pub template_labels: BTreeMap<String, String>,
    pub replicas: i32,
    pub steps: Vec<Vec<StepAction>>,
    pub stable_service: String,
    pub canary_service: String,
    pub progress_deadline: Duration,
    pub progress_deadline_abort: bool,
    pub scale_down_delay: Duration,
    pub history_limit: usize,
}

impl Spec {
    pub(in crate::plan) fn read(rollout: &Rollout) -> Result<Spec, FieldError> {
        let spec = &rollout.spec;
        let canary = spec.strategy.canary.as_ref().ok_or_else(|| FieldError {
            path: "spec.strategy.canary".to_string(),
            message: "is required".to_string(),
        })?;
        let steps = canary
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                step.actions()
                    .map_err(|error| error.under(&format!("spec.strategy.canary.steps[{index}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Spec {
            template_hash: kulta_api::hash::revision_hash(&spec.template),
            template_labels: spec
                .template
                .raw()
                .pointer("/metadata/labels")
                .and_then(|labels| serde_json::from_value(labels.clone()).ok())
                .unwrap_or_default(),
            replicas: spec.desired_replicas(),
            steps,
            stable_service: canary.stable_service.clone(),
            canary_service: canary.canary_service.clone(),
            progress_deadline: spec.progress_deadline(),
            progress_deadline_abort: spec.progress_deadline_abort.unwrap_or(false),
            scale_down_delay: canary.scale_down_delay(),
            history_limit: usize::try_from(spec.revision_history_limit().max(0)).unwrap_or(0),
        })
    }
}
