//! Figures computed from the API server's request log (kulta-sim's, or kube-apiserver's audit
//! log): both ends of every latency are requests the API server received, never the
//! controller's own account.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use kulta_test_support::Request;
use serde::Serialize;

/// The bench's own identity on kulta-sim (its promote PATCHes are the eligible moments).
pub const BENCH_IDENTITY: &str = "kulta-bench";
/// The controller's identity on kulta-sim (the token of its kubeconfig).
pub const CONTROLLER_IDENTITY: &str = "kulta-controller";

/// Who is who in the request log of one backend.
#[derive(Clone, Debug)]
pub struct Identities {
    /// The bench (creates, promotes).
    pub bench: String,
    /// KULTA's controller.
    pub controller: String,
    /// The simulated cluster: kulta-sim's controllers, or on the real control plane the
    /// `kulta-sim agent` (kubelet and gateway).
    pub cluster: String,
    /// Which of the cluster's writes says that a canary became available.
    pub available: AvailableSignal,
}

/// The last write the request log shows before a canary counts as available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AvailableSignal {
    /// kulta-sim's ReplicaSet controller writes the canary ReplicaSet's status.
    ReplicaSetStatus,
    /// The agent's status write of the canary's pod (Ready). On the real control plane
    /// kube-controller-manager writes the ReplicaSet's status, and the audit policy of
    /// scripts/real-cluster.sh leaves kube-system's ServiceAccounts out of the log; the
    /// latency so measured includes kube-controller-manager's ReplicaSet sync.
    PodStatus,
}

/// `later - earlier`, zero when the clock says otherwise.
pub fn elapsed(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

/// The ReplicaSet a pod belongs to, from its generated name (`<replica set>-<5 characters>`).
pub fn replica_set_of_pod(pod: &str) -> Option<&str> {
    pod.rsplit_once('-').map(|(replica_set, _)| replica_set)
}

/// p50/p90/p99/max of a set of latencies, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        // The nearest rank of `percent` is the ceil(percent × n / 100)-th smallest sample, and
        // at least the first. In integers, so no float rounding moves it.
        let rank = |percent: usize| -> f64 {
            let rank = percent.saturating_mul(samples.len()).div_ceil(100);
            samples
                .get(rank.saturating_sub(1))
                .map_or(0.0, |sample| sample.as_secs_f64() * 1000.0)
        };
        Percentiles {
            samples: samples.len(),
            p50_ms: rank(50),
            p90_ms: rank(90),
            p99_ms: rank(99),
            max_ms: rank(100),
        }
    }
}

fn is_route_write(record: &Request, controller: &str) -> bool {
    record.identity == controller
        && record.resource == "httproutes"
        && record.subresource.is_empty()
        && record.verb == "patch"
        && record.code < 300
}

/// Latency from each promote PATCH of the bench to the controller's next PATCH of that app's
/// HTTPRoute. `records` in order of arrival.
pub fn promote_latencies(records: &[Request], identities: &Identities) -> Vec<Duration> {
    let mut pending: HashMap<&str, SystemTime> = HashMap::new();
    let mut latencies = Vec::new();
    for record in records {
        if record.identity == identities.bench
            && record.resource == "rollouts"
            && record.verb == "patch"
            && record.subresource.is_empty()
            && !record.name.is_empty()
        {
            pending.insert(record.name.as_str(), record.received);
        } else if is_route_write(record, &identities.controller)
            && let Some(eligible) = pending.remove(record.name.as_str())
        {
            latencies.push(elapsed(eligible, record.received));
        }
    }
    latencies
}

/// Latency from the cluster's last write that made each canary available (see
/// [`AvailableSignal`]) before the first route write of its app, to that route write.
/// `canaries` maps app name to its canary ReplicaSet's name; `records` in order of arrival.
pub fn available_latencies(
    records: &[Request],
    canaries: &HashMap<String, String>,
    identities: &Identities,
) -> Vec<Duration> {
    let by_replica_set: HashMap<&str, &str> = canaries
        .iter()
        .map(|(app, rs)| (rs.as_str(), app.as_str()))
        .collect();
    fn same(name: &str) -> Option<&str> {
        Some(name)
    }
    let (resource, name_to_replica_set): (&str, fn(&str) -> Option<&str>) =
        match identities.available {
            AvailableSignal::ReplicaSetStatus => ("replicasets", same),
            AvailableSignal::PodStatus => ("pods", replica_set_of_pod),
        };
    let mut last_status: HashMap<&str, SystemTime> = HashMap::new();
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut latencies = Vec::new();
    for record in records {
        if record.identity == identities.cluster
            && record.resource == resource
            && record.subresource == "status"
            && record.is_write()
            && let Some(app) = name_to_replica_set(&record.name)
                .and_then(|replica_set| by_replica_set.get(replica_set))
        {
            last_status.insert(app, record.received);
        } else if is_route_write(record, &identities.controller)
            && !done.contains(record.name.as_str())
            && let Some(available) = last_status.get(record.name.as_str())
        {
            done.insert(record.name.as_str());
            latencies.push(elapsed(*available, record.received));
        }
    }
    latencies
}

/// What one identity sent in a span of the log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RequestCounts {
    /// get + list.
    pub reads: usize,
    /// Watch requests started (long-running; not counted as reads).
    pub watches: usize,
    /// create, update, patch, delete.
    pub writes: usize,
    /// Writes by `verb resource[/subresource]`.
    pub writes_by_kind: BTreeMap<String, usize>,
    /// Reads by `verb resource[/subresource]`.
    pub reads_by_kind: BTreeMap<String, usize>,
    /// Requests answered with an error status (>= 400).
    pub errors: usize,
    /// Errors by `code verb resource[/subresource]`.
    pub errors_by_kind: BTreeMap<String, usize>,
}

/// Adds one to a count of records (at most their number, so it cannot reach `usize::MAX`).
fn count_one(count: &mut usize) {
    *count = count.saturating_add(1);
}

/// Counts the requests of `identity` in `records`, except Lease requests: with
/// `--leader-election` the controller reads and renews its Lease every retry period whatever
/// the Rollouts do, and those are counted apart ([`crate::leadership`]), so that every figure
/// built on these counts (writes per step, settled writes) means the same with and without it.
pub fn count_requests(records: &[Request], identity: &str) -> RequestCounts {
    let mut counts = RequestCounts::default();
    for record in records
        .iter()
        .filter(|r| r.identity == identity && !crate::leadership::is_lease_request(r))
    {
        let kind = if record.subresource.is_empty() {
            format!("{} {}", record.verb, record.resource)
        } else {
            format!("{} {}/{}", record.verb, record.resource, record.subresource)
        };
        if record.code >= 400 {
            count_one(&mut counts.errors);
            count_one(
                counts
                    .errors_by_kind
                    .entry(format!("{} {kind}", record.code))
                    .or_insert(0),
            );
        }
        match record.verb.as_str() {
            "watch" => count_one(&mut counts.watches),
            "get" | "list" => {
                count_one(&mut counts.reads);
                count_one(counts.reads_by_kind.entry(kind).or_insert(0));
            }
            _ if record.is_write() => {
                count_one(&mut counts.writes);
                count_one(counts.writes_by_kind.entry(kind).or_insert(0));
            }
            _ => {}
        }
    }
    counts
}

/// The writes the design needs for one canary of the benchmark's Rollout (1 replica, weights
/// 20, 50, 100 then back to stable): per weight change one route write and one status write (4
/// each), the canary ReplicaSet's create and the old stable's scale-down (2), the two Service
/// pins (canary at start, stable at the end), the two consumed promote annotations, and the
/// status writes that record the rest of the lifecycle (see [`MIN_LIFECYCLE_STATUS_WRITES`]).
pub const MIN_ROUTE_WRITES: usize = 4;
/// See [`MIN_ROUTE_WRITES`].
pub const MIN_STATUS_WRITES: usize = 4;
/// See [`MIN_ROUTE_WRITES`].
pub const MIN_REPLICA_SET_WRITES: usize = 2;
/// See [`MIN_ROUTE_WRITES`].
pub const MIN_SERVICE_WRITES: usize = 2;
/// See [`MIN_ROUTE_WRITES`].
pub const MIN_ANNOTATION_WRITES: usize = 2;
/// Status writes the design needs besides one per weight change: the new revision observed as
/// a canary (`observedGeneration`, `canaryRevision`, phase), each of the two pauses begun
/// (`pauseStartTime`, phase `Paused`: the design records the pause start so that a restart
/// honours it), and the end (`stableRevision`, phase `Healthy`, `Ready`).
pub const MIN_LIFECYCLE_STATUS_WRITES: usize = 4;
/// Weight changes per canary (20, 50, 100, back to stable).
pub const WEIGHT_STEPS: usize = 4;

/// The minimum writes per canary, counted three ways.
#[derive(Clone, Copy, Debug)]
pub struct MinimumWrites {
    /// Issue 6's shorthand: route + status per weight step, plus ReplicaSet writes.
    pub shorthand: usize,
    /// The shorthand plus the Service pins and consumed annotations.
    pub with_pins: usize,
    /// Everything the design needs written: the above plus the lifecycle's status writes.
    pub design: usize,
}

/// The design's minimum writes per canary of the benchmark's Rollout.
pub fn minimum_writes() -> MinimumWrites {
    // Constants, so that the sums are checked by the compiler.
    const SHORTHAND: usize = MIN_ROUTE_WRITES + MIN_STATUS_WRITES + MIN_REPLICA_SET_WRITES;
    const WITH_PINS: usize = SHORTHAND + MIN_SERVICE_WRITES + MIN_ANNOTATION_WRITES;
    MinimumWrites {
        shorthand: SHORTHAND,
        with_pins: WITH_PINS,
        design: WITH_PINS + MIN_LIFECYCLE_STATUS_WRITES,
    }
}

/// The time from `start` until `controller` had written the status of `names` Rollouts (for
/// each, its first successful status write after `start`; the figure is the latest of those),
/// and how many it wrote.
pub fn all_status_written(
    records: &[Request],
    start: SystemTime,
    names: usize,
    controller: &str,
) -> (Option<Duration>, usize) {
    let mut first: HashMap<&str, SystemTime> = HashMap::new();
    for record in records {
        if record.received >= start
            && record.identity == controller
            && record.resource == "rollouts"
            && record.subresource == "status"
            && record.is_write()
            && record.code < 300
        {
            let at = first.entry(record.name.as_str()).or_insert(record.received);
            if record.received < *at {
                *at = record.received;
            }
        }
    }
    let count = first.len();
    let last = first.values().max().copied();
    if count >= names {
        (last.map(|at| elapsed(start, at)), count)
    } else {
        (None, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identities(available: AvailableSignal) -> Identities {
        Identities {
            bench: "bench".into(),
            controller: "controller".into(),
            cluster: "cluster".into(),
            available,
        }
    }

    fn request(ms: u64, identity: &str, verb: &str, resource: &str, name: &str) -> Request {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Request {
            identity: identity.into(),
            user: identity.into(),
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: "bench".into(),
            name: name.into(),
            code: 200,
            received: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
        }
    }

    #[test]
    fn percentiles_are_nearest_ranks() {
        let none = Percentiles::of(Vec::new());
        assert_eq!((none.samples, none.p50_ms, none.max_ms), (0, 0.0, 0.0));
        let one = Percentiles::of(vec![Duration::from_millis(7)]);
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (7.0, 7.0, 7.0));
        let ten = Percentiles::of((1..=10).rev().map(Duration::from_millis).collect());
        assert_eq!(
            (ten.p50_ms, ten.p90_ms, ten.p99_ms, ten.max_ms),
            (5.0, 9.0, 10.0, 10.0)
        );
        let hundred = Percentiles::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(
            (
                hundred.p50_ms,
                hundred.p90_ms,
                hundred.p99_ms,
                hundred.max_ms
            ),
            (50.0, 90.0, 99.0, 100.0)
        );
    }

    #[test]
    fn a_pod_belongs_to_the_replica_set_its_name_was_generated_from() {
        assert_eq!(
            replica_set_of_pod("app-0001-6b9f7c5d4-x2x7q"),
            Some("app-0001-6b9f7c5d4")
        );
        assert_eq!(replica_set_of_pod("pod"), None);
    }

    #[test]
    fn promote_latency_runs_from_the_promote_to_the_next_route_write_of_that_app() {
        let records = [
            request(0, "controller", "patch", "httproutes", "app-0000"),
            request(10, "bench", "patch", "rollouts", "app-0000"),
            request(12, "bench", "patch", "rollouts", "app-0001"),
            request(25, "controller", "patch", "httproutes", "app-0001"),
            request(40, "controller", "patch", "httproutes", "app-0000"),
            request(50, "controller", "patch", "httproutes", "app-0000"),
        ];
        assert_eq!(
            promote_latencies(&records, &identities(AvailableSignal::PodStatus)),
            [Duration::from_millis(13), Duration::from_millis(30)]
        );
    }

    #[test]
    fn availability_is_the_last_status_write_of_the_canary_before_its_first_route_write() {
        let canaries = HashMap::from([("app-0000".to_string(), "app-0000-abc".to_string())]);
        let pods = [
            request(0, "cluster", "patch", "pods/status", "app-0000-abc-x2x7q"),
            request(5, "cluster", "patch", "pods/status", "app-0000-abc-x2x7q"),
            request(6, "cluster", "patch", "pods/status", "app-0000-old-zzzzz"),
            request(20, "controller", "patch", "httproutes", "app-0000"),
            request(30, "controller", "patch", "httproutes", "app-0000"),
        ];
        let replica_sets = [
            request(1, "cluster", "update", "replicasets/status", "app-0000-abc"),
            request(8, "controller", "patch", "httproutes", "app-0000"),
        ];
        assert_eq!(
            available_latencies(&pods, &canaries, &identities(AvailableSignal::PodStatus)),
            [Duration::from_millis(15)]
        );
        assert_eq!(
            available_latencies(
                &replica_sets,
                &canaries,
                &identities(AvailableSignal::ReplicaSetStatus)
            ),
            [Duration::from_millis(7)]
        );
    }

    #[test]
    fn lease_requests_are_not_counted_with_the_rollouts_requests() {
        let records = [
            request(0, "controller", "get", "leases", "kulta-controller"),
            request(1, "controller", "update", "leases", "kulta-controller"),
            request(2, "controller", "patch", "rollouts/status", "app-0000"),
            request(3, "controller", "get", "rollouts", "app-0000"),
        ];
        let counts = count_requests(&records, "controller");
        assert_eq!((counts.reads, counts.writes), (1, 1));
        assert!(
            !counts
                .writes_by_kind
                .keys()
                .any(|kind| kind.contains("leases"))
        );
    }

    #[test]
    fn restart_is_done_when_every_rollout_had_a_status_write() {
        let records = [
            request(5, "controller", "patch", "rollouts/status", "app-0000"),
            request(9, "controller", "patch", "rollouts/status", "app-0001"),
            request(12, "controller", "patch", "rollouts/status", "app-0000"),
        ];
        let start = SystemTime::UNIX_EPOCH;
        assert_eq!(
            all_status_written(&records, start, 2, "controller"),
            (Some(Duration::from_millis(9)), 2)
        );
        assert_eq!(
            all_status_written(&records, start, 3, "controller"),
            (None, 2)
        );
    }
}
