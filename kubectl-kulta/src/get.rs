//! `kubectl kulta get rollout NAME [--watch]`: observe the Rollout, its ReplicaSets and its
//! events, then hand them to the pure [`crate::render::render_rollout`].
//!
//! `--watch` watches the Rollout and its ReplicaSets and redraws when the view changes: on a
//! terminal it clears the screen and also refreshes every second (pause countdowns); into a pipe
//! or file it prints a new block, separated by a blank line, per change.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use chrono::Utc;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kulta_api::Rollout;
use kulta_api::labels::ROLLOUT_LABEL;

use crate::error::{Error, Result, list_error, rollout_error};
use crate::events::{self, EventLine};
use crate::render::render_rollout;

/// Events shown in the view.
const EVENT_LIMIT: usize = 5;
/// How often a terminal view refreshes without a change, so pause countdowns move.
const TERMINAL_REFRESH: Duration = Duration::from_secs(1);
/// Clear the screen and go home (ANSI).
const CLEAR_SCREEN: &str = "\x1b[2J\x1b[H";

/// Everything the view needs.
pub struct Snapshot {
    /// The Rollout.
    pub rollout: Rollout,
    /// Its ReplicaSets.
    pub replica_sets: Vec<ReplicaSet>,
    /// Its events (empty when they cannot be listed).
    pub events: Vec<EventLine>,
    /// Why the events could not be listed, if they could not.
    pub events_warning: Option<String>,
}

/// Reads the Rollout, its ReplicaSets (label `kulta.io/rollout=NAME`) and its events.
///
/// # Errors
/// [`Error::NotFound`] for a missing rollout; request errors for the rollout and ReplicaSets.
/// Events that cannot be listed are [`Snapshot::events_warning`], not an error.
pub async fn observe(client: &Client, namespace: &str, name: &str) -> Result<Snapshot> {
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let rollout = rollouts
        .get(name)
        .await
        .map_err(|error| rollout_error("get", name, namespace, error))?;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{ROLLOUT_LABEL}={name}");
    let replica_sets = replica_sets
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| {
            list_error(
                "list",
                format!("ReplicaSets of rollout {name:?} in namespace {namespace:?}"),
                source,
            )
        })?
        .items;
    let (events, events_warning) =
        match events::for_rollout(client, namespace, name, EVENT_LIMIT).await {
            Ok(events) => (events, None),
            Err(error) => (Vec::new(), Some(error.chain())),
        };
    Ok(Snapshot {
        rollout,
        replica_sets,
        events,
        events_warning,
    })
}

/// Prints the view once.
///
/// # Errors
/// As [`observe`], and [`Error::Output`].
pub async fn show(
    client: &Client,
    namespace: &str,
    name: &str,
    out: &mut impl Write,
) -> Result<()> {
    let snapshot = observe(client, namespace, name).await?;
    if let Some(warning) = &snapshot.events_warning {
        eprintln!("warning: {warning}");
    }
    let text = render_rollout(
        &snapshot.rollout,
        &snapshot.replica_sets,
        &snapshot.events,
        Utc::now(),
    );
    out.write_all(text.as_bytes()).map_err(Error::Output)
}

/// Prints the view and redraws it on every change until interrupted (Ctrl-C) or the rollout is
/// deleted.
///
/// # Errors
/// As [`observe`] (a deleted rollout ends the watch with [`Error::NotFound`]), and
/// [`Error::Output`].
pub async fn watch(
    client: &Client,
    namespace: &str,
    name: &str,
    out: &mut impl Write,
) -> Result<()> {
    let terminal = std::io::stdout().is_terminal();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let rollout_changes = watcher::watch_object(rollouts, name)
        .default_backoff()
        .map(|_| ());
    let replica_set_changes = watcher::watcher(
        replica_sets,
        watcher::Config::default().labels(&format!("{ROLLOUT_LABEL}={name}")),
    )
    .default_backoff()
    .map(|_| ());
    let mut changes = futures::stream::select(rollout_changes.boxed(), replica_set_changes.boxed());
    let mut refresh = tokio::time::interval(TERMINAL_REFRESH);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut last = String::new();
    let mut warned = false;
    loop {
        let snapshot = observe(client, namespace, name).await?;
        if let Some(warning) = &snapshot.events_warning
            && !warned
        {
            eprintln!("warning: {warning}");
            warned = true;
        }
        let text = render_rollout(
            &snapshot.rollout,
            &snapshot.replica_sets,
            &snapshot.events,
            Utc::now(),
        );
        if text != last {
            if terminal {
                write!(out, "{CLEAR_SCREEN}{text}").map_err(Error::Output)?;
            } else {
                if !last.is_empty() {
                    writeln!(out).map_err(Error::Output)?;
                }
                out.write_all(text.as_bytes()).map_err(Error::Output)?;
            }
            out.flush().map_err(Error::Output)?;
            last = text;
        }
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            change = changes.next() => {
                if change.is_none() {
                    return Ok(());
                }
                // A burst of changes (a watch's initial list, a controller's several writes)
                // makes one redraw.
                while let Some(Some(())) = changes.next().now_or_never() {}
            }
            _ = refresh.tick(), if terminal => {}
        }
    }
}
