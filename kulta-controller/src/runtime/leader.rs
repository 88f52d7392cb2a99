//! Leader election on a `coordination.k8s.io/v1` Lease.
//!
//! The algorithm of Kubernetes' own components: a candidate takes the Lease when it is free or
//! when its holder has not renewed it for a whole lease duration *as observed locally* (so clock
//! skew between machines does not matter), and every write carries the resourceVersion it read,
//! so two candidates can never both win. The leader renews every retry period; if it cannot
//! renew for the renew deadline (shorter than the lease duration), it stops at once, before
//! anyone else can take over.
//!
//! `kube-leader-election` (the maintained crate for kube 4) was not used: it acquires with an
//! unconditional merge patch, so two candidates seeing an expired lease can both believe they
//! lead, and it judges expiry by comparing the remote `renewTime` with the local clock.

use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tracing::{debug, info, warn};

/// Timings of the election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long a Lease is valid without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up (less than the duration).
    pub renew_deadline: Duration,
    /// Pause between attempts.
    pub retry_period: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Errors of the elector.
#[derive(thiserror::Error, Debug)]
pub enum LeaderError {
    /// The timings are inconsistent.
    #[error("invalid leader election timings: {0}")]
    Timings(&'static str),
    /// An API call failed in a way that is not a lost race.
    #[error("unable to {action} Lease {namespace}/{name}")]
    Api {
        /// What was attempted.
        action: &'static str,
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// A candidate for leadership.
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    timings: LeaseTimings,
    observed: Option<(LeaseSpec, Instant)>,
}

impl LeaderElector {
    /// A candidate named `identity` for Lease `namespace/name`.
    ///
    /// # Errors
    /// When the renew deadline is not shorter than the lease duration or the retry period not
    /// shorter than the renew deadline.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: LeaseTimings,
    ) -> Result<Self, LeaderError> {
        if timings.renew_deadline >= timings.lease_duration {
            return Err(LeaderError::Timings(
                "the renew deadline must be shorter than the lease duration",
            ));
        }
        if timings.retry_period >= timings.renew_deadline || timings.retry_period.is_zero() {
            return Err(LeaderError::Timings(
                "the retry period must be positive and shorter than the renew deadline",
            ));
        }
        Ok(LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            timings,
            observed: None,
        })
    }

    /// The election's timings.
    pub fn timings(&self) -> LeaseTimings {
        self.timings
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn error(&self, action: &'static str, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            action,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source: Box::new(source),
        }
    }

    /// One attempt to take or keep the Lease. `Ok(true)`: we hold it now.
    ///
    /// # Errors
    /// API failures other than a lost race (404 on create races and 409s are `Ok(false)`).
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let now = MicroTime(
            jiff::Timestamp::from_microsecond(Utc::now().timestamp_micros())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        );
        let duration_seconds =
            i32::try_from(self.timings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let current = match self.api.get_opt(&self.name).await {
            Ok(current) => current,
            Err(source) => return Err(self.error("read", source)),
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observed = created.spec.map(|spec| (spec, Instant::now()));
                    info!(lease = %self.name, identity = %self.identity, "acquired leadership (new lease)");
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(source) => Err(self.error("create", source)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let changed = self.observed.as_ref().is_none_or(|(seen, _)| *seen != spec);
        if changed {
            self.observed = Some((spec.clone(), Instant::now()));
        }
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        let observed_at = self
            .observed
            .as_ref()
            .map_or_else(Instant::now, |(_, at)| *at);
        let lease_seconds = u64::try_from(
            spec.lease_duration_seconds
                .unwrap_or(duration_seconds)
                .max(1),
        )
        .unwrap_or(1);
        if !holder.is_empty() && !ours && observed_at.elapsed() < Duration::from_secs(lease_seconds)
        {
            debug!(lease = %self.name, %holder, "lease held by another candidate");
            return Ok(false);
        }
        let mut next = spec.clone();
        next.holder_identity = Some(self.identity.clone());
        next.lease_duration_seconds = Some(duration_seconds);
        next.renew_time = Some(now.clone());
        if !ours {
            next.acquire_time = Some(now);
            next.lease_transitions = Some(next_transitions(spec.lease_transitions));
        }
        lease.spec = Some(next);
        lease.metadata.managed_fields = None;
        // A PUT with the resourceVersion we read: if anyone wrote in between, we lose the race.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(stored) => {
                if !ours {
                    info!(lease = %self.name, identity = %self.identity, previous = %holder, "acquired leadership");
                }
                self.observed = stored.spec.map(|spec| (spec, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => Ok(false),
            Err(source) => Err(self.error("update", source)),
        }
    }

    /// Waits until this candidate leads, trying every retry period. Returns `false` if
    /// `stop` fired first.
    pub async fn acquire(&mut self, stop: &tokio_util::sync::CancellationToken) -> bool {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(error) => warn!(error = %error, "leader election attempt failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return false,
                () = tokio::time::sleep(self.timings.retry_period) => {}
            }
        }
    }

    /// Keeps the Lease while leading. Returns when renewal failed for the renew deadline
    /// (`Lost`) or `stop` fired (`Stopped`). Each attempt is bounded by the time left before the
    /// deadline, so a hanging API server cannot keep a stale leader running.
    pub async fn hold(&mut self, stop: &tokio_util::sync::CancellationToken) -> Held {
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return Held::Stopped,
                () = tokio::time::sleep(self.timings.retry_period) => {}
            }
            let left = self
                .timings
                .renew_deadline
                .saturating_sub(last_renewed.elapsed());
            let renewed = match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => true,
                Ok(Ok(false)) => {
                    warn!(lease = %self.name, "lease taken by another candidate");
                    return Held::Lost;
                }
                Ok(Err(error)) => {
                    warn!(error = %error, "unable to renew the lease");
                    false
                }
                Err(_) => false,
            };
            if renewed {
                last_renewed = Instant::now();
            } else if last_renewed.elapsed() >= self.timings.renew_deadline {
                warn!(lease = %self.name, deadline = ?self.timings.renew_deadline, "could not renew the lease in time; stepping down");
                return Held::Lost;
            }
        }
    }

    /// Gives the Lease up so another candidate takes over at once (graceful shutdown).
    ///
    /// # Errors
    /// When the Lease cannot be read or written (it then expires on its own).
    pub async fn release(&mut self) -> Result<(), LeaderError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error("read", e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        lease.metadata.managed_fields = None;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                info!(lease = %self.name, identity = %self.identity, "released leadership");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(source) => Err(self.error("release", source)),
        }
    }
}

/// `leaseTransitions` after one more change of holder. The field is anyone's to write: at
/// `i32::MAX` it stays there rather than wrapping to a negative count (or panicking).
fn next_transitions(current: Option<i32>) -> i32 {
    current.unwrap_or(0).saturating_add(1)
}

/// How holding the Lease ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Renewal failed for the renew deadline, or another candidate took the Lease.
    Lost,
    /// Asked to stop.
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_holder_counts_one_transition() {
        assert_eq!(next_transitions(None), 1);
        assert_eq!(next_transitions(Some(0)), 1);
        assert_eq!(next_transitions(Some(41)), 42);
    }

    #[test]
    fn lease_transitions_at_the_maximum_stay_there() {
        assert_eq!(next_transitions(Some(i32::MAX)), i32::MAX);
    }
}
