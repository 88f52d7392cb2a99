//! Component schemas of the built-in kinds for the OpenAPI v3 documents ([`crate::api::openapi`]),
//! generated once from the `schemars::JsonSchema` implementations of their k8s-openapi types:
//! the same field names, types, descriptions and `$ref`s (as `allOf`) as a real server's
//! documents, so that `kubectl explain` works for built-in kinds. k8s-openapi's schemas carry
//! no `x-kubernetes-patch-*` or `x-kubernetes-list-*` extensions.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::kinds::resources::builtin_resources;

/// The component schemas of one built-in kind.
#[derive(Debug, Clone)]
pub(crate) struct KindSchemas {
    /// The kind's own component name, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub name: String,
    /// Every component the kind needs, its own included, by component name.
    pub definitions: Map<String, Value>,
}

fn generate<T: JsonSchema>() -> KindSchemas {
    let mut generator = SchemaSettings::openapi3().into_generator();
    // Only the definitions are wanted: the returned `$ref` names the kind's own component.
    let _reference = generator.subschema_for::<T>();
    KindSchemas {
        name: T::schema_name().into_owned(),
        definitions: generator.take_definitions(true),
    }
}

fn generate_for(group: &str, kind: &str) -> Option<KindSchemas> {
    use k8s_openapi::api::{apps, coordination, core, events, policy, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    Some(match (group, kind) {
        ("", "Namespace") => generate::<core::v1::Namespace>(),
        ("", "Service") => generate::<core::v1::Service>(),
        ("", "Pod") => generate::<core::v1::Pod>(),
        ("", "ConfigMap") => generate::<core::v1::ConfigMap>(),
        ("", "Secret") => generate::<core::v1::Secret>(),
        ("", "ServiceAccount") => generate::<core::v1::ServiceAccount>(),
        ("", "Event") => generate::<core::v1::Event>(),
        ("events.k8s.io", "Event") => generate::<events::v1::Event>(),
        ("apps", "ReplicaSet") => generate::<apps::v1::ReplicaSet>(),
        ("apps", "Deployment") => generate::<apps::v1::Deployment>(),
        ("coordination.k8s.io", "Lease") => generate::<coordination::v1::Lease>(),
        ("policy", "PodDisruptionBudget") => generate::<policy::v1::PodDisruptionBudget>(),
        ("rbac.authorization.k8s.io", "Role") => generate::<rbac::v1::Role>(),
        ("rbac.authorization.k8s.io", "RoleBinding") => generate::<rbac::v1::RoleBinding>(),
        ("rbac.authorization.k8s.io", "ClusterRole") => generate::<rbac::v1::ClusterRole>(),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            generate::<rbac::v1::ClusterRoleBinding>()
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            generate::<apiextensions::CustomResourceDefinition>()
        }
        _ => return None,
    })
}

static SCHEMAS: LazyLock<BTreeMap<(String, String), KindSchemas>> = LazyLock::new(|| {
    builtin_resources()
        .into_iter()
        .filter_map(|resource| {
            let schemas = generate_for(&resource.group, &resource.kind)?;
            Some(((resource.group, resource.kind), schemas))
        })
        .collect()
});

/// The component schemas of a built-in kind; `None` for custom resources and unknown kinds.
pub(crate) fn schemas(group: &str, kind: &str) -> Option<&'static KindSchemas> {
    SCHEMAS.get(&(group.to_string(), kind.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_kind_has_a_typed_schema() {
        for resource in builtin_resources() {
            let schemas = schemas(&resource.group, &resource.kind)
                .unwrap_or_else(|| panic!("no schema for {}", resource.kind));
            let own = &schemas.definitions[&schemas.name];
            assert_eq!(own["type"], "object", "{}", schemas.name);
            assert!(
                own["properties"].get("metadata").is_some(),
                "{}",
                schemas.name
            );
        }
    }

    #[test]
    fn references_point_at_components_of_the_same_kind() {
        let deployment = schemas("apps", "Deployment").unwrap();
        assert_eq!(deployment.name, "io.k8s.api.apps.v1.Deployment");
        let spec = &deployment.definitions["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(spec["properties"]["replicas"]["type"], "integer");
        let text = serde_json::to_string(&deployment.definitions).unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(deployment.definitions.contains_key(name), "dangling {name}");
        }
    }
}
