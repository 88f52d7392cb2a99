//! The effects of a canary plan: traffic requests and when to look at a pending verification
//! again, and, at the end, the desired ReplicaSet sizes and Service pins turned into changes.

use std::time::Duration;

use super::services::service_ownership_problem;
use super::{PENDING_DETAIL_AFTER, Planner, VERIFY_RECHECK, VERIFY_RECHECK_WATCHED};
use crate::plan::{Plan, ReplicaSetChange, RolloutState, ServiceObservation, ServicePin};

impl Planner<'_> {
    /// Asks for canary weight `weight` unless the router already confirmed it. Returns whether
    /// traffic is known to be there.
    pub(super) fn route_to(&mut self, weight: u8) -> bool {
        if self.observed.route.is_at(weight)
            && self.prev.desired_canary_weight == Some(i32::from(weight))
        {
            return true;
        }
        self.route_weight = Some(weight);
        self.status.desired_canary_weight = Some(i32::from(weight));
        self.recheck_verification();
        false
    }

    /// Looks again at a pending verification even if no watch event comes: a router whose
    /// objects are not watched must not leave the Rollout waiting for the resync (the echo of
    /// our own status write wakes nothing). When they are watched their change wakes it, and
    /// the timers left are the safety net and the moment the pending reason is due in the
    /// message.
    pub(super) fn recheck_verification(&mut self) {
        if !self.observed.route_watched {
            self.requeue_in(VERIFY_RECHECK);
            return;
        }
        self.requeue_in(VERIFY_RECHECK_WATCHED);
        if let Some(start) = self.status.progress_start_time
            && !self.pending_long_enough()
        {
            let due = chrono::Duration::from_std(PENDING_DETAIL_AFTER)
                .ok()
                .and_then(|after| start.checked_add_signed(after));
            if let Some(due) = due {
                self.requeue_at(due);
            }
        }
    }

    /// Whether a pending verification's reason belongs in the message. Right after a weight
    /// is written the gateway has not observed it yet, always: naming that in the message would
    /// cost a status write per step for nothing a person can act on. Once the step has waited
    /// [`PENDING_DETAIL_AFTER`], the reason is shown (the recheck writes it).
    pub(super) fn pending_long_enough(&self) -> bool {
        self.status.progress_start_time.is_none_or(|start| {
            self.now.signed_duration_since(start)
                >= chrono::Duration::from_std(PENDING_DETAIL_AFTER).unwrap_or(chrono::Duration::MAX)
        })
    }

    /// Turns the targets into changes, settles old ReplicaSets, and builds the status.
    pub(super) fn finish(mut self, state: RolloutState) -> Plan {
        let mut changes = Vec::new();
        let next_revision = self
            .observed
            .replica_sets
            .iter()
            .map(|rs| rs.revision)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        for (hash, replicas) in &self.targets {
            match self.observed.replica_set(hash) {
                // Nothing to run yet: the ReplicaSet is created once it has pods to run.
                None if *replicas == 0 => {}
                None => changes.push(ReplicaSetChange::Create {
                    hash: hash.clone(),
                    replicas: *replicas,
                    revision: next_revision,
                }),
                Some(rs) if rs.replicas != *replicas => changes.push(ReplicaSetChange::Scale {
                    name: rs.name.clone(),
                    replicas: *replicas,
                }),
                Some(_) => {}
            }
        }
        let deadlines = std::mem::take(&mut self.deadlines);
        for (hash, at) in &deadlines {
            if let Some(rs) = self.observed.replica_set(hash) {
                changes.push(ReplicaSetChange::ScaleDownDeadline {
                    name: rs.name.clone(),
                    at: Some(*at),
                });
                // Nothing else may wake this Rollout before the deadline.
                self.requeue_at(*at);
            }
        }
        self.settle_old(&mut changes);

        let mut services = Vec::new();
        let pins = [
            (
                self.spec.stable_service.clone(),
                self.stable_pin.clone(),
                &self.observed.stable_service,
                &self.observed.stable_record,
            ),
            (
                self.spec.canary_service.clone(),
                self.canary_pin.clone(),
                &self.observed.canary_service,
                &self.observed.canary_record,
            ),
        ];
        let name = self.name().to_string();
        for (service, pin, observed, record) in pins {
            if *observed == ServiceObservation::Missing {
                self.blockers
                    .push(format!("Service {service} not found; create it"));
                continue;
            }
            if let Some(problem) = service_ownership_problem(&name, &service, observed, record) {
                let told = self
                    .prev
                    .message
                    .as_deref()
                    .is_some_and(|message| message.contains(&problem))
                    || self.events.iter().any(|event| event.note == problem);
                if !told {
                    self.event(true, "ServiceConflict", problem.clone());
                }
                self.blockers.push(problem);
                continue;
            }
            match pin {
                Some(hash)
                    if !observed.selects(&hash)
                        || record.claimed_by.as_deref() != Some(name.as_str())
                        || record.pinned.as_deref() != Some(hash.as_str()) =>
                {
                    services.push(ServicePin {
                        service,
                        hash,
                        rollout: name.clone(),
                        claim_version: record
                            .claimed_by
                            .is_none()
                            .then(|| record.resource_version.clone())
                            .flatten(),
                    });
                }
                _ => {}
            }
        }
        self.build_status(&state);
        Plan {
            state,
            consume: self.consume,
            replica_sets: changes,
            services,
            route_weight: self.route_weight,
            route_eligible_at: self.route_weight.map(|_| self.eligible_at),
            status: self.status,
            events: self.events,
            requeue_after: self.requeue,
        }
    }

    /// Old revisions: scaled to zero once their deadline passed, deleted beyond the history
    /// limit (oldest first).
    pub(super) fn settle_old(&mut self, changes: &mut Vec<ReplicaSetChange>) {
        let mut idle = Vec::new();
        for rs in &self.observed.replica_sets {
            if self.targets.contains_key(&rs.hash) {
                continue;
            }
            if rs.replicas > 0 {
                match rs.scale_down_deadline {
                    Some(at) if at > self.now => {
                        let after = at
                            .signed_duration_since(self.now)
                            .to_std()
                            .unwrap_or(Duration::ZERO);
                        self.requeue = Some(
                            self.requeue
                                .map_or(after, |c| c.min(after))
                                .saturating_add(Duration::from_millis(50)),
                        );
                        continue;
                    }
                    _ => {
                        changes.push(ReplicaSetChange::Scale {
                            name: rs.name.clone(),
                            replicas: 0,
                        });
                        if rs.scale_down_deadline.is_some() {
                            changes.push(ReplicaSetChange::ScaleDownDeadline {
                                name: rs.name.clone(),
                                at: None,
                            });
                        }
                    }
                }
            }
            idle.push(rs);
        }
        idle.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        for rs in idle.into_iter().skip(self.spec.history_limit) {
            changes.push(ReplicaSetChange::Delete {
                name: rs.name.clone(),
            });
        }
    }
}
