//! Core v1 Pod: its spec (scheduling, DNS, security context, resource claims) and status.
//! Containers and volumes have modules of their own.
//!
//! Generated once from k8s-pb's messages and the Go API types of Kubernetes 1.36 (joined by
//! protobuf field number), then kept by hand: see `json.rs` for what each entry means.

use k8s_pb::api::core::v1::*;

use super::json::go_json;

go_json! {
    Pod {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    PodSpec {
        volumes: "volumes",
        init_containers: "initContainers",
        containers: "containers",
        ephemeral_containers: "ephemeralContainers",
        restart_policy: "restartPolicy",
        termination_grace_period_seconds: "terminationGracePeriodSeconds" keep,
        active_deadline_seconds: "activeDeadlineSeconds" keep,
        dns_policy: "dnsPolicy",
        node_selector: "nodeSelector",
        service_account_name: "serviceAccountName",
        service_account: "serviceAccount",
        automount_service_account_token: "automountServiceAccountToken" keep,
        node_name: "nodeName",
        host_network: "hostNetwork",
        host_pid: "hostPID",
        host_ipc: "hostIPC",
        share_process_namespace: "shareProcessNamespace" keep,
        security_context: "securityContext",
        image_pull_secrets: "imagePullSecrets",
        hostname: "hostname",
        subdomain: "subdomain",
        affinity: "affinity",
        scheduler_name: "schedulerName",
        tolerations: "tolerations",
        host_aliases: "hostAliases",
        priority_class_name: "priorityClassName",
        priority: "priority" keep,
        dns_config: "dnsConfig",
        readiness_gates: "readinessGates",
        runtime_class_name: "runtimeClassName" keep,
        enable_service_links: "enableServiceLinks" keep,
        preemption_policy: "preemptionPolicy" keep,
        overhead: "overhead",
        topology_spread_constraints: "topologySpreadConstraints",
        set_hostname_as_fqdn: "setHostnameAsFQDN" keep,
        os: "os",
        host_users: "hostUsers" keep,
        scheduling_gates: "schedulingGates",
        resource_claims: "resourceClaims",
        resources: "resources",
        hostname_override: "hostnameOverride" keep,
        // Kubernetes 1.35's alpha `workloadRef`, gone in 1.36 (and from k8s-openapi's types).
        workload_ref: ignore,
    }
    PodStatus {
        observed_generation: "observedGeneration",
        phase: "phase",
        conditions: "conditions",
        message: "message",
        reason: "reason",
        nominated_node_name: "nominatedNodeName",
        host_ip: "hostIP",
        host_ips: "hostIPs",
        pod_ip: "podIP",
        pod_ips: "podIPs",
        start_time: "startTime",
        init_container_statuses: "initContainerStatuses",
        container_statuses: "containerStatuses",
        qos_class: "qosClass",
        ephemeral_container_statuses: "ephemeralContainerStatuses",
        resize: "resize",
        resource_claim_statuses: "resourceClaimStatuses",
        extended_resource_claim_status: "extendedResourceClaimStatus",
        allocated_resources: "allocatedResources",
        resources: "resources",
    }
    PodSecurityContext {
        se_linux_options: "seLinuxOptions",
        windows_options: "windowsOptions",
        run_as_user: "runAsUser" keep,
        run_as_group: "runAsGroup" keep,
        run_as_non_root: "runAsNonRoot" keep,
        supplemental_groups: "supplementalGroups",
        supplemental_groups_policy: "supplementalGroupsPolicy" keep,
        fs_group: "fsGroup" keep,
        sysctls: "sysctls",
        fs_group_change_policy: "fsGroupChangePolicy" keep,
        seccomp_profile: "seccompProfile",
        app_armor_profile: "appArmorProfile",
        se_linux_change_policy: "seLinuxChangePolicy" keep,
    }
    Affinity {
        node_affinity: "nodeAffinity",
        pod_affinity: "podAffinity",
        pod_anti_affinity: "podAntiAffinity",
    }
    Toleration {
        key: "key",
        operator: "operator",
        value: "value",
        effect: "effect",
        toleration_seconds: "tolerationSeconds" keep,
    }
    HostAlias {
        ip: "ip" keep,
        hostnames: "hostnames",
    }
    PodDnsConfig {
        nameservers: "nameservers",
        searches: "searches",
        options: "options",
    }
    PodReadinessGate {
        condition_type: "conditionType" keep,
    }
    TopologySpreadConstraint {
        max_skew: "maxSkew" keep,
        topology_key: "topologyKey" keep,
        when_unsatisfiable: "whenUnsatisfiable" keep,
        label_selector: "labelSelector",
        min_domains: "minDomains" keep,
        node_affinity_policy: "nodeAffinityPolicy" keep,
        node_taints_policy: "nodeTaintsPolicy" keep,
        match_label_keys: "matchLabelKeys",
    }
    PodOs {
        name: "name" keep,
    }
    PodSchedulingGate {
        name: "name" keep,
    }
    PodResourceClaim {
        name: "name" keep,
        resource_claim_name: "resourceClaimName" keep,
        resource_claim_template_name: "resourceClaimTemplateName" keep,
    }
    PodCondition {
        r#type: "type" keep,
        observed_generation: "observedGeneration",
        status: "status" keep,
        last_probe_time: "lastProbeTime",
        last_transition_time: "lastTransitionTime",
        reason: "reason",
        message: "message",
    }
    HostIp {
        ip: "ip" keep,
    }
    PodIp {
        ip: "ip" keep,
    }
    ContainerStatus {
        name: "name" keep,
        state: "state",
        last_state: "lastState",
        ready: "ready" keep,
        restart_count: "restartCount" keep,
        image: "image" keep,
        image_id: "imageID" keep,
        container_id: "containerID",
        started: "started" keep,
        allocated_resources: "allocatedResources",
        resources: "resources",
        volume_mounts: "volumeMounts",
        user: "user",
        allocated_resources_status: "allocatedResourcesStatus",
        stop_signal: "stopSignal" keep,
    }
    PodResourceClaimStatus {
        name: "name" keep,
        resource_claim_name: "resourceClaimName" keep,
    }
    PodExtendedResourceClaimStatus {
        request_mappings: "requestMappings",
        resource_claim_name: "resourceClaimName" keep,
    }
    Sysctl {
        name: "name" keep,
        value: "value" keep,
    }
    NodeAffinity {
        required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }
    PodAffinity {
        required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }
    PodAntiAffinity {
        required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }
    PodDnsConfigOption {
        name: "name",
        value: "value" keep,
    }
    ContainerState {
        waiting: "waiting",
        running: "running",
        terminated: "terminated",
    }
    VolumeMountStatus {
        name: "name" keep,
        mount_path: "mountPath" keep,
        read_only: "readOnly",
        recursive_read_only: "recursiveReadOnly" keep,
    }
    ContainerUser {
        linux: "linux",
    }
    ResourceStatus {
        name: "name" keep,
        resources: "resources",
    }
    ContainerExtendedResourceRequest {
        container_name: "containerName" keep,
        resource_name: "resourceName" keep,
        request_name: "requestName" keep,
    }
    NodeSelector {
        node_selector_terms: "nodeSelectorTerms",
    }
    PreferredSchedulingTerm {
        weight: "weight" keep,
        preference: "preference",
    }
    PodAffinityTerm {
        label_selector: "labelSelector",
        namespaces: "namespaces",
        topology_key: "topologyKey" keep,
        namespace_selector: "namespaceSelector",
        match_label_keys: "matchLabelKeys",
        mismatch_label_keys: "mismatchLabelKeys",
    }
    WeightedPodAffinityTerm {
        weight: "weight" keep,
        pod_affinity_term: "podAffinityTerm",
    }
    ContainerStateWaiting {
        reason: "reason",
        message: "message",
    }
    ContainerStateRunning {
        started_at: "startedAt",
    }
    ContainerStateTerminated {
        exit_code: "exitCode" keep,
        signal: "signal",
        reason: "reason",
        message: "message",
        started_at: "startedAt",
        finished_at: "finishedAt",
        container_id: "containerID",
    }
    LinuxContainerUser {
        uid: "uid" keep,
        gid: "gid" keep,
        supplemental_groups: "supplementalGroups",
    }
    ResourceHealth {
        resource_id: "resourceID" keep,
        health: "health",
    }
    NodeSelectorTerm {
        match_expressions: "matchExpressions",
        match_fields: "matchFields",
    }
    NodeSelectorRequirement {
        key: "key" keep,
        operator: "operator" keep,
        values: "values",
    }
}
