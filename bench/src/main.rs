//! `kulta-bench`: runs kulta-sim in this process and the real `kulta run` as a separate process,
//! and measures, for each N, the controller's memory, CPU, step latency, API cost, settled
//! writes and restart time. See docs/benchmarks.md for what each figure means.

mod analysis;
mod process;
mod report;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Parser;
use kulta_sim::Sim;
use kulta_sim::controllers::ControllerKnobs;

use analysis::{BENCH_IDENTITY, CONTROLLER_IDENTITY, Percentiles};
use process::{ControllerProcess, ControllerSettings};
use report::{Report, Settings, SizeReport};
use workload::Rollouts;

/// Benchmark the KULTA controller against kulta-sim.
#[derive(Parser, Debug)]
#[command(name = "kulta-bench")]
struct Args {
    /// Numbers of Rollouts, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 100, 1000])]
    sizes: Vec<usize>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// The `kulta` binary to measure. By default the one the operator image ships: built with
    /// `cargo build --profile dist -p kulta-controller --bin kulta --no-default-features` (as in
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
    /// The controller's `--concurrency` (default: the controller's own default, 256).
    #[arg(long, default_value_t = 256)]
    concurrency: u16,
    /// `RUST_LOG` of the controller (its log goes to target/bench/kulta-N.log).
    #[arg(long, default_value = "info")]
    rust_log: String,
    /// Length of the settled window in seconds.
    #[arg(long, default_value_t = 60.0)]
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
    let binary = process::locate_kulta(args.kulta.as_deref(), args.no_build)?;
    println!("controller: {}", binary.display());
    let log_dir = args
        .out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&log_dir)?;
    let knobs = ControllerKnobs::default();
    let settings = Settings {
        kube_qps: args.kube_qps,
        kube_burst: args.kube_burst,
        concurrency: args.concurrency,
        rust_log: args.rust_log.clone(),
        settled_window_s: args.settled_window,
        pod_ready_delay_ms: knobs.pod_ready_delay().as_millis(),
        route_status_delay_ms: knobs.route_status_delay().as_millis(),
    };
    println!(
        "controller flags: --kube-qps {} --kube-burst {} --concurrency {}; settled window {} s",
        args.kube_qps, args.kube_burst, args.concurrency, args.settled_window
    );
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut sizes = Vec::new();
    for &n in &args.sizes {
        println!("== N = {n} ==");
        let size = run_size(n, &args, &binary, &log_dir).await;
        match size {
            Ok(size) => sizes.push(size),
            Err(error) => {
                eprintln!("N = {n} failed: {error:#}");
                return Err(error);
            }
        }
    }
    let report = Report {
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339(),
        git_commit: git_commit(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kulta_binary: binary.display().to_string(),
        settings,
        targets: report::targets(&sizes),
        sizes,
    };
    println!();
    print!("{}", report::table(&report));
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("unable to write {}", args.out.display()))?;
    println!("\nreport: {} ({} cores)", args.out.display(), report.cores);
    Ok(())
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

/// A deadline for waiting on N Rollouts.
fn deadline_for(n: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(300 * n as u64)
}

fn step(what: &str, since: Instant) {
    println!("  {what} ({:.1} s)", since.elapsed().as_secs_f64());
}

async fn run_size(
    n: usize,
    args: &Args,
    binary: &std::path::Path,
    log_dir: &std::path::Path,
) -> Result<SizeReport> {
    let begin = Instant::now();
    let sim = Sim::builder()
        .watch_channel_capacity(1 << 16)
        .history_size(200_000)
        .start()
        .await?;
    let client = sim.client_as(BENCH_IDENTITY)?;
    kulta_sim::crds::install(
        &client,
        &kulta_api::crd::all_crds(),
        Duration::from_secs(10),
    )
    .await?;
    kulta_sim::crds::install_gateway_api(&client).await?;
    let kubeconfig = log_dir.join(format!("kubeconfig-{n}"));
    kulta_sim::kubeconfig::write(&kubeconfig, sim.base_url(), CONTROLLER_IDENTITY)?;
    let log = log_dir.join(format!("kulta-{n}.log"));
    let _ = std::fs::remove_file(&log);
    let settings = ControllerSettings {
        binary: binary.to_path_buf(),
        kubeconfig,
        kube_qps: args.kube_qps,
        kube_burst: args.kube_burst,
        concurrency: args.concurrency,
        log,
        rust_log: args.rust_log.clone(),
    };
    let mut report = SizeReport {
        n,
        ..SizeReport::default()
    };
    let rollouts = Rollouts::watch(&client).await?;

    // Idle.
    let mut controller = ControllerProcess::spawn(&settings).await?;
    report.ready_ms = controller
        .wait_ready(Duration::from_secs(30))
        .await?
        .as_secs_f64()
        * 1000.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.idle_memory = controller.memory()?;
    report.idle_rss_kib = report.idle_memory.rss_kib;
    step("controller ready and idle", begin);

    // First deploy of N, then settled.
    let created = Instant::now();
    workload::create_apps(&client, n).await?;
    let healthy = rollouts
        .wait_all(n, "deployed", deadline_for(n), |r| {
            workload::healthy_with(r, workload::IMAGE_STABLE)
        })
        .await?;
    report.first_deploy_s = healthy.duration_since(created).as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    report.settled_memory = controller.memory()?;
    report.settled_rss_kib = report.settled_memory.rss_kib;
    step("first deploy done", begin);

    // N simultaneous canaries.
    let (stop_sampler, sampler) =
        process::sample_peak_rss(controller.pid, Duration::from_millis(50));
    let cpu_before = controller.cpu_seconds()?;
    let sim_cpu_before = process::cpu_seconds_of("/proc/self/stat")?;
    let canary_start = Instant::now();
    workload::start_canaries(&client, n).await?;
    rollouts
        .wait_all(n, "paused at step 2", deadline_for(n), |r| {
            workload::paused_at(r, 1)
        })
        .await?;
    let canaries = rollouts.canary_replica_sets();
    step("all paused at step 2", begin);
    let promote_1 = Instant::now();
    workload::promote_all(&client, n).await?;
    rollouts
        .wait_all(n, "paused at step 4", deadline_for(n), |r| {
            workload::paused_at(r, 3)
        })
        .await?;
    step("all paused at step 4", begin);
    let promote_2 = Instant::now();
    workload::promote_all(&client, n).await?;
    let done = rollouts
        .wait_all(n, "completed", deadline_for(n), |r| {
            workload::healthy_with(r, workload::IMAGE_CANARY)
        })
        .await?;
    let cpu_after = controller.cpu_seconds()?;
    let sim_cpu_after = process::cpu_seconds_of("/proc/self/stat")?;
    let _ = stop_sampler.send(());
    let peak = sampler.await.unwrap_or(0);
    step("all canaries completed", begin);
    let records = analysis::by_arrival(sim.request_log().since(canary_start));
    if args.dump {
        let lines: Vec<String> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "ms": r.at.saturating_duration_since(canary_start).as_secs_f64() * 1000.0,
                    "identity": &*r.identity,
                    "verb": r.verb,
                    "resource": &r.resource,
                    "subresource": &r.subresource,
                    "name": &r.name,
                    "code": r.code,
                })
                .to_string()
            })
            .collect();
        std::fs::write(
            log_dir.join(format!("requests-{n}.jsonl")),
            lines.join("\n"),
        )?;
        if let Ok((_, metrics)) = process::http_get(controller.admin, "/metrics").await {
            std::fs::write(log_dir.join(format!("metrics-{n}.txt")), metrics)?;
        }
    }
    let in_span = |from: Instant, to: Instant| -> Vec<kulta_sim::RequestRecord> {
        records
            .iter()
            .filter(|r| r.at >= from && r.at <= to)
            .cloned()
            .collect()
    };
    let mut promote = analysis::promote_latencies(&in_span(promote_1, promote_2));
    promote.extend(analysis::promote_latencies(&in_span(promote_2, done)));
    let canary_records = in_span(canary_start, done);
    let requests = analysis::count_requests(&canary_records, CONTROLLER_IDENTITY);
    let steps = (n * analysis::WEIGHT_STEPS) as f64;
    let minimum = analysis::minimum_writes();
    let events: usize = requests
        .writes_by_kind
        .iter()
        .filter(|(kind, _)| kind.ends_with(" events"))
        .map(|(_, count)| count)
        .sum();
    let writes_per_step = requests.writes as f64 / steps;
    let min_per_step = minimum.shorthand as f64 / analysis::WEIGHT_STEPS as f64;
    let cpu = cpu_after - cpu_before;
    report.canary = report::CanaryFigures {
        completed: n,
        wall_s: done.duration_since(canary_start).as_secs_f64(),
        peak_rss_kib: peak,
        hwm_kib: controller.memory()?.hwm_kib,
        cpu_s: cpu,
        cpu_per_rollout_ms: cpu * 1000.0 / n as f64,
        sim_cpu_s: sim_cpu_after - sim_cpu_before,
        promote_latency: Percentiles::of(promote),
        available_latency: Percentiles::of(analysis::available_latencies(
            &canary_records,
            &canaries,
        )),
        reads_per_step: requests.reads as f64 / steps,
        writes_per_step,
        min_writes_per_step: min_per_step,
        writes_ratio: writes_per_step / min_per_step,
        writes_ratio_no_events: (requests.writes - events) as f64 / (n * minimum.with_pins) as f64,
        design_min_writes_per_canary: minimum.design,
        writes_ratio_design: requests.writes as f64 / (n * minimum.design) as f64,
        requests,
    };

    // Settled window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window_start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.settled_window)).await;
    let window =
        analysis::count_requests(&sim.request_log().since(window_start), CONTROLLER_IDENTITY);
    report.settled = report::SettledFigures {
        window_s: window_start.elapsed().as_secs_f64(),
        writes: window.writes,
        reads: window.reads,
        writes_per_minute: window.writes as f64 * 60.0 / window_start.elapsed().as_secs_f64(),
        rss_kib: controller.memory()?.rss_kib,
    };
    if window.writes > 0 {
        println!("  settled writes: {:?}", window.writes_by_kind);
    }
    step("settled window done", begin);

    // Restart with N settled Rollouts whose generation changed while the controller was down.
    controller.kill().await?;
    workload::bump_generation(&client, n, 601).await?;
    let mut controller = ControllerProcess::spawn(&settings).await?;
    let spawned = controller.started;
    report.restart.ready_ms = controller.wait_ready(deadline_for(n)).await?.as_secs_f64() * 1000.0;
    let reconciled = rollouts
        .wait_all(
            n,
            "reconciled after restart",
            deadline_for(n),
            workload::observed_current,
        )
        .await;
    if let Err(error) = &reconciled {
        println!("  {error:#}");
    }
    let restart_records = analysis::by_arrival(sim.request_log().since(spawned));
    let (all, count) = analysis::all_status_written(&restart_records, spawned, n);
    report.restart.all_reconciled_ms = all.map(|d| d.as_secs_f64() * 1000.0);
    report.restart.reconciled = count;
    let until = all.map_or(Instant::now(), |d| spawned + d);
    report.restart.requests = analysis::count_requests(
        &restart_records
            .iter()
            .filter(|r| r.at <= until)
            .cloned()
            .collect::<Vec<_>>(),
        CONTROLLER_IDENTITY,
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory = controller.memory()?;
    report.restart.settled_rss_kib = memory.rss_kib;
    report.restart.hwm_kib = memory.hwm_kib;
    step("restart done", begin);
    if !controller.alive() {
        println!("  the controller exited on its own");
    }
    controller.kill().await?;
    drop(rollouts);
    sim.shutdown().await;
    Ok(report)
}
