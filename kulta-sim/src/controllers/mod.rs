//! Simulated cluster controllers (interface; implementation in progress).

use std::sync::Arc;

/// Run-time tunable settings of the simulated controllers.
#[derive(Debug, Default)]
pub struct ControllerKnobs {}

/// Starts every simulated controller as a client of the sim; they stop when the handles are
/// aborted or the token is cancelled.
pub fn spawn(
    _client: kube::Client,
    _knobs: Arc<ControllerKnobs>,
    _shutdown: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    Vec::new()
}
