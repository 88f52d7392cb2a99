//! Names of the annotations and labels KULTA reads and writes.
//!
//! User actions are annotations on the Rollout; the controller consumes each one once and records
//! it in the Rollout's status.

/// Annotation a person sets on a Rollout to act on it: `true` continues past the current pause,
/// `full` skips every remaining step.
pub const PROMOTE_ANNOTATION: &str = "kulta.io/promote";
/// Value of [`PROMOTE_ANNOTATION`] that continues past the current pause.
pub const PROMOTE_STEP: &str = "true";
/// Value of [`PROMOTE_ANNOTATION`] that skips every remaining step.
pub const PROMOTE_FULL: &str = "full";
/// Annotation (`true`) that aborts the in-flight canary: traffic back to stable, canary scaled
/// down, phase `Degraded` until a retry or a new revision.
pub const ABORT_ANNOTATION: &str = "kulta.io/abort";
/// Annotation (`true`) that restarts an aborted canary from its first step.
pub const RETRY_ANNOTATION: &str = "kulta.io/retry";
/// On a stable or canary Service: the Rollout that pins it. A Service claimed by one Rollout is
/// never pinned by another (which reports the conflict instead); the claim goes when its
/// Rollout is deleted.
pub const SERVICE_CLAIM_ANNOTATION: &str = "kulta.io/rollout";
/// On a stable or canary Service: the revision the controller last pinned its selector to. A
/// selector whose pod-template-hash no longer matches was changed by someone else, and is
/// reported, not reverted.
pub const PINNED_REVISION_ANNOTATION: &str = "kulta.io/pinned-revision";
/// Set by the controller when it removes consumed action annotations: which records of
/// `status.appliedActions` (`<annotation>=<value>@<time>`, comma-separated) that removal was for. An
/// action annotation whose record is listed here was removed, so the same annotation set again
/// is a new action; one whose record is not listed is the action already carried out.
pub const CONSUMED_ACTIONS_ANNOTATION: &str = "kulta.io/consumed-actions";

/// Label the controller puts on each ReplicaSet and its pods: the revision hash of the pod
/// template. Services are pinned to a revision through it. The name is the one Kubernetes'
/// own Deployment controller uses, so tools that understand Deployments understand it too.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Standard label naming the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] on objects KULTA creates.
pub const MANAGED_BY_VALUE: &str = "kulta";
/// Label on ReplicaSets and pods naming the Rollout that owns them.
pub const ROLLOUT_LABEL: &str = "kulta.io/rollout";
/// Annotation on a ReplicaSet: the Rollout revision number (1, 2, ...) it was created for.
pub const REVISION_ANNOTATION: &str = "kulta.io/revision";
/// Annotation on an old stable ReplicaSet: RFC 3339 time after which it is scaled to zero.
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "kulta.io/scale-down-deadline";

/// Finalizer the controller puts on Rollouts so that traffic is restored to stable and managed
/// routes are removed before a Rollout goes away.
pub const FINALIZER: &str = "kulta.io/traffic-cleanup";
/// Field manager name used for every write the controller makes.
pub const FIELD_MANAGER: &str = "kulta-controller";
