//! Figures computed from the sim's request log: both ends of every latency are requests the API
//! server received, never the controller's own account.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kulta_sim::RequestRecord;
use serde::Serialize;

/// The bench's own identity (its promote PATCHes are the eligible moments).
pub const BENCH_IDENTITY: &str = "kulta-bench";
/// The controller's identity (the token of its kubeconfig).
pub const CONTROLLER_IDENTITY: &str = "kulta-controller";

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
        let rank = |p: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index].as_secs_f64() * 1000.0
        };
        Percentiles {
            samples: samples.len(),
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            max_ms: rank(1.0),
        }
    }
}

fn is_route_write(record: &RequestRecord) -> bool {
    &*record.identity == CONTROLLER_IDENTITY
        && record.resource == "httproutes"
        && record.subresource.is_empty()
        && record.verb == "patch"
        && record.code < 300
}

/// Latency from each promote PATCH of the bench to the controller's next PATCH of that app's
/// HTTPRoute.
pub fn promote_latencies(records: &[RequestRecord]) -> Vec<Duration> {
    let mut pending: HashMap<&str, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    for record in records {
        if &*record.identity == BENCH_IDENTITY
            && record.resource == "rollouts"
            && record.verb == "patch"
            && record.subresource.is_empty()
            && record.path.contains("/rollouts/")
        {
            pending.insert(record.name.as_str(), record.at);
        } else if is_route_write(record)
            && let Some(eligible) = pending.remove(record.name.as_str())
        {
            latencies.push(record.at.saturating_duration_since(eligible));
        }
    }
    latencies
}

/// Latency from the sim's last status write of each canary ReplicaSet before the first route
/// write of its app (the write that made the canary available) to that route write.
/// `canaries` maps app name to its canary ReplicaSet's name.
pub fn available_latencies(
    records: &[RequestRecord],
    canaries: &HashMap<String, String>,
) -> Vec<Duration> {
    let by_replica_set: HashMap<&str, &str> = canaries
        .iter()
        .map(|(app, rs)| (rs.as_str(), app.as_str()))
        .collect();
    let mut last_status: HashMap<&str, Instant> = HashMap::new();
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut latencies = Vec::new();
    for record in records {
        if &*record.identity == kulta_sim::CONTROLLER_IDENTITY
            && record.resource == "replicasets"
            && record.subresource == "status"
            && record.is_write()
            && let Some(app) = by_replica_set.get(record.name.as_str())
        {
            last_status.insert(app, record.at);
        } else if is_route_write(record)
            && !done.contains(record.name.as_str())
            && let Some(available) = last_status.get(record.name.as_str())
        {
            done.insert(record.name.as_str());
            latencies.push(record.at.saturating_duration_since(*available));
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

/// Counts the requests of `identity` in `records`.
pub fn count_requests(records: &[RequestRecord], identity: &str) -> RequestCounts {
    let mut counts = RequestCounts::default();
    for record in records.iter().filter(|r| &*r.identity == identity) {
        let kind = if record.subresource.is_empty() {
            format!("{} {}", record.verb, record.resource)
        } else {
            format!("{} {}/{}", record.verb, record.resource, record.subresource)
        };
        if record.code >= 400 {
            counts.errors += 1;
            *counts
                .errors_by_kind
                .entry(format!("{} {kind}", record.code))
                .or_insert(0) += 1;
        }
        match record.verb {
            "watch" => counts.watches += 1,
            "get" | "list" => {
                counts.reads += 1;
                *counts.reads_by_kind.entry(kind).or_insert(0) += 1;
            }
            _ if record.is_write() => {
                counts.writes += 1;
                *counts.writes_by_kind.entry(kind).or_insert(0) += 1;
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
    let shorthand = MIN_ROUTE_WRITES + MIN_STATUS_WRITES + MIN_REPLICA_SET_WRITES;
    let with_pins = shorthand + MIN_SERVICE_WRITES + MIN_ANNOTATION_WRITES;
    MinimumWrites {
        shorthand,
        with_pins,
        design: with_pins + MIN_LIFECYCLE_STATUS_WRITES,
    }
}

/// The time from `start` until the controller had written the status of `names` Rollouts
/// (for each, its first successful status write after `start`; the figure is the latest of
/// those), and how many it wrote.
pub fn all_status_written(
    records: &[RequestRecord],
    start: Instant,
    names: usize,
) -> (Option<Duration>, usize) {
    let mut first: HashMap<&str, Instant> = HashMap::new();
    for record in records {
        if record.at >= start
            && &*record.identity == CONTROLLER_IDENTITY
            && record.resource == "rollouts"
            && record.subresource == "status"
            && record.is_write()
            && record.code < 300
        {
            let at = first.entry(record.name.as_str()).or_insert(record.at);
            if record.at < *at {
                *at = record.at;
            }
        }
    }
    let count = first.len();
    let last = first.values().max().copied();
    if count >= names {
        (last.map(|at| at.saturating_duration_since(start)), count)
    } else {
        (None, count)
    }
}

/// The log's records in order of arrival (the log appends when a request completes).
pub fn by_arrival(mut records: Vec<RequestRecord>) -> Vec<RequestRecord> {
    records.sort_by_key(|record| record.at);
    records
}
