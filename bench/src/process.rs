//! The controller under test as a separate process: build `kulta` as the image ships it (or take
//! the one given), start it against the API server, read its memory and CPU from `/proc`, and poll its
//! admin server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// The cargo arguments that build `kulta` as the operator image ships it (see the Dockerfile):
/// profile `dist`, without the `sandbox` feature.
pub const SHIPPED_BUILD: [&str; 8] = [
    "build",
    "--profile",
    "dist",
    "-p",
    "kulta",
    "--bin",
    "kulta",
    "--no-default-features",
];

/// The profile directory `SHIPPED_BUILD` writes to, under the target directory.
const SHIPPED_PROFILE_DIR: &str = "dist";

/// Finds the `kulta` binary: `explicit` when given, else builds it as the image ships it
/// (`cargo` with [`SHIPPED_BUILD`], a no-op when up to date) and uses `target/dist/kulta` of the
/// target directory this binary lives in.
pub fn locate_kulta(explicit: Option<&Path>, skip_build: bool) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--kulta {} is not a file", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_exe().context("unable to find this executable")?;
    // `<target>/<profile>/kulta-bench`: the shipped build lands in `<target>/dist/kulta`.
    let target_dir = here
        .parent()
        .and_then(Path::parent)
        .context("this executable is not in a cargo target directory")?;
    let candidate = target_dir.join(SHIPPED_PROFILE_DIR).join("kulta");
    let command = format!("cargo {}", SHIPPED_BUILD.join(" "));
    if !skip_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        println!("building the controller as the image ships it: {command}");
        let mut build = std::process::Command::new(cargo);
        build
            .args(SHIPPED_BUILD)
            .env("CARGO_TARGET_DIR", target_dir);
        // Under `cargo run`, this process has the package variables cargo sets for a program
        // (CARGO_MANIFEST_DIR, CARGO_PKG_NAME...). Build scripts such as ring's rerun when
        // those change, so passing them on would rebuild the whole dist build (fat LTO, many
        // minutes) that `cargo build` from a shell, or the Dockerfile's, left up to date.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_program_variable) {
                build.env_remove(&name);
            }
        }
        let status = build.status().context("unable to run cargo")?;
        if !status.success() {
            bail!("cargo build of the controller failed ({status})");
        }
    }
    if !candidate.is_file() {
        bail!(
            "{} not found: build it with `{command}` or pass --kulta PATH",
            candidate.display()
        );
    }
    Ok(candidate)
}

/// Whether `name` is one of the variables cargo sets for the program of `cargo run` (not one of
/// its configuration variables such as `CARGO_HOME` or `CARGO_PROFILE_*`).
fn is_program_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// How the controller is started.
#[derive(Clone, Debug)]
pub struct ControllerSettings {
    /// The `kulta` binary.
    pub binary: PathBuf,
    /// Its kubeconfig (kulta-sim: token `kulta-controller`; real: its ServiceAccount's).
    pub kubeconfig: PathBuf,
    /// `--namespace`, the only namespace it watches (`None`: all).
    pub namespace: Option<String>,
    /// `--kube-qps`.
    pub kube_qps: f64,
    /// `--kube-burst`.
    pub kube_burst: u32,
    /// `--concurrency`.
    pub concurrency: u16,
    /// Where its log goes.
    pub log: PathBuf,
    /// `RUST_LOG` for it.
    pub rust_log: String,
    /// Leader election, or `None` to run it with `--leader-election=false`.
    pub election: Option<crate::leadership::ElectionSettings>,
}

/// A running controller.
pub struct ControllerProcess {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// When it was spawned.
    pub started: Instant,
    /// When it was spawned, by the wall clock (to compare with the request log).
    pub spawned_at: SystemTime,
    /// Its admin address.
    pub admin: std::net::SocketAddr,
}

impl ControllerProcess {
    /// Starts `kulta run` on a free loopback admin port, with leader election as `settings`
    /// say (off unless given).
    pub async fn spawn(settings: &ControllerSettings) -> Result<Self> {
        let admin = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&settings.log)
            .with_context(|| format!("unable to open {}", settings.log.display()))?;
        let log_err = log.try_clone()?;
        let started = Instant::now();
        let spawned_at = SystemTime::now();
        let mut command = Command::new(&settings.binary);
        command.arg("run");
        if let Some(namespace) = &settings.namespace {
            command.arg("--namespace").arg(namespace);
        }
        match &settings.election {
            Some(election) => command.args(election.controller_args()),
            None => command.arg("--leader-election=false"),
        };
        let child = command
            .arg("--admin-addr")
            .arg(admin.to_string())
            .arg("--kube-qps")
            .arg(settings.kube_qps.to_string())
            .arg("--kube-burst")
            .arg(settings.kube_burst.to_string())
            .arg("--concurrency")
            .arg(settings.concurrency.to_string())
            .arg("--log-format")
            .arg("json")
            .env("KUBECONFIG", &settings.kubeconfig)
            .env("RUST_LOG", &settings.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("unable to start {}", settings.binary.display()))?;
        let pid = child.id().context("the controller exited at once")?;
        Ok(ControllerProcess {
            child,
            pid,
            started,
            spawned_at,
            admin,
        })
    }

    /// Waits until `/readyz` answers 200; returns the time since spawn.
    pub async fn wait_ready(&mut self, deadline: Duration) -> Result<Duration> {
        let waiting = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the controller exited before it was ready ({status})");
            }
            if http_get(self.admin, "/readyz")
                .await
                .ok()
                .map(|(code, _)| code)
                == Some(200)
            {
                return Ok(self.started.elapsed());
            }
            if waiting.elapsed() > deadline {
                bail!("the controller was not ready within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Memory figures from `/proc/<pid>/status`.
    pub fn memory(&self) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
                .unwrap_or(0)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            anon_kib: field("RssAnon:"),
            file_kib: field("RssFile:"),
            threads: field("Threads:"),
        })
    }

    /// utime + stime of the process, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds_of(&format!("/proc/{}/stat", self.pid))
    }

    /// How it ended, if it has.
    ///
    /// # Errors
    /// When its state cannot be read.
    pub fn exit_status(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Resolves when it has ended on its own (polled every 20 ms, so dropping this future
    /// loses nothing).
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        loop {
            // An error reading its state is not an end.
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill(mut self) -> Result<()> {
        self.child.start_kill()?;
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .context("the controller did not exit within 10 s of SIGKILL")??;
        Ok(())
    }
}

/// Resident memory of a process.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Memory {
    /// VmRSS in KiB.
    pub rss_kib: u64,
    /// VmHWM (peak RSS since start) in KiB.
    pub hwm_kib: u64,
    /// RssAnon (heap, stacks) in KiB.
    pub anon_kib: u64,
    /// RssFile (mapped binary and libraries) in KiB.
    pub file_kib: u64,
    /// Number of threads.
    pub threads: u64,
}

/// utime + stime from a `/proc/.../stat` file, in seconds.
pub fn cpu_seconds_of(path: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| -> f64 {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After ')' the first field is the state (field 3), so field 14 is index 11.
    Ok((ticks(11) + ticks(12)) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A minimal HTTP/1.0 GET on loopback: the status code and the body.
pub async fn http_get(address: std::net::SocketAddr, path: &str) -> Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .context("admin request timed out")??;
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Samples a process's VmRSS every `every` until stopped; returns the largest sample (KiB).
pub fn sample_peak_rss(
    pid: u32,
    every: Duration,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<u64>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut peak = 0u64;
        loop {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(kib) = status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|kb| kb.parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
            tokio::select! {
                _ = &mut stopped => return peak,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
    (stop, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_variables_cargo_run_sets_for_its_program_are_dropped() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(is_program_variable(name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_DIST_LTO",
            "PATH",
        ] {
            assert!(!is_program_variable(name), "{name}");
        }
    }
}
