//! One N of a run: a fresh API server (kulta-sim, or a fresh namespace of the real control
//! plane), the controller as a separate process, and the phases of docs/benchmarks.md: idle,
//! first deploy, N simultaneous canaries, the settled window, a restart.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use kulta_test_support::Request;

use crate::analysis::{self, Percentiles, elapsed};
use crate::leadership::{self, ElectionSettings, LeadershipFigures};
use crate::process::{self, ControllerProcess, ControllerSettings};
use crate::report::{self, SizeReport};
use crate::server::{BackendChoice, BackendReport, Mark, Server};
use crate::workload::{self, Rollouts};

/// How the controller is run and the run measured (the command line's part that is the same
/// for every N).
#[derive(Clone, Debug)]
pub struct Options {
    /// The controller's `--kube-qps`.
    pub kube_qps: f64,
    /// The controller's `--kube-burst`.
    pub kube_burst: u32,
    /// The controller's `--concurrency`.
    pub concurrency: u16,
    /// The controller's `RUST_LOG`.
    pub rust_log: String,
    /// Length of the settled window, s.
    pub settled_window: f64,
    /// Write the canaries' request log and the controller's metrics beside the report.
    pub dump: bool,
    /// Run the controller with leader election on (see [`leadership`]).
    pub leader_election: bool,
}

/// A deadline for waiting on N Rollouts.
fn deadline_for(n: usize) -> Duration {
    let per_rollout =
        Duration::from_millis(300).saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
    Duration::from_secs(60).saturating_add(per_rollout)
}

fn step(what: &str, since: Instant) {
    println!("  {what} ({:.1} s)", since.elapsed().as_secs_f64());
}

/// Runs `work` unless the controller ends first: then fails at once, saying while doing what,
/// rather than at `work`'s deadline. `kulta run` ends on its own only on a fatal error or a
/// lost Lease (exit code 1).
async fn while_running<T>(
    controller: &mut ControllerProcess,
    what: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        result = work => result,
        status = controller.exited() => {
            bail!("the controller exited on its own ({status}) while {what}")
        }
    }
}

/// Spawn to the controller's `/readyz` 200, as [`ControllerProcess::wait_ready`]. With leader
/// election a candidate answers 200 while it stands by, before it holds the Lease; once it
/// does, it turns not ready, starts its watches and is ready again when their caches synced.
/// So there a 200 counts only if it was asked for after the API server received the
/// controller's first request since `mark` other than the Lease's (the first list of a watch,
/// sent after it turned not ready). Every 200 is remembered with when it was asked, so that
/// the time the request log takes to show that request is not added to the figure.
async fn wait_ready(
    controller: &mut ControllerProcess,
    server: &Server,
    election: Option<&ElectionSettings>,
    mark: &Mark,
    controller_identity: &str,
    deadline: Duration,
) -> Result<Duration> {
    if election.is_none() {
        return controller.wait_ready(deadline).await;
    }
    // A deadline past what an Instant holds is no deadline.
    let until = Instant::now().checked_add(deadline);
    let mut ready_answers: Vec<(SystemTime, Duration)> = Vec::new();
    let mut leading_since: Option<SystemTime> = None;
    let mut next_look = Instant::now();
    loop {
        if let Some(status) = controller.exit_status()? {
            bail!("the controller exited before it was ready ({status})");
        }
        let asked = SystemTime::now();
        if process::http_get(controller.admin, "/readyz")
            .await
            .ok()
            .map(|(code, _)| code)
            == Some(200)
        {
            ready_answers.push((asked, controller.started.elapsed()));
        }
        if leading_since.is_none() && Instant::now() >= next_look {
            leading_since = server
                .requests_since(mark)
                .await
                .iter()
                .filter(|r| r.identity == controller_identity && !leadership::is_lease_request(r))
                .map(|r| r.received)
                .min();
            next_look = Instant::now()
                .checked_add(Duration::from_millis(20))
                .unwrap_or(next_look);
        }
        if let Some(since) = leading_since
            && let Some((_, ready)) = ready_answers.iter().find(|(asked, _)| *asked >= since)
        {
            return Ok(*ready);
        }
        if until.is_some_and(|until| Instant::now() > until) {
            bail!(
                "the controller was not ready as the leader within {deadline:?} (leading: {})",
                leading_since.is_some()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Measures N Rollouts on a fresh `backend`; returns the figures and how the backend was
/// reached. The backend is shut down (on the real control plane: its namespace deleted) whether
/// the measurement succeeded or not.
pub async fn run_size(
    n: usize,
    backend: BackendChoice,
    options: &Options,
    binary: &Path,
    log_dir: &Path,
) -> Result<(SizeReport, BackendReport)> {
    let server = Server::start(backend).await?;
    if let Some(namespace) = server.controller_namespace() {
        println!("  namespace {namespace}");
    }
    let measured = measure(n, &server, options, binary, log_dir).await;
    let described = server.describe();
    let begin = Instant::now();
    let cleaned = server.shutdown(deadline_for(n)).await;
    if backend == BackendChoice::Real {
        step("namespace deleted", begin);
    }
    let size = measured?;
    cleaned?;
    Ok((size, described))
}

async fn measure(
    n: usize,
    server: &Server,
    options: &Options,
    binary: &Path,
    log_dir: &Path,
) -> Result<SizeReport> {
    let begin = Instant::now();
    let client = server.client()?;
    let namespace = server.namespace().to_string();
    let identities = server.identities();
    let log = log_dir.join(format!("kulta-{n}.log"));
    let _ = std::fs::remove_file(&log);
    let election = options
        .leader_election
        .then(|| ElectionSettings::defaults_in(&namespace));
    if election.is_some() {
        server.grant_leader_election().await?;
    }
    let settings = ControllerSettings {
        binary: binary.to_path_buf(),
        kubeconfig: server.controller_kubeconfig(log_dir, n)?,
        namespace: server.controller_namespace().map(str::to_string),
        kube_qps: options.kube_qps,
        kube_burst: options.kube_burst,
        concurrency: options.concurrency,
        log,
        rust_log: options.rust_log.clone(),
        election: election.clone(),
    };
    let mut report = SizeReport {
        n,
        namespace: namespace.clone(),
        ..SizeReport::default()
    };
    let rollouts = Rollouts::watch(&client, &namespace).await?;
    // Each controller process's span, spawn to kill (`None`: not killed yet).
    let mut lifetimes: Vec<(SystemTime, Option<SystemTime>)> = Vec::new();
    let run_mark = server.mark();
    let measured = async {
        // Idle.
        let spawn_mark = server.mark();
        let mut controller = ControllerProcess::spawn(&settings).await?;
        lifetimes.push((controller.spawned_at, None));
        report.ready_ms = wait_ready(
            &mut controller,
            server,
            election.as_ref(),
            &spawn_mark,
            &identities.controller,
            Duration::from_secs(30),
        )
        .await?
        .as_secs_f64()
            * 1000.0;
        tokio::time::sleep(Duration::from_secs(2)).await;
        report.idle_memory = controller.memory()?;
        report.idle_rss_kib = report.idle_memory.rss_kib;
        step("controller ready and idle", begin);

        // First deploy of N, then settled.
        let created = SystemTime::now();
        let healthy = while_running(&mut controller, "the first deploy ran", async {
            workload::create_apps(&client, &namespace, n).await?;
            rollouts
                .wait_all(n, "deployed", deadline_for(n), |r| {
                    workload::healthy_with(r, workload::IMAGE_STABLE)
                })
                .await
        })
        .await?;
        report.first_deploy_s = elapsed(created, healthy).as_secs_f64();
        tokio::time::sleep(Duration::from_secs(3)).await;
        report.settled_memory = controller.memory()?;
        report.settled_rss_kib = report.settled_memory.rss_kib;
        step("first deploy done", begin);

        // N simultaneous canaries.
        let (stop_sampler, sampler) =
            process::sample_peak_rss(controller.pid, Duration::from_millis(50));
        let cpu_before = controller.cpu_seconds()?;
        let bench_cpu_before = process::cpu_seconds_of("/proc/self/stat")?;
        let plane_cpu_before = server.control_plane_cpu();
        let canary_start = server.mark();
        while_running(&mut controller, "the canaries went to step 2", async {
            workload::start_canaries(&client, &namespace, n).await?;
            rollouts
                .wait_all(n, "paused at step 2", deadline_for(n), |r| {
                    workload::paused_at(r, 1)
                })
                .await
        })
        .await?;
        let canaries = rollouts.canary_replica_sets();
        step("all paused at step 2", begin);
        let promote_1 = SystemTime::now();
        while_running(&mut controller, "the canaries went to step 4", async {
            workload::promote_all(&client, &namespace, n).await?;
            rollouts
                .wait_all(n, "paused at step 4", deadline_for(n), |r| {
                    workload::paused_at(r, 3)
                })
                .await
        })
        .await?;
        step("all paused at step 4", begin);
        let promote_2 = SystemTime::now();
        let done = while_running(&mut controller, "the canaries completed", async {
            workload::promote_all(&client, &namespace, n).await?;
            rollouts
                .wait_all(n, "completed", deadline_for(n), |r| {
                    workload::healthy_with(r, workload::IMAGE_CANARY)
                })
                .await
        })
        .await?;
        let cpu_after = controller.cpu_seconds()?;
        let bench_cpu_after = process::cpu_seconds_of("/proc/self/stat")?;
        let plane_cpu_after = server.control_plane_cpu();
        let _ = stop_sampler.send(());
        let peak = sampler.await.unwrap_or(0);
        step("all canaries completed", begin);
        let records = server.requests_since(&canary_start).await;
        if options.dump {
            dump(&records, &canary_start, &controller, log_dir, n).await?;
        }
        let in_span = |from: SystemTime, to: SystemTime| -> Vec<Request> {
            records
                .iter()
                .filter(|r| r.received >= from && r.received <= to)
                .cloned()
                .collect()
        };
        let mut promote = analysis::promote_latencies(&in_span(promote_1, promote_2), &identities);
        promote.extend(analysis::promote_latencies(
            &in_span(promote_2, done),
            &identities,
        ));
        let canary_records = in_span(canary_start.at, done);
        let requests = analysis::count_requests(&canary_records, &identities.controller);
        let steps = n.saturating_mul(analysis::WEIGHT_STEPS) as f64;
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
            wall_s: elapsed(canary_start.at, done).as_secs_f64(),
            peak_rss_kib: peak,
            hwm_kib: controller.memory()?.hwm_kib,
            cpu_s: cpu,
            cpu_per_rollout_ms: cpu * 1000.0 / n as f64,
            sim_cpu_s: bench_cpu_after - bench_cpu_before,
            control_plane_cpu_s: plane_cpu_after
                .zip(plane_cpu_before)
                .map(|(after, before)| {
                    after
                        .into_iter()
                        .map(|(name, seconds)| {
                            let spent = seconds - before.get(&name).copied().unwrap_or(seconds);
                            (name, spent)
                        })
                        .collect()
                }),
            promote_latency: Percentiles::of(promote),
            available_latency: Percentiles::of(analysis::available_latencies(
                &canary_records,
                &canaries,
                &identities,
            )),
            reads_per_step: requests.reads as f64 / steps,
            writes_per_step,
            min_writes_per_step: min_per_step,
            writes_ratio: writes_per_step / min_per_step,
            writes_ratio_no_events: requests.writes.saturating_sub(events) as f64
                / n.saturating_mul(minimum.with_pins) as f64,
            design_min_writes_per_canary: minimum.design,
            writes_ratio_design: requests.writes as f64 / n.saturating_mul(minimum.design) as f64,
            requests,
        };

        // Settled window.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let settled_window = Duration::try_from_secs_f64(options.settled_window)
            .context("the settled window is not a duration")?;
        let window_start = server.mark();
        while_running(&mut controller, "in the settled window", async {
            tokio::time::sleep(settled_window).await;
            Ok(())
        })
        .await?;
        let window_end = SystemTime::now();
        let window_records: Vec<Request> = server
            .requests_since(&window_start)
            .await
            .into_iter()
            .filter(|r| r.received <= window_end)
            .collect();
        let window = analysis::count_requests(&window_records, &identities.controller);
        let window_s = elapsed(window_start.at, window_end).as_secs_f64();
        report.settled = report::SettledFigures {
            window_s,
            writes: window.writes,
            reads: window.reads,
            writes_per_minute: window.writes as f64 * 60.0 / window_s,
            rss_kib: controller.memory()?.rss_kib,
        };
        if window.writes > 0 {
            println!("  settled writes: {:?}", window.writes_by_kind);
        }
        step("settled window done", begin);

        // Restart with N settled Rollouts whose generation changed while the controller was down.
        if let Some(status) = controller.exit_status()? {
            bail!("the controller exited on its own ({status}) before the restart");
        }
        controller.kill().await?;
        if let Some(lifetime) = lifetimes.last_mut() {
            lifetime.1 = Some(SystemTime::now());
        }
        workload::bump_generation(&client, &namespace, n, 601).await?;
        let restart_mark = server.mark();
        let mut controller = ControllerProcess::spawn(&settings).await?;
        let spawned = controller.spawned_at;
        lifetimes.push((spawned, None));
        report.restart.ready_ms = wait_ready(
            &mut controller,
            server,
            election.as_ref(),
            &restart_mark,
            &identities.controller,
            deadline_for(n),
        )
        .await?
        .as_secs_f64()
            * 1000.0;
        let reconciled = while_running(
            &mut controller,
            "the restarted controller reconciled",
            async {
                Ok(rollouts
                    .wait_all(
                        n,
                        "reconciled after restart",
                        deadline_for(n),
                        workload::observed_current,
                    )
                    .await)
            },
        )
        .await?;
        if let Err(error) = &reconciled {
            println!("  {error:#}");
        }
        let restart_records = server.requests_since(&restart_mark).await;
        let (all, count) =
            analysis::all_status_written(&restart_records, spawned, n, &identities.controller);
        report.restart.all_reconciled_ms = all.map(|d| d.as_secs_f64() * 1000.0);
        report.restart.reconciled = count;
        let until = all
            .and_then(|d| spawned.checked_add(d))
            .unwrap_or_else(SystemTime::now);
        report.restart.requests = analysis::count_requests(
            &restart_records
                .iter()
                .filter(|r| r.received >= spawned && r.received <= until)
                .cloned()
                .collect::<Vec<_>>(),
            &identities.controller,
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let memory = controller.memory()?;
        report.restart.settled_rss_kib = memory.rss_kib;
        report.restart.hwm_kib = memory.hwm_kib;
        step("restart done", begin);
        if let Some(status) = controller.exit_status()? {
            if election.is_some() {
                bail!("the controller exited on its own ({status}) after the restart");
            }
            println!("  the controller exited on its own");
        }
        controller.kill().await?;
        if let Some(lifetime) = lifetimes.last_mut() {
            lifetime.1 = Some(SystemTime::now());
        }
        anyhow::Ok(())
    }
    .await;
    drop(rollouts);
    let Some(election) = &election else {
        return measured.map(|()| report);
    };
    // Whether the run got through or not, what the log and the request log say of the Lease.
    let tally = leadership::tally_log(&settings.log)?;
    let now = SystemTime::now();
    let spans: Vec<(SystemTime, SystemTime)> = lifetimes
        .iter()
        .map(|(spawned, killed)| (*spawned, killed.unwrap_or(now)))
        .collect();
    let records = server.requests_since(&run_mark).await;
    let figures = LeadershipFigures::of(&tally, &records, &identities.controller, &spans);
    let last_write = leadership::last_lease_write(&records, &identities.controller)
        .map_or("none".to_string(), |at| {
            chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339()
        });
    let account = format!(
        "{}; {} lease writes, the last at {last_write}, renewal interval max {:.1} s (renew \
         deadline {} s); controller log {}",
        tally.summary(),
        figures.lease_writes,
        figures.renewal_interval.max_ms / 1000.0,
        election.renew_deadline_s,
        settings.log.display()
    );
    if let Err(error) = measured {
        return Err(error.context(account));
    }
    if figures.step_downs > 0 {
        bail!("the controller lost its Lease: {account}");
    }
    println!("  {}", figures.step_down_line());
    report.leadership = Some(figures);
    Ok(report)
}

/// Writes the canaries' requests (JSON lines, ms since the template change) and the
/// controller's `/metrics` beside the report.
async fn dump(
    records: &[Request],
    canary_start: &Mark,
    controller: &ControllerProcess,
    log_dir: &Path,
    n: usize,
) -> Result<()> {
    let lines: Vec<String> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "ms": elapsed(canary_start.at, r.received).as_secs_f64() * 1000.0,
                "identity": r.identity,
                "verb": r.verb,
                "resource": r.resource,
                "subresource": r.subresource,
                "name": r.name,
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
    Ok(())
}
