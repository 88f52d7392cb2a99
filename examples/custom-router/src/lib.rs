//! An example third-party traffic router for KULTA: the weights live in a ConfigMap that a proxy
//! (nginx, HAProxy, a sidecar...) reads, and the proxy acknowledges what it applied.
//!
//! The Rollout names it with `trafficRouting.plugin`:
//!
//! ```yaml
//! trafficRouting:
//!   plugin:
//!     name: example.kulta.io/configmap
//!     config:
//!       configMap: my-app-weights    # in the Rollout's namespace
//! ```
//!
//! The ConfigMap holds `stableService`, `canaryService`, `stableWeight` and `canaryWeight`. The
//! proxy, once it has reloaded, writes the annotation
//! `example.kulta.io/acknowledged-canary-weight` with the canary weight it now serves; that is
//! what [`TrafficRouter::verify_weight`] checks. See this crate's README for the walk-through.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kulta_router::{
    Capabilities, ResourceRef, RouteTarget, RouterError, RouterFactory, TrafficRouter,
    Verification, WriteOutcome,
};
use serde::Deserialize;

/// The key a Rollout's `trafficRouting.plugin.name` uses for this router.
pub const ROUTER_KEY: &str = "example.kulta.io/configmap";
/// Annotation the proxy writes with the canary weight it serves.
pub const ACKNOWLEDGED_ANNOTATION: &str = "example.kulta.io/acknowledged-canary-weight";
/// Field manager of the router's writes.
const FIELD_MANAGER: &str = "kulta-configmap-router";

/// The router's configuration, from `trafficRouting.plugin.config`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Name of the ConfigMap, in the Rollout's namespace.
    pub config_map: String,
}

impl Config {
    /// Parses and checks the plugin config.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] naming the problem.
    pub fn parse(value: &serde_json::Value) -> Result<Self, RouterError> {
        let config: Config = serde_json::from_value(value.clone())
            .map_err(|e| RouterError::invalid_config(format!("plugin {ROUTER_KEY}: {e}")))?;
        if config.config_map.is_empty() {
            return Err(RouterError::invalid_config(format!(
                "plugin {ROUTER_KEY}: configMap must not be empty"
            )));
        }
        Ok(config)
    }
}

/// The desired data of the ConfigMap for a canary weight: a pure function, tested on its own.
pub fn desired_data(target: &RouteTarget, canary_weight: u8) -> BTreeMap<String, String> {
    let canary_weight = canary_weight.min(100);
    BTreeMap::from([
        ("stableService".to_string(), target.stable.service.clone()),
        ("canaryService".to_string(), target.canary.service.clone()),
        (
            "stableWeight".to_string(),
            // At most 100 after `min`: the subtraction never saturates.
            100u8.saturating_sub(canary_weight).to_string(),
        ),
        ("canaryWeight".to_string(), canary_weight.to_string()),
    ])
}

/// A router writing weights into a ConfigMap.
pub struct ConfigMapRouter {
    client: kube::Client,
    config: Config,
}

impl ConfigMapRouter {
    fn api(&self, target: &RouteTarget) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &target.namespace)
    }

    fn transient(&self, target: &RouteTarget, action: &str, error: kube::Error) -> RouterError {
        RouterError::transient(
            format!(
                "unable to {action} ConfigMap {}/{}",
                target.namespace, self.config.config_map
            ),
            error,
        )
    }
}

#[async_trait::async_trait]
impl TrafficRouter for ConfigMapRouter {
    fn kind(&self) -> &'static str {
        ROUTER_KEY
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::WEIGHTS_ONLY
    }

    fn referenced_objects(&self, target: &RouteTarget) -> Result<Vec<ResourceRef>, RouterError> {
        Ok(vec![ResourceRef {
            api_version: "v1".to_string(),
            kind: "ConfigMap".to_string(),
            namespace: target.namespace.clone(),
            name: self.config.config_map.clone(),
        }])
    }

    async fn set_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<WriteOutcome, RouterError> {
        let api = self.api(target);
        let desired = desired_data(target, canary_weight);
        let current = api
            .get_opt(&self.config.config_map)
            .await
            .map_err(|e| self.transient(target, "read", e))?;
        match current {
            Some(config_map) if config_map.data.as_ref() == Some(&desired) => {
                Ok(WriteOutcome::Unchanged)
            }
            Some(_) => {
                // A merge patch of `data` touches only our keys; anything else the proxy keeps
                // there stays.
                let patch = serde_json::json!({ "data": desired });
                api.patch(
                    &self.config.config_map,
                    &PatchParams {
                        field_manager: Some(FIELD_MANAGER.to_string()),
                        ..PatchParams::default()
                    },
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(|e| self.transient(target, "patch", e))?;
                Ok(WriteOutcome::Written)
            }
            None => {
                let config_map = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(self.config.config_map.clone()),
                        ..ObjectMeta::default()
                    },
                    data: Some(desired),
                    ..ConfigMap::default()
                };
                match api
                    .create(
                        &PostParams {
                            field_manager: Some(FIELD_MANAGER.to_string()),
                            ..PostParams::default()
                        },
                        &config_map,
                    )
                    .await
                {
                    Ok(_) => Ok(WriteOutcome::Written),
                    Err(kube::Error::Api(status)) if status.code == 409 => {
                        Err(RouterError::conflict(format!(
                            "ConfigMap {}/{} created concurrently",
                            target.namespace, self.config.config_map
                        )))
                    }
                    Err(e) => Err(self.transient(target, "create", e)),
                }
            }
        }
    }

    async fn verify_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<Verification, RouterError> {
        let name = &self.config.config_map;
        let Some(config_map) = self
            .api(target)
            .get_opt(name)
            .await
            .map_err(|e| self.transient(target, "read", e))?
        else {
            return Err(RouterError::not_found(format!(
                "ConfigMap {}/{name}",
                target.namespace
            )));
        };
        if config_map.data.as_ref() != Some(&desired_data(target, canary_weight)) {
            return Ok(Verification::Pending(format!(
                "ConfigMap {}/{name} does not hold canary weight {canary_weight} yet",
                target.namespace
            )));
        }
        let acknowledged = config_map
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ACKNOWLEDGED_ANNOTATION));
        match acknowledged {
            Some(weight) if *weight == canary_weight.to_string() => Ok(Verification::Verified),
            Some(weight) => Ok(Verification::Pending(format!(
                "the proxy serves canary weight {weight}, not {canary_weight}; is it reloading ConfigMap {}/{name}?",
                target.namespace
            ))),
            None => Ok(Verification::Pending(format!(
                "no proxy has acknowledged ConfigMap {}/{name} (annotation {ACKNOWLEDGED_ANNOTATION})",
                target.namespace
            ))),
        }
    }

    async fn remove_managed_routes(&self, target: &RouteTarget) -> Result<(), RouterError> {
        match self.set_weight(target, 0).await {
            Ok(_) => Ok(()),
            // Nothing of ours is left if the ConfigMap is gone.
            Err(RouterError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Builds [`ConfigMapRouter`]s for the registry under [`ROUTER_KEY`].
pub struct ConfigMapRouterFactory {
    client: kube::Client,
}

impl ConfigMapRouterFactory {
    /// A factory whose routers use `client`.
    pub fn new(client: kube::Client) -> Self {
        ConfigMapRouterFactory { client }
    }
}

impl RouterFactory for ConfigMapRouterFactory {
    fn key(&self) -> &str {
        ROUTER_KEY
    }

    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
        Ok(Arc::new(ConfigMapRouter {
            client: self.client.clone(),
            config: Config::parse(config)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulta_router::BackendRef;

    fn target() -> RouteTarget {
        RouteTarget::new(
            "default",
            "app",
            BackendRef::new("app-stable"),
            BackendRef::new("app-canary"),
            serde_json::json!({}),
        )
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(
            Config::parse(&serde_json::json!({"configMap": "w"}))
                .expect("valid")
                .config_map,
            "w"
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"configMap": ""}),
            serde_json::json!({"configMap": "w", "extra": 1}),
            serde_json::json!("w"),
        ] {
            let error = Config::parse(&bad).expect_err("invalid");
            assert_eq!(error.category(), "invalid_config", "{bad}");
            assert!(error.to_string().contains(ROUTER_KEY), "{error}");
        }
    }

    #[test]
    fn weights_split_between_the_services() {
        let data = desired_data(&target(), 30);
        assert_eq!(data["stableWeight"], "70");
        assert_eq!(data["canaryWeight"], "30");
        assert_eq!(data["stableService"], "app-stable");
        assert_eq!(data["canaryService"], "app-canary");
        assert_eq!(desired_data(&target(), 250)["stableWeight"], "0");
    }
}
