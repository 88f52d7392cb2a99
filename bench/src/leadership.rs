//! Leader election under load (`--leader-election`): how the controller is told to elect itself,
//! and what shows whether it kept its Lease — its own log (acquisitions, step-downs) and the
//! API server's request log (every Lease write, and so the intervals between renewals).
//!
//! The bench runs one candidate, so the Lease is only ever lost the way issue 11 worries about:
//! the leader could not renew it within the renew deadline and stepped down (`kulta run` then
//! logs "lost leadership; stopped reconciling" and exits with code 1).

use std::io::BufRead as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use kulta_test_support::Request;
use serde::Serialize;

use crate::analysis::{Percentiles, elapsed};

/// The Lease's name: `kulta run`'s default, the one `deploy/kustomize/base` lets the controller
/// write.
pub const LEASE_NAME: &str = "kulta-controller";
/// The controller's identity in the election. Both processes of a run (the first and the one
/// restarted after SIGKILL) use it, as a container restarted in its pod keeps its pod name: the
/// restarted process finds the Lease held in its own name and renews it at once, instead of
/// waiting a lease duration for the killed one's to expire.
pub const IDENTITY: &str = "kulta-bench";

/// How the controller elects itself: `kulta run`'s election flags.
#[derive(Clone, Debug, Serialize)]
pub struct ElectionSettings {
    /// Namespace of the Lease: the bench's (`default` on kulta-sim).
    pub lease_namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// The controller's identity.
    pub identity: String,
    /// `--lease-duration`, s.
    pub lease_duration_s: u64,
    /// `--renew-deadline`, s.
    pub renew_deadline_s: u64,
    /// `--retry-period`, s.
    pub retry_period_s: u64,
}

impl ElectionSettings {
    /// `kulta run`'s default timings (15 s, 10 s, 2 s), a Lease in `namespace`.
    pub fn defaults_in(namespace: &str) -> Self {
        ElectionSettings {
            lease_namespace: namespace.to_string(),
            lease_name: LEASE_NAME.to_string(),
            identity: IDENTITY.to_string(),
            lease_duration_s: 15,
            renew_deadline_s: 10,
            retry_period_s: 2,
        }
    }

    /// The flags of `kulta run` that turn the election on with these settings. The timings are
    /// passed even though they are the controller's defaults, so that the command line in the
    /// log says what was measured.
    pub fn controller_args(&self) -> Vec<String> {
        vec![
            "--leader-election=true".to_string(),
            format!("--lease-namespace={}", self.lease_namespace),
            format!("--lease-name={}", self.lease_name),
            format!("--identity={}", self.identity),
            format!("--lease-duration={}s", self.lease_duration_s),
            format!("--renew-deadline={}s", self.renew_deadline_s),
            format!("--retry-period={}s", self.retry_period_s),
        ]
    }
}

/// How the controller fared in the election over one N (both of its processes).
#[derive(Clone, Debug, Default, Serialize)]
pub struct LeadershipFigures {
    /// "acquired leadership" lines in the controller's log: a Lease created or taken over. The
    /// restarted process finds the Lease held in its own name and renews it, which it does not
    /// log, so a run without a step-down has 1.
    pub acquisitions: usize,
    /// "lost leadership" lines: the leader could not renew within the renew deadline (or
    /// another candidate took the Lease), stopped reconciling and exited with code 1. A run
    /// fails when there is one, or when the controller exits on its own at all, so a report
    /// always says 0.
    pub step_downs: usize,
    /// "unable to renew the lease" lines: a renewal the API server refused or failed. An
    /// attempt cut off by the renew deadline is not logged by the controller; the renewal
    /// intervals below show it.
    pub renew_errors: usize,
    /// The controller's successful Lease writes (create and update) in the request log.
    pub lease_writes: usize,
    /// Time between two successful Lease writes of one process, by their arrival at the API
    /// server: a retry period plus the renewal's own time while all is well; at the renew
    /// deadline the leader steps down.
    pub renewal_interval: Percentiles,
}

impl LeadershipFigures {
    /// The figures of one N from the controller's log and the request log since before its
    /// first spawn; `processes` are its processes' spans (see [`renewals`]).
    pub fn of(
        tally: &LogTally,
        records: &[Request],
        controller: &str,
        processes: &[(SystemTime, SystemTime)],
    ) -> Self {
        let (lease_writes, intervals) = renewals(records, controller, processes);
        LeadershipFigures {
            acquisitions: tally.acquisitions,
            step_downs: tally.step_downs,
            renew_errors: tally.renew_errors,
            lease_writes,
            renewal_interval: Percentiles::of(intervals),
        }
    }

    /// The line of the text report, e.g. "leader step-downs: 0 (lease held throughout)".
    pub fn step_down_line(&self) -> String {
        let held = if self.step_downs == 0 {
            "lease held throughout"
        } else {
            "LEASE LOST"
        };
        format!(
            "leader step-downs: {} ({held}); lease acquisitions: {}; renew errors: {}; {} lease \
             writes, renewal interval p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            self.step_downs,
            self.acquisitions,
            self.renew_errors,
            self.lease_writes,
            self.renewal_interval.p50_ms / 1000.0,
            self.renewal_interval.p99_ms / 1000.0,
            self.renewal_interval.max_ms / 1000.0
        )
    }
}

/// What the controller's log says about the election.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogTally {
    /// See [`LeadershipFigures::acquisitions`].
    pub acquisitions: usize,
    /// See [`LeadershipFigures::step_downs`].
    pub step_downs: usize,
    /// See [`LeadershipFigures::renew_errors`].
    pub renew_errors: usize,
    /// The election's warnings and errors, `timestamp level message`, in order.
    pub incidents: Vec<String>,
}

impl LogTally {
    /// A one-line account for an error message.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "leader step-downs: {}, lease acquisitions: {}, renew errors: {}",
            self.step_downs, self.acquisitions, self.renew_errors
        );
        for incident in &self.incidents {
            text.push_str("; ");
            text.push_str(incident);
        }
        text
    }
}

// The messages of `kulta run` this module counts (kulta-controller/src/runtime/mod.rs and
// runtime/leader.rs). The bench runs the binary and reads its log like an operator would, so
// it matches on the words, not on a shared constant.
const ACQUIRED: &str = "acquired leadership";
const LOST: &str = "lost leadership";
const RENEW_ERROR: &str = "unable to renew the lease";

/// Reads the election's lines from the controller's log (JSON lines, `--log-format json`).
/// Acquisitions are logged at info: with `--rust-log` above info they are not counted.
///
/// # Errors
/// When the log cannot be read.
pub fn tally_log(path: &Path) -> Result<LogTally> {
    let file =
        std::fs::File::open(path).with_context(|| format!("unable to read {}", path.display()))?;
    let mut tally = LogTally::default();
    for line in std::io::BufReader::new(file).lines() {
        tally.add_line(&line?);
    }
    Ok(tally)
}

impl LogTally {
    fn add_line(&mut self, line: &str) {
        // Most lines are about reconciles; parse only the election's.
        if !(line.contains("leadership") || line.contains("lease")) {
            return;
        }
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            return;
        };
        let message = entry["fields"]["message"].as_str().unwrap_or_default();
        let level = entry["level"].as_str().unwrap_or_default();
        if message.starts_with(ACQUIRED) {
            self.acquisitions = self.acquisitions.saturating_add(1);
        } else if message.starts_with(LOST) {
            self.step_downs = self.step_downs.saturating_add(1);
        } else if message.starts_with(RENEW_ERROR) {
            self.renew_errors = self.renew_errors.saturating_add(1);
        }
        if matches!(level, "WARN" | "ERROR") {
            let timestamp = entry["timestamp"].as_str().unwrap_or("?");
            let error = entry["fields"]["error"]
                .as_str()
                .map(|error| format!(": {error}"))
                .unwrap_or_default();
            self.incidents
                .push(format!("{timestamp} {level} {message}{error}"));
        }
    }
}

/// Whether a request is the election's (a Lease read or write).
pub fn is_lease_request(request: &Request) -> bool {
    request.resource == "leases"
}

/// When the last successful Lease write of `controller` in `records` arrived.
pub fn last_lease_write(records: &[Request], controller: &str) -> Option<SystemTime> {
    records
        .iter()
        .filter(|r| r.identity == controller && is_lease_request(r) && r.is_write() && r.code < 300)
        .map(|r| r.received)
        .max()
}

/// The successful Lease writes of `controller` in `records` (in order of arrival) and the
/// intervals between consecutive ones within each of `processes` (the spans from a process's
/// spawn to its kill: the gap across a restart is not a renewal).
pub fn renewals(
    records: &[Request],
    controller: &str,
    processes: &[(SystemTime, SystemTime)],
) -> (usize, Vec<Duration>) {
    let writes: Vec<SystemTime> = records
        .iter()
        .filter(|r| r.identity == controller && is_lease_request(r) && r.is_write() && r.code < 300)
        .map(|r| r.received)
        .collect();
    let mut intervals = Vec::new();
    for &(from, to) in processes {
        let within: Vec<SystemTime> = writes
            .iter()
            .copied()
            .filter(|at| *at >= from && *at <= to)
            .collect();
        intervals.extend(within.windows(2).map(|pair| elapsed(pair[0], pair[1])));
    }
    (writes.len(), intervals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ms: u64, verb: &str, resource: &str, code: u16) -> Request {
        Request {
            identity: "controller".into(),
            user: "controller".into(),
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: "default".into(),
            name: "kulta-controller".into(),
            code,
            received: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
        }
    }

    #[test]
    fn the_controller_is_told_the_lease_and_the_default_timings() {
        assert_eq!(
            ElectionSettings::defaults_in("default").controller_args(),
            [
                "--leader-election=true",
                "--lease-namespace=default",
                "--lease-name=kulta-controller",
                "--identity=kulta-bench",
                "--lease-duration=15s",
                "--renew-deadline=10s",
                "--retry-period=2s",
            ]
        );
    }

    #[test]
    fn the_log_counts_acquisitions_step_downs_and_renew_errors() {
        let lines = [
            r#"{"timestamp":"t0","level":"INFO","fields":{"message":"waiting for leadership","identity":"kulta-bench"},"target":"kulta_controller::runtime"}"#,
            r#"{"timestamp":"t1","level":"INFO","fields":{"message":"acquired leadership (new lease)","lease":"kulta-controller","identity":"kulta-bench"},"target":"kulta_controller::runtime::leader"}"#,
            r#"{"timestamp":"t2","level":"INFO","fields":{"message":"reconciled","name":"app-0001"},"target":"kulta_controller"}"#,
            r#"{"timestamp":"t3","level":"WARN","fields":{"message":"unable to renew the lease","error":"unable to update Lease default/kulta-controller"},"target":"kulta_controller::runtime::leader"}"#,
            r#"{"timestamp":"t4","level":"WARN","fields":{"message":"could not renew the lease in time; stepping down","lease":"kulta-controller","deadline":"10s"},"target":"kulta_controller::runtime::leader"}"#,
            r#"{"timestamp":"t5","level":"ERROR","fields":{"message":"lost leadership; stopped reconciling"},"target":"kulta_controller::runtime"}"#,
            "not json, mentions a lease",
        ];
        let mut tally = LogTally::default();
        for line in lines {
            tally.add_line(line);
        }
        assert_eq!(tally.acquisitions, 1);
        assert_eq!(tally.step_downs, 1);
        assert_eq!(tally.renew_errors, 1);
        assert_eq!(
            tally.incidents,
            [
                "t3 WARN unable to renew the lease: unable to update Lease default/kulta-controller",
                "t4 WARN could not renew the lease in time; stepping down",
                "t5 ERROR lost leadership; stopped reconciling",
            ]
        );
    }

    #[test]
    fn the_report_line_says_whether_the_lease_was_held() {
        let mut figures = LeadershipFigures {
            acquisitions: 1,
            lease_writes: 3,
            renewal_interval: Percentiles::of(vec![
                Duration::from_millis(2_000),
                Duration::from_millis(2_500),
            ]),
            ..LeadershipFigures::default()
        };
        assert_eq!(
            figures.step_down_line(),
            "leader step-downs: 0 (lease held throughout); lease acquisitions: 1; renew errors: \
             0; 3 lease writes, renewal interval p50 2.00 s, p99 2.50 s, max 2.50 s"
        );
        figures.step_downs = 1;
        assert!(
            figures
                .step_down_line()
                .starts_with("leader step-downs: 1 (LEASE LOST)")
        );
    }

    #[test]
    fn renewal_intervals_are_taken_between_successful_lease_writes_of_one_process() {
        let records = [
            request(0, "get", "leases", 404),
            request(1, "create", "leases", 201),
            request(2, "patch", "rollouts", 200),
            request(2_001, "get", "leases", 200),
            request(2_002, "update", "leases", 200),
            request(4_100, "update", "leases", 409),
            request(4_500, "update", "leases", 200),
            // Killed at 5 s, restarted at 6 s: no interval across the restart.
            request(6_010, "update", "leases", 200),
            request(8_020, "update", "leases", 200),
        ];
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let (writes, intervals) = renewals(
            &records,
            "controller",
            &[(at(0), at(5_000)), (at(6_000), at(9_000))],
        );
        assert_eq!(writes, 5);
        assert_eq!(last_lease_write(&records, "controller"), Some(at(8_020)));
        assert_eq!(
            intervals,
            [
                Duration::from_millis(2_001),
                Duration::from_millis(2_498),
                Duration::from_millis(2_010),
            ]
        );
    }
}
