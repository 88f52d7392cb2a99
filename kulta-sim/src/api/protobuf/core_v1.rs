//! Core v1 kinds other than Pod: ConfigMap, Secret, Namespace, Service, ServiceAccount, Event,
//! and the messages they hold.
//!
//! Generated once from k8s-pb's messages and the Go API types of Kubernetes 1.36 (joined by
//! protobuf field number), then kept by hand: see `json.rs` for what each entry means.

use k8s_pb::api::core::v1::*;

use super::json::go_json;

go_json! {
    ConfigMap {
        metadata: "metadata",
        immutable: "immutable" keep,
        data: "data",
        binary_data: "binaryData",
    }
    Secret {
        metadata: "metadata",
        immutable: "immutable" keep,
        data: "data",
        string_data: "stringData",
        r#type: "type",
    }
    Namespace {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    Service {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    ServiceAccount {
        metadata: "metadata",
        secrets: "secrets",
        image_pull_secrets: "imagePullSecrets",
        automount_service_account_token: "automountServiceAccountToken" keep,
    }
    Event {
        metadata: "metadata",
        involved_object: "involvedObject",
        reason: "reason",
        message: "message",
        source: "source",
        first_timestamp: "firstTimestamp",
        last_timestamp: "lastTimestamp",
        count: "count",
        r#type: "type",
        event_time: "eventTime",
        series: "series",
        action: "action",
        related: "related",
        reporting_component: "reportingComponent" keep,
        reporting_instance: "reportingInstance" keep,
    }
    NamespaceSpec {
        finalizers: "finalizers",
    }
    NamespaceStatus {
        phase: "phase",
        conditions: "conditions",
    }
    ServiceSpec {
        ports: "ports",
        selector: "selector",
        cluster_ip: "clusterIP",
        cluster_ips: "clusterIPs",
        r#type: "type",
        external_ips: "externalIPs",
        session_affinity: "sessionAffinity",
        load_balancer_ip: "loadBalancerIP",
        load_balancer_source_ranges: "loadBalancerSourceRanges",
        external_name: "externalName",
        external_traffic_policy: "externalTrafficPolicy",
        health_check_node_port: "healthCheckNodePort",
        publish_not_ready_addresses: "publishNotReadyAddresses",
        session_affinity_config: "sessionAffinityConfig",
        ip_families: "ipFamilies",
        ip_family_policy: "ipFamilyPolicy" keep,
        allocate_load_balancer_node_ports: "allocateLoadBalancerNodePorts" keep,
        load_balancer_class: "loadBalancerClass" keep,
        internal_traffic_policy: "internalTrafficPolicy" keep,
        traffic_distribution: "trafficDistribution" keep,
    }
    ServiceStatus {
        load_balancer: "loadBalancer",
        conditions: "conditions",
    }
    ObjectReference {
        kind: "kind",
        namespace: "namespace",
        name: "name",
        uid: "uid",
        api_version: "apiVersion",
        resource_version: "resourceVersion",
        field_path: "fieldPath",
    }
    EventSource {
        component: "component",
        host: "host",
    }
    EventSeries {
        count: "count",
        last_observed_time: "lastObservedTime",
    }
    NamespaceCondition {
        r#type: "type" keep,
        status: "status" keep,
        last_transition_time: "lastTransitionTime",
        reason: "reason",
        message: "message",
    }
    ServicePort {
        name: "name",
        protocol: "protocol",
        app_protocol: "appProtocol" keep,
        port: "port" keep,
        target_port: "targetPort",
        node_port: "nodePort",
    }
    SessionAffinityConfig {
        client_ip: "clientIP",
    }
    LoadBalancerStatus {
        ingress: "ingress",
    }
    PodTemplateSpec {
        metadata: "metadata",
        spec: "spec",
    }
    ClientIpConfig {
        timeout_seconds: "timeoutSeconds" keep,
    }
    LoadBalancerIngress {
        ip: "ip",
        hostname: "hostname",
        ip_mode: "ipMode" keep,
        ports: "ports",
    }
    PortStatus {
        port: "port" keep,
        protocol: "protocol" keep,
        error: "error" keep,
    }
}
