//! RBAC from evidence: the rules deploy/kustomize/base grants the controller (the ClusterRole
//! `kulta-controller` and the leader-election Role; tests/deploy.rs holds the Helm and kustomize
//! renderings to the same list) against the requests the controller was seen to make.
//!
//! The evidence is a run of the operator runtime, with leader election, through every path that
//! needs a verb of its own: a canary, a route write that finds the route changed (re-read), a
//! promotion whose status write conflicts (re-read), a reconcile error repeated (the Event's
//! series is patched), a rollout past its revision history (an old ReplicaSet deleted) and a
//! delete (the finalizer removed). On the real control plane the controller authenticates as the
//! deploy/ ServiceAccount, so a missing grant is a 403 here, and the whole audit log adds every
//! request that identity made in the suites run before this one.
//!
//! A grant no request used fails the test as much as a request no grant covers: the role
//! should be what the controller needs, no more.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kulta_api::{Phase, Rollout};
use kulta_controller::runtime::leader::LeaseTimings;
use kulta_sim::RequestFilter;
use kulta_test_support::{Backend, Request};
use serde_json::{Value, json};

mod common;
use common::{LEASE, demo_cluster, grant_leader_election, healthy, start, wait_for};

const IDENTITY: &str = "kulta-rbac";

/// One permission: API group (empty for core), resource with its subresource
/// (`rollouts/status`), verb.
type Permission = (String, String, String);

/// The rules of the deploy/kustomize/base roles bound to the controller, each permission with
/// the object names it is limited to (empty: any name).
fn granted() -> BTreeMap<Permission, BTreeSet<String>> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kustomize/base");
    let mut grants = BTreeMap::new();
    for file in ["clusterrole.yaml", "role-leader-election.yaml"] {
        let text = std::fs::read_to_string(base.join(file)).expect(file);
        let role: Value = serde_saphyr::from_str(&text).expect(file);
        for rule in role["rules"].as_array().expect("rules") {
            let list = |field: &str| -> Vec<String> {
                rule[field]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|item| item.as_str().expect("a string").to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let names: BTreeSet<String> = list("resourceNames").into_iter().collect();
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        let previous = grants.insert(
                            (group.clone(), resource.clone(), verb.clone()),
                            names.clone(),
                        );
                        assert!(
                            previous.is_none(),
                            "{file} grants {group}/{resource} {verb} twice"
                        );
                    }
                }
            }
        }
    }
    grants
}

fn permission(request: &Request) -> Permission {
    let resource = if request.subresource.is_empty() {
        request.resource.clone()
    } else {
        format!("{}/{}", request.resource, request.subresource)
    };
    (request.group.clone(), resource, request.verb.clone())
}

/// What the scenario saw.
struct Evidence {
    /// The requests the controller made (identity [`IDENTITY`]).
    requests: Vec<Request>,
    /// Whether the ReplicaSet it created has a controller owner reference that blocks the
    /// Rollout's deletion.
    blocks_owner_deletion: bool,
}

/// Creates, with no owner, the ReplicaSet the Rollout `demo` would create for `image`; returns
/// its name.
async fn create_orphan_of(backend: &Backend, rollouts: &Api<Rollout>, image: &str) -> String {
    let current = rollouts.get("demo").await.expect("demo");
    let (name, _, orphan) = kulta_test_support::orphaned_replica_set(&current, image);
    Api::<ReplicaSet>::namespaced(backend.client(), backend.namespace())
        .create(&Default::default(), &orphan)
        .await
        .expect("create the orphan");
    name
}

/// Runs the scenario.
async fn exercise_every_path(backend: &Backend) -> Evidence {
    let namespace = backend.namespace();
    let rollouts: Api<Rollout> = Api::namespaced(backend.client(), namespace);
    // No old ReplicaSet kept (so one is deleted once a new revision is stable), one indefinite
    // pause.
    let spec = json!({"spec": {
        "revisionHistoryLimit": 0,
        "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}]}},
    }});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .expect("shorter steps");
    grant_leader_election(backend).await;
    let mark = backend.mark();
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_millis(500),
    };
    let instance = start(backend, IDENTITY, Some(timings)).await;
    wait_for("demo Healthy", Duration::from_secs(30), || healthy(backend)).await;
    let faults = backend.faults();
    let own = |resource: &str, verb: &str| {
        RequestFilter::new()
            .identity(IDENTITY)
            .resource(resource)
            .verb(verb)
    };

    // Revision 2. Its first route write finds the route changed since it was read (409): the
    // route is read again (get).
    faults.fail_next(1, 409, own("httproutes", "patch"));
    set_image(&rollouts, "nginx:1.26").await;
    let paused = |image: &'static str| {
        let rollouts = rollouts.clone();
        async move {
            let rollout = rollouts.get("demo").await.ok()?;
            let status = rollout.status.as_ref()?;
            (status.phase == Some(Phase::Paused)
                && status.canary_weight == Some(50)
                && rollout
                    .spec
                    .template
                    .raw()
                    .pointer("/spec/containers/0/image")
                    .and_then(serde_json::Value::as_str)
                    == Some(image))
            .then_some(())
        }
    };
    wait_for("revision 2 paused at 50%", Duration::from_secs(30), || {
        paused("nginx:1.26")
    })
    .await;

    // The promotion is consumed and its status write conflicts: the Rollout is read again
    // (get) and the status written on that.
    faults.fail_next(1, 409, own("rollouts", "update").subresource("status"));
    promote(&rollouts).await;
    // Stable at revision 2: revision 1 is scaled down after the delay and deleted (history 0).
    let stable = wait_for(
        "revision 2 Healthy and revision 1 deleted",
        Duration::from_secs(30),
        || async {
            healthy(backend).await?;
            let replica_sets: Api<ReplicaSet> = Api::namespaced(backend.client(), namespace);
            let mut owned = replica_sets.list(&ListParams::default()).await.ok()?;
            (owned.items.len() == 1).then(|| owned.items.remove(0))
        },
    )
    .await;
    let blocks_owner_deletion = stable
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| {
            owner.kind == "Rollout"
                && owner.controller == Some(true)
                && owner.block_owner_deletion == Some(true)
        });

    // Revision 3. An orphaned ReplicaSet of it is already there (a Rollout deleted with
    // orphaning and made again): the create finds the name taken, reads it (get) and adopts it
    // (patch). Its first two route writes fail the same way: the same Warning twice, the
    // second as the first Event's series (patch).
    let orphan = create_orphan_of(backend, &rollouts, "nginx:1.27").await;
    faults.fail_next(2, 500, own("httproutes", "patch"));
    set_image(&rollouts, "nginx:1.27").await;
    wait_for("revision 3 paused at 50%", Duration::from_secs(60), || {
        paused("nginx:1.27")
    })
    .await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(backend.client(), namespace);
    let adopted = replica_sets.get(&orphan).await.expect("the orphan");
    assert!(
        adopted
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|owner| owner.kind == "Rollout" && owner.controller == Some(true)),
        "the orphan of revision 3 was adopted"
    );

    // Delete mid-canary: traffic back to stable, then the finalizer is removed (patch).
    rollouts
        .delete("demo", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the Rollout gone", Duration::from_secs(30), || async {
        rollouts
            .get_opt("demo")
            .await
            .ok()
            .and_then(|found| found.is_none().then_some(()))
    })
    .await;
    instance.shutdown.cancel();
    let _ = instance.task.await;

    let requests = backend
        .requests_since(&mark)
        .await
        .into_iter()
        .filter(|request| request.identity == IDENTITY)
        .collect();
    Evidence {
        requests,
        blocks_owner_deletion,
    }
}

async fn set_image(rollouts: &Api<Rollout>, image: &str) {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
}

async fn promote(rollouts: &Api<Rollout>) {
    let patch = json!({"metadata": {"annotations": {"kulta.io/promote": "true"}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("promote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_rbac_grants_exactly_what_the_controller_uses() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_default())
        .with_test_writer()
        .try_init();
    let backend = demo_cluster().await;
    let grants = granted();
    let evidence = exercise_every_path(&backend).await;
    let requests = evidence.requests;
    let scenario: BTreeSet<Permission> = requests.iter().map(permission).collect();

    let mut missing = BTreeSet::new();
    let mut used = BTreeSet::new();
    for request in &requests {
        // Discovery (`GET /apis/<group>/<version>`, how the controller finds the API resource of
        // a kind a router references) is granted to every authenticated user by the built-in
        // `system:discovery` ClusterRole; no role of ours grants it.
        if request.verb == "discovery" {
            continue;
        }
        let permission = permission(request);
        if request.code == 403 {
            missing.insert(format!("{permission:?} (403 for {})", request.name));
        }
        match grants.get(&permission) {
            None => {
                missing.insert(format!("{permission:?}"));
            }
            Some(names) if !names.is_empty() && !names.contains(&request.name) => {
                missing.insert(format!("{permission:?} on {:?}", request.name));
            }
            Some(_) => {
                used.insert(permission);
            }
        }
    }
    // The suites run before this one on the same control plane, under the same ServiceAccount:
    // what they used of the granted rules counts as used, and a 403 on a granted rule (another
    // name, another namespace) as missing. Requests outside these rules are an extension's (the
    // custom-router example grants its router what it needs) and are not the base role's.
    for request in backend
        .controller_requests_in_audit_log()
        .unwrap_or_default()
    {
        let permission = permission(&request);
        if grants.contains_key(&permission) {
            if request.code == 403 {
                missing.insert(format!("{permission:?} (403 for {:?})", request.name));
            } else {
                used.insert(permission);
            }
        }
    }
    // Admission, not a request: with OwnerReferencesPermissionEnforcement (on in
    // scripts/real-cluster.sh, as in many production clusters) a ReplicaSet whose owner
    // reference blocks the Rollout's deletion is created only by who may update
    // rollouts/finalizers. The controller's ReplicaSets carry such a reference.
    let finalizers = (
        "kulta.io".to_string(),
        "rollouts/finalizers".to_string(),
        "update".to_string(),
    );
    let created_blocking = requests.iter().any(|request| {
        request.resource == "replicasets" && request.verb == "create" && request.code == 201
    });
    if created_blocking && evidence.blocks_owner_deletion {
        used.insert(finalizers);
    }

    let unused: Vec<_> = grants
        .keys()
        .filter(|grant| !used.contains(*grant))
        .collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "RBAC of deploy/kustomize/base does not match the controller's requests\n\
         used but not granted: {missing:#?}\n\
         granted but never used: {unused:#?}\n\
         this scenario used: {scenario:#?}"
    );
    assert!(
        used.contains(&(
            "coordination.k8s.io".into(),
            "leases".into(),
            "update".into()
        )),
        "the Lease {LEASE} was renewed"
    );
}
