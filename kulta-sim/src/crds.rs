//! Installs CustomResourceDefinitions into a running sim through an ordinary `kube::Client`, the
//! way they arrive on a real cluster, and waits until the server serves their kinds.
//!
//! The Gateway API CRDs are generated from the gateway-api crate's types
//! (`CustomResourceExt::crd()`): HTTPRoute, GRPCRoute, Gateway, GatewayClass and ReferenceGrant,
//! all `gateway.networking.k8s.io/v1`. They carry the crate's schema, not the upstream CEL rules
//! (the HTTPRoute's has the upstream defaults and bounds of the fields a traffic router reads and
//! writes added); to test against the upstream YAML, apply it like any CRD.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde_json::{Value, json};

/// How long [`install_gateway_api`] waits for the kinds to be served.
pub(crate) const DEFAULT_ESTABLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of CRD installation.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The API server refused or failed a request.
    #[error("unable to {action} CustomResourceDefinition {name}")]
    Request {
        /// What was attempted.
        action: &'static str,
        /// The CRD's name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The kind was not served before the deadline.
    #[error("unable to see CustomResourceDefinition {name} established within {timeout:?}")]
    NotEstablished {
        /// The CRD's name.
        name: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The CRD has no served version to wait for.
    #[error("failed to find a served version in CustomResourceDefinition {name}")]
    NoServedVersion {
        /// The CRD's name.
        name: String,
    },
}

/// The Gateway API CRDs the gateway controller and KULTA's router need: HTTPRoute, GRPCRoute,
/// Gateway, GatewayClass and ReferenceGrant. The HTTPRoute CRD carries the upstream defaults and
/// bounds of the fields a traffic router reads and writes (see [`with_upstream_route_defaults`]).
pub(crate) fn gateway_api_crds() -> Vec<CustomResourceDefinition> {
    vec![
        with_upstream_route_defaults(gateway_api::httproutes::HttpRoute::crd()),
        gateway_api::grpcroutes::GrpcRoute::crd(),
        gateway_api::gateways::Gateway::crd(),
        gateway_api::gatewayclasses::GatewayClass::crd(),
        gateway_api::referencegrants::ReferenceGrant::crd(),
    ]
}

/// The HTTPRoute CRD with the defaults and bounds of the upstream release's (v1.5.1) schema on
/// the fields a traffic router reads and writes, which the crate's generated schema lacks: a
/// backendRef's `group` (`""`), `kind` (`Service`), `weight` (1, from 0 to 1,000,000) and `port`
/// (1 to 65535); a parentRef's `group` and `kind` (`Gateway`); a rule's `matches` (a `/` path
/// prefix) and the route's `rules`. A real cluster stores these defaults, so a router sees
/// `kind: Service` on every backend there; without them it would be tested on a shape no
/// cluster serves. A node the generated schema does not have is left alone.
pub(crate) fn with_upstream_route_defaults(
    crd: CustomResourceDefinition,
) -> CustomResourceDefinition {
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    let path_prefix = json!({"type": "PathPrefix", "value": "/"});
    let additions = [
        (
            "/parentRefs/items/properties/group",
            json!({"default": "gateway.networking.k8s.io"}),
        ),
        (
            "/parentRefs/items/properties/kind",
            json!({"default": "Gateway"}),
        ),
        (
            "/rules",
            json!({"default": [{"matches": [{"path": path_prefix}]}]}),
        ),
        (
            "/rules/items/properties/matches",
            json!({"default": [{"path": path_prefix}]}),
        ),
        (
            "/rules/items/properties/matches/items/properties/path",
            json!({"default": path_prefix}),
        ),
        (
            "/rules/items/properties/matches/items/properties/path/properties/type",
            json!({"default": "PathPrefix"}),
        ),
        (
            "/rules/items/properties/matches/items/properties/path/properties/value",
            json!({"default": "/"}),
        ),
        (
            "/rules/items/properties/backendRefs/items/properties/group",
            json!({"default": ""}),
        ),
        (
            "/rules/items/properties/backendRefs/items/properties/kind",
            json!({"default": "Service"}),
        ),
        (
            "/rules/items/properties/backendRefs/items/properties/weight",
            json!({"default": 1, "minimum": 0, "maximum": 1_000_000}),
        ),
        (
            "/rules/items/properties/backendRefs/items/properties/port",
            json!({"minimum": 1, "maximum": 65535}),
        ),
    ];
    let versions = value
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut);
    for version in versions.into_iter().flatten() {
        let Some(spec) = version.pointer_mut("/schema/openAPIV3Schema/properties/spec/properties")
        else {
            continue;
        };
        for (pointer, fields) in &additions {
            if let (Some(Value::Object(node)), Value::Object(fields)) =
                (spec.pointer_mut(pointer), fields)
            {
                node.extend(fields.clone());
            }
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

/// Creates the Gateway API CRDs (idempotent: existing ones are left as they are) and waits until
/// every kind is served.
///
/// # Errors
/// [`CrdError::Request`] when a create fails for another reason than AlreadyExists;
/// [`CrdError::NotEstablished`] when a kind is not served within 10 s
/// (`DEFAULT_ESTABLISH_TIMEOUT`).
pub async fn install_gateway_api(client: &Client) -> Result<(), CrdError> {
    install(client, &gateway_api_crds(), DEFAULT_ESTABLISH_TIMEOUT).await
}

/// Creates `crds` (idempotent) and waits, up to `timeout` each, until their kinds are served.
///
/// # Errors
/// As [`install_gateway_api`].
pub async fn install(
    client: &Client,
    crds: &[CustomResourceDefinition],
    timeout: Duration,
) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        match api.create(&PostParams::default(), crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => {
                return Err(CrdError::Request {
                    action: "create",
                    name: crd.name_any(),
                    source,
                });
            }
        }
    }
    for crd in crds {
        wait_established(client, crd, timeout).await?;
    }
    Ok(())
}

/// Waits until the API server serves `crd`'s kind: its `Established` condition is `True` and a
/// list of the kind (first served version) succeeds. Polls every 25 ms until `timeout`.
///
/// # Errors
/// [`CrdError::NotEstablished`] when the deadline passes; [`CrdError::NoServedVersion`] when
/// the CRD serves no version.
pub(crate) async fn wait_established(
    client: &Client,
    crd: &CustomResourceDefinition,
    timeout: Duration,
) -> Result<(), CrdError> {
    let name = crd.name_any();
    let Some(version) = crd.spec.versions.iter().find(|version| version.served) else {
        return Err(CrdError::NoServedVersion { name });
    };
    let gvk = GroupVersionKind::gvk(&crd.spec.group, &version.name, &crd.spec.names.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
    let objects: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    // A timeout too long to add to the clock waits without a deadline.
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let established = match crds.get_opt(&name).await {
            Ok(Some(current)) => current
                .status
                .and_then(|status| status.conditions)
                .is_some_and(|conditions| {
                    conditions.iter().any(|condition| {
                        condition.type_ == "Established" && condition.status == "True"
                    })
                }),
            _ => false,
        };
        if established && objects.list(&ListParams::default().limit(1)).await.is_ok() {
            return Ok(());
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(CrdError::NotEstablished { name, timeout });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_api_crds_cover_the_route_kinds() {
        let crds = gateway_api_crds();
        let names: Vec<String> = crds.iter().map(|crd| crd.name_any()).collect();
        assert_eq!(
            names,
            [
                "httproutes.gateway.networking.k8s.io",
                "grpcroutes.gateway.networking.k8s.io",
                "gateways.gateway.networking.k8s.io",
                "gatewayclasses.gateway.networking.k8s.io",
                "referencegrants.gateway.networking.k8s.io",
            ]
        );
        for crd in &crds {
            assert!(
                crd.spec
                    .versions
                    .iter()
                    .any(|version| version.served && version.storage)
            );
        }
    }

    #[test]
    fn the_route_schema_has_the_upstream_defaults_and_weight_bounds() {
        let crd = gateway_api_crds().remove(0);
        let schema = serde_json::to_value(&crd).unwrap();
        let spec = schema
            .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties")
            .unwrap();
        let backend = spec
            .pointer("/rules/items/properties/backendRefs/items/properties")
            .unwrap();
        assert_eq!(backend["group"]["default"], "");
        assert_eq!(backend["kind"]["default"], "Service");
        assert_eq!(backend["weight"]["default"], 1);
        // JSONSchemaProps holds bounds as floats.
        assert_eq!(backend["weight"]["maximum"].as_f64(), Some(1_000_000.0));
        assert_eq!(backend["port"]["minimum"].as_f64(), Some(1.0));
        assert_eq!(
            spec.pointer("/parentRefs/items/properties/kind/default"),
            Some(&json!("Gateway"))
        );
        assert_eq!(
            spec.pointer("/rules/items/properties/matches/default"),
            Some(&json!([{"path": {"type": "PathPrefix", "value": "/"}}]))
        );
        assert_eq!(
            spec.pointer("/rules/default/0/matches/0/path/value"),
            Some(&json!("/"))
        );
    }
}
