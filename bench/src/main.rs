//! `kulta-bench`: runs the real `kulta run` as a separate process against an API server —
//! kulta-sim in this process, or the real control plane of `scripts/real-cluster.sh` — and
//! measures, for each N, the controller's memory, CPU, step latency, API cost, settled writes
//! and restart time. See docs/benchmarks.md for what each figure means.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

mod analysis;
mod leadership;
mod process;
mod report;
mod run;
mod server;
mod workload;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Parser;
use kulta_sim::controllers::ControllerKnobs;

use report::{Report, Settings};
use server::BackendChoice;

/// Benchmark the KULTA controller against kulta-sim or a real control plane.
#[derive(Parser, Debug)]
#[command(name = "kulta-bench")]
struct Args {
    /// The API server: `sim` (kulta-sim in this process) or `real` (a fresh namespace of the
    /// control plane `KULTA_TEST_CLUSTER` names, see scripts/real-cluster.sh). Default: `real`
    /// when `KULTA_TEST_CLUSTER` is set, else `sim`.
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    /// Numbers of Rollouts, comma separated. Default: 1,100,1000 on kulta-sim; 1,100,300 on
    /// the real control plane (see docs/benchmarks.md).
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// The `kulta` binary to measure. By default the one the operator image ships: built with
    /// `cargo build --profile dist -p kulta --bin kulta --no-default-features` (as in
    /// the Dockerfile; a no-op when up to date) and taken from `dist/` of this binary's target
    /// directory.
    #[arg(long)]
    kulta: Option<PathBuf>,
    /// Do not run cargo; use the `kulta` in `dist/` of this binary's target directory as it is.
    #[arg(long)]
    no_build: bool,
    /// The controller's `--kube-qps` (its default, 50, and even 1,000, set the pace at N = 1,000).
    #[arg(long, default_value_t = 5000.0)]
    kube_qps: f64,
    /// The controller's `--kube-burst` (its default is 100).
    #[arg(long, default_value_t = 5000)]
    kube_burst: u32,
    /// Run the controller with leader election on, as it runs in a cluster: a Lease
    /// `kulta-controller` in the bench's namespace, identity `kulta-bench`, the controller's
    /// default timings (15 s / 10 s / 2 s). The run fails if the leader steps down; the report
    /// adds step-downs, acquisitions and the intervals between lease renewals. Without it the
    /// controller runs with `--leader-election=false`.
    #[arg(long)]
    leader_election: bool,
    /// The controller's `--concurrency` (default: the controller's own default, 256).
    #[arg(long, default_value_t = 256)]
    concurrency: u16,
    /// `RUST_LOG` of the controller (its log goes to target/bench/kulta-N.log).
    #[arg(long, default_value = "info")]
    rust_log: String,
    /// Length of the settled window in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = parse_seconds)]
    settled_window: f64,
    /// Quick mode: a 10 s settled window.
    #[arg(long)]
    quick: bool,
    /// Also write the request log of the canaries (JSON lines, ms since the template change)
    /// and the controller's /metrics after them, beside the report.
    #[arg(long)]
    dump: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = Args::parse();
    if args.quick {
        args.settled_window = 10.0;
    }
    let backend = args.backend.unwrap_or_else(BackendChoice::from_env);
    backend.ensure_available()?;
    let sizes = args
        .sizes
        .clone()
        .unwrap_or_else(|| backend.default_sizes());
    let binary = process::locate_kulta(args.kulta.as_deref(), args.no_build)?;
    println!("controller: {}", binary.display());
    let log_dir = args
        .out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&log_dir)?;
    // kulta-sim's delays are its knobs' defaults; the real control plane's agent has its own.
    let knobs = (backend == BackendChoice::Sim).then(ControllerKnobs::default);
    let mut settings = Settings {
        kube_qps: args.kube_qps,
        kube_burst: args.kube_burst,
        concurrency: args.concurrency,
        rust_log: args.rust_log.clone(),
        settled_window_s: args.settled_window,
        pod_ready_delay_ms: knobs.as_ref().map(|k| k.pod_ready_delay().as_millis()),
        route_status_delay_ms: knobs.as_ref().map(|k| k.route_status_delay().as_millis()),
        leader_election: None,
    };
    println!(
        "backend: {backend:?}; controller flags: --kube-qps {} --kube-burst {} --concurrency {}; \
         settled window {} s",
        args.kube_qps, args.kube_burst, args.concurrency, args.settled_window
    );
    if args.leader_election {
        let election = leadership::ElectionSettings::defaults_in("");
        println!(
            "leader election: on; Lease {} in the bench's namespace, identity {}, lease duration \
             {} s, renew deadline {} s, retry period {} s",
            election.lease_name,
            election.identity,
            election.lease_duration_s,
            election.renew_deadline_s,
            election.retry_period_s
        );
    }
    let started_at = chrono::Utc::now().to_rfc3339();
    let load_at_start = load_average();
    let mut reports = Vec::new();
    let mut described = None;
    for &n in &sizes {
        println!("== N = {n} ==");
        let options = run::Options {
            kube_qps: args.kube_qps,
            kube_burst: args.kube_burst,
            concurrency: args.concurrency,
            rust_log: args.rust_log.clone(),
            settled_window: args.settled_window,
            dump: args.dump,
            leader_election: args.leader_election,
        };
        match run::run_size(n, backend, &options, &binary, &log_dir).await {
            Ok((size, backend_report)) => {
                reports.push(size);
                described = Some(backend_report);
            }
            Err(error) => {
                eprintln!("N = {n} failed: {error:#}");
                return Err(error);
            }
        }
    }
    let Some(backend_report) = described else {
        anyhow::bail!("no size was measured (--sizes is empty)");
    };
    if args.leader_election {
        settings.leader_election = reports
            .first()
            .map(|size| leadership::ElectionSettings::defaults_in(&size.namespace));
    }
    let report = Report {
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339(),
        git_commit: git_commit(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average: [load_at_start, load_average()],
        kulta_binary: binary.display().to_string(),
        backend: backend_report,
        settings,
        targets: report::targets(&reports),
        sizes: reports,
    };
    println!();
    print!("{}", report::table(&report));
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("unable to write {}", args.out.display()))?;
    println!(
        "\nreport: {} ({} cores; load average {} at the start, {} at the end)",
        args.out.display(),
        report.cores,
        report.load_average[0].as_deref().unwrap_or("?"),
        report.load_average[1].as_deref().unwrap_or("?"),
    );
    Ok(())
}

/// A number of seconds that a `Duration` can hold: not negative, not NaN, not infinite, not
/// beyond `u64::MAX` seconds (`Duration::from_secs_f64` panics on those).
fn parse_seconds(text: &str) -> std::result::Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    std::time::Duration::try_from_secs_f64(seconds)
        .map(|_| seconds)
        .map_err(|_| format!("{text} is not a number of seconds from 0 to 2^64"))
}

/// The 1, 5 and 15 minute load averages of `/proc/loadavg`.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn git_commit() -> Option<String> {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let mut commit = String::from_utf8(head.stdout).ok()?.trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|out| !out.stdout.is_empty());
    if dirty {
        commit.push_str("-dirty");
    }
    Some(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settled_window_is_a_duration_or_refused() {
        assert_eq!(parse_seconds("60"), Ok(60.0));
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        for refused in ["-1", "NaN", "inf", "1e30", "soon"] {
            assert!(parse_seconds(refused).is_err(), "{refused}");
        }
    }
}
