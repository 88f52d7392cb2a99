//! Core v1 volumes and their sources.
//!
//! Generated once from k8s-pb's messages and the Go API types of Kubernetes 1.36 (joined by
//! protobuf field number), then kept by hand: see `json.rs` for what each entry means.

use k8s_pb::api::core::v1::*;

use super::json::go_json;

go_json! {
    LocalObjectReference {
        name: "name",
    }
    Volume {
        name: "name" keep,
        volume_source: inline,
    }
    VolumeSource {
        host_path: "hostPath",
        empty_dir: "emptyDir",
        gce_persistent_disk: "gcePersistentDisk",
        aws_elastic_block_store: "awsElasticBlockStore",
        git_repo: "gitRepo",
        secret: "secret",
        nfs: "nfs",
        iscsi: "iscsi",
        glusterfs: "glusterfs",
        persistent_volume_claim: "persistentVolumeClaim",
        rbd: "rbd",
        flex_volume: "flexVolume",
        cinder: "cinder",
        cephfs: "cephfs",
        flocker: "flocker",
        downward_api: "downwardAPI",
        fc: "fc",
        azure_file: "azureFile",
        config_map: "configMap",
        vsphere_volume: "vsphereVolume",
        quobyte: "quobyte",
        azure_disk: "azureDisk",
        photon_persistent_disk: "photonPersistentDisk",
        projected: "projected",
        portworx_volume: "portworxVolume",
        scale_io: "scaleIO",
        storageos: "storageos",
        csi: "csi",
        ephemeral: "ephemeral",
        image: "image",
    }
    HostPathVolumeSource {
        path: "path" keep,
        r#type: "type" keep,
    }
    EmptyDirVolumeSource {
        medium: "medium",
        size_limit: "sizeLimit",
    }
    GcePersistentDiskVolumeSource {
        pd_name: "pdName" keep,
        fs_type: "fsType",
        partition: "partition",
        read_only: "readOnly",
    }
    AwsElasticBlockStoreVolumeSource {
        volume_id: "volumeID" keep,
        fs_type: "fsType",
        partition: "partition",
        read_only: "readOnly",
    }
    GitRepoVolumeSource {
        repository: "repository" keep,
        revision: "revision",
        directory: "directory",
    }
    SecretVolumeSource {
        secret_name: "secretName",
        items: "items",
        default_mode: "defaultMode" keep,
        optional: "optional" keep,
    }
    NfsVolumeSource {
        server: "server" keep,
        path: "path" keep,
        read_only: "readOnly",
    }
    IscsiVolumeSource {
        target_portal: "targetPortal" keep,
        iqn: "iqn" keep,
        lun: "lun" keep,
        iscsi_interface: "iscsiInterface",
        fs_type: "fsType",
        read_only: "readOnly",
        portals: "portals",
        chap_auth_discovery: "chapAuthDiscovery",
        chap_auth_session: "chapAuthSession",
        secret_ref: "secretRef",
        initiator_name: "initiatorName" keep,
    }
    GlusterfsVolumeSource {
        endpoints: "endpoints" keep,
        path: "path" keep,
        read_only: "readOnly",
    }
    PersistentVolumeClaimVolumeSource {
        claim_name: "claimName" keep,
        read_only: "readOnly",
    }
    RbdVolumeSource {
        monitors: "monitors",
        image: "image" keep,
        fs_type: "fsType",
        pool: "pool",
        user: "user",
        keyring: "keyring",
        secret_ref: "secretRef",
        read_only: "readOnly",
    }
    FlexVolumeSource {
        driver: "driver" keep,
        fs_type: "fsType",
        secret_ref: "secretRef",
        read_only: "readOnly",
        options: "options",
    }
    CinderVolumeSource {
        volume_id: "volumeID" keep,
        fs_type: "fsType",
        read_only: "readOnly",
        secret_ref: "secretRef",
    }
    CephFsVolumeSource {
        monitors: "monitors",
        path: "path",
        user: "user",
        secret_file: "secretFile",
        secret_ref: "secretRef",
        read_only: "readOnly",
    }
    FlockerVolumeSource {
        dataset_name: "datasetName",
        dataset_uuid: "datasetUUID",
    }
    DownwardAPIVolumeSource {
        items: "items",
        default_mode: "defaultMode" keep,
    }
    FcVolumeSource {
        target_ww_ns: "targetWWNs",
        lun: "lun" keep,
        fs_type: "fsType",
        read_only: "readOnly",
        wwids: "wwids",
    }
    AzureFileVolumeSource {
        secret_name: "secretName" keep,
        share_name: "shareName" keep,
        read_only: "readOnly",
    }
    ConfigMapVolumeSource {
        local_object_reference: inline,
        items: "items",
        default_mode: "defaultMode" keep,
        optional: "optional" keep,
    }
    VsphereVirtualDiskVolumeSource {
        volume_path: "volumePath" keep,
        fs_type: "fsType",
        storage_policy_name: "storagePolicyName",
        storage_policy_id: "storagePolicyID",
    }
    QuobyteVolumeSource {
        registry: "registry" keep,
        volume: "volume" keep,
        read_only: "readOnly",
        user: "user",
        group: "group",
        tenant: "tenant",
    }
    AzureDiskVolumeSource {
        disk_name: "diskName" keep,
        disk_uri: "diskURI" keep,
        caching_mode: "cachingMode" keep,
        fs_type: "fsType" keep,
        read_only: "readOnly" keep,
        kind: "kind" keep,
    }
    PhotonPersistentDiskVolumeSource {
        pd_id: "pdID" keep,
        fs_type: "fsType",
    }
    ProjectedVolumeSource {
        sources: "sources",
        default_mode: "defaultMode" keep,
    }
    PortworxVolumeSource {
        volume_id: "volumeID" keep,
        fs_type: "fsType",
        read_only: "readOnly",
    }
    ScaleIoVolumeSource {
        gateway: "gateway" keep,
        system: "system" keep,
        secret_ref: "secretRef",
        ssl_enabled: "sslEnabled",
        protection_domain: "protectionDomain",
        storage_pool: "storagePool",
        storage_mode: "storageMode",
        volume_name: "volumeName",
        fs_type: "fsType",
        read_only: "readOnly",
    }
    StorageOsVolumeSource {
        volume_name: "volumeName",
        volume_namespace: "volumeNamespace",
        fs_type: "fsType",
        read_only: "readOnly",
        secret_ref: "secretRef",
    }
    CSIVolumeSource {
        driver: "driver" keep,
        read_only: "readOnly" keep,
        fs_type: "fsType" keep,
        volume_attributes: "volumeAttributes",
        node_publish_secret_ref: "nodePublishSecretRef",
    }
    EphemeralVolumeSource {
        volume_claim_template: "volumeClaimTemplate",
    }
    ImageVolumeSource {
        reference: "reference",
        pull_policy: "pullPolicy",
    }
    KeyToPath {
        key: "key" keep,
        path: "path" keep,
        mode: "mode" keep,
    }
    DownwardAPIVolumeFile {
        path: "path" keep,
        field_ref: "fieldRef",
        resource_field_ref: "resourceFieldRef",
        mode: "mode" keep,
    }
    VolumeProjection {
        secret: "secret",
        downward_api: "downwardAPI",
        config_map: "configMap",
        service_account_token: "serviceAccountToken",
        cluster_trust_bundle: "clusterTrustBundle",
        pod_certificate: "podCertificate",
    }
    PersistentVolumeClaimTemplate {
        metadata: "metadata",
        spec: "spec",
    }
    ObjectFieldSelector {
        api_version: "apiVersion",
        field_path: "fieldPath" keep,
    }
    ResourceFieldSelector {
        container_name: "containerName",
        resource: "resource" keep,
        divisor: "divisor",
    }
    SecretProjection {
        local_object_reference: inline,
        items: "items",
        optional: "optional" keep,
    }
    DownwardAPIProjection {
        items: "items",
    }
    ConfigMapProjection {
        local_object_reference: inline,
        items: "items",
        optional: "optional" keep,
    }
    ServiceAccountTokenProjection {
        audience: "audience",
        expiration_seconds: "expirationSeconds" keep,
        path: "path" keep,
    }
    ClusterTrustBundleProjection {
        name: "name" keep,
        signer_name: "signerName" keep,
        label_selector: "labelSelector",
        optional: "optional" keep,
        path: "path" keep,
    }
    PodCertificateProjection {
        signer_name: "signerName",
        key_type: "keyType",
        max_expiration_seconds: "maxExpirationSeconds" keep,
        credential_bundle_path: "credentialBundlePath",
        key_path: "keyPath",
        certificate_chain_path: "certificateChainPath",
        user_annotations: "userAnnotations",
    }
    PersistentVolumeClaimSpec {
        access_modes: "accessModes",
        selector: "selector",
        resources: "resources",
        volume_name: "volumeName",
        storage_class_name: "storageClassName" keep,
        volume_mode: "volumeMode" keep,
        data_source: "dataSource",
        data_source_ref: "dataSourceRef",
        volume_attributes_class_name: "volumeAttributesClassName" keep,
    }
    VolumeResourceRequirements {
        limits: "limits",
        requests: "requests",
    }
    TypedLocalObjectReference {
        api_group: "apiGroup" keep,
        kind: "kind" keep,
        name: "name" keep,
    }
    TypedObjectReference {
        api_group: "apiGroup" keep,
        kind: "kind" keep,
        name: "name" keep,
        namespace: "namespace" keep,
    }
}
