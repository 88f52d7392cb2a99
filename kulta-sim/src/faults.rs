//! Fault injection: fail chosen requests with a code (a count or a seeded fraction), add
//! latency, drop every open watch, compact the event history, and simulate an API server
//! restart. Usable from tests through [`Faults`] and from the standalone binary through
//! `POST /sim/faults`.
//!
//! Requests sent by the sim's own controllers (identity [`crate::CONTROLLER_IDENTITY`]) are never
//! affected unless a rule sets `include_controllers`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::requestlog::RequestFilter;
use crate::storage::store::Store;

/// A rule that fails matching requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRule {
    /// Which requests (verb, resource, subresource, namespace, name, identity; each optional).
    #[serde(flatten)]
    pub filter: RequestFilter,
    /// HTTP code to answer (500, 503, 409, 429...).
    pub code: u16,
    /// `Retry-After` seconds for 429 and 503.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Fail only this many requests (then the rule is spent); `None` means unlimited.
    #[serde(default)]
    pub times: Option<u64>,
    /// Fail each matching request with this probability (seeded RNG); `None` means always.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Also fail requests of the sim's own controllers.
    #[serde(default)]
    pub include_controllers: bool,
    /// Carry the request out, then answer with the failure instead of its result: a write
    /// that succeeded although its client saw an error (a timeout, a dropped connection).
    #[serde(default)]
    pub after_write: bool,
}

impl FailureRule {
    /// Fails every matching request with `code` (narrow it with the builder methods).
    pub fn new(code: u16) -> Self {
        FailureRule {
            filter: RequestFilter::default(),
            code,
            retry_after: None,
            times: None,
            fraction: None,
            include_controllers: false,
            after_write: false,
        }
    }
    /// Only requests with this verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.filter.verb = Some(verb.to_string());
        self
    }
    /// Only requests for this plural resource.
    pub fn resource(mut self, resource: &str) -> Self {
        self.filter.resource = Some(resource.to_string());
        self
    }
    /// Only requests for this subresource (`""` for the main resource).
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.filter.subresource = Some(subresource.to_string());
        self
    }
    /// Only requests for this object name.
    pub fn name(mut self, name: &str) -> Self {
        self.filter.name = Some(name.to_string());
        self
    }
    /// Only requests in this namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.filter.namespace = Some(namespace.to_string());
        self
    }
    /// Only requests from this identity.
    pub fn identity(mut self, identity: &str) -> Self {
        self.filter.identity = Some(identity.to_string());
        self
    }
    /// Only the next `times` matching requests.
    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }
    /// Each matching request with this probability.
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = Some(fraction);
        self
    }
    /// Sets `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    /// Applies to the sim's controllers too.
    pub fn include_controllers(mut self) -> Self {
        self.include_controllers = true;
        self
    }
    /// Carries the request out and fails only its answer.
    pub fn after_write(mut self) -> Self {
        self.after_write = true;
        self
    }
}

/// A rule that delays matching requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LatencyRule {
    /// Which requests.
    #[serde(flatten)]
    pub filter: RequestFilter,
    /// Added delay in milliseconds.
    pub millis: u64,
    /// Also delay requests of the sim's own controllers.
    #[serde(default)]
    pub include_controllers: bool,
}

/// What the injector decided for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultDecision {
    /// Delay before answering.
    pub delay: Duration,
    /// Fail with this code and Retry-After.
    pub fail: Option<(u16, Option<u64>)>,
    /// Carry the request out before failing it (see [`FailureRule::after_write`]).
    pub fail_after_write: bool,
}

#[derive(Debug)]
struct FaultState {
    failures: Vec<FailureRule>,
    latencies: Vec<LatencyRule>,
    unavailable_until: Option<Instant>,
    rng: StdRng,
    injected: u64,
}

/// The fault injector of one sim.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<FaultState>,
    store: Arc<Store>,
    controller_identity: String,
}

impl Faults {
    /// A fault injector with a seeded RNG for fractional failures.
    pub fn new(store: Arc<Store>, seed: u64, controller_identity: &str) -> Self {
        Faults {
            state: Mutex::new(FaultState {
                failures: Vec::new(),
                latencies: Vec::new(),
                unavailable_until: None,
                rng: StdRng::seed_from_u64(seed),
                injected: 0,
            }),
            store,
            controller_identity: controller_identity.to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a failure rule.
    pub fn fail(&self, rule: FailureRule) {
        self.lock().failures.push(rule);
    }

    /// Fails the next `times` requests matching `filter` with `code`.
    pub fn fail_next(&self, times: u64, code: u16, filter: RequestFilter) {
        let mut rule = FailureRule::new(code).times(times);
        rule.filter = filter;
        if code == 429 || code == 503 {
            rule.retry_after = Some(1);
        }
        self.fail(rule);
    }

    /// Delays every request matching `filter` by `delay`.
    pub fn add_latency(&self, filter: RequestFilter, delay: Duration) {
        self.lock().latencies.push(LatencyRule {
            filter,
            millis: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            include_controllers: false,
        });
    }

    /// Adds a latency rule.
    pub(crate) fn latency(&self, rule: LatencyRule) {
        self.lock().latencies.push(rule);
    }

    /// Removes every failure and latency rule and ends a simulated outage.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.failures.clear();
        state.latencies.clear();
        state.unavailable_until = None;
    }

    /// Ends every open watch now; clients resume from their last resourceVersion.
    pub fn drop_watches(&self) {
        self.store.drop_watches();
    }

    /// Forgets the event history: any watch resuming from an older resourceVersion gets 410.
    pub fn compact_history(&self) {
        self.store.lock().compact();
    }

    /// Simulates an API server restart: every watch ends, objects and history are kept (as
    /// etcd keeps them), and new requests from clients other than the sim's controllers get 503
    /// for `unavailable_for`. Combine with [`Faults::compact_history`] for a restart that also
    /// forces re-lists.
    pub fn restart(&self, unavailable_for: Duration) {
        if !unavailable_for.is_zero() {
            self.lock().unavailable_until = Instant::now().checked_add(unavailable_for);
        }
        self.store.drop_watches();
    }

    /// Number of requests failed by injection so far.
    pub fn injected_count(&self) -> u64 {
        self.lock().injected
    }

    /// The current failure rules (spent counted rules are removed).
    pub(crate) fn failure_rules(&self) -> Vec<FailureRule> {
        self.lock().failures.clone()
    }

    /// The current latency rules.
    pub(crate) fn latency_rules(&self) -> Vec<LatencyRule> {
        self.lock().latencies.clone()
    }

    /// Decides what happens to one request.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &self,
        verb: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
        identity: &str,
    ) -> FaultDecision {
        let is_controller = identity == self.controller_identity;
        let mut state = self.lock();
        let mut decision = FaultDecision::default();
        if let Some(until) = state.unavailable_until {
            if Instant::now() < until {
                if !is_controller {
                    state.injected = state.injected.saturating_add(1);
                    decision.fail = Some((503, Some(1)));
                    return decision;
                }
            } else {
                state.unavailable_until = None;
            }
        }
        for rule in &state.latencies {
            if (!is_controller || rule.include_controllers)
                && rule
                    .filter
                    .matches_parts(verb, resource, subresource, namespace, name, identity)
            {
                decision.delay = decision
                    .delay
                    .saturating_add(Duration::from_millis(rule.millis));
            }
        }
        let mut spent = None;
        let mut failure = None;
        let FaultState { failures, rng, .. } = &mut *state;
        for (index, rule) in failures.iter_mut().enumerate() {
            if is_controller && !rule.include_controllers {
                continue;
            }
            if !rule
                .filter
                .matches_parts(verb, resource, subresource, namespace, name, identity)
            {
                continue;
            }
            if let Some(fraction) = rule.fraction
                && !rng.random_bool(fraction.clamp(0.0, 1.0))
            {
                continue;
            }
            if let Some(times) = rule.times.as_mut() {
                *times = times.saturating_sub(1);
                if *times == 0 {
                    spent = Some(index);
                }
            }
            failure = Some((rule.code, rule.retry_after));
            decision.fail_after_write = rule.after_write;
            break;
        }
        if let Some(index) = spent {
            state.failures.remove(index);
        }
        if failure.is_some() {
            state.injected = state.injected.saturating_add(1);
        }
        decision.fail = failure;
        decision
    }
}

/// A fault command of the admin endpoint `POST /sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub(crate) enum FaultCommand {
    /// `{"action":"fail","code":503,"verb":"patch","resource":"rollouts","times":3}`
    Fail(FailureRule),
    /// `{"action":"latency","millis":200,"verb":"get"}`
    Latency(LatencyRule),
    /// `{"action":"dropWatches"}`
    DropWatches,
    /// `{"action":"compact"}`
    Compact,
    /// `{"action":"restart","unavailableMillis":500}`
    Restart {
        /// How long new requests get 503.
        #[serde(default, rename = "unavailableMillis")]
        unavailable_millis: u64,
    },
    /// `{"action":"clear"}`
    Clear,
}

impl Faults {
    /// Executes an admin command.
    pub(crate) fn execute(&self, command: FaultCommand) {
        match command {
            FaultCommand::Fail(rule) => self.fail(rule),
            FaultCommand::Latency(rule) => self.latency(rule),
            FaultCommand::DropWatches => self.drop_watches(),
            FaultCommand::Compact => self.compact_history(),
            FaultCommand::Restart { unavailable_millis } => {
                self.restart(Duration::from_millis(unavailable_millis))
            }
            FaultCommand::Clear => self.clear(),
        }
    }
}
