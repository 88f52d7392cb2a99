//! [`RouterRegistry`]: maps the Rollout spec's router key to a factory that builds a router.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{ObjectCache, RegistryError, RouterError, TrafficRouter};

/// Builds routers of one kind from a Rollout's router config.
pub trait RouterFactory: Send + Sync {
    /// The spec key this factory serves: `gatewayAPI`, or a plugin name.
    fn key(&self) -> &str;

    /// Builds a router for one Rollout's config (the router's section of the spec, verbatim).
    /// Validate the config here. Pure apart from cheap clones of shared clients.
    ///
    /// # Errors
    ///
    /// [`RouterError::InvalidConfig`] when the config is wrong; the controller shows it as
    /// `InvalidSpec` and waits for a spec change.
    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError>;

    /// Called once by the controller before the first [`build`](Self::build), with its cache of
    /// the objects routers reference ([`ObjectCache`]). A factory whose routers read their
    /// objects keeps it and hands it to them; the default ignores it.
    fn attach(&mut self, cache: Arc<dyn ObjectCache>) {
        let _ = cache;
    }
}

/// A factory that hands out the same router for every config, without looking at the config.
///
/// Handy for injecting a `MockTrafficRouter` or an `InMemoryRouter` into the controller's
/// registry in tests.
#[derive(Clone)]
pub struct StaticRouterFactory {
    key: String,
    router: Arc<dyn TrafficRouter>,
}

impl StaticRouterFactory {
    /// A factory serving `key` with `router`.
    pub fn new(key: impl Into<String>, router: Arc<dyn TrafficRouter>) -> Self {
        Self {
            key: key.into(),
            router,
        }
    }
}

impl std::fmt::Debug for StaticRouterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRouterFactory")
            .field("key", &self.key)
            .field("router", &self.router.kind())
            .finish()
    }
}

impl RouterFactory for StaticRouterFactory {
    fn key(&self) -> &str {
        &self.key
    }

    fn build(&self, _config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
        Ok(Arc::clone(&self.router))
    }
}

/// A boxed factory is a factory: binaries hand the operator a list of them
/// (`kulta_controller::operator`).
impl<F: RouterFactory + ?Sized> RouterFactory for Box<F> {
    fn key(&self) -> &str {
        (**self).key()
    }

    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
        (**self).build(config)
    }

    fn attach(&mut self, cache: Arc<dyn ObjectCache>) {
        (**self).attach(cache);
    }
}

/// Maps spec keys to router factories. Cheap to clone: factories are shared.
///
/// Registering a key twice replaces the earlier factory, so a binary can override a built-in
/// router (and tests can inject a mock under `gatewayAPI`).
#[derive(Clone, Default)]
pub struct RouterRegistry {
    factories: BTreeMap<String, Arc<dyn RouterFactory>>,
}

impl RouterRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under its [`RouterFactory::key`], replacing any factory with the same
    /// key.
    pub fn register(&mut self, factory: impl RouterFactory + 'static) -> &mut Self {
        self.factories
            .insert(factory.key().to_owned(), Arc::new(factory));
        self
    }

    /// Builder form of [`register`](Self::register).
    #[must_use]
    pub fn with(mut self, factory: impl RouterFactory + 'static) -> Self {
        self.register(factory);
        self
    }

    /// The registered keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }

    /// Whether a factory is registered under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.factories.contains_key(key)
    }

    /// Builds the router registered under `key` for `config`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownRouter`] when nothing is registered under `key`;
    /// [`RegistryError::Build`] when the factory refuses the config.
    pub fn resolve(
        &self,
        key: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn TrafficRouter>, RegistryError> {
        let factory = self
            .factories
            .get(key)
            .ok_or_else(|| RegistryError::UnknownRouter {
                key: key.to_owned(),
                known: self.keys(),
            })?;
        factory
            .build(config)
            .map_err(|source| RegistryError::Build {
                key: key.to_owned(),
                source,
            })
    }
}

impl std::fmt::Debug for RouterRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterRegistry")
            .field("keys", &self.keys())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capabilities, MockTrafficRouter};
    use serde_json::json;

    /// A factory that insists on a `name` string in its config.
    struct NamedFactory;

    impl RouterFactory for NamedFactory {
        fn key(&self) -> &str {
            "named"
        }

        fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
            if config.get("name").and_then(|name| name.as_str()).is_none() {
                return Err(RouterError::invalid_config("named.name: required"));
            }
            let mut router = MockTrafficRouter::new();
            router.expect_kind().return_const("named");
            Ok(Arc::new(router))
        }
    }

    fn mock(kind: &'static str) -> Arc<dyn TrafficRouter> {
        let mut router = MockTrafficRouter::new();
        router.expect_kind().return_const(kind);
        router
            .expect_capabilities()
            .return_const(Capabilities::WEIGHTS_ONLY);
        Arc::new(router)
    }

    #[test]
    fn resolves_registered_keys_and_names_the_known_ones_otherwise() {
        let registry = RouterRegistry::new()
            .with(NamedFactory)
            .with(StaticRouterFactory::new("gatewayAPI", mock("first")));
        assert_eq!(registry.keys(), ["gatewayAPI", "named"]);
        assert!(registry.contains("named"));

        let router = registry.resolve("named", &json!({"name": "x"}));
        assert_eq!(router.map(|router| router.kind()).ok(), Some("named"));

        match registry.resolve("nginx", &json!({})) {
            Err(RegistryError::UnknownRouter { key, known }) => {
                assert_eq!(key, "nginx");
                assert_eq!(known, ["gatewayAPI", "named"]);
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("an unknown key resolved"),
        }
    }

    #[test]
    fn build_errors_carry_the_key_and_the_factory_error() {
        let registry = RouterRegistry::new().with(NamedFactory);
        match registry.resolve("named", &json!({})) {
            Err(error @ RegistryError::Build { .. }) => {
                assert_eq!(
                    error.to_string(),
                    "unable to set up traffic router \"named\": invalid traffic router config: \
                     named.name: required"
                );
                assert_eq!(error.category(), "invalid_config");
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("an invalid config resolved"),
        }
    }

    #[test]
    fn registering_a_key_again_replaces_the_factory_and_clones_share_nothing_mutable() {
        let mut registry = RouterRegistry::new();
        registry
            .register(StaticRouterFactory::new("gatewayAPI", mock("first")))
            .register(StaticRouterFactory::new("gatewayAPI", mock("second")));
        let snapshot = registry.clone();
        registry.register(StaticRouterFactory::new("other", mock("third")));

        assert_eq!(registry.keys(), ["gatewayAPI", "other"]);
        assert_eq!(snapshot.keys(), ["gatewayAPI"]);
        let router = snapshot.resolve("gatewayAPI", &json!(null));
        assert_eq!(router.map(|router| router.kind()).ok(), Some("second"));
    }
}
