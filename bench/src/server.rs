//! The API server a run measures against: kulta-sim in this process, or a fresh namespace of
//! the real control plane that `scripts/real-cluster.sh up` started (through
//! [`kulta_test_support::Backend`]). Everything the run needs from it: the bench's client, the
//! controller's kubeconfig and namespace, the identities in the request log, the log itself,
//! and clean-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kulta_sim::Sim;
use kulta_test_support::{Backend, CLUSTER_ENV, CONTROLLER_SERVICE_ACCOUNT, Request, RequestMark};
use serde::Serialize;

use crate::analysis::{AvailableSignal, BENCH_IDENTITY, CONTROLLER_IDENTITY, Identities};

/// Which API server the bench runs against (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// kulta-sim, started in the bench process for each N.
    Sim,
    /// The real control plane named by `KULTA_TEST_CLUSTER` (a fresh namespace for each N).
    Real,
}

impl BackendChoice {
    /// The default of `--backend`: `real` when [`CLUSTER_ENV`] names a state directory (what
    /// `eval "$(scripts/real-cluster.sh env)"` exports), as for the test suites; else `sim`.
    pub fn from_env() -> Self {
        Self::from_cluster_dir(kulta_test_support::real_cluster_dir().as_deref())
    }

    /// Fails when this backend cannot be used: `real` without [`CLUSTER_ENV`].
    pub fn ensure_available(self) -> Result<()> {
        if self == BackendChoice::Real && kulta_test_support::real_cluster_dir().is_none() {
            bail!(
                "--backend real needs {CLUSTER_ENV}: scripts/real-cluster.sh up, then \
                 eval \"$(scripts/real-cluster.sh env)\""
            );
        }
        Ok(())
    }

    fn from_cluster_dir(dir: Option<&Path>) -> Self {
        match dir {
            Some(_) => BackendChoice::Real,
            None => BackendChoice::Sim,
        }
    }

    /// The sizes measured when `--sizes` is not given. On the real control plane 1,000 becomes
    /// 300: kube-apiserver, etcd and kube-controller-manager share the bench machine's cores
    /// with the controller and with everyone else's tests, and the API server spends about
    /// 0.3 s of CPU per canary; 1, 100 and 300 take 7 to 12 minutes there (docs/benchmarks.md).
    pub fn default_sizes(self) -> Vec<usize> {
        match self {
            BackendChoice::Sim => vec![1, 100, 1000],
            BackendChoice::Real => vec![1, 100, 300],
        }
    }
}

/// A moment of a run: where the request log stood and the wall clock, so that requests can be
/// read from it on and cut into spans by their arrival.
#[derive(Clone, Debug)]
pub struct Mark {
    /// The wall clock at the mark (the API server's clock is this machine's).
    pub at: SystemTime,
    log: LogMark,
}

#[derive(Clone, Debug)]
enum LogMark {
    Sim(Instant),
    Real(RequestMark),
}

/// How the bench and the controller reach the API server, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct BackendReport {
    /// `sim` or `real`.
    pub kind: BackendChoice,
    /// What serves the API: `kulta-sim`, or `kube-apiserver <version>` and its state directory.
    pub server: String,
    /// How the controller authenticates and where it connects.
    pub controller_client: String,
    /// What the controller watches: every namespace (kulta-sim serves only the bench), or only
    /// the bench's (`--namespace`; the real control plane is shared).
    pub controller_watches: String,
    /// Where the request figures come from.
    pub request_log: String,
}

/// The API server of one N.
pub enum Server {
    /// kulta-sim, in this process.
    Sim(Box<Sim>),
    /// A fresh namespace of the real control plane.
    Real(Box<RealServer>),
}

/// The real control plane, one fresh namespace of it.
pub struct RealServer {
    backend: Backend,
    dir: PathBuf,
    version: String,
    bench_user: String,
}

impl Server {
    /// Starts the backend `choice` names, with the Rollout CRD and the Gateway API's installed
    /// and served.
    pub async fn start(choice: BackendChoice) -> Result<Server> {
        match choice {
            BackendChoice::Sim => {
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
                Ok(Server::Sim(Box::new(sim)))
            }
            BackendChoice::Real => {
                choice.ensure_available()?;
                let dir = kulta_test_support::real_cluster_dir()
                    .context("the real control plane's state directory")?;
                // Backend::start reads the same variable: it makes a fresh namespace and waits
                // for its default ServiceAccount (the closure configures kulta-sim only).
                let backend = Backend::start(|builder| builder).await;
                backend.install_gateway_api().await;
                backend.install_crds(&kulta_api::crd::all_crds()).await;
                let client = backend.client();
                let version = client
                    .apiserver_version()
                    .await
                    .context("unable to read the API server's version")?
                    .git_version;
                let review = Api::<SelfSubjectReview>::all(client)
                    .create(&PostParams::default(), &SelfSubjectReview::default())
                    .await
                    .context("unable to ask the API server who the bench is")?;
                let bench_user = review
                    .status
                    .and_then(|status| status.user_info)
                    .and_then(|user| user.username)
                    .context("the API server did not say who the bench is")?;
                Ok(Server::Real(Box::new(RealServer {
                    backend,
                    dir,
                    version,
                    bench_user,
                })))
            }
        }
    }

    /// The bench's client (kulta-sim: identity `kulta-bench`; real: the administrator).
    pub fn client(&self) -> Result<Client> {
        match self {
            Server::Sim(sim) => Ok(sim.client_as(BENCH_IDENTITY)?),
            Server::Real(real) => Ok(real.backend.client()),
        }
    }

    /// The namespace of the benchmark's objects: `default` on kulta-sim, the fresh one on the
    /// real control plane.
    pub fn namespace(&self) -> &str {
        match self {
            Server::Sim(_) => "default",
            Server::Real(real) => real.backend.namespace(),
        }
    }

    /// The namespace the controller is told to watch (`--namespace`). kulta-sim serves only the
    /// bench, so there the controller watches every namespace, as it did before the real
    /// backend existed; the real control plane is shared with other work.
    pub fn controller_namespace(&self) -> Option<&str> {
        match self {
            Server::Sim(_) => None,
            Server::Real(real) => Some(real.backend.namespace()),
        }
    }

    /// The kubeconfig the controller process runs with. kulta-sim: written into `dir`, token
    /// `kulta-controller`. Real: the ServiceAccount token of `controller.kubeconfig`, straight
    /// to kube-apiserver. Not test-support's fault proxy: it would sit in the bench process and
    /// add a hop and its CPU to every request the figures time, and the bench injects no
    /// faults.
    pub fn controller_kubeconfig(&self, dir: &Path, n: usize) -> Result<PathBuf> {
        match self {
            Server::Sim(sim) => {
                let path = dir.join(format!("kubeconfig-{n}"));
                kulta_sim::kubeconfig::write(&path, sim.base_url(), CONTROLLER_IDENTITY)?;
                Ok(path)
            }
            Server::Real(real) => Ok(real.dir.join("controller.kubeconfig")),
        }
    }

    /// Lets the controller hold its Lease in [`Server::namespace`]. kulta-sim authorizes every
    /// request, so there is nothing to do. On the real control plane the controller's
    /// ServiceAccount gets the Role and RoleBinding of `deploy/kustomize/base` that a deployment
    /// gives it in its own namespace (create Leases, get and update `kulta-controller`), in the
    /// bench's fresh namespace, as the operator tests do.
    ///
    /// # Errors
    /// When a manifest does not parse or the API server refuses it.
    pub async fn grant_leader_election(&self) -> Result<()> {
        let Server::Real(real) = self else {
            return Ok(());
        };
        let namespace = real.backend.namespace();
        for (text, plural) in [
            (
                include_str!("../../deploy/kustomize/base/role-leader-election.yaml"),
                "roles",
            ),
            (
                include_str!("../../deploy/kustomize/base/rolebinding-leader-election.yaml"),
                "rolebindings",
            ),
        ] {
            let mut object: serde_json::Value = serde_saphyr::from_str(text)
                .with_context(|| format!("unable to parse the leader election {plural}"))?;
            object["metadata"]["namespace"] = namespace.into();
            let kind = object["kind"].as_str().unwrap_or_default().to_string();
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let resource = ApiResource {
                group: "rbac.authorization.k8s.io".into(),
                version: "v1".into(),
                api_version: "rbac.authorization.k8s.io/v1".into(),
                kind,
                plural: plural.into(),
            };
            Api::<DynamicObject>::namespaced_with(real.backend.client(), namespace, &resource)
                .patch(
                    &name,
                    &PatchParams::apply(BENCH_IDENTITY).force(),
                    &Patch::Apply(&object),
                )
                .await
                .with_context(|| format!("unable to apply {plural} {namespace}/{name}"))?;
        }
        Ok(())
    }

    /// Who is who in the request log.
    pub fn identities(&self) -> Identities {
        match self {
            Server::Sim(_) => Identities {
                bench: BENCH_IDENTITY.to_string(),
                controller: CONTROLLER_IDENTITY.to_string(),
                cluster: kulta_sim::CONTROLLER_IDENTITY.to_string(),
                available: AvailableSignal::ReplicaSetStatus,
            },
            Server::Real(real) => Identities {
                bench: real.bench_user.clone(),
                controller: CONTROLLER_SERVICE_ACCOUNT.to_string(),
                // The agent's user name is kulta-sim's controllers' (scripts/real-cluster.sh).
                cluster: kulta_sim::CONTROLLER_IDENTITY.to_string(),
                available: AvailableSignal::PodStatus,
            },
        }
    }

    /// For the report.
    pub fn describe(&self) -> BackendReport {
        match self {
            Server::Sim(_) => BackendReport {
                kind: BackendChoice::Sim,
                server: "kulta-sim (in the bench process)".to_string(),
                controller_client: "token kulta-controller, straight to kulta-sim".to_string(),
                controller_watches: "every namespace".to_string(),
                request_log: "kulta-sim's request log".to_string(),
            },
            Server::Real(real) => BackendReport {
                kind: BackendChoice::Real,
                server: format!("kube-apiserver {} ({})", real.version, real.dir.display()),
                controller_client: format!(
                    "{CONTROLLER_SERVICE_ACCOUNT} (controller.kubeconfig), straight to \
                     kube-apiserver, no fault proxy"
                ),
                controller_watches: "the bench's namespace only (--namespace), a fresh one per N"
                    .to_string(),
                request_log: "kube-apiserver's audit log, requests in the bench's namespace"
                    .to_string(),
            },
        }
    }

    /// The current end of the request log.
    pub fn mark(&self) -> Mark {
        // The log's end first, then the clock: a request that arrives after `at` completes,
        // and is logged, after the log's end was read, so none is lost between the two.
        let log = match self {
            Server::Sim(_) => LogMark::Sim(Instant::now()),
            Server::Real(real) => LogMark::Real(real.backend.mark()),
        };
        let at = SystemTime::now();
        Mark { at, log }
    }

    /// Every request received since `mark`, in order of arrival. On the real control plane
    /// only requests in the bench's namespace (test-support reads the audit log once a request
    /// made now is in it), and only those whose stage ResponseComplete was logged: a watch
    /// still open is not there yet.
    pub async fn requests_since(&self, mark: &Mark) -> Vec<Request> {
        match (self, &mark.log) {
            (Server::Sim(sim), LogMark::Sim(since)) => {
                let mut records = sim.request_log().since(*since);
                // The log appends when a request completes.
                records.sort_by_key(|record| record.at);
                records.iter().map(Request::from).collect()
            }
            (Server::Real(real), LogMark::Real(offset)) => real
                .backend
                .requests_since(offset)
                .await
                .into_iter()
                // The audit log is in completion order: a request that arrived before the mark
                // may complete after it.
                .filter(|request| request.received >= mark.at)
                .collect(),
            // A mark of another server: none of this one's requests follow it.
            _ => Vec::new(),
        }
    }

    /// CPU seconds (utime + stime) so far of each process of the real control plane, by name
    /// (`etcd`, `kube-apiserver`, `kube-controller-manager`, `agent`); `None` on kulta-sim,
    /// which runs in the bench process.
    pub fn control_plane_cpu(&self) -> Option<BTreeMap<String, f64>> {
        let Server::Real(real) = self else {
            return None;
        };
        let mut cpu = BTreeMap::new();
        for name in ["etcd", "kube-apiserver", "kube-controller-manager", "agent"] {
            let seconds = std::fs::read_to_string(real.dir.join("pids").join(name))
                .ok()
                .and_then(|pid| {
                    crate::process::cpu_seconds_of(&format!("/proc/{}/stat", pid.trim())).ok()
                });
            if let Some(seconds) = seconds {
                cpu.insert(name.to_string(), seconds);
            }
        }
        Some(cpu)
    }

    /// Ends the backend. kulta-sim stops. On the real control plane the namespace is deleted
    /// and this waits (up to `deadline`) until it is gone, so that its garbage collection does
    /// not load the next N's run. Call it after the controller stopped: the Rollouts' finalizer
    /// is removed first, since no controller is left to remove it.
    pub async fn shutdown(self, deadline: Duration) -> Result<()> {
        match self {
            Server::Sim(sim) => {
                sim.shutdown().await;
                Ok(())
            }
            Server::Real(real) => {
                let namespace = real.backend.namespace().to_string();
                let client = real.backend.client();
                crate::workload::remove_finalizers(&client, &namespace).await?;
                let namespaces: Api<Namespace> = Api::all(client);
                namespaces
                    .delete(&namespace, &DeleteParams::default())
                    .await
                    .with_context(|| format!("unable to delete namespace {namespace}"))?;
                let waiting = Instant::now();
                while namespaces.get_opt(&namespace).await?.is_some() {
                    if waiting.elapsed() > deadline {
                        bail!("namespace {namespace} not gone within {deadline:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_variable_chooses_the_default_backend() {
        assert_eq!(BackendChoice::from_cluster_dir(None), BackendChoice::Sim);
        assert_eq!(
            BackendChoice::from_cluster_dir(Some(Path::new("/tmp/state"))),
            BackendChoice::Real
        );
    }
}
