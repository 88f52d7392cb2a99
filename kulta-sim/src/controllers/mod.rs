//! Simulated cluster controllers. Each is an ordinary `kube::Client` client of the sim (it sees
//! the API exactly as KULTA does), event driven through kube-runtime watches, and writes status
//! only when it changes.
//!
//! - `replicasets`: pods per ReplicaSet, readiness after a delay, ReplicaSet status.
//! - `deployments`: a ReplicaSet per pod template, simplistic rolling update, Deployment status.
//! - `kubelet`, for `kulta-sim agent` on a real API server only: the node [`NODE_NAME`]; pods
//!   bound, Running and Ready, graceful deletions finished.
//! - `gateway`: `status.parents[]` of HTTPRoutes and GRPCRoutes.
//!
//! All of them are switched and tuned at run time through [`ControllerKnobs`]. Outside the crate,
//! [`spawn_agent`] runs the kubelet and the gateway against any API server (`kulta-sim agent`).

use std::sync::Arc;

mod deployments;
mod gateway;
mod knobs;
mod kubelet;
mod pods;
mod replicasets;
mod support;

pub use knobs::ControllerKnobs;
pub use kubelet::NODE_NAME;

/// Starts the controllers that stand in for a kubelet, a scheduler and a Gateway API
/// implementation on a real API server (`kulta-sim agent`): the kubelet of one fake node and the
/// gateway. ReplicaSets and Deployments are left to the real kube-controller-manager.
pub fn spawn_agent(
    client: kube::Client,
    knobs: Arc<ControllerKnobs>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = vec![tokio::spawn(kubelet::run(
        client.clone(),
        knobs.clone(),
        shutdown.clone(),
    ))];
    handles.extend(spawn_gateways(&client, &knobs, &shutdown));
    handles
}

/// Starts every simulated controller as a client of the sim; they stop when the handles are
/// aborted or the token is cancelled. Controllers switched off by a knob keep running idle, so
/// switching them back on takes effect at once.
pub(crate) fn spawn(
    client: kube::Client,
    knobs: Arc<ControllerKnobs>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = vec![
        tokio::spawn(replicasets::run(
            client.clone(),
            knobs.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(deployments::run(
            client.clone(),
            knobs.clone(),
            shutdown.clone(),
        )),
    ];
    handles.extend(spawn_gateways(&client, &knobs, &shutdown));
    handles
}

/// The gateway's status writer, one per route kind.
fn spawn_gateways(
    client: &kube::Client,
    knobs: &Arc<ControllerKnobs>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    gateway::ROUTE_KINDS
        .iter()
        .map(|(kind, plural)| {
            tokio::spawn(gateway::supervise(
                client.clone(),
                knobs.clone(),
                shutdown.clone(),
                gateway::route_resource(kind, plural),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
