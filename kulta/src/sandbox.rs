//! `kulta sandbox`: the whole product on one machine. Starts kulta-sim in process, installs the
//! CRDs, applies an example, runs the controller, changes the image and prints a live timeline
//! of the canary until it completes.
//!
//! One file (~530 lines of code) on purpose: the sandbox is one scripted story (start, apply,
//! change, watch, summarize) read top to bottom; splitting it would scatter the script.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::{Scope, pinned_kind};
use kube::{Client, ResourceExt};
use kulta_api::{Phase, Rollout, labels};
use kulta_sim::Sim;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use kulta_controller::Controller;
use kulta_controller::plan::{condition_types, describe_actions};

/// The default demo: a Rollout with Services, a Gateway and an HTTPRoute, and a short pause.
pub const DEFAULT_EXAMPLE: &str = include_str!("../../examples/sandbox-rollout.yaml");

/// Arguments of `kulta sandbox`.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Manifests to apply (default: the built-in demo, examples/sandbox-rollout.yaml). Must hold
    /// exactly one Rollout; Services, Gateways and HTTPRoutes it needs go in the same file.
    pub file: Option<PathBuf>,
    /// Image the canary rolls out (default: the current image with its last version number
    /// increased).
    #[arg(long)]
    pub image: Option<String>,
    /// Do not promote indefinite pauses; print the kubectl command that does.
    #[arg(long)]
    pub interactive: bool,
    /// Keep the simulated cluster running after the rollout, for kubectl.
    #[arg(long)]
    pub serve: bool,
    /// Seconds before an indefinite pause is promoted automatically.
    #[arg(long, default_value_t = 3)]
    pub promote_after: u64,
    /// Seconds a simulated pod takes to become ready.
    #[arg(long, default_value_t = 0.3)]
    pub pod_ready_seconds: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Runs the sandbox; `Ok(())` once the rollout completed.
///
/// # Errors
/// When the simulated cluster cannot start, the manifests are invalid, or the rollout does not
/// complete before the timeout (or ends Degraded).
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let manifest = match &args.file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("unable to read {}", path.display()))?,
        None => DEFAULT_EXAMPLE.to_string(),
    };
    let documents = parse_manifests(&manifest)?;
    let rollouts: Vec<&Value> = documents
        .iter()
        .filter(|d| d["kind"] == "Rollout")
        .collect();
    let [rollout_doc] = rollouts.as_slice() else {
        bail!(
            "the manifests must hold exactly one Rollout, found {}",
            rollouts.len()
        );
    };
    let name = rollout_doc["metadata"]["name"]
        .as_str()
        .ok_or_else(|| anyhow!("the Rollout has no metadata.name"))?
        .to_string();
    let namespace = rollout_doc["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();

    let started = Instant::now();
    let sim = Sim::builder()
        .crds(kulta_api::crd::all_crds())
        .gateway_api()
        .start()
        .await
        .context("unable to start the simulated cluster with the Rollout and Gateway API CRDs")?;
    sim.knobs()
        .set_pod_ready_delay(pod_ready_delay(args.pod_ready_seconds));
    let admin = sim.client();
    say(
        started,
        &format!(
            "simulated cluster up at {} (kubeconfig {})",
            sim.base_url(),
            sim.kubeconfig_path().display()
        ),
    );
    say(started, "installed the Rollout and Gateway API CRDs");
    for document in &documents {
        apply_document(&admin, document, &namespace).await?;
    }
    say(
        started,
        &format!(
            "applied {} objects; starting the controller",
            documents.len()
        ),
    );

    let shutdown = CancellationToken::new();
    let controller_client = sim
        .client_as("kulta-controller")
        .context("unable to build the controller's client")?;
    let stop = shutdown.clone();
    let controller = tokio::spawn(async move {
        Controller::builder(controller_client)
            .shutdown_on(async move { stop.cancelled().await })
            .run()
            .await;
    });

    let rollouts: Api<Rollout> = Api::namespaced(admin.clone(), &namespace);
    let deadline = deadline_after(args.timeout);
    let mut timeline = Timeline::new(started, sim.kubeconfig_path(), &namespace);
    let first = wait_settled(&admin, &rollouts, &name, &mut timeline, deadline, &args).await?;
    say(
        started,
        &format!(
            "rollout {name} is Healthy on revision {}",
            first
                .status
                .as_ref()
                .and_then(|s| s.stable_revision.clone())
                .unwrap_or_default()
        ),
    );

    let current = first
        .spec
        .template
        .raw()
        .pointer("/spec/containers/0/image")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let image = args.image.clone().unwrap_or_else(|| next_image(&current));
    let mut changed = first.clone();
    if let Some(container) = changed
        .spec
        .template
        .raw_mut()
        .pointer_mut("/spec/containers/0")
        .and_then(serde_json::Value::as_object_mut)
    {
        container.insert("image".to_string(), json!(image));
    }
    rollouts
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "spec": { "template": serde_json::to_value(&changed.spec.template)? } }),
            ),
        )
        .await
        .context("unable to change the image")?;
    say(
        started,
        &format!("changed the image {current} -> {image}; the canary starts"),
    );
    let last = wait_settled(&admin, &rollouts, &name, &mut timeline, deadline, &args).await;
    let outcome = match last {
        Ok(rollout) => {
            let status = rollout.status.clone().unwrap_or_default();
            say(
                started,
                &format!(
                    "done: revision {} is stable with 100% of traffic after {} steps, {:.1}s in all",
                    status.stable_revision.unwrap_or_default(),
                    rollout
                        .spec
                        .strategy
                        .canary
                        .as_ref()
                        .map_or(0, |c| c.steps.len()),
                    started.elapsed().as_secs_f64()
                ),
            );
            Ok(())
        }
        Err(error) => Err(error),
    };
    if args.serve && outcome.is_ok() {
        say(
            started,
            &format!(
                "the simulated cluster keeps running; try:\n    {}\n    {}\nPress Ctrl-C to stop.",
                kubectl_command(
                    sim.kubeconfig_path(),
                    "get rollouts,replicasets,httproutes -A"
                ),
                kubectl_command(
                    sim.kubeconfig_path(),
                    &format!("kulta status {name}{}", namespace_flag(&namespace))
                ),
            ),
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
    let _ = controller.await;
    sim.shutdown().await;
    outcome
}

fn say(started: Instant, text: &str) {
    println!("[{:6.1}s] {text}", started.elapsed().as_secs_f64());
}

/// `nginx:1.25` → `nginx:1.26`; an image without a trailing number, or whose number has no
/// successor in a `u64`, gets `-next`.
pub fn next_image(image: &str) -> String {
    let head = image.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = image.strip_prefix(head).unwrap_or_default();
    if number.is_empty() || !image.contains(':') {
        return format!("{image}-next");
    }
    match number.parse::<u64>().ok().and_then(|n| n.checked_add(1)) {
        Some(next) => format!("{head}{next}"),
        None => format!("{image}-next"),
    }
}

/// Parses multi-document YAML into JSON values, skipping empty documents.
///
/// # Errors
/// When the text is not YAML.
pub fn parse_manifests(text: &str) -> anyhow::Result<Vec<Value>> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).context("unable to parse the manifests as YAML")?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// Creates the object `document` describes, finding its resource through discovery.
///
/// # Errors
/// When the kind is not served or the create fails.
pub async fn apply_document(
    client: &Client,
    document: &Value,
    default_namespace: &str,
) -> anyhow::Result<()> {
    let api_version = document["apiVersion"]
        .as_str()
        .ok_or_else(|| anyhow!("a document has no apiVersion"))?;
    let kind = document["kind"]
        .as_str()
        .ok_or_else(|| anyhow!("a document has no kind"))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("the cluster does not serve {api_version} {kind}"))?;
    let object: DynamicObject = serde_json::from_value(document.clone())
        .with_context(|| format!("invalid {kind} manifest"))?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            object.namespace().as_deref().unwrap_or(default_namespace),
            &resource,
        ),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    api.create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("unable to create {kind} {}", object.name_any()))?;
    Ok(())
}

/// When `--timeout` seconds from now run out; `None` (no deadline) when that is past what the
/// clock can represent.
fn deadline_after(timeout_seconds: u64) -> Option<Instant> {
    Instant::now().checked_add(Duration::from_secs(timeout_seconds))
}

/// `--pod-ready-seconds` as a delay: negative or NaN is none, and one too long for a
/// `Duration` (`Duration::from_secs_f64` panics on it) is the longest, so pods never get ready.
fn pod_ready_delay(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
}

/// Prints the timeline until the Rollout's latest generation is Healthy; promotes indefinite
/// pauses (unless interactive).
async fn wait_settled(
    client: &Client,
    rollouts: &Api<Rollout>,
    name: &str,
    timeline: &mut Timeline,
    deadline: Option<Instant>,
    args: &SandboxArgs,
) -> anyhow::Result<Rollout> {
    // Often enough to show short-lived states: with the route read from the cache, the 100%
    // step lasts little more than the gateway's status delay before promotion moves traffic
    // back to the (new) stable Service.
    let mut ticker = tokio::time::interval(Duration::from_millis(25));
    let mut paused_since: Option<Instant> = None;
    let mut told = false;
    loop {
        ticker.tick().await;
        if deadline.is_some_and(|deadline| Instant::now() > deadline) {
            bail!("the rollout did not complete within {}s", args.timeout);
        }
        let Some(rollout) = rollouts.get_opt(name).await? else {
            continue;
        };
        let status = rollout.status.clone().unwrap_or_default();
        let weights = route_weights(client, &rollout).await;
        timeline.show(&rollout, weights, replica_counts(client, &rollout).await);
        let current = status.observed_generation == rollout.metadata.generation;
        if current && status.phase == Some(Phase::Healthy) && status.canary_revision.is_none() {
            return Ok(rollout);
        }
        if current && status.phase == Some(Phase::Degraded) {
            bail!(
                "the rollout is Degraded: {}",
                status.message.unwrap_or_default()
            );
        }
        let manual = status.conditions.iter().any(|c| {
            c.type_ == condition_types::PAUSED && c.status == "True" && c.reason == "Manual"
        });
        if !manual {
            paused_since = None;
            continue;
        }
        let since = *paused_since.get_or_insert_with(Instant::now);
        if args.interactive {
            if !told {
                let command = kubectl_command(
                    &timeline.kubeconfig,
                    &format!(
                        "annotate rollout {name} {}=true{}",
                        labels::PROMOTE_ANNOTATION,
                        namespace_flag(&timeline.namespace)
                    ),
                );
                timeline.note(&format!("waiting for you: {command}"));
                told = true;
            }
        } else if since.elapsed() >= Duration::from_secs(args.promote_after) {
            timeline.note(&format!("indefinite pause: promoting automatically, as `kubectl annotate rollout {name} {}=true` would", labels::PROMOTE_ANNOTATION));
            let patch = json!({ "metadata": { "annotations": { labels::PROMOTE_ANNOTATION: labels::PROMOTE_STEP } } });
            rollouts
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            paused_since = None;
        }
    }
}

/// Stable and canary weights from the first referenced HTTPRoute.
async fn route_weights(client: &Client, rollout: &Rollout) -> Option<(i64, i64)> {
    let canary = rollout.spec.strategy.canary.as_ref()?;
    let gateway = canary.traffic_routing.as_ref()?.gateway_api.as_ref()?;
    let (route, namespace) = match (&gateway.http_route, &gateway.http_routes) {
        (Some(route), _) => (route.clone(), rollout.namespace()?),
        (None, Some(routes)) => {
            let first = routes.first()?;
            (
                first.name.clone(),
                first.namespace.clone().or_else(|| rollout.namespace())?,
            )
        }
        (None, None) => return None,
    };
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
    let object = api.get_opt(&route).await.ok()??;
    let mut weights = BTreeMap::new();
    for rule in object.data["spec"]["rules"].as_array()? {
        for backend in rule["backendRefs"].as_array().into_iter().flatten() {
            if let Some(name) = backend["name"].as_str() {
                weights
                    .entry(name.to_string())
                    .or_insert(backend["weight"].as_i64().unwrap_or(1));
            }
        }
    }
    Some((
        *weights.get(&canary.stable_service)?,
        *weights.get(&canary.canary_service)?,
    ))
}

/// Ready/desired pods of the stable and canary revisions.
async fn replica_counts(client: &Client, rollout: &Rollout) -> (String, String) {
    let status = rollout.status.clone().unwrap_or_default();
    let namespace = rollout.namespace().unwrap_or_default();
    let api: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        Api::namespaced(client.clone(), &namespace);
    let count = |replica_set: Option<k8s_openapi::api::apps::v1::ReplicaSet>| {
        replica_set.map_or("-".to_string(), |rs| {
            let ready = rs
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            format!("{ready}/{desired}")
        })
    };
    let get = |hash: Option<String>| {
        let api = api.clone();
        let name = rollout.name_any();
        async move {
            match hash {
                Some(hash) => api.get_opt(&format!("{name}-{hash}")).await.ok().flatten(),
                None => None,
            }
        }
    };
    (
        count(get(status.stable_revision.clone()).await),
        count(get(status.canary_revision.clone()).await),
    )
}

/// A command line to paste into a shell: `KUBECONFIG=<path> kubectl <arguments>`.
///
/// The variable rather than `kubectl --kubeconfig <path>`: kubectl refuses flags before a
/// plugin's name (`kubectl --kubeconfig X kulta status` fails), and this form serves
/// `kubectl get` and `kubectl kulta` alike. The path is quoted for the shell when it needs it.
fn kubectl_command(kubeconfig: &Path, arguments: &str) -> String {
    let path = kubeconfig.display().to_string();
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c));
    let path = if plain {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    format!("KUBECONFIG={path} kubectl {arguments}")
}

/// ` -n <namespace>` for a namespace other than the kubeconfig's (`default`), else nothing.
fn namespace_flag(namespace: &str) -> String {
    if namespace == "default" {
        String::new()
    } else {
        format!(" -n {namespace}")
    }
}

/// Prints one line per change of what a person watching cares about.
struct Timeline {
    started: Instant,
    kubeconfig: PathBuf,
    namespace: String,
    last: String,
}

impl Timeline {
    fn new(started: Instant, kubeconfig: &Path, namespace: &str) -> Self {
        Timeline {
            started,
            kubeconfig: kubeconfig.to_path_buf(),
            namespace: namespace.to_string(),
            last: String::new(),
        }
    }

    fn note(&mut self, text: &str) {
        say(self.started, text);
    }

    fn show(&mut self, rollout: &Rollout, weights: Option<(i64, i64)>, pods: (String, String)) {
        let status = rollout.status.clone().unwrap_or_default();
        let steps = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .map(|c| c.steps.clone())
            .unwrap_or_default();
        let index = status
            .current_step_index
            .and_then(|i| usize::try_from(i).ok());
        let step = match (status.canary_revision.as_ref(), index) {
            (Some(_), Some(i)) if i < steps.len() => {
                let what = steps[i]
                    .actions()
                    .map(|actions| describe_actions(&actions))
                    .unwrap_or_default();
                format!("step {}/{} {what}", i.saturating_add(1), steps.len())
            }
            (Some(_), _) => "promoting".to_string(),
            (None, _) => "stable".to_string(),
        };
        let traffic = weights.map_or("route ?".to_string(), |(stable, canary)| {
            format!("stable {stable}% canary {canary}%")
        });
        let phase = status.phase.map_or("-".to_string(), |p| p.to_string());
        let line = format!(
            "{step:<28} | {traffic:<22} | pods stable {} canary {} | {phase:<11} | {}",
            pods.0,
            pods.1,
            status.message.unwrap_or_default()
        );
        if line != self.last {
            say(self.started, &line);
            self.last = line;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{deadline_after, kubectl_command, namespace_flag, next_image, pod_ready_delay};
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn kubectl_hints_set_the_variable_so_plugins_work_too() {
        let kubeconfig = Path::new("/tmp/.tmpAb12/kubeconfig");
        assert_eq!(
            kubectl_command(kubeconfig, "get rollouts -A"),
            "KUBECONFIG=/tmp/.tmpAb12/kubeconfig kubectl get rollouts -A"
        );
        assert_eq!(
            kubectl_command(
                kubeconfig,
                &format!("kulta status app{}", namespace_flag("shop"))
            ),
            "KUBECONFIG=/tmp/.tmpAb12/kubeconfig kubectl kulta status app -n shop"
        );
        assert_eq!(namespace_flag("default"), "");
        assert_eq!(
            kubectl_command(Path::new("/tmp/it's here/kubeconfig"), "get ns"),
            r"KUBECONFIG='/tmp/it'\''s here/kubeconfig' kubectl get ns"
        );
    }

    #[test]
    fn next_image_bumps_the_last_number() {
        assert_eq!(next_image("nginx:1.25"), "nginx:1.26");
        assert_eq!(next_image("nginx:1.9"), "nginx:1.10");
        assert_eq!(next_image("nginx:latest"), "nginx:latest-next");
        assert_eq!(next_image("registry:5000/app"), "registry:5000/app-next");
    }

    #[test]
    fn next_image_of_the_largest_number_does_not_wrap() {
        assert_eq!(
            next_image("app:18446744073709551614"),
            "app:18446744073709551615"
        );
        assert_eq!(
            next_image("app:18446744073709551615"),
            "app:18446744073709551615-next"
        );
        assert_eq!(
            next_image("app:99999999999999999999"),
            "app:99999999999999999999-next"
        );
    }

    #[test]
    fn flags_past_what_a_clock_holds_do_not_panic() {
        assert!(deadline_after(300).is_some());
        assert_eq!(deadline_after(u64::MAX), None);
        assert_eq!(pod_ready_delay(0.3), Duration::from_millis(300));
        assert_eq!(pod_ready_delay(-1.0), Duration::ZERO);
        assert_eq!(pod_ready_delay(f64::NAN), Duration::ZERO);
        assert_eq!(pod_ready_delay(1e30), Duration::MAX);
        assert_eq!(pod_ready_delay(f64::INFINITY), Duration::MAX);
    }
}
