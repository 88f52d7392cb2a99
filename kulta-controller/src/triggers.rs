//! Which watch events wake a reconcile.
//!
//! Every write is a watch event, and most of a Rollout's events are our own status writes: the
//! reconcile that made the write already planned from that status, so the event only queues a
//! reconcile that finds nothing to do. This predicate names what a reconcile can act on; an
//! event that changes none of it wakes nothing (the cache still takes every event).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use kulta_api::Rollout;

/// What of a Rollout a reconcile acts on: the spec (its generation), annotations (user
/// actions), finalizers and deletion. Status is ours and labels are not read.
// Only compared within one process, so the standard hasher's fixed keys are fine.
pub fn rollout(rollout: &Rollout) -> Option<u64> {
    let meta = &rollout.metadata;
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kulta_api::RolloutStatus;
    use kulta_api::testing::RolloutBuilder;
    use std::collections::BTreeMap;

    #[test]
    fn a_rollout_wakes_on_spec_actions_finalizers_and_deletion_not_on_status() {
        let base = RolloutBuilder::new("app").generation(1).build();
        let before = rollout(&base);

        let mut status_only = base.clone();
        status_only.status = Some(RolloutStatus {
            current_step_index: Some(3),
            ..RolloutStatus::default()
        });
        status_only.metadata.resource_version = Some("99".into());
        assert_eq!(rollout(&status_only), before);

        let mut spec = base.clone();
        spec.metadata.generation = Some(2);
        assert_ne!(rollout(&spec), before);

        let mut promoted = base.clone();
        promoted
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("kulta.io/promote".into(), "true".into());
        assert_ne!(rollout(&promoted), before);

        let mut finalized = base.clone();
        finalized.metadata.finalizers = Some(vec!["kulta.io/traffic-cleanup".into()]);
        assert_ne!(rollout(&finalized), before);

        let mut deleted = base.clone();
        deleted.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert_ne!(rollout(&deleted), before);
    }
}
