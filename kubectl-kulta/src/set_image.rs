//! `set image NAME CONTAINER=IMAGE...`: change container images in the Rollout's pod template.
//!
//! The write is an RFC 6902 JSON Patch that touches only the `image` fields: a `test` that the
//! container at index `i` still has the expected name, then an `add` of its image. A merge patch
//! would have to resend the whole (atomic) containers list and could undo a concurrent change
//! to another container; the `test` makes a reordering between read and write fail instead of
//! changing the wrong container, and the command then re-reads and tries again.

use k8s_openapi::api::core::v1::Container;
use kube::Api;
use kube::api::Patch;
use kulta_api::Rollout;
use serde_json::{Value, json};

use crate::actions::patch_params;
use crate::cli::ContainerImage;
use crate::error::{Error, Result, rollout_error};

/// Attempts before giving up when the template keeps changing under the patch.
const ATTEMPTS: usize = 3;

/// One image change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    /// The container.
    pub container: String,
    /// Its image before, if it had one.
    pub from: Option<String>,
    /// Its new image.
    pub to: String,
}

/// The JSON Patch operations and the changes they make; an empty operation list means every
/// container already runs the requested image.
///
/// # Errors
/// [`Error::NoSuchContainer`] naming the first unknown container and listing the existing ones.
pub fn image_patch(
    name: &str,
    rollout: &Rollout,
    images: &[ContainerImage],
) -> Result<(Vec<Value>, Vec<ImageChange>)> {
    let template = rollout
        .spec
        .template
        .decode()
        .map_err(|error| Error::InvalidTemplate {
            name: name.to_string(),
            problem: error.to_string(),
        })?;
    let pod = template.spec.as_ref();
    let lists: [(&str, &[Container]); 2] = [
        (
            "containers",
            pod.map_or(&[], |pod| pod.containers.as_slice()),
        ),
        (
            "initContainers",
            pod.and_then(|pod| pod.init_containers.as_deref())
                .unwrap_or(&[]),
        ),
    ];
    let mut operations = Vec::new();
    let mut changes = Vec::new();
    for wanted in images {
        let found = lists.iter().find_map(|(list, containers)| {
            containers
                .iter()
                .position(|container| container.name == wanted.container)
                .map(|index| (*list, index, &containers[index]))
        });
        let Some((list, index, container)) = found else {
            return Err(Error::NoSuchContainer {
                name: name.to_string(),
                container: wanted.container.clone(),
                existing: lists
                    .iter()
                    .flat_map(|(_, containers)| containers.iter().map(|c| c.name.clone()))
                    .collect(),
            });
        };
        if container.image.as_deref() == Some(wanted.image.as_str()) {
            continue;
        }
        let path = format!("/spec/template/spec/{list}/{index}");
        operations
            .push(json!({"op": "test", "path": format!("{path}/name"), "value": wanted.container}));
        operations
            .push(json!({"op": "add", "path": format!("{path}/image"), "value": wanted.image}));
        changes.push(ImageChange {
            container: wanted.container.clone(),
            from: container.image.clone(),
            to: wanted.image.clone(),
        });
    }
    Ok((operations, changes))
}

/// What `set image` prints: one line per change and the kubectl command doing the same.
pub fn describe(
    name: &str,
    namespace: &str,
    operations: &[Value],
    changes: &[ImageChange],
) -> String {
    if changes.is_empty() {
        return format!(
            "rollout {name:?} unchanged: every container already runs the requested image\n"
        );
    }
    let mut out = String::new();
    for change in changes {
        out.push_str(&format!(
            "rollout {name:?} container {:?} image updated: {} -> {}\n",
            change.container,
            change.from.as_deref().unwrap_or("(none)"),
            change.to
        ));
    }
    let patch = Value::Array(operations.to_vec()).to_string();
    out.push_str(&format!(
        "kubectl equivalent: kubectl patch rollout {name} -n {namespace} --type json -p '{patch}'\n"
    ));
    out
}

/// Sets the images; returns what to print.
///
/// # Errors
/// [`Error::NotFound`], [`Error::NoSuchContainer`], [`Error::Conflict`] after
/// repeated concurrent changes, request errors.
pub async fn apply(
    api: &Api<Rollout>,
    namespace: &str,
    name: &str,
    images: &[ContainerImage],
) -> Result<String> {
    for _ in 0..ATTEMPTS {
        let rollout = api
            .get(name)
            .await
            .map_err(|error| rollout_error("get", name, namespace, error))?;
        let (operations, changes) = image_patch(name, &rollout, images)?;
        if operations.is_empty() {
            return Ok(describe(name, namespace, &operations, &changes));
        }
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(operations.clone()))
            .map_err(|error| Error::Usage(format!("failed to build the image patch: {error}")))?;
        match api
            .patch(name, &patch_params(), &Patch::Json::<()>(patch))
            .await
        {
            Ok(_) => return Ok(describe(name, namespace, &operations, &changes)),
            // The `test` failed: the containers moved between our read and our write.
            Err(kube::Error::Api(status)) if matches!(status.code, 409 | 422) => {}
            Err(error) => return Err(rollout_error("patch", name, namespace, error)),
        }
    }
    Err(Error::Conflict {
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulta_api::testing::RolloutBuilder;

    fn wanted(container: &str, image: &str) -> ContainerImage {
        ContainerImage {
            container: container.into(),
            image: image.into(),
        }
    }

    fn rollout() -> Rollout {
        RolloutBuilder::new("app")
            .with_spec(|spec| {
                let mut template = spec.template.decode().unwrap();
                if let Some(pod) = template.spec.as_mut() {
                    pod.containers.push(Container {
                        name: "sidecar".into(),
                        image: Some("envoy:1.30".into()),
                        ..Container::default()
                    });
                }
                spec.template.set(&template);
            })
            .build()
    }

    #[test]
    fn patch_touches_only_the_image_of_the_named_container() {
        let (operations, changes) =
            image_patch("app", &rollout(), &[wanted("sidecar", "envoy:1.31")]).unwrap();
        assert_eq!(
            operations,
            vec![
                json!({"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "sidecar"}),
                json!({"op": "add", "path": "/spec/template/spec/containers/1/image", "value": "envoy:1.31"}),
            ]
        );
        assert_eq!(changes[0].from.as_deref(), Some("envoy:1.30"));
        let text = describe("app", "prod", &operations, &changes);
        assert!(text.starts_with(
            "rollout \"app\" container \"sidecar\" image updated: envoy:1.30 -> envoy:1.31\n"
        ));
        assert!(text.contains("kubectl patch rollout app -n prod --type json -p '[{"));
    }

    #[test]
    fn unknown_container_lists_the_existing_ones() {
        let error = image_patch("app", &rollout(), &[wanted("web", "nginx:1.27")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "rollout \"app\" has no container \"web\"; its containers are: app, sidecar"
        );
    }

    #[test]
    fn same_image_is_no_change() {
        let (operations, changes) =
            image_patch("app", &rollout(), &[wanted("app", "nginx:1.25")]).unwrap();
        assert!(operations.is_empty() && changes.is_empty());
        assert!(describe("app", "default", &operations, &changes).contains("unchanged"));
    }
}
