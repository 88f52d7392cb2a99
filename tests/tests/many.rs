//! Fifty Rollouts progressing at once all complete.

use std::time::Duration;

use futures::future::join_all;
use kulta_api::labels::PROMOTE_ANNOTATION;
use kulta_tests::{TestCluster, rollout, steps, template_hash};

const ROLLOUTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_rollouts_progressing_at_once_all_complete() {
    let cluster = TestCluster::start().await;
    let names: Vec<String> = (0..ROLLOUTS).map(|i| format!("app{i}")).collect();
    join_all(names.iter().map(|name| async {
        cluster.create_app(name).await;
        cluster
            .create_rollout(
                &rollout(name)
                    .replicas(2)
                    .steps([
                        steps::set_weight(25),
                        steps::pause(Some("1s")),
                        steps::set_weight(50),
                        steps::pause_indefinitely(),
                    ])
                    .build(),
            )
            .await;
    }))
    .await;
    let generous = Duration::from_secs(120);
    join_all(
        names
            .iter()
            .map(|name| cluster.wait_healthy_within(name, generous)),
    )
    .await;

    join_all(
        names
            .iter()
            .map(|name| cluster.set_image(name, "nginx:1.26")),
    )
    .await;
    join_all(names.iter().map(|name| {
        cluster.wait_status_within(name, "paused until promoted", generous, |s| {
            s.current_step_index == Some(3) && s.canary_weight == Some(50)
        })
    }))
    .await;
    join_all(
        names
            .iter()
            .map(|name| cluster.annotate(name, PROMOTE_ANNOTATION, "true")),
    )
    .await;
    let done = join_all(
        names
            .iter()
            .map(|name| cluster.wait_healthy_within(name, generous)),
    )
    .await;

    for (name, status) in names.iter().zip(done) {
        let hash = template_hash(&cluster.rollout(name).await);
        assert_eq!(
            status.stable_revision.as_deref(),
            Some(hash.as_str()),
            "{name}"
        );
        assert_eq!(
            cluster
                .service_pin(&format!("{name}-stable"))
                .await
                .as_deref(),
            Some(hash.as_str()),
            "{name}"
        );
        assert_eq!(
            cluster.route_weights(&format!("{name}-route"), name).await,
            vec![(100, 0)],
            "{name}"
        );
        assert_eq!(
            cluster.replica_set_scales(name).await.get(&hash),
            Some(&2),
            "{name}"
        );
    }
}
