//! The report: one JSON document per run and a table on stdout.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{Percentiles, RequestCounts};
use crate::leadership::{ElectionSettings, LeadershipFigures};
use crate::server::{BackendChoice, BackendReport};

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// RFC 3339 time the run started.
    pub started_at: String,
    /// RFC 3339 time the run ended.
    pub finished_at: String,
    /// `git rev-parse HEAD` of the working tree, with `-dirty` when it has changes.
    pub git_commit: Option<String>,
    /// Cores available to this process.
    pub cores: usize,
    /// `/proc/loadavg` when the run started and when it ended: how busy the (shared) machine
    /// was.
    pub load_average: [Option<String>; 2],
    /// The controller binary.
    pub kulta_binary: String,
    /// The API server the run measured against.
    pub backend: BackendReport,
    /// How the controller was run and measured.
    pub settings: Settings,
    /// One entry per N.
    pub sizes: Vec<SizeReport>,
    /// Issue 6's targets against the figures of this run.
    pub targets: Vec<Target>,
}

/// One target of issue 6, judged.
#[derive(Debug, Serialize)]
pub struct Target {
    /// What is bounded.
    pub figure: String,
    /// The bound.
    pub limit: String,
    /// What this run measured.
    pub measured: String,
    /// Whether the bound holds.
    pub met: bool,
}

/// Judges issue 6's targets for the sizes measured.
pub fn targets(sizes: &[SizeReport]) -> Vec<Target> {
    let mut targets = Vec::new();
    let mut add = |figure: String, limit: &str, measured: String, met: bool| {
        targets.push(Target {
            figure,
            limit: limit.to_string(),
            measured,
            met,
        });
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    for size in sizes {
        let n = size.n;
        add(
            format!("idle RSS (N = {n} run)"),
            "<= 15 MiB",
            format!("{:.1} MiB", mib(size.idle_rss_kib)),
            mib(size.idle_rss_kib) <= 15.0,
        );
        if n >= 1000 {
            add(
                format!("RSS with {n} settled Rollouts"),
                "<= 100 MiB",
                format!(
                    "{:.1} MiB (fresh process: {:.1} MiB)",
                    mib(size.settled_rss_kib),
                    mib(size.restart.settled_rss_kib)
                ),
                mib(size.settled_rss_kib) <= 100.0,
            );
            add(
                format!("all {n} reconciled after a restart"),
                "<= 10 s",
                size.restart
                    .all_reconciled_ms
                    .map_or("not all".to_string(), |ms| format!("{:.2} s", ms / 1000.0)),
                size.restart
                    .all_reconciled_ms
                    .is_some_and(|ms| ms <= 10_000.0),
            );
        }
        let p99 = size.canary.promote_latency.p99_ms;
        if n >= 1000 {
            add(
                format!("step latency p99, N = {n}"),
                "<= 1 s",
                format!("{p99:.0} ms"),
                p99 <= 1000.0,
            );
        } else if n >= 100 {
            add(
                format!("step latency p99, N = {n}"),
                "<= 250 ms",
                format!("{p99:.0} ms"),
                p99 <= 250.0,
            );
        }
        add(
            format!("writes per step / design minimum, N = {n}"),
            "<= 1.5",
            format!(
                "{:.2} with Events over the design's full minimum ({} writes per canary); \
                 {:.2} over the issue's shorthand (route + status per weight step + ReplicaSets)",
                size.canary.writes_ratio_design,
                size.canary.design_min_writes_per_canary,
                size.canary.writes_ratio
            ),
            size.canary.writes_ratio_design <= 1.5,
        );
        add(
            format!("writes per minute, {n} settled"),
            "0",
            format!("{:.1}", size.settled.writes_per_minute),
            size.settled.writes == 0,
        );
    }
    targets
}

/// Settings of a run.
#[derive(Debug, Serialize, Clone)]
pub struct Settings {
    /// `--kube-qps` given to the controller.
    pub kube_qps: f64,
    /// `--kube-burst` given to the controller.
    pub kube_burst: u32,
    /// `--concurrency` given to the controller.
    pub concurrency: u16,
    /// `RUST_LOG` of the controller.
    pub rust_log: String,
    /// Length of the settled window, seconds.
    pub settled_window_s: f64,
    /// Sim pod readiness delay, ms. `None` on the real backend: the shared `kulta-sim agent`
    /// has its own (scripts/real-cluster.sh starts it with its defaults, 20 ms), which the
    /// bench neither sets nor reads.
    pub pod_ready_delay_ms: Option<u128>,
    /// Sim route status delay, ms (`None` on the real backend, as above: 20 ms there).
    pub route_status_delay_ms: Option<u128>,
    /// `--leader-election`: the controller's election (the Lease's namespace is each N's
    /// namespace on the real backend; the one of the first N is shown). Absent without the
    /// flag: the controller runs with `--leader-election=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<ElectionSettings>,
}

/// Figures for one N.
#[derive(Debug, Serialize, Default)]
pub struct SizeReport {
    /// Number of Rollouts.
    pub n: usize,
    /// The namespace of the benchmark's objects.
    pub namespace: String,
    /// Process start to `/readyz` 200, no Rollouts, ms.
    pub ready_ms: f64,
    /// RSS idle before any Rollout, KiB.
    pub idle_rss_kib: u64,
    /// The idle memory in detail (anonymous vs file-backed, threads).
    pub idle_memory: crate::process::Memory,
    /// The memory with N settled Rollouts in detail.
    pub settled_memory: crate::process::Memory,
    /// Time for N Rollouts created at once to be Healthy (first deploy), s.
    pub first_deploy_s: f64,
    /// RSS with N settled Rollouts (after their first deploy), KiB.
    pub settled_rss_kib: u64,
    /// The N simultaneous canaries.
    pub canary: CanaryFigures,
    /// The settled window after the canaries.
    pub settled: SettledFigures,
    /// Kill and restart with N settled Rollouts.
    pub restart: RestartFigures,
    /// With `--leader-election`: how the controller fared in the election over both of its
    /// processes. Absent without the flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leadership: Option<LeadershipFigures>,
}

/// Figures of N simultaneous canaries.
#[derive(Debug, Serialize, Default)]
pub struct CanaryFigures {
    /// Rollouts that completed.
    pub completed: usize,
    /// Template change to the last one Healthy, s.
    pub wall_s: f64,
    /// Largest VmRSS sampled every 50 ms during the canaries, KiB.
    pub peak_rss_kib: u64,
    /// VmHWM at the end (peak since process start), KiB.
    pub hwm_kib: u64,
    /// Controller utime+stime during the canaries, s.
    pub cpu_s: f64,
    /// `cpu_s` per completed rollout, ms.
    pub cpu_per_rollout_ms: f64,
    /// The bench process's CPU in the same span (with kulta-sim in it on the sim backend), s.
    pub sim_cpu_s: f64,
    /// On the real backend, the control plane's CPU in the same span by process (`etcd`,
    /// `kube-apiserver`, `kube-controller-manager`, `agent`), s. The control plane is shared:
    /// other users' requests in that span count too.
    pub control_plane_cpu_s: Option<BTreeMap<String, f64>>,
    /// Promote PATCH → the controller's next HTTPRoute PATCH of that app.
    pub promote_latency: Percentiles,
    /// Canary ReplicaSet status write (available) → first HTTPRoute PATCH of that app; on the
    /// real backend from the agent's status write of the canary's pod (Ready), see
    /// [`crate::analysis::AvailableSignal`].
    pub available_latency: Percentiles,
    /// Every request of the controller from the template change to the last Healthy.
    pub requests: RequestCounts,
    /// Reads per weight step.
    pub reads_per_step: f64,
    /// Writes per weight step.
    pub writes_per_step: f64,
    /// Design minimum writes per weight step (route + status per step + ReplicaSet writes).
    pub min_writes_per_step: f64,
    /// `writes_per_step / min_writes_per_step`.
    pub writes_ratio: f64,
    /// Writes per step without Events, over the minimum with Service pins and annotations.
    pub writes_ratio_no_events: f64,
    /// Writes per canary the design needs (the shorthand, pins, consumed annotations and the
    /// lifecycle's status writes).
    pub design_min_writes_per_canary: usize,
    /// All writes (Events included) over the design's full minimum.
    pub writes_ratio_design: f64,
}

/// Figures of the settled window.
#[derive(Debug, Serialize, Default)]
pub struct SettledFigures {
    /// Window length, s.
    pub window_s: f64,
    /// Controller writes in the window.
    pub writes: usize,
    /// Controller reads (get/list) in the window.
    pub reads: usize,
    /// Writes per minute.
    pub writes_per_minute: f64,
    /// RSS at the end of the window, KiB.
    pub rss_kib: u64,
}

/// Figures of a restart with N settled Rollouts whose generation was bumped while the
/// controller was down.
#[derive(Debug, Serialize, Default)]
pub struct RestartFigures {
    /// Spawn to `/readyz` 200, ms.
    pub ready_ms: f64,
    /// Spawn to the controller's status write of the last of the N Rollouts, ms.
    pub all_reconciled_ms: Option<f64>,
    /// How many of the N it wrote within the deadline.
    pub reconciled: usize,
    /// Requests of the restarted controller until all were reconciled.
    pub requests: RequestCounts,
    /// RSS of the fresh process with N settled Rollouts, KiB.
    pub settled_rss_kib: u64,
    /// VmHWM of the fresh process, KiB.
    pub hwm_kib: u64,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(value: f64) -> String {
    format!("{value:.0} ms")
}

/// The table printed at the end of a run.
pub fn table(report: &Report) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, cell: &dyn Fn(&SizeReport) -> String| {
        rows.push((name.to_string(), report.sizes.iter().map(cell).collect()));
    };
    row("start → /readyz (no Rollouts)", &|s| ms(s.ready_ms));
    row("RSS idle", &|s| mib(s.idle_rss_kib));
    row("  of which anonymous / file", &|s| {
        format!(
            "{:.1} / {:.1} MiB",
            s.idle_memory.anon_kib as f64 / 1024.0,
            s.idle_memory.file_kib as f64 / 1024.0
        )
    });
    row("first deploy of N, wall", &|s| {
        format!("{:.1} s", s.first_deploy_s)
    });
    row("RSS, N settled", &|s| mib(s.settled_rss_kib));
    row("  of which anonymous / file", &|s| {
        format!(
            "{:.1} / {:.1} MiB",
            s.settled_memory.anon_kib as f64 / 1024.0,
            s.settled_memory.file_kib as f64 / 1024.0
        )
    });
    row("RSS peak during N canaries", &|s| {
        mib(s.canary.peak_rss_kib)
    });
    row("VmHWM after N canaries", &|s| mib(s.canary.hwm_kib));
    row("canaries completed", &|s| s.canary.completed.to_string());
    row("N canaries, wall", &|s| format!("{:.1} s", s.canary.wall_s));
    row("CPU per completed rollout", &|s| {
        format!("{:.1} ms", s.canary.cpu_per_rollout_ms)
    });
    let real = report.backend.kind == BackendChoice::Real;
    if real {
        row("bench process CPU", &|s| {
            format!("{:.1} s", s.canary.sim_cpu_s)
        });
        row("control plane CPU (shared)", &|s| {
            let total: f64 = s
                .canary
                .control_plane_cpu_s
                .iter()
                .flatten()
                .map(|(_, v)| v)
                .sum();
            format!("{total:.1} s")
        });
        row("  apiserver / etcd / kcm / agent", &|s| {
            let of = |name: &str| {
                s.canary
                    .control_plane_cpu_s
                    .as_ref()
                    .and_then(|cpu| cpu.get(name))
                    .map_or("?".to_string(), |v| format!("{v:.1}"))
            };
            format!(
                "{} / {} / {} / {} s",
                of("kube-apiserver"),
                of("etcd"),
                of("kube-controller-manager"),
                of("agent")
            )
        });
    } else {
        row("sim (bench process) CPU", &|s| {
            format!("{:.1} s", s.canary.sim_cpu_s)
        });
    }
    row("promote → route write p50", &|s| {
        ms(s.canary.promote_latency.p50_ms)
    });
    row("promote → route write p90", &|s| {
        ms(s.canary.promote_latency.p90_ms)
    });
    row("promote → route write p99", &|s| {
        ms(s.canary.promote_latency.p99_ms)
    });
    row("promote → route write max", &|s| {
        ms(s.canary.promote_latency.max_ms)
    });
    // On the real backend the audit log does not show kube-controller-manager's ReplicaSet
    // status writes; the agent's pod status write is the last sign of availability it shows.
    let available = if real { "pod Ready" } else { "available" };
    row(&format!("{available} → route write p50"), &|s| {
        ms(s.canary.available_latency.p50_ms)
    });
    row(&format!("{available} → route write p99"), &|s| {
        ms(s.canary.available_latency.p99_ms)
    });
    row("reads per weight step", &|s| {
        format!("{:.2}", s.canary.reads_per_step)
    });
    row("writes per weight step", &|s| {
        format!("{:.2}", s.canary.writes_per_step)
    });
    row("design minimum writes per step", &|s| {
        format!("{:.2}", s.canary.min_writes_per_step)
    });
    row("writes / minimum", &|s| {
        format!("{:.2}×", s.canary.writes_ratio)
    });
    row("writes / minimum (no Events, +pins)", &|s| {
        format!("{:.2}×", s.canary.writes_ratio_no_events)
    });
    row("writes / design's full minimum", &|s| {
        format!(
            "{:.2}× of {}",
            s.canary.writes_ratio_design, s.canary.design_min_writes_per_canary
        )
    });
    row("settled writes per minute", &|s| {
        format!(
            "{:.1} ({} in {:.0} s)",
            s.settled.writes_per_minute, s.settled.writes, s.settled.window_s
        )
    });
    row("settled reads in window", &|s| s.settled.reads.to_string());
    row("restart → /readyz", &|s| ms(s.restart.ready_ms));
    row(
        "restart → all N reconciled",
        &|s| match s.restart.all_reconciled_ms {
            Some(value) => ms(value),
            None => format!("not all ({})", s.restart.reconciled),
        },
    );
    row("RSS after restart, N settled", &|s| {
        mib(s.restart.settled_rss_kib)
    });
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(10);
    let cell_width = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|c| c.chars().count()))
        .max()
        .unwrap_or(8)
        .max(10);
    let mut out = String::new();
    out.push_str(&format!("{:width$}", "figure"));
    for size in &report.sizes {
        out.push_str(&format!("  {:>cell_width$}", format!("N = {}", size.n)));
    }
    out.push('\n');
    for (name, cells) in rows {
        let padding = width.saturating_sub(name.chars().count());
        out.push_str(&name);
        out.push_str(&" ".repeat(padding));
        for cell in cells {
            let pad = cell_width.saturating_sub(cell.chars().count());
            out.push_str("  ");
            out.push_str(&" ".repeat(pad));
            out.push_str(&cell);
        }
        out.push('\n');
    }
    if let Some(election) = &report.settings.leader_election {
        out.push_str(&format!(
            "\nleader election (Lease {}/{}, identity {}; lease duration {} s, renew deadline {} s, \
             retry period {} s):\n",
            election.lease_namespace,
            election.lease_name,
            election.identity,
            election.lease_duration_s,
            election.renew_deadline_s,
            election.retry_period_s
        ));
        for size in &report.sizes {
            let line = size.leadership.as_ref().map_or(
                "not measured".to_string(),
                LeadershipFigures::step_down_line,
            );
            out.push_str(&format!("  N = {}: {line}\n", size.n));
        }
    }
    out.push_str("\ntargets (issue 6):\n");
    for target in &report.targets {
        out.push_str(&format!(
            "  [{}] {}: {} (limit {})\n",
            if target.met { "met" } else { "NOT met" },
            target.figure,
            target.measured,
            target.limit
        ));
    }
    out
}
