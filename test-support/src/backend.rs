//! The API server a test runs against: its own kulta-sim, or a namespace of the real control
//! plane that `scripts/real-cluster.sh up` started.

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kulta_sim::{Sim, SimBuilder};

use crate::audit::{Request, parse_audit_line};
use crate::proxy::{FaultInjector, listen};
use crate::wait::{wait_for, wait_until};

/// The environment variable that chooses the backend: unset or empty, kulta-sim; otherwise the
/// state directory of a running `scripts/real-cluster.sh up` (what `scripts/real-cluster.sh env`
/// exports).
pub const CLUSTER_ENV: &str = "KULTA_TEST_CLUSTER";

/// The identity of KULTA's controller in the tests (kulta-sim: its bearer token; real control
/// plane: its fault-proxy client).
pub const CONTROLLER_IDENTITY: &str = "kulta-controller";

/// The user the controller authenticates as on the real control plane: the ServiceAccount
/// `deploy/kustomize/base` creates (see `scripts/real-cluster.sh`).
pub const CONTROLLER_SERVICE_ACCOUNT: &str = "system:serviceaccount:kulta-system:kulta-controller";

/// How long setup steps (namespace, ServiceAccount, CRDs) may take on a busy machine.
const SETUP_DEADLINE: Duration = Duration::from_secs(60);

/// The real control plane's state directory, when [`CLUSTER_ENV`] names one.
pub fn real_cluster_dir() -> Option<PathBuf> {
    std::env::var_os(CLUSTER_ENV)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// An API server for one test.
pub struct Backend {
    kind: Kind,
    namespace: String,
}

enum Kind {
    Sim(Box<Sim>),
    Real(Box<Real>),
}

struct Real {
    dir: PathBuf,
    admin: Client,
    /// The controller's ServiceAccount, upstream of the fault proxy.
    service_account: Client,
    injector: FaultInjector,
    /// The fault proxy's listener and a client of it, per identity.
    clients: tokio::sync::Mutex<std::collections::HashMap<String, (SocketAddr, Client)>>,
}

/// A point in the request log, for [`Backend::requests_since`].
#[derive(Debug, Clone)]
pub enum RequestMark {
    /// kulta-sim: an instant.
    Sim(Instant),
    /// The real control plane: an offset in the audit log.
    Real(u64),
}

impl Backend {
    /// Starts the backend [`CLUSTER_ENV`] chooses. On kulta-sim, `configure` sets up the sim's
    /// builder and the namespace is `default`; on the real control plane, the namespace is new
    /// (`e2e-` and a random suffix) and has its default ServiceAccount.
    pub async fn start(configure: impl FnOnce(SimBuilder) -> SimBuilder) -> Backend {
        // One rustls provider for every client, whatever else the dependency graph enables.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match real_cluster_dir() {
            None => {
                let sim = configure(Sim::builder()).start().await.expect("sim starts");
                Backend {
                    kind: Kind::Sim(Box::new(sim)),
                    namespace: "default".to_string(),
                }
            }
            Some(dir) => Self::start_real(dir).await,
        }
    }

    async fn start_real(dir: PathBuf) -> Backend {
        let namespace = format!("e2e-{}", random_suffix());
        let admin = client_from(&dir.join("admin.kubeconfig"), &namespace).await;
        let service_account = client_from(&dir.join("controller.kubeconfig"), &namespace).await;
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        let object: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": namespace, "labels": { "kulta.io/e2e": "true" } }
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|error| panic!("create namespace {namespace}: {error}"));
        // Pods are refused until kube-controller-manager created the default ServiceAccount.
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
        wait_for(
            &format!("ServiceAccount {namespace}/default"),
            SETUP_DEADLINE,
            || async { accounts.get_opt("default").await.ok().flatten() },
        )
        .await;
        Backend {
            kind: Kind::Real(Box::new(Real {
                dir,
                admin,
                service_account,
                injector: FaultInjector::new(),
                clients: Default::default(),
            })),
            namespace,
        }
    }

    /// Whether this is the real control plane.
    pub fn is_real(&self) -> bool {
        matches!(self.kind, Kind::Real(_))
    }

    /// The sim, on kulta-sim.
    pub fn sim(&self) -> Option<&Sim> {
        match &self.kind {
            Kind::Sim(sim) => Some(sim),
            Kind::Real(_) => None,
        }
    }

    /// The test's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// An administrator's client (kulta-sim: identity `admin`; real: `system:masters`), default
    /// namespace the test's.
    pub fn client(&self) -> Client {
        match &self.kind {
            Kind::Sim(sim) => sim.client(),
            Kind::Real(real) => real.admin.clone(),
        }
    }

    /// The client KULTA's controller runs with, identity [`Backend::controller_identity`]. On
    /// the real control plane it authenticates with the ServiceAccount token bound by the
    /// rendered RBAC (so a missing grant fails the test), through the fault proxy.
    pub async fn controller_client(&self) -> Client {
        self.client_as(CONTROLLER_IDENTITY).await
    }

    /// A controller's client named `identity` (what [`Backend::faults`] rules and
    /// [`Request::identity`] match): on kulta-sim its bearer token; on the real control plane a
    /// client of the fault proxy with the controller's ServiceAccount.
    pub async fn client_as(&self, identity: &str) -> Client {
        match &self.kind {
            Kind::Sim(sim) => sim.client_as(identity).expect("client"),
            Kind::Real(real) => real.client_as(identity, &self.namespace).await,
        }
    }

    /// Writes a kubeconfig for a controller process named `identity` (what
    /// [`Backend::client_as`] gives in-process), default namespace the test's, into `dir`;
    /// returns its path. On the real control plane it points at the fault proxy, which
    /// authenticates as the controller's ServiceAccount.
    pub async fn kubeconfig_as(&self, identity: &str, dir: &Path) -> PathBuf {
        let (server, token) = match &self.kind {
            Kind::Sim(sim) => (sim.base_url().to_string(), identity.to_string()),
            Kind::Real(real) => {
                let (address, _) = real.proxy_for(identity, &self.namespace).await;
                // The proxy ignores the token: it is only what kubectl-style clients expect.
                (format!("http://{address}"), "proxied".to_string())
            }
        };
        let path = dir.join(format!("{identity}.kubeconfig"));
        let namespace = &self.namespace;
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\nusers:\n- name: {identity}\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: {identity}\n    namespace: {namespace}\ncurrent-context: test\n"
            ),
        )
        .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
        path
    }

    /// The identity of [`Backend::controller_client`].
    pub fn controller_identity(&self) -> &'static str {
        CONTROLLER_IDENTITY
    }

    /// The user name of the simulated kubelet and gateway (the same on both backends).
    pub fn gateway_identity(&self) -> &'static str {
        kulta_sim::CONTROLLER_IDENTITY
    }

    /// A kubeconfig for `kubectl` as administrator.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        match &self.kind {
            Kind::Sim(sim) => sim.kubeconfig_path().to_path_buf(),
            Kind::Real(real) => real.dir.join("admin.kubeconfig"),
        }
    }

    /// Installs the Gateway API CRDs: on kulta-sim the ones generated from the `gateway-api`
    /// crate; the real control plane has the release's own, installed by the script, and this
    /// only checks that HTTPRoutes are served.
    pub async fn install_gateway_api(&self) {
        match &self.kind {
            Kind::Sim(sim) => kulta_sim::crds::install_gateway_api(&sim.client())
                .await
                .expect("Gateway API CRDs"),
            Kind::Real(real) => {
                let crds: Api<CustomResourceDefinition> = Api::all(real.admin.clone());
                crds.get("httproutes.gateway.networking.k8s.io")
                    .await
                    .expect("the real control plane has the Gateway API CRDs");
            }
        }
    }

    /// Creates `crds` (idempotent) and waits until they are served.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) {
        kulta_sim::crds::install(&self.client(), crds, SETUP_DEADLINE)
            .await
            .expect("CRDs installed");
    }

    /// Creates another namespace for this test, `<namespace>-<suffix>`, and returns its name.
    /// It is labelled like the test's own namespace; on the real control plane this returns
    /// once its default ServiceAccount exists (pods are refused before), as
    /// [`Backend::start`] does.
    pub async fn create_namespace(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.namespace);
        let namespaces: Api<Namespace> = Api::all(self.client());
        let object: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { "kulta.io/e2e": "true" } }
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|error| panic!("create namespace {name}: {error}"));
        if self.is_real() {
            let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), &name);
            wait_for(
                &format!("ServiceAccount {name}/default"),
                SETUP_DEADLINE,
                || async { accounts.get_opt("default").await.ok().flatten() },
            )
            .await;
        }
        name
    }

    /// Grants KULTA's controller `rules` in the test's namespace, as the deployment of an
    /// extension (a third-party traffic router) adds to KULTA's own RBAC: a Role and a
    /// RoleBinding, both named `name`, bound to the controller's ServiceAccount
    /// (`kulta-system/kulta-controller`, deploy/kustomize/base). Server-side applied, so
    /// idempotent. On the real control plane this returns once the API server authorizes every
    /// verb of `rules` for the ServiceAccount (the RBAC authorizer reads its objects from a
    /// cache); kulta-sim authorizes every request, so there the objects are only stored.
    pub async fn grant_controller(
        &self,
        name: &str,
        rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule>,
    ) {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
        use kube::api::{Patch, PatchParams};

        let apply = PatchParams::apply("kulta-test-support").force();
        let role: Role = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": { "name": name, "namespace": self.namespace },
            "rules": rules,
        }))
        .unwrap();
        Api::<Role>::namespaced(self.client(), &self.namespace)
            .patch(name, &apply, &Patch::Apply(&role))
            .await
            .unwrap_or_else(|error| panic!("apply Role {name}: {error}"));
        let binding: RoleBinding = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": { "name": name, "namespace": self.namespace },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
            "subjects": [{
                "kind": "ServiceAccount",
                "name": "kulta-controller",
                "namespace": "kulta-system",
            }],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(self.client(), &self.namespace)
            .patch(name, &apply, &Patch::Apply(&binding))
            .await
            .unwrap_or_else(|error| panic!("apply RoleBinding {name}: {error}"));
        let Kind::Real(real) = &self.kind else {
            return;
        };
        let mut checks = Vec::new();
        for rule in &rules {
            let names = rule.resource_names.clone().unwrap_or_default();
            let names: Vec<Option<String>> = if names.is_empty() {
                vec![None]
            } else {
                names.into_iter().map(Some).collect()
            };
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    let (resource, subresource) = match resource.split_once('/') {
                        Some((resource, subresource)) => (resource, Some(subresource)),
                        None => (resource.as_str(), None),
                    };
                    for verb in &rule.verbs {
                        for name in &names {
                            checks.push(ResourceAttributes {
                                namespace: Some(self.namespace.clone()),
                                group: Some(group.clone()),
                                resource: Some(resource.to_string()),
                                subresource: subresource.map(str::to_string),
                                verb: Some(verb.clone()),
                                name: name.clone(),
                                ..ResourceAttributes::default()
                            });
                        }
                    }
                }
            }
        }
        let reviews: Api<SelfSubjectAccessReview> = Api::all(real.service_account.clone());
        for attributes in checks {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(attributes.clone()),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            wait_for(
                &format!("the controller's ServiceAccount allowed {attributes:?}"),
                SETUP_DEADLINE,
                || async {
                    let answer = reviews.create(&PostParams::default(), &review).await.ok()?;
                    answer.status.filter(|status| status.allowed).map(|_| ())
                },
            )
            .await;
        }
    }

    /// The fault injector in front of the controllers' requests: kulta-sim's own, or on the
    /// real control plane the fault proxy's (the same rules, decided the same way).
    pub fn faults(&self) -> &kulta_sim::Faults {
        match &self.kind {
            Kind::Sim(sim) => sim.faults(),
            Kind::Real(real) => real.injector.faults(),
        }
    }

    /// The current end of the request log.
    pub fn mark(&self) -> RequestMark {
        match &self.kind {
            Kind::Sim(_) => RequestMark::Sim(Instant::now()),
            Kind::Real(real) => RequestMark::Real(
                std::fs::metadata(real.dir.join("audit.log")).map_or(0, |meta| meta.len()),
            ),
        }
    }

    /// On the real control plane, every request in its audit log made with the controller's
    /// ServiceAccount token, in every namespace and by every test so far: the evidence of what
    /// the deployed RBAC must grant. `None` on kulta-sim, which keeps no log across tests.
    pub fn controller_requests_in_audit_log(&self) -> Option<Vec<Request>> {
        let Kind::Real(real) = &self.kind else {
            return None;
        };
        Some(
            read_audit_log(&real.dir.join("audit.log"), 0)
                .into_iter()
                .filter(|request| request.user == CONTROLLER_SERVICE_ACCOUNT)
                .collect(),
        )
    }

    /// Every request served since `mark`, in the order they were received. On the real control
    /// plane, only requests in the test's namespace, read from the audit log once a request made
    /// now is in it (the log is written as requests complete).
    pub async fn requests_since(&self, mark: &RequestMark) -> Vec<Request> {
        match (&self.kind, mark) {
            (Kind::Sim(sim), RequestMark::Sim(since)) => sim
                .request_log()
                .since(*since)
                .iter()
                .map(Request::from)
                .collect(),
            (Kind::Real(real), RequestMark::Real(offset)) => {
                real.requests_since(&self.namespace, *offset).await
            }
            _ => panic!("a request mark of another backend"),
        }
    }
}

impl Real {
    async fn client_as(&self, identity: &str, namespace: &str) -> Client {
        self.proxy_for(identity, namespace).await.1
    }

    /// The fault proxy's listener for `identity` (started on first use) and a client of it.
    async fn proxy_for(&self, identity: &str, namespace: &str) -> (SocketAddr, Client) {
        let mut clients = self.clients.lock().await;
        if let Some(entry) = clients.get(identity) {
            return entry.clone();
        }
        let address = listen(&self.injector, identity, self.service_account.clone()).await;
        let url: http::Uri = format!("http://{address}").parse().expect("proxy URL");
        let mut config = kube::Config::new(url);
        config.default_namespace = namespace.to_string();
        let client = Client::try_from(config).expect("proxy client");
        clients.insert(identity.to_string(), (address, client.clone()));
        (address, client)
    }

    async fn requests_since(&self, namespace: &str, offset: u64) -> Vec<Request> {
        let barrier = format!("kulta-audit-barrier-{}", random_suffix());
        let configmaps: Api<ConfigMap> = Api::namespaced(self.admin.clone(), namespace);
        let _ = configmaps.get_opt(&barrier).await;
        let path = self.dir.join("audit.log");
        let entries = wait_until(SETUP_DEADLINE, || {
            let path = path.clone();
            let barrier = barrier.clone();
            async move {
                let entries = read_audit_log(&path, offset);
                entries
                    .iter()
                    .any(|request| request.name == barrier)
                    .then_some(entries)
            }
        })
        .await
        .unwrap_or_else(|| {
            panic!("the audit log shows request {barrier} within {SETUP_DEADLINE:?}")
        });
        let mut entries: Vec<Request> = entries
            .into_iter()
            .filter(|request| request.namespace == namespace && request.name != barrier)
            .collect();
        // The log is in completion order; a test reads requests in the order they arrived.
        entries.sort_by_key(|request| request.received);
        entries
    }
}

/// The complete lines of the audit log from byte `offset` on, parsed.
fn read_audit_log(path: &Path, offset: u64) -> Vec<Request> {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_string(&mut text);
    }
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().filter_map(parse_audit_line).collect()
}

async fn client_from(path: &Path, namespace: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|error| panic!("kubeconfig {}: {error}", path.display()));
    config.default_namespace = namespace.to_string();
    Client::try_from(config).expect("client")
}

fn random_suffix() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
