//! Plumbing shared by the simulated controllers: a short watch backoff (so a kind whose CRD
//! arrives later is picked up within a second), the knob-change trigger, name generation,
//! hashing and timestamps.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::controller::ReconcileRequest;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::utils::Backoff;

/// Errors of a reconcile; they are logged and the object is retried shortly.
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    /// A request to the API server failed.
    #[error("unable to {action} {kind} {namespace}/{name}")]
    Request {
        /// What was attempted (`create`, `patch status of`...).
        action: &'static str,
        /// Kind of the object.
        kind: &'static str,
        /// Namespace of the object.
        namespace: String,
        /// Name of the object.
        name: String,
        /// The client error (boxed: `kube::Error` is large).
        #[source]
        source: Box<kube::Error>,
    },
    /// An object could not be (de)serialized.
    #[error("failed to encode {kind}")]
    Encode {
        /// Kind of the object.
        kind: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// A short, bounded category for logs.
    pub(super) fn category(&self) -> &'static str {
        match self {
            Error::Request { .. } => "request",
            Error::Encode { .. } => "encode",
        }
    }
}

/// A closure turning a client error into [`Error::Request`] for one object.
pub(crate) fn request_error(
    action: &'static str,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> impl FnOnce(kube::Error) -> Error {
    let (namespace, name) = (namespace.to_string(), name.to_string());
    move |source| Error::Request {
        action,
        kind,
        namespace,
        name,
        source: Box::new(source),
    }
}

/// Whether `error` is an API answer with HTTP status `code`.
pub(crate) fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

/// Exponential backoff from 100 ms to 1 s, for the controllers' watches.
#[derive(Debug, Clone)]
pub(crate) struct QuickBackoff {
    next: Duration,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

impl Default for QuickBackoff {
    fn default() -> Self {
        Self { next: BACKOFF_MIN }
    }
}

impl Iterator for QuickBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = self.next.saturating_mul(2).min(BACKOFF_MAX);
        Some(current)
    }
}

impl Backoff for QuickBackoff {
    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// A stream that yields a reconcile request for every object in `store` whenever a knob changes.
/// It ends when the knobs are dropped.
pub(crate) fn on_knob_change<K>(
    changes: tokio::sync::watch::Receiver<u64>,
    store: Store<K>,
    dyntype: K::DynamicType,
) -> impl Stream<Item = Result<ReconcileRequest<K>, kube::runtime::watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Send + Sync,
{
    futures::stream::unfold(changes, |mut receiver| async move {
        receiver.changed().await.ok()?;
        Some(((), receiver))
    })
    .flat_map(move |()| {
        let requests: Vec<_> = store
            .state()
            .iter()
            .map(|object| {
                Ok(ReconcileRequest::from(ObjectRef::from_obj_with(
                    object.as_ref(),
                    dyntype.clone(),
                )))
            })
            .collect();
        futures::stream::iter(requests)
    })
}

/// The alphabet Kubernetes uses for generated name suffixes and hashes (no vowels, no
/// look-alike digits).
const SAFE_ALPHABET: &[u8; SAFE_ALPHABET_LEN] = b"bcdfghjklmnpqrstvwxz2456789";
/// A named constant (the array's type keeps it right) so that `% SAFE_ALPHABET_LEN` is a division
/// by a known non-zero number.
const SAFE_ALPHABET_LEN: usize = 27;

/// A random 5-character suffix like the ones the API server appends to `generateName`.
pub(crate) fn random_suffix() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| {
            let index = rng.random_range(0..SAFE_ALPHABET.len());
            char::from(SAFE_ALPHABET.get(index).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// The `pod-template-hash` of a pod template: FNV-1a over its JSON, rendered with the safe
/// alphabet as Kubernetes does.
pub(crate) fn template_hash(template: &serde_json::Value) -> String {
    let text = template.to_string();
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|digit| {
            let index = usize::from(digit) % SAFE_ALPHABET_LEN;
            char::from(SAFE_ALPHABET.get(index).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// Now, as a Kubernetes `Time` (RFC 3339, seconds).
pub(crate) fn now_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_and_hash_use_the_safe_alphabet() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        let a = template_hash(&serde_json::json!({"spec": {"containers": [{"image": "a"}]}}));
        let b = template_hash(&serde_json::json!({"spec": {"containers": [{"image": "b"}]}}));
        assert_ne!(a, b);
        assert_eq!(
            a,
            template_hash(&serde_json::json!({"spec": {"containers": [{"image": "a"}]}}))
        );
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn backoff_caps_and_resets() {
        let mut backoff = QuickBackoff::default();
        let delays: Vec<_> = backoff.by_ref().take(6).collect();
        assert_eq!(delays.first(), Some(&BACKOFF_MIN));
        assert_eq!(delays.last(), Some(&BACKOFF_MAX));
        backoff.reset();
        assert_eq!(backoff.next(), Some(BACKOFF_MIN));
    }
}
