//! `kubectl kulta status NAME --timeout 5m`: wait for a rollout to finish, for CI pipelines.
//!
//! [`evaluate`] is pure and decides from one observed Rollout; [`wait`] watches the Rollout and
//! applies it to every change until a verdict or the deadline.
//!
//! # Exit codes
//! 0 when the latest generation is Healthy (`status.observedGeneration == metadata.generation`
//! and phase `Healthy`), 1 when the latest generation is Degraded, 2 when the timeout passes
//! first, 3 when the rollout cannot be read at all. A status written for an older generation
//! never decides: right after `set image` the previous Healthy (or Degraded) is stale.

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::ResourceExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kulta_api::{Phase, Rollout};

use crate::error::{EXIT_DEGRADED, EXIT_OK, EXIT_TIMEOUT, Error, Result, rollout_error};
use crate::render;

/// What one observation of a Rollout means for `status`.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The latest generation is fully rolled out.
    Healthy {
        /// The status message.
        message: String,
    },
    /// The latest generation is Degraded.
    Degraded {
        /// The status message.
        message: String,
        /// The condition that explains it, if any: `InvalidSpec=True`, `Aborted=True`,
        /// `Progressing=False` or `Ready=False`, in that order.
        condition: Option<Condition>,
    },
    /// Not there yet; `progress` says where the rollout stands.
    Waiting {
        /// One line for a person watching a CI log.
        progress: String,
    },
}

/// Decides from one observation.
pub fn evaluate(rollout: &Rollout) -> Verdict {
    let generation = rollout.metadata.generation.unwrap_or(0);
    let Some(status) = &rollout.status else {
        return Verdict::Waiting {
            progress: "waiting for the controller to report a status".to_string(),
        };
    };
    let observed = status.observed_generation.unwrap_or(0);
    if observed < generation {
        return Verdict::Waiting {
            progress: format!(
                "waiting for the controller to observe generation {generation} (status is for generation {observed})"
            ),
        };
    }
    let message = status.message.clone().unwrap_or_default();
    match status.phase {
        Some(Phase::Healthy) => Verdict::Healthy { message },
        Some(Phase::Degraded) => Verdict::Degraded {
            message,
            condition: failing_condition(&status.conditions).cloned(),
        },
        phase => {
            let mut progress = phase.map_or("Pending", Phase::as_str).to_string();
            let steps = render::steps(rollout).len();
            if let Some(index) = status.current_step_index
                && steps > 0
            {
                let shown = usize::try_from(index)
                    .unwrap_or(0)
                    .saturating_add(1)
                    .min(steps);
                progress.push_str(&format!(" at step {shown}/{steps}"));
            }
            let weight = status.canary_weight.unwrap_or(0);
            progress.push_str(&format!(", canary weight {weight}%"));
            if let Some(desired) = status.desired_canary_weight
                && desired != weight
            {
                progress.push_str(&format!(" (desired {desired}%)"));
            }
            if !message.is_empty() {
                progress.push_str(": ");
                progress.push_str(&message);
            }
            Verdict::Waiting { progress }
        }
    }
}

/// The condition that best explains a Degraded rollout.
pub fn failing_condition(conditions: &[Condition]) -> Option<&Condition> {
    let find = |type_: &str, status: &str| {
        conditions
            .iter()
            .find(|condition| condition.type_ == type_ && condition.status == status)
    };
    find("InvalidSpec", "True")
        .or_else(|| find("Aborted", "True"))
        .or_else(|| find("Progressing", "False"))
        .or_else(|| find("Ready", "False"))
}

/// `Aborted=True (RolloutAborted): message`.
pub fn condition_text(condition: &Condition) -> String {
    let mut text = format!(
        "{}={} ({})",
        condition.type_, condition.status, condition.reason
    );
    if !condition.message.is_empty() {
        text.push_str(": ");
        text.push_str(&condition.message);
    }
    text
}

/// Watches rollout `name` until a verdict or `timeout` (zero: no timeout). Prints a progress
/// line to `out` whenever the progress changes and the verdict at the end; returns the exit code.
///
/// # Errors
/// [`Error::NotFound`] when the rollout does not exist (at the start, or is deleted while
/// waiting); other errors when it cannot be read at the start.
pub async fn wait(
    api: &Api<Rollout>,
    namespace: &str,
    name: &str,
    timeout: Duration,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<u8> {
    // An explicit read first: a missing rollout is an error, not a timeout.
    let first = api
        .get(name)
        .await
        .map_err(|error| rollout_error("get", name, namespace, error))?;
    // A timeout too long to add to the clock means no deadline (`parse_duration` keeps flags
    // within 30 days, so only a caller of this function can ask for one).
    let deadline = if timeout.is_zero() {
        None
    } else {
        tokio::time::Instant::now().checked_add(timeout)
    };
    let mut last_progress = String::new();
    let mut last_seen = first.clone();
    if let Some(code) = report(&first, name, &mut last_progress, out, err)? {
        return Ok(code);
    }
    let mut changes = watcher::watch_object(api.clone(), name)
        .default_backoff()
        .boxed();
    loop {
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, changes.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => changes.next().await,
        };
        match next {
            Some(Ok(Some(rollout))) => {
                if let Some(code) = report(&rollout, name, &mut last_progress, out, err)? {
                    return Ok(code);
                }
                last_seen = rollout;
            }
            Some(Ok(None)) => {
                return Err(Error::NotFound {
                    name: name.to_string(),
                    namespace: namespace.to_string(),
                });
            }
            // The watch recovers by itself (with backoff); say so once per distinct error.
            Some(Err(error)) => {
                let line = format!("warning: watch of rollout {name:?} interrupted: {error}");
                if line != last_progress {
                    writeln!(err, "{line}").map_err(Error::Output)?;
                    last_progress = line;
                }
            }
            None => break,
        }
    }
    let progress = match evaluate(&last_seen) {
        Verdict::Waiting { progress } => progress,
        _ => last_progress,
    };
    writeln!(
        err,
        "error: timed out after {} waiting for rollout {name:?} to become Healthy; last seen: {progress}",
        kulta_api::duration::format_duration(timeout)
    )
    .map_err(Error::Output)?;
    Ok(EXIT_TIMEOUT)
}

/// Prints what `rollout` means; returns the exit code once decided.
fn report(
    rollout: &Rollout,
    name: &str,
    last_progress: &mut String,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Option<u8>> {
    let generation = rollout.metadata.generation.unwrap_or(0);
    match evaluate(rollout) {
        Verdict::Healthy { message } => {
            writeln!(
                out,
                "rollout {name:?} (generation {generation}) is Healthy: {message}"
            )
            .map_err(Error::Output)?;
            Ok(Some(EXIT_OK))
        }
        Verdict::Degraded { message, condition } => {
            writeln!(
                err,
                "error: rollout {name:?} (generation {generation}) is Degraded: {message}"
            )
            .map_err(Error::Output)?;
            if let Some(condition) = condition {
                writeln!(err, "failing condition: {}", condition_text(&condition))
                    .map_err(Error::Output)?;
            }
            Ok(Some(EXIT_DEGRADED))
        }
        Verdict::Waiting { progress } => {
            if progress != *last_progress {
                writeln!(
                    out,
                    "Waiting for rollout {:?}: {progress}",
                    rollout.name_any()
                )
                .map_err(Error::Output)?;
                out.flush().map_err(Error::Output)?;
                *last_progress = progress;
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kulta_api::RolloutStatus;
    use kulta_api::steps::{pause_indefinitely, set_weight};
    use kulta_api::testing::RolloutBuilder;

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            observed_generation: Some(2),
        }
    }

    fn rollout(observed: i64, phase: Phase, conditions: Vec<Condition>) -> Rollout {
        RolloutBuilder::new("app")
            .steps([set_weight(20), pause_indefinitely(), set_weight(50)])
            .generation(2)
            .status(RolloutStatus {
                observed_generation: Some(observed),
                phase: Some(phase),
                message: Some("the message".into()),
                current_step_index: Some(1),
                canary_weight: Some(20),
                desired_canary_weight: Some(20),
                conditions,
                ..RolloutStatus::default()
            })
            .build()
    }

    #[test]
    fn healthy_only_for_the_latest_generation() {
        assert_eq!(
            evaluate(&rollout(2, Phase::Healthy, vec![])),
            Verdict::Healthy {
                message: "the message".into()
            }
        );
        assert!(matches!(
            evaluate(&rollout(1, Phase::Healthy, vec![])),
            Verdict::Waiting { progress } if progress.contains("observe generation 2")
        ));
    }

    #[test]
    fn degraded_names_the_failing_condition() {
        let conditions = vec![
            condition("Ready", "False", "RolloutAborted", "aborted"),
            condition("Progressing", "False", "RolloutAborted", "aborted by user"),
            condition("Aborted", "True", "UserAbort", "kulta.io/abort=true"),
        ];
        let Verdict::Degraded { message, condition } =
            evaluate(&rollout(2, Phase::Degraded, conditions))
        else {
            panic!("not degraded");
        };
        assert_eq!(message, "the message");
        let condition = condition.unwrap();
        assert_eq!(
            condition_text(&condition),
            "Aborted=True (UserAbort): kulta.io/abort=true"
        );
        // A stale Degraded does not decide.
        assert!(matches!(
            evaluate(&rollout(1, Phase::Degraded, vec![])),
            Verdict::Waiting { .. }
        ));
    }

    #[test]
    fn progress_line_says_step_and_weight() {
        let Verdict::Waiting { progress } = evaluate(&rollout(2, Phase::Paused, vec![])) else {
            panic!("not waiting");
        };
        assert_eq!(
            progress,
            "Paused at step 2/3, canary weight 20%: the message"
        );
        let fresh = RolloutBuilder::new("app").build();
        assert!(matches!(evaluate(&fresh), Verdict::Waiting { .. }));
    }
}
