//! Waits with deadlines: the only way a test waits for the cluster.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polling interval of the waits.
pub const POLL: Duration = Duration::from_millis(25);

/// Polls `probe` every [`POLL`] until it returns `Some`, and returns that value; `None` when
/// `deadline` passed first.
pub async fn wait_until<T, F, Fut>(deadline: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_until`], panicking with `what` when the deadline passes.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match wait_until(deadline, probe).await {
        Some(value) => value,
        None => panic!("timed out after {deadline:?} waiting for {what}"),
    }
}
