//! Core v1 containers: ports, environment, resources, probes, lifecycle hooks and security
//! contexts.
//!
//! Generated once from k8s-pb's messages and the Go API types of Kubernetes 1.36 (joined by
//! protobuf field number), then kept by hand: see `json.rs` for what each entry means.

use k8s_pb::api::core::v1::*;

use super::json::go_json;

go_json! {
    Container {
        name: "name" keep,
        image: "image",
        command: "command",
        args: "args",
        working_dir: "workingDir",
        ports: "ports",
        env_from: "envFrom",
        env: "env",
        resources: "resources",
        resize_policy: "resizePolicy",
        restart_policy: "restartPolicy" keep,
        restart_policy_rules: "restartPolicyRules",
        volume_mounts: "volumeMounts",
        volume_devices: "volumeDevices",
        liveness_probe: "livenessProbe",
        readiness_probe: "readinessProbe",
        startup_probe: "startupProbe",
        lifecycle: "lifecycle",
        termination_message_path: "terminationMessagePath",
        termination_message_policy: "terminationMessagePolicy",
        image_pull_policy: "imagePullPolicy",
        security_context: "securityContext",
        stdin: "stdin",
        stdin_once: "stdinOnce",
        tty: "tty",
    }
    EphemeralContainer {
        ephemeral_container_common: inline,
        target_container_name: "targetContainerName",
    }
    ResourceRequirements {
        limits: "limits",
        requests: "requests",
        claims: "claims",
    }
    ContainerPort {
        name: "name",
        host_port: "hostPort",
        container_port: "containerPort" keep,
        protocol: "protocol",
        host_ip: "hostIP",
    }
    EnvFromSource {
        prefix: "prefix",
        config_map_ref: "configMapRef",
        secret_ref: "secretRef",
    }
    EnvVar {
        name: "name" keep,
        value: "value",
        value_from: "valueFrom",
    }
    ContainerResizePolicy {
        resource_name: "resourceName" keep,
        restart_policy: "restartPolicy" keep,
    }
    ContainerRestartRule {
        action: "action",
        exit_codes: "exitCodes",
    }
    VolumeMount {
        name: "name" keep,
        read_only: "readOnly",
        recursive_read_only: "recursiveReadOnly" keep,
        mount_path: "mountPath" keep,
        sub_path: "subPath",
        mount_propagation: "mountPropagation" keep,
        sub_path_expr: "subPathExpr",
    }
    VolumeDevice {
        name: "name" keep,
        device_path: "devicePath" keep,
    }
    Probe {
        handler: inline,
        initial_delay_seconds: "initialDelaySeconds",
        timeout_seconds: "timeoutSeconds",
        period_seconds: "periodSeconds",
        success_threshold: "successThreshold",
        failure_threshold: "failureThreshold",
        termination_grace_period_seconds: "terminationGracePeriodSeconds" keep,
    }
    Lifecycle {
        post_start: "postStart",
        pre_stop: "preStop",
        stop_signal: "stopSignal" keep,
    }
    SecurityContext {
        capabilities: "capabilities",
        privileged: "privileged" keep,
        se_linux_options: "seLinuxOptions",
        windows_options: "windowsOptions",
        run_as_user: "runAsUser" keep,
        run_as_group: "runAsGroup" keep,
        run_as_non_root: "runAsNonRoot" keep,
        read_only_root_filesystem: "readOnlyRootFilesystem" keep,
        allow_privilege_escalation: "allowPrivilegeEscalation" keep,
        proc_mount: "procMount" keep,
        seccomp_profile: "seccompProfile",
        app_armor_profile: "appArmorProfile",
    }
    EphemeralContainerCommon {
        name: "name" keep,
        image: "image",
        command: "command",
        args: "args",
        working_dir: "workingDir",
        ports: "ports",
        env_from: "envFrom",
        env: "env",
        resources: "resources",
        resize_policy: "resizePolicy",
        restart_policy: "restartPolicy" keep,
        restart_policy_rules: "restartPolicyRules",
        volume_mounts: "volumeMounts",
        volume_devices: "volumeDevices",
        liveness_probe: "livenessProbe",
        readiness_probe: "readinessProbe",
        startup_probe: "startupProbe",
        lifecycle: "lifecycle",
        termination_message_path: "terminationMessagePath",
        termination_message_policy: "terminationMessagePolicy",
        image_pull_policy: "imagePullPolicy",
        security_context: "securityContext",
        stdin: "stdin",
        stdin_once: "stdinOnce",
        tty: "tty",
    }
    SeLinuxOptions {
        user: "user",
        role: "role",
        r#type: "type",
        level: "level",
    }
    WindowsSecurityContextOptions {
        gmsa_credential_spec_name: "gmsaCredentialSpecName" keep,
        gmsa_credential_spec: "gmsaCredentialSpec" keep,
        run_as_user_name: "runAsUserName" keep,
        host_process: "hostProcess" keep,
    }
    SeccompProfile {
        r#type: "type" keep,
        localhost_profile: "localhostProfile" keep,
    }
    AppArmorProfile {
        r#type: "type" keep,
        localhost_profile: "localhostProfile" keep,
    }
    ResourceClaim {
        name: "name" keep,
        request: "request",
    }
    ConfigMapEnvSource {
        local_object_reference: inline,
        optional: "optional" keep,
    }
    SecretEnvSource {
        local_object_reference: inline,
        optional: "optional" keep,
    }
    EnvVarSource {
        field_ref: "fieldRef",
        resource_field_ref: "resourceFieldRef",
        config_map_key_ref: "configMapKeyRef",
        secret_key_ref: "secretKeyRef",
        file_key_ref: "fileKeyRef",
    }
    ContainerRestartRuleOnExitCodes {
        operator: "operator",
        values: "values",
    }
    ProbeHandler {
        exec: "exec",
        http_get: "httpGet",
        tcp_socket: "tcpSocket",
        grpc: "grpc",
    }
    LifecycleHandler {
        exec: "exec",
        http_get: "httpGet",
        tcp_socket: "tcpSocket",
        sleep: "sleep",
    }
    Capabilities {
        add: "add",
        drop: "drop",
    }
    ConfigMapKeySelector {
        local_object_reference: inline,
        key: "key" keep,
        optional: "optional" keep,
    }
    SecretKeySelector {
        local_object_reference: inline,
        key: "key" keep,
        optional: "optional" keep,
    }
    FileKeySelector {
        volume_name: "volumeName" keep,
        path: "path" keep,
        key: "key" keep,
        optional: "optional" keep,
    }
    ExecAction {
        command: "command",
    }
    HttpGetAction {
        path: "path",
        port: "port",
        host: "host",
        scheme: "scheme",
        http_headers: "httpHeaders",
    }
    TcpSocketAction {
        port: "port",
        host: "host",
    }
    GrpcAction {
        port: "port" keep,
        service: "service" keep,
    }
    SleepAction {
        seconds: "seconds" keep,
    }
    HttpHeader {
        name: "name" keep,
        value: "value" keep,
    }
}
