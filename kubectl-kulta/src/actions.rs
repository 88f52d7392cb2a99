//! `promote`, `abort` and `retry`: user actions are annotations on the Rollout, which the
//! controller consumes once and records in `status.lastAction`. Each is a JSON merge patch of one
//! annotation, the same write as `kubectl annotate --overwrite`.

use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta_api::labels::{
    ABORT_ANNOTATION, PROMOTE_ANNOTATION, PROMOTE_FULL, PROMOTE_STEP, RETRY_ANNOTATION,
};
use kulta_api::{Phase, Rollout};
use serde_json::{Value, json};

use crate::error::{Result, rollout_error};

/// Field manager of the plugin's writes, as seen in `managedFields`.
pub const FIELD_MANAGER: &str = "kubectl-kulta";

/// A user action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Continue past the current pause.
    Promote,
    /// Skip every remaining step.
    PromoteFull,
    /// Abort the canary.
    Abort,
    /// Restart an aborted canary.
    Retry,
}

impl Action {
    /// The annotation and its value.
    pub fn annotation(self) -> (&'static str, &'static str) {
        match self {
            Action::Promote => (PROMOTE_ANNOTATION, PROMOTE_STEP),
            Action::PromoteFull => (PROMOTE_ANNOTATION, PROMOTE_FULL),
            Action::Abort => (ABORT_ANNOTATION, "true"),
            Action::Retry => (RETRY_ANNOTATION, "true"),
        }
    }

    /// The merge patch that sets the annotation.
    pub fn patch(self) -> Value {
        let (key, value) = self.annotation();
        json!({ "metadata": { "annotations": { key: value } } })
    }

    /// What the controller will do, for the confirmation line.
    fn effect(self) -> &'static str {
        match self {
            Action::Promote => "the controller continues past the current pause",
            Action::PromoteFull => {
                "the controller skips the remaining steps and makes the canary stable"
            }
            Action::Abort => {
                "the controller moves all traffic to stable, then scales the canary down"
            }
            Action::Retry => "the controller restarts the canary from its first step",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Promote => "promoted",
            Action::PromoteFull => "fully promoted",
            Action::Abort => "aborted",
            Action::Retry => "retried",
        }
    }

    /// A note when the rollout's phase makes the action pointless (the controller consumes the
    /// annotation anyway and reports `ActionIgnored`).
    pub fn note(self, phase: Option<Phase>) -> Option<&'static str> {
        match (self, phase) {
            (Action::Promote | Action::PromoteFull | Action::Abort, Some(Phase::Healthy)) => Some(
                "the rollout is Healthy with no canary in progress; the controller will ignore the action",
            ),
            (Action::Retry, Some(phase)) if phase != Phase::Degraded => Some(
                "the rollout is not Degraded; retry only restarts an aborted canary, so the controller will ignore it",
            ),
            _ => None,
        }
    }

    /// The confirmation printed after the patch, with the kubectl command doing the same.
    pub fn confirmation(self, name: &str, namespace: &str) -> String {
        let (key, value) = self.annotation();
        format!(
            "rollout {name:?} {verb}: set {key}={value} ({effect})\n\
             kubectl equivalent: kubectl annotate rollout {name} -n {namespace} {key}={value} --overwrite\n",
            verb = self.verb(),
            effect = self.effect(),
        )
    }
}

/// Parameters of the plugin's patches: its field manager, nothing forced.
pub fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// Sets the action's annotation on rollout `name`; returns the confirmation and an optional
/// note for stderr.
///
/// # Errors
/// [`crate::error::Error::NotFound`] when the rollout does not exist; request errors otherwise.
pub async fn apply(
    api: &Api<Rollout>,
    namespace: &str,
    name: &str,
    action: Action,
) -> Result<(String, Option<&'static str>)> {
    let rollout = api
        .get(name)
        .await
        .map_err(|error| rollout_error("get", name, namespace, error))?;
    let phase = rollout.status.as_ref().and_then(|status| status.phase);
    api.patch(name, &patch_params(), &Patch::Merge(action.patch()))
        .await
        .map_err(|error| rollout_error("patch", name, namespace, error))?;
    Ok((action.confirmation(name, namespace), action.note(phase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_set_one_annotation() {
        assert_eq!(
            Action::PromoteFull.patch(),
            json!({"metadata": {"annotations": {"kulta.io/promote": "full"}}})
        );
        assert_eq!(
            Action::Abort.patch(),
            json!({"metadata": {"annotations": {"kulta.io/abort": "true"}}})
        );
        assert_eq!(Action::Retry.annotation(), ("kulta.io/retry", "true"));
        assert_eq!(Action::Promote.annotation(), ("kulta.io/promote", "true"));
    }

    #[test]
    fn confirmation_gives_the_kubectl_equivalent() {
        assert_eq!(
            Action::Promote.confirmation("app", "prod"),
            "rollout \"app\" promoted: set kulta.io/promote=true (the controller continues past the current pause)\n\
             kubectl equivalent: kubectl annotate rollout app -n prod kulta.io/promote=true --overwrite\n"
        );
    }

    #[test]
    fn notes_only_when_pointless() {
        assert!(Action::Promote.note(Some(Phase::Paused)).is_none());
        assert!(Action::Promote.note(Some(Phase::Healthy)).is_some());
        assert!(Action::Retry.note(Some(Phase::Degraded)).is_none());
        assert!(Action::Retry.note(Some(Phase::Progressing)).is_some());
        assert!(Action::Abort.note(None).is_none());
    }
}
