//! A normalised view of canary steps: what the controller does at each step.
//!
//! The spec allows the original README's combined step (`setWeight` with a `pause`); here it
//! becomes two actions in order, so the controller's plan only ever sees one action at a time.

use std::time::Duration;

use crate::duration::parse_duration;
use crate::rollout::{CanaryStep, PauseStep, SetCanaryScale};
use crate::validation::FieldError;

/// One action of a canary step, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Send this percentage (0 to 100) of traffic to the canary.
    SetWeight(u8),
    /// Pause for a duration, or until a person promotes (`None`).
    Pause(Option<Duration>),
    /// Size the canary independently of its traffic weight.
    SetCanaryScale(CanaryScale),
}

/// How `setCanaryScale` sizes the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryScale {
    /// An absolute number of pods (0 or more).
    Replicas(i32),
    /// A percentage (0 to 100) of `spec.replicas`.
    Weight(u8),
    /// Go back to sizing the canary from its traffic weight.
    MatchTrafficWeight,
}

impl CanaryStep {
    /// The step's actions in the order the controller runs them: one action, or `SetWeight`
    /// then `Pause` for the combined form.
    ///
    /// # Errors
    ///
    /// The first problem with the step, with a path relative to the step (`setWeight`,
    /// `pause.duration`, ...; an empty path for the step as a whole). Prefix it with
    /// [`FieldError::under`]. [`crate::validation::validate`] reports every problem of every step.
    pub fn actions(&self) -> Result<Vec<StepAction>, FieldError> {
        match step_errors(self).into_iter().next() {
            Some(error) => Err(error),
            None => Ok(normalise(self)),
        }
    }
}

/// Builds the action list of a step already known to be valid.
fn normalise(step: &CanaryStep) -> Vec<StepAction> {
    let mut actions = Vec::with_capacity(2);
    if let Some(weight) = step.set_weight.and_then(|w| u8::try_from(w).ok()) {
        actions.push(StepAction::SetWeight(weight));
    }
    if let Some(pause) = &step.pause {
        let duration = pause
            .duration
            .as_deref()
            .and_then(|d| parse_duration(d).ok());
        actions.push(StepAction::Pause(duration));
    }
    if let Some(scale) = &step.set_canary_scale {
        let scale = match (scale.replicas, scale.weight) {
            (Some(replicas), _) => CanaryScale::Replicas(replicas),
            (None, Some(weight)) => CanaryScale::Weight(u8::try_from(weight).unwrap_or(100)),
            (None, None) => CanaryScale::MatchTrafficWeight,
        };
        actions.push(StepAction::SetCanaryScale(scale));
    }
    actions
}

/// Message for a step that has no action.
const NO_ACTION: &str = "has no action; set one of setWeight, pause or setCanaryScale";

/// Every problem with one step, with paths relative to the step.
pub(crate) fn step_errors(step: &CanaryStep) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let present: Vec<&str> = [
        step.set_weight.map(|_| "setWeight"),
        step.pause.as_ref().map(|_| "pause"),
        step.set_canary_scale.as_ref().map(|_| "setCanaryScale"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match present.as_slice() {
        [] => errors.push(FieldError::new("", NO_ACTION)),
        [_] | ["setWeight", "pause"] => {}
        several => errors.push(FieldError::new(
            "",
            format!(
                "has conflicting actions {}; a step has exactly one action: setWeight, pause or \
                 setCanaryScale (setWeight may be combined with pause)",
                several.join(", ")
            ),
        )),
    }
    if let Some(weight) = step.set_weight {
        check_weight("setWeight", weight, &mut errors);
    }
    if let Some(pause) = &step.pause {
        pause_errors(pause, &mut errors);
    }
    if let Some(scale) = &step.set_canary_scale {
        canary_scale_errors(scale, &mut errors);
    }
    errors
}

fn check_weight(path: &str, weight: i32, errors: &mut Vec<FieldError>) {
    if !(0..=100).contains(&weight) {
        errors.push(FieldError::new(
            path,
            format!("must be between 0 and 100, got {weight}"),
        ));
    }
}

fn pause_errors(pause: &PauseStep, errors: &mut Vec<FieldError>) {
    if let Some(duration) = &pause.duration
        && let Err(error) = parse_duration(duration)
    {
        errors.push(FieldError::new("pause.duration", error.to_string()));
    }
}

fn canary_scale_errors(scale: &SetCanaryScale, errors: &mut Vec<FieldError>) {
    let set: Vec<&str> = [
        scale.replicas.map(|_| "replicas"),
        scale.weight.map(|_| "weight"),
        scale.match_traffic_weight.map(|_| "matchTrafficWeight"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match (set.as_slice(), scale.match_traffic_weight) {
        ([], _) => errors.push(FieldError::new(
            "setCanaryScale",
            "has no field; set one of replicas, weight or matchTrafficWeight: true",
        )),
        (["matchTrafficWeight"], Some(false)) => errors.push(FieldError::new(
            "setCanaryScale.matchTrafficWeight",
            "false is no action; set it to true, or set replicas or weight instead",
        )),
        ([_], _) => {}
        (several, _) => errors.push(FieldError::new(
            "setCanaryScale",
            format!(
                "sets {}; set exactly one of replicas, weight or matchTrafficWeight: true",
                several.join(" and ")
            ),
        )),
    }
    if let Some(replicas) = scale.replicas
        && replicas < 0
    {
        errors.push(FieldError::new(
            "setCanaryScale.replicas",
            format!("must not be negative, got {replicas}"),
        ));
    }
    if let Some(weight) = scale.weight {
        check_weight("setCanaryScale.weight", weight, errors);
    }
}

/// A step that sets the canary's traffic weight.
pub fn set_weight(weight: i32) -> CanaryStep {
    CanaryStep {
        set_weight: Some(weight),
        ..CanaryStep::default()
    }
}

/// A step that pauses for `duration` (Go syntax, e.g. `"5m"`), or until promoted for `None`.
pub fn pause(duration: Option<&str>) -> CanaryStep {
    CanaryStep {
        pause: Some(PauseStep {
            duration: duration.map(str::to_owned),
        }),
        ..CanaryStep::default()
    }
}

/// A step that pauses until a person promotes with `kulta.io/promote=true`.
pub fn pause_indefinitely() -> CanaryStep {
    pause(None)
}

/// The original README's combined step: set the weight, then pause (`None`: until promoted).
pub fn set_weight_then_pause(weight: i32, duration: Option<&str>) -> CanaryStep {
    CanaryStep {
        set_weight: Some(weight),
        ..pause(duration)
    }
}

/// A step that scales the canary as given.
pub fn set_canary_scale(scale: CanaryScale) -> CanaryStep {
    let set_canary_scale = match scale {
        CanaryScale::Replicas(replicas) => SetCanaryScale {
            replicas: Some(replicas),
            ..SetCanaryScale::default()
        },
        CanaryScale::Weight(weight) => SetCanaryScale {
            weight: Some(i32::from(weight)),
            ..SetCanaryScale::default()
        },
        CanaryScale::MatchTrafficWeight => SetCanaryScale {
            match_traffic_weight: Some(true),
            ..SetCanaryScale::default()
        },
    };
    CanaryStep {
        set_canary_scale: Some(set_canary_scale),
        ..CanaryStep::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_actions() {
        assert_eq!(
            set_weight(20).actions(),
            Ok(vec![StepAction::SetWeight(20)])
        );
        assert_eq!(
            pause(Some("5m")).actions(),
            Ok(vec![StepAction::Pause(Some(Duration::from_secs(300)))])
        );
        assert_eq!(
            pause_indefinitely().actions(),
            Ok(vec![StepAction::Pause(None)])
        );
        for scale in [
            CanaryScale::Replicas(2),
            CanaryScale::Weight(40),
            CanaryScale::MatchTrafficWeight,
        ] {
            assert_eq!(
                set_canary_scale(scale).actions(),
                Ok(vec![StepAction::SetCanaryScale(scale)])
            );
        }
    }

    #[test]
    fn combined_step_is_weight_then_pause() {
        assert_eq!(
            set_weight_then_pause(20, Some("30s")).actions(),
            Ok(vec![
                StepAction::SetWeight(20),
                StepAction::Pause(Some(Duration::from_secs(30)))
            ])
        );
        assert_eq!(
            set_weight_then_pause(50, None).actions(),
            Ok(vec![StepAction::SetWeight(50), StepAction::Pause(None)])
        );
    }

    #[test]
    fn errors_have_paths_relative_to_the_step() {
        let error = set_weight(150).actions().unwrap_err();
        assert_eq!(error.path, "setWeight");
        assert_eq!(error.message, "must be between 0 and 100, got 150");
        assert_eq!(
            error.under("spec.strategy.canary.steps[2]").to_string(),
            "spec.strategy.canary.steps[2].setWeight: must be between 0 and 100, got 150"
        );

        let error = CanaryStep::default().actions().unwrap_err();
        assert_eq!(error.path, "");
        assert_eq!(error.to_string(), NO_ACTION);
        assert_eq!(
            error.under("spec.strategy.canary.steps[0]").path,
            "spec.strategy.canary.steps[0]"
        );

        let error = pause(Some("5x")).actions().unwrap_err();
        assert_eq!(error.path, "pause.duration");
    }
}
