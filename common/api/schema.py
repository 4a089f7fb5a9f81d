"""The declarative schema of every kind kubelab serves: field names, JSON types, patch semantics, protobuf numbers.

It mirrors the Go structs of upstream Kubernetes 1.36 (k8s.io/api, k8s.io/apimachinery meta/v1) field by field,
with their `patchStrategy`/`patchMergeKey`/`protobuf` struct tags, so that the apiserver can

* refuse or report unknown fields as upstream's strict decoder does (`check`, first list),
* refuse wrong JSON types with the decoder's own words (`check`, second list),
* give strategic merge patch its list semantics (`schema_for` → `Node.child`, `.merge_key`, `.patch_strategy`), and
* read the protobuf bodies kubectl's generators send (apiserver/protobuf.py: `.pb`, `.inline`, `.pointer`,
  `.omit_empty`).

Reading the schema: `struct(go_type, *embedded, **fields)` is a Go struct (embedded structs are flattened in, as
Go's JSON decoder does), `list_of(item, merge_key=...)` a slice, `set_of(scalar)` a slice of scalars with the
"merge" strategy, `map_of(value)` a map with string keys, and the capitalised constants are scalars.
`field=NODE@N` says the field is number N in upstream's generated.proto; an embedded struct without a number
(TYPE_META) is not in the protobuf form.  Scalar fields say how Go's JSON encoder treats their zero value:
plain ones have omitempty (zero is left out), `ptr(...)` ones are Go pointers (zero is a value, unset is absent)
and `always(...)` ones lack omitempty (zero is printed).
`null` is accepted everywhere: it means "unset".  Only `metadata.managedFields[].fieldsV1` is free-form (ANY),
as upstream keeps it as raw JSON too; everything else is typed down to its scalars.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..memo import remember_short


class Kind(StrEnum):
    """What JSON a schema node accepts."""
    STRUCT = "struct"                # an object with known fields
    LIST = "list"                    # an array
    MAP = "map"                      # an object with any string keys
    ANY = "any"                      # anything: free-form, never checked below
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    INT_OR_STRING = "int-or-string"  # a string, or a number that fits int32
    QUANTITY = "quantity"            # resource.Quantity: "500m", "1Gi", or a bare number
    DATE_TIME = "date-time"          # an RFC 3339 string
    BYTE = "byte"                    # a standard, padded base64 string


# The Python types a JSON value of a scalar kind may have without any further check (exact types: bool is no
# number, str subclasses take the long way).
_PLAIN_TYPES = {Kind.STRING: (str,), Kind.BOOLEAN: (bool,), Kind.NUMBER: (int, float), Kind.INT_OR_STRING: (str,)}


@dataclass(eq=False)
class Node:
    """One node of the schema: a Go type as seen through its JSON encoding.

    kind            the Kind of JSON it accepts.
    go_type         the Go type upstream decodes into, spelled as its decode errors print it
                    ("int32", "v1.Protocol", "[]v1.Container", "map[string]string").
    fields          struct: JSON field name → Node, embedded (inline) structs already flattened in.
    item            list: the Node of every element.
    value           map: the Node of every value (keys are always strings).
    merge_key       list: upstream's `patchMergeKey`, the element field that identifies an element in a strategic
                    merge patch ("" when the list has none).
    patch_strategy  upstream's `patchStrategy` tag of the field holding this node: "", "merge", "replace",
                    "retainKeys" or "merge,retainKeys".  A list without "merge" is replaced whole by a patch.
    bits            integer: 32 or 64.
    inline          struct: the embedded structs flattened into `fields`, in declaration order; protobuf keeps
                    each as one nested message field (its `pb`), or leaves it out (TypeMeta, pb 0).
    pb              the protobuf field number of the field holding this node (upstream's `protobuf:"…,N,…"`
                    tag); 0 where protobuf does not carry it.
    pointer         scalar field: a Go pointer (*int32, *string): set to its zero value differs from unset.
    omit_empty      scalar field: its json tag says omitempty, so JSON leaves out the zero value.  Structs, lists
                    and maps are carried whenever set, whatever their tags.
    """
    kind: Kind
    go_type: str
    fields: dict[str, Node] = field(default_factory=dict)
    item: Node | None = None
    value: Node | None = None
    merge_key: str = ""
    patch_strategy: str = ""
    bits: int = 0
    inline: tuple[Node, ...] = ()
    pb: int = 0
    pointer: bool = False
    omit_empty: bool = True

    def __post_init__(self) -> None:
        # Derived once for check()'s walk: the Python types that need no check beyond their type.
        self.plain_types: tuple[type, ...] = _PLAIN_TYPES.get(self.kind, ())

    def child(self, key: str) -> Node | None:
        """The node of one key of a JSON object described by this node (None when unknown or free-form)."""
        if self.kind == Kind.STRUCT:
            return self.fields.get(key)
        if self.kind == Kind.MAP:
            return self.value
        return None

    def __matmul__(self, number: int) -> Node:
        """`node @ N`: the same node in a field whose protobuf field number is N."""
        return replace(self, pb=number)

    @property
    def struct_name(self) -> str:
        """The bare Go type name ("DeploymentSpec"), as decode errors name the struct holding a field."""
        return self.go_type.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"Node({self.kind} {self.go_type})"


# --- the DSL -------------------------------------------------------------------------------------------------

def struct(go_type: str, /, *embedded: Node, **fields: Node) -> Node:
    """A Go struct; `embedded` are inline (anonymous) structs whose fields Go's decoder promotes."""
    merged: dict[str, Node] = {}
    for inline in embedded:
        merged.update(inline.fields)
    merged.update(fields)
    return Node(Kind.STRUCT, go_type, fields=merged, inline=embedded)


def list_of(item: Node, merge_key: str = "", *, retain_keys: bool = False) -> Node:
    """A slice.  A merge key gives it upstream's "merge" strategy: patches merge elements by that key."""
    strategy = "merge" if merge_key else ""
    if retain_keys:
        strategy = f"{strategy},retainKeys" if strategy else "retainKeys"
    return Node(Kind.LIST, "[]" + item.go_type, item=item, merge_key=merge_key, patch_strategy=strategy)


def set_of(item: Node) -> Node:
    """A slice of scalars with the "merge" strategy: a patch adds to it (union) instead of replacing it."""
    return Node(Kind.LIST, "[]" + item.go_type, item=item, patch_strategy="merge")


def map_of(value: Node, go_type: str = "") -> Node:
    """A map with string keys; go_type names a named map type (v1.ResourceList)."""
    return Node(Kind.MAP, go_type or f"map[string]{value.go_type}", value=value)


def retain_keys(node: Node) -> Node:
    """The same struct in a field tagged patchStrategy=retainKeys (kubectl then sends `$retainKeys`)."""
    return replace(node, patch_strategy="retainKeys")


def ptr(scalar: Node) -> Node:
    """A pointer scalar field (*int32, *bool, *string): present when set, even to its zero value."""
    return replace(scalar, pointer=True)


def always(scalar: Node) -> Node:
    """A value scalar field whose json tag lacks omitempty: JSON always carries it, zero value included."""
    return replace(scalar, omit_empty=False)


def named(go_type: str) -> Node:
    """A named Go string type ("v1.Protocol"): a JSON string that decode errors call by its Go name."""
    return Node(Kind.STRING, go_type)


STRING = Node(Kind.STRING, "string")
BOOLEAN = Node(Kind.BOOLEAN, "bool")
INT32 = Node(Kind.INTEGER, "int32", bits=32)
INT64 = Node(Kind.INTEGER, "int64", bits=64)
FLOAT64 = Node(Kind.NUMBER, "float64")
INT_OR_STRING = Node(Kind.INT_OR_STRING, "intstr.IntOrString")
QUANTITY = Node(Kind.QUANTITY, "resource.Quantity")
TIME = Node(Kind.DATE_TIME, "v1.Time")            # second precision
MICRO_TIME = Node(Kind.DATE_TIME, "v1.MicroTime")  # exactly six fractional digits
BYTES = Node(Kind.BYTE, "[]uint8")
ANY = Node(Kind.ANY, "interface {}")
RESOURCE_LIST = map_of(QUANTITY, go_type="v1.ResourceList")
UID = named("types.UID")
CONDITION_STATUS = named("v1.ConditionStatus")
PROTOCOL = named("v1.Protocol")
PULL_POLICY = named("v1.PullPolicy")
RESOURCE_NAME = named("v1.ResourceName")

# The TypeMeta every top-level object embeds: apiVersion and kind are known fields of every kind.
TYPE_META = struct("v1.TypeMeta", apiVersion=STRING@2, kind=STRING@1)


# --- meta/v1: object metadata ----------------------------------------------------------------------------------

OwnerReference = struct("v1.OwnerReference", apiVersion=always(STRING)@5, kind=always(STRING)@1,
    name=always(STRING)@3, uid=always(UID)@4, controller=ptr(BOOLEAN)@6, blockOwnerDeletion=ptr(BOOLEAN)@7)
ManagedFieldsEntry = struct("v1.ManagedFieldsEntry", manager=STRING@1,
    operation=named("v1.ManagedFieldsOperationType")@2, apiVersion=STRING@3, time=TIME@4, fieldsType=STRING@6,
    fieldsV1=ANY@7, subresource=STRING@8)
ObjectMeta = struct("v1.ObjectMeta", name=STRING@1, generateName=STRING@2, namespace=STRING@3, selfLink=STRING@4,
    uid=UID@5, resourceVersion=STRING@6, generation=INT64@7, creationTimestamp=TIME@8, deletionTimestamp=TIME@9,
    deletionGracePeriodSeconds=ptr(INT64)@10, labels=map_of(STRING)@11, annotations=map_of(STRING)@12,
    ownerReferences=list_of(OwnerReference, merge_key="uid")@13, finalizers=set_of(STRING)@14,
    managedFields=list_of(ManagedFieldsEntry)@17)

# --- core/v1 Namespace -----------------------------------------------------------------------------------------

NamespaceSpec = struct("v1.NamespaceSpec", finalizers=list_of(named("v1.FinalizerName"))@1)
NamespaceCondition = struct("v1.NamespaceCondition", type=always(named("v1.NamespaceConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastTransitionTime=TIME@4, reason=STRING@5, message=STRING@6)
NamespaceStatus = struct("v1.NamespaceStatus", phase=named("v1.NamespacePhase")@1,
    conditions=list_of(NamespaceCondition, merge_key="type")@2)
Namespace = struct("v1.Namespace", TYPE_META, metadata=ObjectMeta@1, spec=NamespaceSpec@2, status=NamespaceStatus@3)

# --- core/v1 Node ----------------------------------------------------------------------------------------------

Taint = struct("v1.Taint", key=always(STRING)@1, value=STRING@2, effect=always(named("v1.TaintEffect"))@3,
    timeAdded=TIME@4)
ConfigMapNodeConfigSource = struct("v1.ConfigMapNodeConfigSource", namespace=always(STRING)@1,
    name=always(STRING)@2, uid=UID@3, resourceVersion=STRING@4, kubeletConfigKey=always(STRING)@5)
NodeConfigSource = struct("v1.NodeConfigSource", configMap=ConfigMapNodeConfigSource@2)
NodeSpec = struct("v1.NodeSpec", podCIDR=STRING@1, podCIDRs=set_of(STRING)@7, providerID=STRING@3,
    unschedulable=BOOLEAN@4, taints=list_of(Taint)@5, configSource=NodeConfigSource@6, externalID=STRING@2)
NodeCondition = struct("v1.NodeCondition", type=always(named("v1.NodeConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastHeartbeatTime=TIME@3, lastTransitionTime=TIME@4, reason=STRING@5,
    message=STRING@6)
NodeAddress = struct("v1.NodeAddress", type=always(named("v1.NodeAddressType"))@1, address=always(STRING)@2)
# Capitalised on the wire: upstream kept an old, unquoted tag's name for compatibility.
DaemonEndpoint = struct("v1.DaemonEndpoint", Port=always(INT32)@1)
NodeDaemonEndpoints = struct("v1.NodeDaemonEndpoints", kubeletEndpoint=DaemonEndpoint@1)
NodeSwapStatus = struct("v1.NodeSwapStatus", capacity=ptr(INT64)@1)
NodeSystemInfo = struct("v1.NodeSystemInfo", machineID=always(STRING)@1, systemUUID=always(STRING)@2,
    bootID=always(STRING)@3, kernelVersion=always(STRING)@4, osImage=always(STRING)@5,
    containerRuntimeVersion=always(STRING)@6, kubeletVersion=always(STRING)@7, kubeProxyVersion=always(STRING)@8,
    operatingSystem=always(STRING)@9, architecture=always(STRING)@10, swap=NodeSwapStatus@11)
ContainerImage = struct("v1.ContainerImage", names=list_of(STRING)@1, sizeBytes=INT64@2)
AttachedVolume = struct("v1.AttachedVolume", name=always(named("v1.UniqueVolumeName"))@1,
    devicePath=always(STRING)@2)
NodeConfigStatus = struct("v1.NodeConfigStatus", assigned=NodeConfigSource@1, active=NodeConfigSource@2,
    lastKnownGood=NodeConfigSource@3, error=STRING@4)
NodeRuntimeHandlerFeatures = struct("v1.NodeRuntimeHandlerFeatures", recursiveReadOnlyMounts=ptr(BOOLEAN)@1,
    userNamespaces=ptr(BOOLEAN)@2)
NodeRuntimeHandler = struct("v1.NodeRuntimeHandler", name=always(STRING)@1, features=NodeRuntimeHandlerFeatures@2)
NodeFeatures = struct("v1.NodeFeatures", supplementalGroupsPolicy=ptr(BOOLEAN)@1)
NodeStatus = struct("v1.NodeStatus", capacity=RESOURCE_LIST@1, allocatable=RESOURCE_LIST@2,
    phase=named("v1.NodePhase")@3, conditions=list_of(NodeCondition, merge_key="type")@4,
    addresses=list_of(NodeAddress, merge_key="type")@5, daemonEndpoints=NodeDaemonEndpoints@6,
    nodeInfo=NodeSystemInfo@7, images=list_of(ContainerImage)@8,
    volumesInUse=list_of(named("v1.UniqueVolumeName"))@9, volumesAttached=list_of(AttachedVolume)@10,
    config=NodeConfigStatus@11, runtimeHandlers=list_of(NodeRuntimeHandler)@12, features=NodeFeatures@13,
    declaredFeatures=list_of(STRING)@14)
# Named NodeObject here because `Node` is the schema node type of this module.
NodeObject = struct("v1.Node", TYPE_META, metadata=ObjectMeta@1, spec=NodeSpec@2, status=NodeStatus@3)

# --- core/v1 volumes (every volume source, in-tree plugins included) -------------------------------------------

HostPathVolumeSource = struct("v1.HostPathVolumeSource", path=always(STRING)@1,
    type=ptr(named("v1.HostPathType"))@2)
EmptyDirVolumeSource = struct("v1.EmptyDirVolumeSource", medium=named("v1.StorageMedium")@1, sizeLimit=QUANTITY@2)
GCEPersistentDiskVolumeSource = struct("v1.GCEPersistentDiskVolumeSource", pdName=always(STRING)@1, fsType=STRING@2,
    partition=INT32@3, readOnly=BOOLEAN@4)
AWSElasticBlockStoreVolumeSource = struct("v1.AWSElasticBlockStoreVolumeSource", volumeID=always(STRING)@1,
    fsType=STRING@2, partition=INT32@3, readOnly=BOOLEAN@4)
GitRepoVolumeSource = struct("v1.GitRepoVolumeSource", repository=always(STRING)@1, revision=STRING@2,
    directory=STRING@3)
KeyToPath = struct("v1.KeyToPath", key=always(STRING)@1, path=always(STRING)@2, mode=ptr(INT32)@3)
SecretVolumeSource = struct("v1.SecretVolumeSource", secretName=STRING@1, items=list_of(KeyToPath)@2,
    defaultMode=ptr(INT32)@3, optional=ptr(BOOLEAN)@4)
NFSVolumeSource = struct("v1.NFSVolumeSource", server=always(STRING)@1, path=always(STRING)@2, readOnly=BOOLEAN@3)
LocalObjectReference = struct("v1.LocalObjectReference", name=STRING@1)
ISCSIVolumeSource = struct("v1.ISCSIVolumeSource", targetPortal=always(STRING)@1, iqn=always(STRING)@2,
    lun=always(INT32)@3, iscsiInterface=STRING@4, fsType=STRING@5, readOnly=BOOLEAN@6, portals=list_of(STRING)@7,
    chapAuthDiscovery=BOOLEAN@8, chapAuthSession=BOOLEAN@11, secretRef=LocalObjectReference@10,
    initiatorName=ptr(STRING)@12)
GlusterfsVolumeSource = struct("v1.GlusterfsVolumeSource", endpoints=always(STRING)@1, path=always(STRING)@2,
    readOnly=BOOLEAN@3)
PersistentVolumeClaimVolumeSource = struct("v1.PersistentVolumeClaimVolumeSource", claimName=always(STRING)@1,
    readOnly=BOOLEAN@2)
RBDVolumeSource = struct("v1.RBDVolumeSource", monitors=list_of(STRING)@1, image=always(STRING)@2, fsType=STRING@3,
    pool=STRING@4, user=STRING@5, keyring=STRING@6, secretRef=LocalObjectReference@7, readOnly=BOOLEAN@8)
FlexVolumeSource = struct("v1.FlexVolumeSource", driver=always(STRING)@1, fsType=STRING@2,
    secretRef=LocalObjectReference@3, readOnly=BOOLEAN@4, options=map_of(STRING)@5)
CinderVolumeSource = struct("v1.CinderVolumeSource", volumeID=always(STRING)@1, fsType=STRING@2, readOnly=BOOLEAN@3,
    secretRef=LocalObjectReference@4)
CephFSVolumeSource = struct("v1.CephFSVolumeSource", monitors=list_of(STRING)@1, path=STRING@2, user=STRING@3,
    secretFile=STRING@4, secretRef=LocalObjectReference@5, readOnly=BOOLEAN@6)
FlockerVolumeSource = struct("v1.FlockerVolumeSource", datasetName=STRING@1, datasetUUID=STRING@2)
ObjectFieldSelector = struct("v1.ObjectFieldSelector", apiVersion=STRING@1, fieldPath=always(STRING)@2)
ResourceFieldSelector = struct("v1.ResourceFieldSelector", containerName=STRING@1, resource=always(STRING)@2,
    divisor=QUANTITY@3)
DownwardAPIVolumeFile = struct("v1.DownwardAPIVolumeFile", path=always(STRING)@1, fieldRef=ObjectFieldSelector@2,
    resourceFieldRef=ResourceFieldSelector@3, mode=ptr(INT32)@4)
DownwardAPIVolumeSource = struct("v1.DownwardAPIVolumeSource", items=list_of(DownwardAPIVolumeFile)@1,
    defaultMode=ptr(INT32)@2)
FCVolumeSource = struct("v1.FCVolumeSource", targetWWNs=list_of(STRING)@1, lun=ptr(INT32)@2, fsType=STRING@3,
    readOnly=BOOLEAN@4, wwids=list_of(STRING)@5)
AzureFileVolumeSource = struct("v1.AzureFileVolumeSource", secretName=always(STRING)@1, shareName=always(STRING)@2,
    readOnly=BOOLEAN@3)
ConfigMapVolumeSource = struct("v1.ConfigMapVolumeSource", LocalObjectReference@1, items=list_of(KeyToPath)@2,
    defaultMode=ptr(INT32)@3, optional=ptr(BOOLEAN)@4)
VsphereVirtualDiskVolumeSource = struct("v1.VsphereVirtualDiskVolumeSource", volumePath=always(STRING)@1,
    fsType=STRING@2, storagePolicyName=STRING@3, storagePolicyID=STRING@4)
QuobyteVolumeSource = struct("v1.QuobyteVolumeSource", registry=always(STRING)@1, volume=always(STRING)@2,
    readOnly=BOOLEAN@3, user=STRING@4, group=STRING@5, tenant=STRING@6)
AzureDiskVolumeSource = struct("v1.AzureDiskVolumeSource", diskName=always(STRING)@1, diskURI=always(STRING)@2,
    cachingMode=ptr(named("v1.AzureDataDiskCachingMode"))@3, fsType=ptr(STRING)@4, readOnly=ptr(BOOLEAN)@5,
    kind=ptr(named("v1.AzureDataDiskKind"))@6)
PhotonPersistentDiskVolumeSource = struct("v1.PhotonPersistentDiskVolumeSource", pdID=always(STRING)@1,
    fsType=STRING@2)
SecretProjection = struct("v1.SecretProjection", LocalObjectReference@1, items=list_of(KeyToPath)@2,
    optional=ptr(BOOLEAN)@4)
DownwardAPIProjection = struct("v1.DownwardAPIProjection", items=list_of(DownwardAPIVolumeFile)@1)
ConfigMapProjection = struct("v1.ConfigMapProjection", LocalObjectReference@1, items=list_of(KeyToPath)@2,
    optional=ptr(BOOLEAN)@4)
ServiceAccountTokenProjection = struct("v1.ServiceAccountTokenProjection", audience=STRING@1,
    expirationSeconds=ptr(INT64)@2, path=always(STRING)@3)
LabelSelectorRequirement = struct("v1.LabelSelectorRequirement", key=always(STRING)@1,
    operator=always(named("v1.LabelSelectorOperator"))@2, values=list_of(STRING)@3)
LabelSelector = struct("v1.LabelSelector", matchLabels=map_of(STRING)@1,
    matchExpressions=list_of(LabelSelectorRequirement)@2)
ClusterTrustBundleProjection = struct("v1.ClusterTrustBundleProjection", name=ptr(STRING)@1,
    signerName=ptr(STRING)@2, labelSelector=LabelSelector@3, optional=ptr(BOOLEAN)@5, path=always(STRING)@4)
PodCertificateProjection = struct("v1.PodCertificateProjection", signerName=STRING@1, keyType=STRING@2,
    maxExpirationSeconds=ptr(INT32)@3, credentialBundlePath=STRING@4, keyPath=STRING@5,
    certificateChainPath=STRING@6, userAnnotations=map_of(STRING)@7)
VolumeProjection = struct("v1.VolumeProjection", secret=SecretProjection@1, downwardAPI=DownwardAPIProjection@2,
    configMap=ConfigMapProjection@3, serviceAccountToken=ServiceAccountTokenProjection@4,
    clusterTrustBundle=ClusterTrustBundleProjection@5, podCertificate=PodCertificateProjection@6)
ProjectedVolumeSource = struct("v1.ProjectedVolumeSource", sources=list_of(VolumeProjection)@1,
    defaultMode=ptr(INT32)@2)
PortworxVolumeSource = struct("v1.PortworxVolumeSource", volumeID=always(STRING)@1, fsType=STRING@2,
    readOnly=BOOLEAN@3)
ScaleIOVolumeSource = struct("v1.ScaleIOVolumeSource", gateway=always(STRING)@1, system=always(STRING)@2,
    secretRef=LocalObjectReference@3, sslEnabled=BOOLEAN@4, protectionDomain=STRING@5, storagePool=STRING@6,
    storageMode=STRING@7, volumeName=STRING@8, fsType=STRING@9, readOnly=BOOLEAN@10)
StorageOSVolumeSource = struct("v1.StorageOSVolumeSource", volumeName=STRING@1, volumeNamespace=STRING@2,
    fsType=STRING@3, readOnly=BOOLEAN@4, secretRef=LocalObjectReference@5)
CSIVolumeSource = struct("v1.CSIVolumeSource", driver=always(STRING)@1, readOnly=ptr(BOOLEAN)@2,
    fsType=ptr(STRING)@3, volumeAttributes=map_of(STRING)@4, nodePublishSecretRef=LocalObjectReference@5)
VolumeResourceRequirements = struct("v1.VolumeResourceRequirements", limits=RESOURCE_LIST@1,
    requests=RESOURCE_LIST@2)
TypedLocalObjectReference = struct("v1.TypedLocalObjectReference", apiGroup=ptr(STRING)@1, kind=always(STRING)@2,
    name=always(STRING)@3)
TypedObjectReference = struct("v1.TypedObjectReference", apiGroup=ptr(STRING)@1, kind=always(STRING)@2,
    name=always(STRING)@3, namespace=ptr(STRING)@4)
PersistentVolumeClaimSpec = struct("v1.PersistentVolumeClaimSpec",
    accessModes=list_of(named("v1.PersistentVolumeAccessMode"))@1, selector=LabelSelector@4,
    resources=VolumeResourceRequirements@2, volumeName=STRING@3, storageClassName=ptr(STRING)@5,
    volumeMode=ptr(named("v1.PersistentVolumeMode"))@6, dataSource=TypedLocalObjectReference@7,
    dataSourceRef=TypedObjectReference@8, volumeAttributesClassName=ptr(STRING)@9)
PersistentVolumeClaimTemplate = struct("v1.PersistentVolumeClaimTemplate", metadata=ObjectMeta@1,
    spec=PersistentVolumeClaimSpec@2)
EphemeralVolumeSource = struct("v1.EphemeralVolumeSource", volumeClaimTemplate=PersistentVolumeClaimTemplate@1)
ImageVolumeSource = struct("v1.ImageVolumeSource", reference=STRING@1, pullPolicy=PULL_POLICY@2)
VolumeSource = struct("v1.VolumeSource", hostPath=HostPathVolumeSource@1, emptyDir=EmptyDirVolumeSource@2,
    gcePersistentDisk=GCEPersistentDiskVolumeSource@3, awsElasticBlockStore=AWSElasticBlockStoreVolumeSource@4,
    gitRepo=GitRepoVolumeSource@5, secret=SecretVolumeSource@6, nfs=NFSVolumeSource@7, iscsi=ISCSIVolumeSource@8,
    glusterfs=GlusterfsVolumeSource@9, persistentVolumeClaim=PersistentVolumeClaimVolumeSource@10,
    rbd=RBDVolumeSource@11, flexVolume=FlexVolumeSource@12, cinder=CinderVolumeSource@13,
    cephfs=CephFSVolumeSource@14, flocker=FlockerVolumeSource@15, downwardAPI=DownwardAPIVolumeSource@16,
    fc=FCVolumeSource@17, azureFile=AzureFileVolumeSource@18, configMap=ConfigMapVolumeSource@19,
    vsphereVolume=VsphereVirtualDiskVolumeSource@20, quobyte=QuobyteVolumeSource@21,
    azureDisk=AzureDiskVolumeSource@22, photonPersistentDisk=PhotonPersistentDiskVolumeSource@23,
    projected=ProjectedVolumeSource@26, portworxVolume=PortworxVolumeSource@24, scaleIO=ScaleIOVolumeSource@25,
    storageos=StorageOSVolumeSource@27, csi=CSIVolumeSource@28, ephemeral=EphemeralVolumeSource@29,
    image=ImageVolumeSource@30)
Volume = struct("v1.Volume", VolumeSource@2, name=always(STRING)@1)

# --- core/v1 containers ----------------------------------------------------------------------------------------

ContainerPort = struct("v1.ContainerPort", name=STRING@1, hostPort=INT32@2, containerPort=always(INT32)@3,
    protocol=PROTOCOL@4, hostIP=STRING@5)
ConfigMapEnvSource = struct("v1.ConfigMapEnvSource", LocalObjectReference@1, optional=ptr(BOOLEAN)@2)
SecretEnvSource = struct("v1.SecretEnvSource", LocalObjectReference@1, optional=ptr(BOOLEAN)@2)
EnvFromSource = struct("v1.EnvFromSource", prefix=STRING@1, configMapRef=ConfigMapEnvSource@2,
    secretRef=SecretEnvSource@3)
ConfigMapKeySelector = struct("v1.ConfigMapKeySelector", LocalObjectReference@1, key=always(STRING)@2,
    optional=ptr(BOOLEAN)@3)
SecretKeySelector = struct("v1.SecretKeySelector", LocalObjectReference@1, key=always(STRING)@2,
    optional=ptr(BOOLEAN)@3)
FileKeySelector = struct("v1.FileKeySelector", volumeName=always(STRING)@1, path=always(STRING)@2,
    key=always(STRING)@3, optional=ptr(BOOLEAN)@4)
EnvVarSource = struct("v1.EnvVarSource", fieldRef=ObjectFieldSelector@1, resourceFieldRef=ResourceFieldSelector@2,
    configMapKeyRef=ConfigMapKeySelector@3, secretKeyRef=SecretKeySelector@4, fileKeyRef=FileKeySelector@5)
EnvVar = struct("v1.EnvVar", name=always(STRING)@1, value=STRING@2, valueFrom=EnvVarSource@3)
ResourceClaim = struct("v1.ResourceClaim", name=always(STRING)@1, request=STRING@2)
ResourceRequirements = struct("v1.ResourceRequirements", limits=RESOURCE_LIST@1, requests=RESOURCE_LIST@2,
    claims=list_of(ResourceClaim)@3)
ContainerResizePolicy = struct("v1.ContainerResizePolicy", resourceName=always(RESOURCE_NAME)@1,
    restartPolicy=always(named("v1.ResourceResizeRestartPolicy"))@2)
ContainerRestartRuleOnExitCodes = struct("v1.ContainerRestartRuleOnExitCodes",
    operator=named("v1.ContainerRestartRuleOnExitCodesOperator")@1, values=list_of(INT32)@2)
ContainerRestartRule = struct("v1.ContainerRestartRule", action=named("v1.ContainerRestartRuleAction")@1,
    exitCodes=ContainerRestartRuleOnExitCodes@2)
VolumeMount = struct("v1.VolumeMount", name=always(STRING)@1, readOnly=BOOLEAN@2,
    recursiveReadOnly=ptr(named("v1.RecursiveReadOnlyMode"))@7, mountPath=always(STRING)@3, subPath=STRING@4,
    mountPropagation=ptr(named("v1.MountPropagationMode"))@5, subPathExpr=STRING@6)
VolumeDevice = struct("v1.VolumeDevice", name=always(STRING)@1, devicePath=always(STRING)@2)
ExecAction = struct("v1.ExecAction", command=list_of(STRING)@1)
HTTPHeader = struct("v1.HTTPHeader", name=always(STRING)@1, value=always(STRING)@2)
HTTPGetAction = struct("v1.HTTPGetAction", path=STRING@1, port=INT_OR_STRING@2, host=STRING@3,
    scheme=named("v1.URIScheme")@4, httpHeaders=list_of(HTTPHeader)@5)
TCPSocketAction = struct("v1.TCPSocketAction", port=INT_OR_STRING@1, host=STRING@2)
GRPCAction = struct("v1.GRPCAction", port=always(INT32)@1, service=ptr(STRING)@2)
ProbeHandler = struct("v1.ProbeHandler", exec=ExecAction@1, httpGet=HTTPGetAction@2, tcpSocket=TCPSocketAction@3,
    grpc=GRPCAction@4)
Probe = struct("v1.Probe", ProbeHandler@1, initialDelaySeconds=INT32@2, timeoutSeconds=INT32@3,
    periodSeconds=INT32@4, successThreshold=INT32@5, failureThreshold=INT32@6,
    terminationGracePeriodSeconds=ptr(INT64)@7)
SleepAction = struct("v1.SleepAction", seconds=always(INT64)@1)
LifecycleHandler = struct("v1.LifecycleHandler", exec=ExecAction@1, httpGet=HTTPGetAction@2,
    tcpSocket=TCPSocketAction@3, sleep=SleepAction@4)
Lifecycle = struct("v1.Lifecycle", postStart=LifecycleHandler@1, preStop=LifecycleHandler@2,
    stopSignal=ptr(named("v1.Signal"))@3)
Capabilities = struct("v1.Capabilities", add=list_of(named("v1.Capability"))@1,
    drop=list_of(named("v1.Capability"))@2)
SELinuxOptions = struct("v1.SELinuxOptions", user=STRING@1, role=STRING@2, type=STRING@3, level=STRING@4)
WindowsSecurityContextOptions = struct("v1.WindowsSecurityContextOptions", gmsaCredentialSpecName=ptr(STRING)@1,
    gmsaCredentialSpec=ptr(STRING)@2, runAsUserName=ptr(STRING)@3, hostProcess=ptr(BOOLEAN)@4)
SeccompProfile = struct("v1.SeccompProfile", type=always(named("v1.SeccompProfileType"))@1,
    localhostProfile=ptr(STRING)@2)
AppArmorProfile = struct("v1.AppArmorProfile", type=always(named("v1.AppArmorProfileType"))@1,
    localhostProfile=ptr(STRING)@2)
SecurityContext = struct("v1.SecurityContext", capabilities=Capabilities@1, privileged=ptr(BOOLEAN)@2,
    seLinuxOptions=SELinuxOptions@3, windowsOptions=WindowsSecurityContextOptions@10, runAsUser=ptr(INT64)@4,
    runAsGroup=ptr(INT64)@8, runAsNonRoot=ptr(BOOLEAN)@5, readOnlyRootFilesystem=ptr(BOOLEAN)@6,
    allowPrivilegeEscalation=ptr(BOOLEAN)@7, procMount=ptr(named("v1.ProcMountType"))@9,
    seccompProfile=SeccompProfile@11, appArmorProfile=AppArmorProfile@12)
Container = struct("v1.Container", name=always(STRING)@1, image=STRING@2, command=list_of(STRING)@3,
    args=list_of(STRING)@4, workingDir=STRING@5, ports=list_of(ContainerPort, merge_key="containerPort")@6,
    envFrom=list_of(EnvFromSource)@19, env=list_of(EnvVar, merge_key="name")@7, resources=ResourceRequirements@8,
    resizePolicy=list_of(ContainerResizePolicy)@23, restartPolicy=ptr(named("v1.ContainerRestartPolicy"))@24,
    restartPolicyRules=list_of(ContainerRestartRule)@25, volumeMounts=list_of(VolumeMount, merge_key="mountPath")@9,
    volumeDevices=list_of(VolumeDevice, merge_key="devicePath")@21, livenessProbe=Probe@10, readinessProbe=Probe@11,
    startupProbe=Probe@22, lifecycle=Lifecycle@12, terminationMessagePath=STRING@13,
    terminationMessagePolicy=named("v1.TerminationMessagePolicy")@20, imagePullPolicy=PULL_POLICY@14,
    securityContext=SecurityContext@15, stdin=BOOLEAN@16, stdinOnce=BOOLEAN@17, tty=BOOLEAN@18)
# EphemeralContainerCommon has exactly Container's fields, protobuf numbers included (upstream keeps them in sync).
EphemeralContainerCommon = replace(Container, go_type="v1.EphemeralContainerCommon")
EphemeralContainer = struct("v1.EphemeralContainer", EphemeralContainerCommon@1, targetContainerName=STRING@2)

# --- core/v1 pod scheduling and security -----------------------------------------------------------------------

Sysctl = struct("v1.Sysctl", name=always(STRING)@1, value=always(STRING)@2)
PodSecurityContext = struct("v1.PodSecurityContext", seLinuxOptions=SELinuxOptions@1,
    windowsOptions=WindowsSecurityContextOptions@8, runAsUser=ptr(INT64)@2, runAsGroup=ptr(INT64)@6,
    runAsNonRoot=ptr(BOOLEAN)@3, supplementalGroups=list_of(INT64)@4,
    supplementalGroupsPolicy=ptr(named("v1.SupplementalGroupsPolicy"))@12, fsGroup=ptr(INT64)@5,
    sysctls=list_of(Sysctl)@7, fsGroupChangePolicy=ptr(named("v1.PodFSGroupChangePolicy"))@9,
    seccompProfile=SeccompProfile@10, appArmorProfile=AppArmorProfile@11,
    seLinuxChangePolicy=ptr(named("v1.PodSELinuxChangePolicy"))@13)
NodeSelectorRequirement = struct("v1.NodeSelectorRequirement", key=always(STRING)@1,
    operator=always(named("v1.NodeSelectorOperator"))@2, values=list_of(STRING)@3)
NodeSelectorTerm = struct("v1.NodeSelectorTerm", matchExpressions=list_of(NodeSelectorRequirement)@1,
    matchFields=list_of(NodeSelectorRequirement)@2)
NodeSelector = struct("v1.NodeSelector", nodeSelectorTerms=list_of(NodeSelectorTerm)@1)
PreferredSchedulingTerm = struct("v1.PreferredSchedulingTerm", weight=always(INT32)@1,
    preference=NodeSelectorTerm@2)
NodeAffinity = struct("v1.NodeAffinity", requiredDuringSchedulingIgnoredDuringExecution=NodeSelector@1,
    preferredDuringSchedulingIgnoredDuringExecution=list_of(PreferredSchedulingTerm)@2)
PodAffinityTerm = struct("v1.PodAffinityTerm", labelSelector=LabelSelector@1, namespaces=list_of(STRING)@2,
    topologyKey=always(STRING)@3, namespaceSelector=LabelSelector@4, matchLabelKeys=list_of(STRING)@5,
    mismatchLabelKeys=list_of(STRING)@6)
WeightedPodAffinityTerm = struct("v1.WeightedPodAffinityTerm", weight=always(INT32)@1,
    podAffinityTerm=PodAffinityTerm@2)
PodAffinity = struct("v1.PodAffinity", requiredDuringSchedulingIgnoredDuringExecution=list_of(PodAffinityTerm)@1,
    preferredDuringSchedulingIgnoredDuringExecution=list_of(WeightedPodAffinityTerm)@2)
PodAntiAffinity = struct("v1.PodAntiAffinity",
    requiredDuringSchedulingIgnoredDuringExecution=list_of(PodAffinityTerm)@1,
    preferredDuringSchedulingIgnoredDuringExecution=list_of(WeightedPodAffinityTerm)@2)
Affinity = struct("v1.Affinity", nodeAffinity=NodeAffinity@1, podAffinity=PodAffinity@2,
    podAntiAffinity=PodAntiAffinity@3)
Toleration = struct("v1.Toleration", key=STRING@1, operator=named("v1.TolerationOperator")@2, value=STRING@3,
    effect=named("v1.TaintEffect")@4, tolerationSeconds=ptr(INT64)@5)
HostAlias = struct("v1.HostAlias", ip=always(STRING)@1, hostnames=list_of(STRING)@2)
PodDNSConfigOption = struct("v1.PodDNSConfigOption", name=STRING@1, value=ptr(STRING)@2)
PodDNSConfig = struct("v1.PodDNSConfig", nameservers=list_of(STRING)@1, searches=list_of(STRING)@2,
    options=list_of(PodDNSConfigOption)@3)
PodReadinessGate = struct("v1.PodReadinessGate", conditionType=always(named("v1.PodConditionType"))@1)
TopologySpreadConstraint = struct("v1.TopologySpreadConstraint", maxSkew=always(INT32)@1,
    topologyKey=always(STRING)@2, whenUnsatisfiable=always(named("v1.UnsatisfiableConstraintAction"))@3,
    labelSelector=LabelSelector@4, minDomains=ptr(INT32)@5,
    nodeAffinityPolicy=ptr(named("v1.NodeInclusionPolicy"))@6,
    nodeTaintsPolicy=ptr(named("v1.NodeInclusionPolicy"))@7, matchLabelKeys=list_of(STRING)@8)
PodOS = struct("v1.PodOS", name=always(named("v1.OSName"))@1)
PodSchedulingGate = struct("v1.PodSchedulingGate", name=always(STRING)@1)
PodResourceClaim = struct("v1.PodResourceClaim", name=always(STRING)@1, resourceClaimName=ptr(STRING)@3,
    resourceClaimTemplateName=ptr(STRING)@4)
PodSchedulingGroup = struct("v1.PodSchedulingGroup", podGroupName=ptr(STRING)@1)
PodSpec = struct("v1.PodSpec", volumes=list_of(Volume, merge_key="name", retain_keys=True)@1,
    initContainers=list_of(Container, merge_key="name")@20, containers=list_of(Container, merge_key="name")@2,
    ephemeralContainers=list_of(EphemeralContainer, merge_key="name")@34, restartPolicy=named("v1.RestartPolicy")@3,
    terminationGracePeriodSeconds=ptr(INT64)@4, activeDeadlineSeconds=ptr(INT64)@5,
    dnsPolicy=named("v1.DNSPolicy")@6, nodeSelector=map_of(STRING)@7, serviceAccountName=STRING@8,
    serviceAccount=STRING@9, automountServiceAccountToken=ptr(BOOLEAN)@21, nodeName=STRING@10,
    hostNetwork=BOOLEAN@11, hostPID=BOOLEAN@12, hostIPC=BOOLEAN@13, shareProcessNamespace=ptr(BOOLEAN)@27,
    securityContext=PodSecurityContext@14, imagePullSecrets=list_of(LocalObjectReference, merge_key="name")@15,
    hostname=STRING@16, subdomain=STRING@17, affinity=Affinity@18, schedulerName=STRING@19,
    tolerations=list_of(Toleration)@22, hostAliases=list_of(HostAlias, merge_key="ip")@23,
    priorityClassName=STRING@24, priority=ptr(INT32)@25, dnsConfig=PodDNSConfig@26,
    readinessGates=list_of(PodReadinessGate)@28, runtimeClassName=ptr(STRING)@29,
    enableServiceLinks=ptr(BOOLEAN)@30, preemptionPolicy=ptr(named("v1.PreemptionPolicy"))@31,
    overhead=RESOURCE_LIST@32,
    topologySpreadConstraints=list_of(TopologySpreadConstraint, merge_key="topologyKey")@33,
    setHostnameAsFQDN=ptr(BOOLEAN)@35, os=PodOS@36, hostUsers=ptr(BOOLEAN)@37,
    schedulingGates=list_of(PodSchedulingGate, merge_key="name")@38,
    resourceClaims=list_of(PodResourceClaim, merge_key="name", retain_keys=True)@39,
    resources=ResourceRequirements@40, hostnameOverride=ptr(STRING)@41, schedulingGroup=PodSchedulingGroup@43)

# --- core/v1 pod status and the Pod ----------------------------------------------------------------------------

PodCondition = struct("v1.PodCondition", type=always(named("v1.PodConditionType"))@1, observedGeneration=INT64@7,
    status=always(CONDITION_STATUS)@2, lastProbeTime=TIME@3, lastTransitionTime=TIME@4, reason=STRING@5,
    message=STRING@6)
HostIP = struct("v1.HostIP", ip=always(STRING)@1)
PodIP = struct("v1.PodIP", ip=always(STRING)@1)
ContainerStateWaiting = struct("v1.ContainerStateWaiting", reason=STRING@1, message=STRING@2)
ContainerStateRunning = struct("v1.ContainerStateRunning", startedAt=TIME@1)
ContainerStateTerminated = struct("v1.ContainerStateTerminated", exitCode=always(INT32)@1, signal=INT32@2,
    reason=STRING@3, message=STRING@4, startedAt=TIME@5, finishedAt=TIME@6, containerID=STRING@7)
ContainerState = struct("v1.ContainerState", waiting=ContainerStateWaiting@1, running=ContainerStateRunning@2,
    terminated=ContainerStateTerminated@3)
ImageVolumeStatus = struct("v1.ImageVolumeStatus", imageRef=STRING@1)
VolumeStatus = struct("v1.VolumeStatus", image=ImageVolumeStatus@1)
VolumeMountStatus = struct("v1.VolumeMountStatus", name=always(STRING)@1, mountPath=always(STRING)@2,
    readOnly=BOOLEAN@3, recursiveReadOnly=ptr(named("v1.RecursiveReadOnlyMode"))@4, volumeStatus=VolumeStatus@5)
LinuxContainerUser = struct("v1.LinuxContainerUser", uid=always(INT64)@1, gid=always(INT64)@2,
    supplementalGroups=list_of(INT64)@3)
ContainerUser = struct("v1.ContainerUser", linux=LinuxContainerUser@1)
ResourceHealth = struct("v1.ResourceHealth", resourceID=always(named("v1.ResourceID"))@1,
    health=named("v1.ResourceHealthStatus")@2, message=ptr(STRING)@6)
ResourceStatus = struct("v1.ResourceStatus", name=always(RESOURCE_NAME)@1, resources=list_of(ResourceHealth)@2)
ContainerStatus = struct("v1.ContainerStatus", name=always(STRING)@1, state=ContainerState@2,
    lastState=ContainerState@3, ready=always(BOOLEAN)@4, restartCount=always(INT32)@5, image=always(STRING)@6,
    imageID=always(STRING)@7, containerID=STRING@8, started=ptr(BOOLEAN)@9, allocatedResources=RESOURCE_LIST@10,
    resources=ResourceRequirements@11, volumeMounts=list_of(VolumeMountStatus, merge_key="mountPath")@12,
    user=ContainerUser@13, allocatedResourcesStatus=list_of(ResourceStatus, merge_key="name")@14,
    stopSignal=ptr(named("v1.Signal"))@15)
PodResourceClaimStatus = struct("v1.PodResourceClaimStatus", name=always(STRING)@1, resourceClaimName=ptr(STRING)@2)
ContainerExtendedResourceRequest = struct("v1.ContainerExtendedResourceRequest", containerName=always(STRING)@1,
    resourceName=always(STRING)@2, requestName=always(STRING)@3)
PodExtendedResourceClaimStatus = struct("v1.PodExtendedResourceClaimStatus",
    requestMappings=list_of(ContainerExtendedResourceRequest)@1, resourceClaimName=always(STRING)@2)
NodeAllocatableResourceClaimStatus = struct("v1.NodeAllocatableResourceClaimStatus",
    resourceClaimName=always(STRING)@1, containers=list_of(STRING)@2,
    resources=map_of(QUANTITY, go_type="map[v1.ResourceName]resource.Quantity")@3)
PodStatus = struct("v1.PodStatus", observedGeneration=INT64@17, phase=named("v1.PodPhase")@1,
    conditions=list_of(PodCondition, merge_key="type")@2, message=STRING@3, reason=STRING@4,
    nominatedNodeName=STRING@11, hostIP=STRING@5, hostIPs=list_of(HostIP, merge_key="ip")@16, podIP=STRING@6,
    podIPs=list_of(PodIP, merge_key="ip")@12, startTime=TIME@7, initContainerStatuses=list_of(ContainerStatus)@10,
    containerStatuses=list_of(ContainerStatus)@8, qosClass=named("v1.PodQOSClass")@9,
    ephemeralContainerStatuses=list_of(ContainerStatus)@13, resize=named("v1.PodResizeStatus")@14,
    resourceClaimStatuses=list_of(PodResourceClaimStatus, merge_key="name", retain_keys=True)@15,
    extendedResourceClaimStatus=PodExtendedResourceClaimStatus@18, allocatedResources=RESOURCE_LIST@19,
    resources=ResourceRequirements@20,
    nodeAllocatableResourceClaimStatuses=list_of(NodeAllocatableResourceClaimStatus)@21)
Pod = struct("v1.Pod", TYPE_META, metadata=ObjectMeta@1, spec=PodSpec@2, status=PodStatus@3)

# --- core/v1 Service -------------------------------------------------------------------------------------------

ServicePort = struct("v1.ServicePort", name=STRING@1, protocol=PROTOCOL@2, appProtocol=ptr(STRING)@6,
    port=always(INT32)@3, targetPort=INT_OR_STRING@4, nodePort=INT32@5)
ClientIPConfig = struct("v1.ClientIPConfig", timeoutSeconds=ptr(INT32)@1)
SessionAffinityConfig = struct("v1.SessionAffinityConfig", clientIP=ClientIPConfig@1)
ServiceSpec = struct("v1.ServiceSpec", ports=list_of(ServicePort, merge_key="port")@1, selector=map_of(STRING)@2,
    clusterIP=STRING@3, clusterIPs=list_of(STRING)@18, type=named("v1.ServiceType")@4,
    externalIPs=list_of(STRING)@5, sessionAffinity=named("v1.ServiceAffinity")@7, loadBalancerIP=STRING@8,
    loadBalancerSourceRanges=list_of(STRING)@9, externalName=STRING@10,
    externalTrafficPolicy=named("v1.ServiceExternalTrafficPolicy")@11, healthCheckNodePort=INT32@12,
    publishNotReadyAddresses=BOOLEAN@13, sessionAffinityConfig=SessionAffinityConfig@14,
    ipFamilies=list_of(named("v1.IPFamily"))@19, ipFamilyPolicy=ptr(named("v1.IPFamilyPolicy"))@17,
    allocateLoadBalancerNodePorts=ptr(BOOLEAN)@20, loadBalancerClass=ptr(STRING)@21,
    internalTrafficPolicy=ptr(named("v1.ServiceInternalTrafficPolicy"))@22, trafficDistribution=ptr(STRING)@23)
PortStatus = struct("v1.PortStatus", port=always(INT32)@1, protocol=always(PROTOCOL)@2, error=ptr(STRING)@3)
LoadBalancerIngress = struct("v1.LoadBalancerIngress", ip=STRING@1, hostname=STRING@2,
    ipMode=ptr(named("v1.LoadBalancerIPMode"))@3, ports=list_of(PortStatus)@4)
LoadBalancerStatus = struct("v1.LoadBalancerStatus", ingress=list_of(LoadBalancerIngress)@1)
Condition = struct("v1.Condition", type=always(STRING)@1, status=always(CONDITION_STATUS)@2,
    observedGeneration=INT64@3, lastTransitionTime=TIME@4, reason=always(STRING)@5, message=always(STRING)@6)
ServiceStatus = struct("v1.ServiceStatus", loadBalancer=LoadBalancerStatus@1,
    conditions=list_of(Condition, merge_key="type")@2)
Service = struct("v1.Service", TYPE_META, metadata=ObjectMeta@1, spec=ServiceSpec@2, status=ServiceStatus@3)

# --- core/v1 Endpoints, ConfigMap, Secret, Event, ServiceAccount -----------------------------------------------

ObjectReference = struct("v1.ObjectReference", kind=STRING@1, namespace=STRING@2, name=STRING@3, uid=UID@4,
    apiVersion=STRING@5, resourceVersion=STRING@6, fieldPath=STRING@7)
EndpointAddress = struct("v1.EndpointAddress", ip=always(STRING)@1, hostname=STRING@3, nodeName=ptr(STRING)@4,
    targetRef=ObjectReference@2)
EndpointPort = struct("v1.EndpointPort", name=STRING@1, port=always(INT32)@2, protocol=PROTOCOL@3,
    appProtocol=ptr(STRING)@4)
EndpointSubset = struct("v1.EndpointSubset", addresses=list_of(EndpointAddress)@1,
    notReadyAddresses=list_of(EndpointAddress)@2, ports=list_of(EndpointPort)@3)
Endpoints = struct("v1.Endpoints", TYPE_META, metadata=ObjectMeta@1, subsets=list_of(EndpointSubset)@2)
ConfigMap = struct("v1.ConfigMap", TYPE_META, metadata=ObjectMeta@1, immutable=ptr(BOOLEAN)@4,
    data=map_of(STRING)@2, binaryData=map_of(BYTES)@3)
Secret = struct("v1.Secret", TYPE_META, metadata=ObjectMeta@1, immutable=ptr(BOOLEAN)@5, data=map_of(BYTES)@2,
    stringData=map_of(STRING)@4, type=named("v1.SecretType")@3)
EventSource = struct("v1.EventSource", component=STRING@1, host=STRING@2)
EventSeries = struct("v1.EventSeries", count=INT32@1, lastObservedTime=MICRO_TIME@2)
Event = struct("v1.Event", TYPE_META, metadata=ObjectMeta@1, involvedObject=ObjectReference@2, reason=STRING@3,
    message=STRING@4, source=EventSource@5, firstTimestamp=TIME@6, lastTimestamp=TIME@7, count=INT32@8,
    type=STRING@9, eventTime=MICRO_TIME@10, series=EventSeries@11, action=STRING@12, related=ObjectReference@13,
    reportingComponent=always(STRING)@14, reportingInstance=always(STRING)@15)
ServiceAccount = struct("v1.ServiceAccount", TYPE_META, metadata=ObjectMeta@1,
    secrets=list_of(ObjectReference, merge_key="name")@2, imagePullSecrets=list_of(LocalObjectReference)@3,
    automountServiceAccountToken=ptr(BOOLEAN)@4)

# --- apps/v1 ---------------------------------------------------------------------------------------------------

PodTemplateSpec = struct("v1.PodTemplateSpec", metadata=ObjectMeta@1, spec=PodSpec@2)
RollingUpdateDeployment = struct("v1.RollingUpdateDeployment", maxUnavailable=INT_OR_STRING@1,
    maxSurge=INT_OR_STRING@2)
DeploymentStrategy = struct("v1.DeploymentStrategy", type=named("v1.DeploymentStrategyType")@1,
    rollingUpdate=RollingUpdateDeployment@2)
DeploymentSpec = struct("v1.DeploymentSpec", replicas=ptr(INT32)@1, selector=LabelSelector@2,
    template=PodTemplateSpec@3, strategy=retain_keys(DeploymentStrategy)@4, minReadySeconds=INT32@5,
    revisionHistoryLimit=ptr(INT32)@6, paused=BOOLEAN@7, progressDeadlineSeconds=ptr(INT32)@9)
DeploymentCondition = struct("v1.DeploymentCondition", type=always(named("v1.DeploymentConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastUpdateTime=TIME@6, lastTransitionTime=TIME@7, reason=STRING@4,
    message=STRING@5)
DeploymentStatus = struct("v1.DeploymentStatus", observedGeneration=INT64@1, replicas=INT32@2,
    updatedReplicas=INT32@3, readyReplicas=INT32@7, availableReplicas=INT32@4, unavailableReplicas=INT32@5,
    terminatingReplicas=ptr(INT32)@9, conditions=list_of(DeploymentCondition, merge_key="type")@6,
    collisionCount=ptr(INT32)@8)
Deployment = struct("v1.Deployment", TYPE_META, metadata=ObjectMeta@1, spec=DeploymentSpec@2,
    status=DeploymentStatus@3)
ReplicaSetSpec = struct("v1.ReplicaSetSpec", replicas=ptr(INT32)@1, minReadySeconds=INT32@4,
    selector=LabelSelector@2, template=PodTemplateSpec@3)
ReplicaSetCondition = struct("v1.ReplicaSetCondition", type=always(named("v1.ReplicaSetConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastTransitionTime=TIME@3, reason=STRING@4, message=STRING@5)
ReplicaSetStatus = struct("v1.ReplicaSetStatus", replicas=always(INT32)@1, fullyLabeledReplicas=INT32@2,
    readyReplicas=INT32@4, availableReplicas=INT32@5, terminatingReplicas=ptr(INT32)@7, observedGeneration=INT64@3,
    conditions=list_of(ReplicaSetCondition, merge_key="type")@6)
ReplicaSet = struct("v1.ReplicaSet", TYPE_META, metadata=ObjectMeta@1, spec=ReplicaSetSpec@2,
    status=ReplicaSetStatus@3)
RollingUpdateDaemonSet = struct("v1.RollingUpdateDaemonSet", maxUnavailable=INT_OR_STRING@1,
    maxSurge=INT_OR_STRING@2)
DaemonSetUpdateStrategy = struct("v1.DaemonSetUpdateStrategy", type=named("v1.DaemonSetUpdateStrategyType")@1,
    rollingUpdate=RollingUpdateDaemonSet@2)
DaemonSetSpec = struct("v1.DaemonSetSpec", selector=LabelSelector@1, template=PodTemplateSpec@2,
    updateStrategy=DaemonSetUpdateStrategy@3, minReadySeconds=INT32@4, revisionHistoryLimit=ptr(INT32)@6)
DaemonSetCondition = struct("v1.DaemonSetCondition", type=always(named("v1.DaemonSetConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastTransitionTime=TIME@3, reason=STRING@4, message=STRING@5)
DaemonSetStatus = struct("v1.DaemonSetStatus", currentNumberScheduled=always(INT32)@1,
    numberMisscheduled=always(INT32)@2, desiredNumberScheduled=always(INT32)@3, numberReady=always(INT32)@4,
    observedGeneration=INT64@5, updatedNumberScheduled=INT32@6, numberAvailable=INT32@7, numberUnavailable=INT32@8,
    collisionCount=ptr(INT32)@9, conditions=list_of(DaemonSetCondition, merge_key="type")@10)
DaemonSet = struct("v1.DaemonSet", TYPE_META, metadata=ObjectMeta@1, spec=DaemonSetSpec@2, status=DaemonSetStatus@3)
PersistentVolumeClaimCondition = struct("v1.PersistentVolumeClaimCondition",
    type=always(named("v1.PersistentVolumeClaimConditionType"))@1, status=always(CONDITION_STATUS)@2,
    lastProbeTime=TIME@3, lastTransitionTime=TIME@4, reason=STRING@5, message=STRING@6)
ModifyVolumeStatus = struct("v1.ModifyVolumeStatus", targetVolumeAttributesClassName=STRING@1,
    status=always(named("v1.PersistentVolumeClaimModifyVolumeStatus"))@2)
PersistentVolumeClaimStatus = struct("v1.PersistentVolumeClaimStatus",
    phase=named("v1.PersistentVolumeClaimPhase")@1, accessModes=list_of(named("v1.PersistentVolumeAccessMode"))@2,
    capacity=RESOURCE_LIST@3, conditions=list_of(PersistentVolumeClaimCondition, merge_key="type")@4,
    allocatedResources=RESOURCE_LIST@5,
    allocatedResourceStatuses=map_of(named("v1.ClaimResourceStatus"),
                                     go_type="map[v1.ResourceName]v1.ClaimResourceStatus")@7,
    currentVolumeAttributesClassName=ptr(STRING)@8, modifyVolumeStatus=ModifyVolumeStatus@9)
PersistentVolumeClaim = struct("v1.PersistentVolumeClaim", TYPE_META, metadata=ObjectMeta@1,
    spec=PersistentVolumeClaimSpec@2, status=PersistentVolumeClaimStatus@3)
RollingUpdateStatefulSetStrategy = struct("v1.RollingUpdateStatefulSetStrategy", partition=ptr(INT32)@1,
    maxUnavailable=INT_OR_STRING@2)
StatefulSetUpdateStrategy = struct("v1.StatefulSetUpdateStrategy", type=named("v1.StatefulSetUpdateStrategyType")@1,
    rollingUpdate=RollingUpdateStatefulSetStrategy@2)
StatefulSetPersistentVolumeClaimRetentionPolicy = struct("v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
    whenDeleted=named("v1.PersistentVolumeClaimRetentionPolicyType")@1,
    whenScaled=named("v1.PersistentVolumeClaimRetentionPolicyType")@2)
StatefulSetOrdinals = struct("v1.StatefulSetOrdinals", start=always(INT32)@1)
StatefulSetSpec = struct("v1.StatefulSetSpec", replicas=ptr(INT32)@1, selector=LabelSelector@2,
    template=PodTemplateSpec@3, volumeClaimTemplates=list_of(PersistentVolumeClaim)@4, serviceName=always(STRING)@5,
    podManagementPolicy=named("v1.PodManagementPolicyType")@6, updateStrategy=StatefulSetUpdateStrategy@7,
    revisionHistoryLimit=ptr(INT32)@8, minReadySeconds=INT32@9,
    persistentVolumeClaimRetentionPolicy=StatefulSetPersistentVolumeClaimRetentionPolicy@10,
    ordinals=StatefulSetOrdinals@11)
StatefulSetCondition = struct("v1.StatefulSetCondition", type=always(named("v1.StatefulSetConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastTransitionTime=TIME@3, reason=STRING@4, message=STRING@5)
StatefulSetStatus = struct("v1.StatefulSetStatus", observedGeneration=INT64@1, replicas=always(INT32)@2,
    readyReplicas=INT32@3, currentReplicas=INT32@4, updatedReplicas=INT32@5, currentRevision=STRING@6,
    updateRevision=STRING@7, collisionCount=ptr(INT32)@9,
    conditions=list_of(StatefulSetCondition, merge_key="type")@10, availableReplicas=always(INT32)@11)
StatefulSet = struct("v1.StatefulSet", TYPE_META, metadata=ObjectMeta@1, spec=StatefulSetSpec@2,
    status=StatefulSetStatus@3)

# --- batch/v1 --------------------------------------------------------------------------------------------------

PodFailurePolicyOnExitCodesRequirement = struct("v1.PodFailurePolicyOnExitCodesRequirement",
    containerName=ptr(STRING)@1, operator=always(named("v1.PodFailurePolicyOnExitCodesOperator"))@2,
    values=list_of(INT32)@3)
PodFailurePolicyOnPodConditionsPattern = struct("v1.PodFailurePolicyOnPodConditionsPattern",
    type=always(named("v1.PodConditionType"))@1, status=always(CONDITION_STATUS)@2)
PodFailurePolicyRule = struct("v1.PodFailurePolicyRule", action=always(named("v1.PodFailurePolicyAction"))@1,
    onExitCodes=PodFailurePolicyOnExitCodesRequirement@2,
    onPodConditions=list_of(PodFailurePolicyOnPodConditionsPattern)@3)
PodFailurePolicy = struct("v1.PodFailurePolicy", rules=list_of(PodFailurePolicyRule)@1)
SuccessPolicyRule = struct("v1.SuccessPolicyRule", succeededIndexes=ptr(STRING)@1, succeededCount=ptr(INT32)@2)
SuccessPolicy = struct("v1.SuccessPolicy", rules=list_of(SuccessPolicyRule)@1)
JobSpec = struct("v1.JobSpec", parallelism=ptr(INT32)@1, completions=ptr(INT32)@2,
    activeDeadlineSeconds=ptr(INT64)@3, podFailurePolicy=PodFailurePolicy@11, successPolicy=SuccessPolicy@16,
    backoffLimit=ptr(INT32)@7, backoffLimitPerIndex=ptr(INT32)@12, maxFailedIndexes=ptr(INT32)@13,
    selector=LabelSelector@4, manualSelector=ptr(BOOLEAN)@5, template=PodTemplateSpec@6,
    ttlSecondsAfterFinished=ptr(INT32)@8, completionMode=ptr(named("v1.CompletionMode"))@9, suspend=ptr(BOOLEAN)@10,
    podReplacementPolicy=ptr(named("v1.PodReplacementPolicy"))@14, managedBy=ptr(STRING)@15)
JobCondition = struct("v1.JobCondition", type=always(named("v1.JobConditionType"))@1,
    status=always(CONDITION_STATUS)@2, lastProbeTime=TIME@3, lastTransitionTime=TIME@4, reason=STRING@5,
    message=STRING@6)
UncountedTerminatedPods = struct("v1.UncountedTerminatedPods", succeeded=list_of(UID)@1, failed=list_of(UID)@2)
JobStatus = struct("v1.JobStatus", conditions=list_of(JobCondition, merge_key="type")@1, startTime=TIME@2,
    completionTime=TIME@3, active=INT32@4, succeeded=INT32@5, failed=INT32@6, terminating=ptr(INT32)@11,
    completedIndexes=STRING@7, failedIndexes=ptr(STRING)@10, uncountedTerminatedPods=UncountedTerminatedPods@8,
    ready=ptr(INT32)@9)
Job = struct("v1.Job", TYPE_META, metadata=ObjectMeta@1, spec=JobSpec@2, status=JobStatus@3)
JobTemplateSpec = struct("v1.JobTemplateSpec", metadata=ObjectMeta@1, spec=JobSpec@2)
CronJobSpec = struct("v1.CronJobSpec", schedule=always(STRING)@1, timeZone=ptr(STRING)@8,
    startingDeadlineSeconds=ptr(INT64)@2, concurrencyPolicy=named("v1.ConcurrencyPolicy")@3, suspend=ptr(BOOLEAN)@4,
    jobTemplate=JobTemplateSpec@5, successfulJobsHistoryLimit=ptr(INT32)@6, failedJobsHistoryLimit=ptr(INT32)@7)
CronJobStatus = struct("v1.CronJobStatus", active=list_of(ObjectReference)@1, lastScheduleTime=TIME@4,
    lastSuccessfulTime=TIME@5)
CronJob = struct("v1.CronJob", TYPE_META, metadata=ObjectMeta@1, spec=CronJobSpec@2, status=CronJobStatus@3)

# --- autoscaling/v2 --------------------------------------------------------------------------------------------

CrossVersionObjectReference = struct("v2.CrossVersionObjectReference", kind=always(STRING)@1, name=always(STRING)@2,
    apiVersion=STRING@3)
MetricTarget = struct("v2.MetricTarget", type=always(named("v2.MetricTargetType"))@1, value=QUANTITY@2,
    averageValue=QUANTITY@3, averageUtilization=ptr(INT32)@4)
MetricIdentifier = struct("v2.MetricIdentifier", name=always(STRING)@1, selector=LabelSelector@2)
ObjectMetricSource = struct("v2.ObjectMetricSource", describedObject=CrossVersionObjectReference@1,
    target=MetricTarget@2, metric=MetricIdentifier@3)
PodsMetricSource = struct("v2.PodsMetricSource", metric=MetricIdentifier@1, target=MetricTarget@2)
ResourceMetricSource = struct("v2.ResourceMetricSource", name=always(RESOURCE_NAME)@1, target=MetricTarget@2)
ContainerResourceMetricSource = struct("v2.ContainerResourceMetricSource", name=always(RESOURCE_NAME)@1,
    target=MetricTarget@2, container=always(STRING)@3)
ExternalMetricSource = struct("v2.ExternalMetricSource", metric=MetricIdentifier@1, target=MetricTarget@2)
MetricSpec = struct("v2.MetricSpec", type=always(named("v2.MetricSourceType"))@1, object=ObjectMetricSource@2,
    pods=PodsMetricSource@3, resource=ResourceMetricSource@4, containerResource=ContainerResourceMetricSource@7,
    external=ExternalMetricSource@5)
HPAScalingPolicy = struct("v2.HPAScalingPolicy", type=always(named("v2.HPAScalingPolicyType"))@1,
    value=always(INT32)@2, periodSeconds=always(INT32)@3)
HPAScalingRules = struct("v2.HPAScalingRules", stabilizationWindowSeconds=ptr(INT32)@3,
    selectPolicy=ptr(named("v2.ScalingPolicySelect"))@1, policies=list_of(HPAScalingPolicy)@2, tolerance=QUANTITY@4)
HorizontalPodAutoscalerBehavior = struct("v2.HorizontalPodAutoscalerBehavior", scaleUp=HPAScalingRules@1,
    scaleDown=HPAScalingRules@2)
HorizontalPodAutoscalerSpec = struct("v2.HorizontalPodAutoscalerSpec", scaleTargetRef=CrossVersionObjectReference@1,
    minReplicas=ptr(INT32)@2, maxReplicas=always(INT32)@3, metrics=list_of(MetricSpec)@4,
    behavior=HorizontalPodAutoscalerBehavior@5)
MetricValueStatus = struct("v2.MetricValueStatus", value=QUANTITY@1, averageValue=QUANTITY@2,
    averageUtilization=ptr(INT32)@3)
ObjectMetricStatus = struct("v2.ObjectMetricStatus", metric=MetricIdentifier@1, current=MetricValueStatus@2,
    describedObject=CrossVersionObjectReference@3)
PodsMetricStatus = struct("v2.PodsMetricStatus", metric=MetricIdentifier@1, current=MetricValueStatus@2)
ResourceMetricStatus = struct("v2.ResourceMetricStatus", name=always(RESOURCE_NAME)@1, current=MetricValueStatus@2)
ContainerResourceMetricStatus = struct("v2.ContainerResourceMetricStatus", name=always(RESOURCE_NAME)@1,
    current=MetricValueStatus@2, container=always(STRING)@3)
ExternalMetricStatus = struct("v2.ExternalMetricStatus", metric=MetricIdentifier@1, current=MetricValueStatus@2)
MetricStatus = struct("v2.MetricStatus", type=always(named("v2.MetricSourceType"))@1, object=ObjectMetricStatus@2,
    pods=PodsMetricStatus@3, resource=ResourceMetricStatus@4, containerResource=ContainerResourceMetricStatus@7,
    external=ExternalMetricStatus@5)
HorizontalPodAutoscalerCondition = struct("v2.HorizontalPodAutoscalerCondition",
    type=always(named("v2.HorizontalPodAutoscalerConditionType"))@1, status=always(CONDITION_STATUS)@2,
    lastTransitionTime=TIME@3, reason=STRING@4, message=STRING@5)
HorizontalPodAutoscalerStatus = struct("v2.HorizontalPodAutoscalerStatus", observedGeneration=ptr(INT64)@1,
    lastScaleTime=TIME@2, currentReplicas=INT32@3, desiredReplicas=always(INT32)@4,
    currentMetrics=list_of(MetricStatus)@5,
    conditions=list_of(HorizontalPodAutoscalerCondition, merge_key="type")@6)
HorizontalPodAutoscaler = struct("v2.HorizontalPodAutoscaler", TYPE_META, metadata=ObjectMeta@1,
    spec=HorizontalPodAutoscalerSpec@2, status=HorizontalPodAutoscalerStatus@3)

# --- coordination.k8s.io/v1 ------------------------------------------------------------------------------------

LeaseSpec = struct("v1.LeaseSpec", holderIdentity=ptr(STRING)@1, leaseDurationSeconds=ptr(INT32)@2,
    acquireTime=MICRO_TIME@3, renewTime=MICRO_TIME@4, leaseTransitions=ptr(INT32)@5,
    strategy=ptr(named("v1.CoordinatedLeaseStrategy"))@6, preferredHolder=ptr(STRING)@7)
Lease = struct("v1.Lease", TYPE_META, metadata=ObjectMeta@1, spec=LeaseSpec@2)

# --- core/v1 ReplicationController (after PodTemplateSpec) ---------------------------------------------------

ReplicationControllerSpec = struct("v1.ReplicationControllerSpec", replicas=ptr(INT32)@1, minReadySeconds=INT32@4,
    selector=map_of(STRING)@2, template=PodTemplateSpec@3)
ReplicationControllerCondition = struct("v1.ReplicationControllerCondition",
    type=always(named("v1.ReplicationControllerConditionType"))@1, status=always(CONDITION_STATUS)@2,
    lastTransitionTime=TIME@3, reason=STRING@4, message=STRING@5)
ReplicationControllerStatus = struct("v1.ReplicationControllerStatus", replicas=always(INT32)@1,
    fullyLabeledReplicas=INT32@2, readyReplicas=INT32@4, availableReplicas=INT32@5, observedGeneration=INT64@3,
    conditions=list_of(ReplicationControllerCondition, merge_key="type")@6)
ReplicationController = struct("v1.ReplicationController", TYPE_META, metadata=ObjectMeta@1,
    spec=ReplicationControllerSpec@2, status=ReplicationControllerStatus@3)


# --- request bodies: meta/v1 DeleteOptions, autoscaling/v1 Scale, core/v1 Binding ------------------------------

Preconditions = struct("v1.Preconditions", uid=ptr(UID)@1, resourceVersion=ptr(STRING)@2)
DeleteOptions = struct("v1.DeleteOptions", TYPE_META, gracePeriodSeconds=ptr(INT64)@1,
    preconditions=Preconditions@2, orphanDependents=ptr(BOOLEAN)@3,
    propagationPolicy=ptr(named("v1.DeletionPropagation"))@4, dryRun=list_of(STRING)@5,
    ignoreStoreReadErrorWithClusterBreakingPotential=ptr(BOOLEAN)@6)
ScaleSpec = struct("v1.ScaleSpec", replicas=INT32@1)
ScaleStatus = struct("v1.ScaleStatus", replicas=always(INT32)@1, selector=STRING@2)
Scale = struct("v1.Scale", TYPE_META, metadata=ObjectMeta@1, spec=ScaleSpec@2, status=ScaleStatus@3)
Binding = struct("v1.Binding", TYPE_META, metadata=ObjectMeta@1, target=ObjectReference@2)


# --- lookup ---------------------------------------------------------------------------------------------------

_KINDS: dict[tuple[str, str], Node] = {
    ("v1", "Namespace"): Namespace, ("v1", "Node"): NodeObject, ("v1", "Pod"): Pod, ("v1", "Service"): Service,
    ("v1", "Endpoints"): Endpoints, ("v1", "ConfigMap"): ConfigMap, ("v1", "Secret"): Secret,
    ("v1", "Event"): Event, ("v1", "ServiceAccount"): ServiceAccount, ("v1", "Binding"): Binding,
    ("v1", "ReplicationController"): ReplicationController,
    ("apps/v1", "Deployment"): Deployment, ("apps/v1", "ReplicaSet"): ReplicaSet,
    ("apps/v1", "DaemonSet"): DaemonSet, ("apps/v1", "StatefulSet"): StatefulSet,
    ("batch/v1", "Job"): Job, ("batch/v1", "CronJob"): CronJob,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): HorizontalPodAutoscaler, ("autoscaling/v1", "Scale"): Scale,
    ("coordination.k8s.io/v1", "Lease"): Lease,
    # DeleteOptions arrive as core v1 (kubectl) or as meta.k8s.io/v1 (client-go).
    ("v1", "DeleteOptions"): DeleteOptions, ("meta/v1", "DeleteOptions"): DeleteOptions,
    ("meta.k8s.io/v1", "DeleteOptions"): DeleteOptions,
}


def schema_for(api_version: str, kind: str) -> Node | None:
    """The schema of one kind (or request body), None when kubelab does not know it."""
    return _KINDS.get((api_version, kind))


def check(api_version: str, kind: str, obj: dict) -> tuple[list[str], list[tuple[str, str]]]:
    """Decode-time problems of one object: (unknown-field paths, [(path, message)] for wrong JSON types).

    Paths are the strict decoder's: `spec.template.spec.containers[0].imagePullPolicyy`, map keys as
    `metadata.labels.app`.  Messages are those of upstream's JSON decoder; it stops at the first one, so callers
    answering like upstream report the first.  Nothing below a value of the wrong type is examined.
    """
    root = schema_for(api_version, kind)
    if root is None:
        return [], []
    walk = _Walk()
    walk.visit(root, obj, None, None)
    return walk.unknown, walk.type_errors


# --- the walk: what Go's decoder (sigs.k8s.io/json, strict mode) would say ----------------------------------

# Where the walk is, kept lazily: (parent, step, role) links back to the root (None).  Most objects have no
# problem at all, so the path strings and Go field paths are only spelled out for a problem (_spell).
_FIELD, _KEY, _INDEX = "field", "key", "index"  # a struct field (in Go's field path), a map key, a list index
_At = tuple[Any, Any, str] | None

# Kind members bound once: an enum attribute lookup costs more than the comparison it feeds.
_STRUCT, _LIST, _MAP, _ANY = Kind.STRUCT, Kind.LIST, Kind.MAP, Kind.ANY


class _Walk:
    """Collects unknown fields and type errors while descending an object along its schema."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.type_errors: list[tuple[str, str]] = []

    def visit(self, node: Node, value: Any, at: _At, owner: Node | None) -> None:
        """owner is the struct holding the field at `at` (None at the root): Go's errors cite it."""
        kind = node.kind
        if value is None or kind is _ANY:
            return
        if kind is _STRUCT:
            problem = self._struct(node, value, at)
        elif kind is _LIST:
            problem = self._list(node, value, at, owner)
        elif kind is _MAP:
            problem = self._map(node, value, at, owner)
        else:
            problem = _SCALAR_CHECKS[kind](node, value)
        if problem is not None:
            path, go_path = _spell(at)
            self.type_errors.append((path, _describe(problem, go_path, owner.struct_name if owner else "")))

    def _struct(self, node: Node, value: Any, at: _At) -> _TypeMismatch | None:
        if not isinstance(value, dict):
            return _TypeMismatch(json_kind(value), node.go_type)
        fields = node.fields
        for key, element in value.items():
            sub = fields.get(key)
            if sub is None:
                self.unknown.append(_spell((at, key, _FIELD))[0])
            elif element is not None and type(element) not in sub.plain_types:
                self.visit(sub, element, (at, key, _FIELD), node)
        return None

    def _list(self, node: Node, value: Any, at: _At, owner: Node | None) -> _TypeMismatch | None:
        if not isinstance(value, list):
            return _TypeMismatch(json_kind(value), node.go_type)
        item = node.item
        for index, element in enumerate(value):
            if element is not None and type(element) not in item.plain_types:
                self.visit(item, element, (at, index, _INDEX), owner)
        return None

    def _map(self, node: Node, value: Any, at: _At, owner: Node | None) -> _TypeMismatch | None:
        if not isinstance(value, dict):
            return _TypeMismatch(json_kind(value), node.go_type)
        item = node.value
        for key, element in value.items():
            if element is not None and type(element) not in item.plain_types:
                self.visit(item, element, (at, key, _KEY), owner)
        return None


def _spell(at: _At) -> tuple[str, tuple[str, ...]]:
    """The path of `at` as the strict decoder prints it, and the struct field names Go's errors cite."""
    steps = []
    while at is not None:
        at, step, role = at
        steps.append((step, role))
    path: Any = ""
    go_path = []
    for step, role in reversed(steps):
        if role is _INDEX:
            path = f"{path}[{step}]"
        else:
            path = f"{path}.{step}" if path else step
        if role is _FIELD:
            go_path.append(step)
    return path, tuple(go_path)


@dataclass(frozen=True)
class _TypeMismatch:
    """Go's UnmarshalTypeError: `what` JSON could not go into a Go value of type `go_type`."""
    what: str
    go_type: str


def _describe(problem: _TypeMismatch | str, go_path: tuple[str, ...], owner: str) -> str:
    if isinstance(problem, str):  # an error of the type's own UnmarshalJSON, which Go reports bare
        return problem
    if owner:
        return (f"json: cannot unmarshal {problem.what} into Go struct field {owner}.{'.'.join(go_path)} "
                f"of type {problem.go_type}")
    return f"json: cannot unmarshal {problem.what} into Go value of type {problem.go_type}"


def json_kind(value: Any) -> str:
    """How Go's decoder names a JSON value in its errors."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"


def _number_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


# --- scalars --------------------------------------------------------------------------------------------------

def _check_string(node: Node, value: Any) -> _TypeMismatch | None:
    return None if isinstance(value, str) else _TypeMismatch(json_kind(value), node.go_type)


def _check_boolean(node: Node, value: Any) -> _TypeMismatch | None:
    return None if isinstance(value, bool) else _TypeMismatch(json_kind(value), node.go_type)


def _check_number(node: Node, value: Any) -> _TypeMismatch | None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return None if is_number else _TypeMismatch(json_kind(value), node.go_type)


def _check_integer(node: Node, value: Any) -> _TypeMismatch | None:
    return _integer_problem(value, node.go_type, node.bits)


def _integer_problem(value: Any, go_type: str, bits: int) -> _TypeMismatch | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _TypeMismatch(json_kind(value), go_type)
    limit = 1 << (bits - 1)
    if isinstance(value, float) or not -limit <= value < limit:
        # Go parses the literal as an integer: a fraction, an exponent or an overflow all fail.
        return _TypeMismatch(f"number {_number_text(value)}", go_type)
    return None


def _check_int_or_string(node: Node, value: Any) -> _TypeMismatch | None:
    # IntOrString.UnmarshalJSON decodes anything but a string into its int32.
    return None if isinstance(value, str) else _integer_problem(value, "int32", 32)


def _check_date_time(node: Node, value: Any) -> _TypeMismatch | str | None:
    # metav1.Time/MicroTime.UnmarshalJSON: decode a string, then time.Parse it with their layout.
    if not isinstance(value, str):
        return _TypeMismatch(json_kind(value), "string")
    return _micro_time_error(value) if node.go_type == "v1.MicroTime" else _second_time_error(value)


def _check_quantity(node: Node, value: Any) -> str | None:
    # Quantity.UnmarshalJSON parses the raw JSON text (quotes stripped): only numbers and strings can pass.
    if isinstance(value, str):
        return _quantity_error(value.strip())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _quantity_error(_number_text(value))
    return _QUANTITY_FORMAT_WRONG


def _check_byte(node: Node, value: Any) -> _TypeMismatch | str | None:
    if not isinstance(value, str):
        return _TypeMismatch(json_kind(value), node.go_type)
    return _base64_error(value)


_SCALAR_CHECKS = {
    Kind.STRING: _check_string, Kind.BOOLEAN: _check_boolean, Kind.NUMBER: _check_number,
    Kind.INTEGER: _check_integer, Kind.INT_OR_STRING: _check_int_or_string, Kind.DATE_TIME: _check_date_time,
    Kind.QUANTITY: _check_quantity, Kind.BYTE: _check_byte,
}


# resource.ParseQuantity ------------------------------------------------------------------------------------------

_QUANTITY_FORMAT_WRONG = ("quantities must match the regular expression "
                          "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_QUANTITY_SUFFIX_WRONG = "unable to parse quantity's suffix"
# sign, numerator, optional fraction, suffix letters, optional signed exponent digits — as ParseQuantity scans.
_QUANTITY = re.compile(r"[+-]?[0-9]*(\.[0-9]*)?(?P<suffix>[eEinumkKMGTP]*[-+]?[0-9]*)")
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+")
_QUANTITY_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}


@remember_short
def _quantity_error(text: str) -> str | None:
    if not text:
        return _QUANTITY_FORMAT_WRONG
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return _QUANTITY_FORMAT_WRONG
    suffix = match["suffix"]
    if suffix in _QUANTITY_SUFFIXES or _EXPONENT.fullmatch(suffix):
        return None
    return _QUANTITY_SUFFIX_WRONG


# encoding/base64 (StdEncoding) ----------------------------------------------------------------------------------

_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")


def _base64_error(text: str) -> str | None:
    """Go's error for a []byte field's string, which must be padded standard base64 (newlines ignored)."""
    offset = _base64_bad_offset(text.encode())
    return None if offset is None else f"illegal base64 data at input byte {offset}"


def _base64_bad_offset(data: bytes) -> int | None:
    """Where Go's decoder gives up, quantum by quantum of four characters."""
    at = 0
    while True:
        seen = 0
        while seen < 4:
            if at == len(data):
                return None if seen == 0 else at - seen
            char, at = data[at], at + 1
            if char in _BASE64_ALPHABET:
                seen += 1
            elif char not in _NEWLINES:
                return _base64_padding_offset(data, at, seen) if char == ord("=") else at - 1
        if at == len(data):
            return None


def _base64_padding_offset(data: bytes, at: int, seen: int) -> int | None:
    """After a "=" (at is just past it): the rest must be one more "=" when two were due, then only newlines."""
    if seen < 2:
        return at - 1
    if seen == 2:
        at = _skip_newlines(data, at)
        if at == len(data):
            return len(data)
        if data[at] != ord("="):
            return at - 1
        at += 1
    at = _skip_newlines(data, at)
    return at if at < len(data) else None


def _skip_newlines(data: bytes, at: int) -> int:
    while at < len(data) and data[at] in _NEWLINES:
        at += 1
    return at


# time.Parse ------------------------------------------------------------------------------------------------------

_SECOND_LAYOUT = "2006-01-02T15:04:05Z07:00"          # time.RFC3339, used by metav1.Time
_MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"    # metav1.RFC3339Micro, used by metav1.MicroTime
# The layouts as Go splits them: (literal prefix, layout element).
_LAYOUT_STEPS = {
    _SECOND_LAYOUT: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"), ("", "Z07:00")),
    _MICRO_LAYOUT: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"),
                    ("", ".000000"), ("", "Z07:00")),
}
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _TimeParseError(Exception):
    pass


@remember_short  # an object's timestamps come back on each of its updates
def _second_time_error(value: str) -> str | None:
    return _time_parse_error(value, _SECOND_LAYOUT)


@remember_short
def _micro_time_error(value: str) -> str | None:
    return _time_parse_error(value, _MICRO_LAYOUT)


def _time_parse_error(value: str, layout: str) -> str | None:
    """Go's time.Parse error text for value in one of the two RFC 3339 layouts, None when it parses."""
    try:
        _parse_time(value, layout)
    except _TimeParseError as err:
        return str(err)
    return None


def _parse_time(value: str, layout: str) -> None:
    fields: dict[str, int] = {}
    rest = value
    for prefix, element in _LAYOUT_STEPS[layout]:
        if not rest.startswith(prefix):
            raise _TimeParseError(_cannot_parse(value, layout, rest, prefix))
        rest = rest[len(prefix):]
        parsed = _TIME_ELEMENTS[element](rest, layout)
        if parsed is None:
            raise _TimeParseError(_cannot_parse(value, layout, rest, element))
        number, rest, out_of_range = parsed
        if out_of_range:
            raise _TimeParseError(f"parsing time {_go_quote(value)}: {out_of_range} out of range")
        fields[element] = number
    if rest:
        raise _TimeParseError(f"parsing time {_go_quote(value)}: extra text: {_go_quote(rest)}")
    if not 1 <= fields["02"] <= _days_in(fields["01"], fields["2006"]):
        raise _TimeParseError(f"parsing time {_go_quote(value)}: day out of range")


def _cannot_parse(value: str, layout: str, rest: str, element: str) -> str:
    return (f"parsing time {_go_quote(value)} as {_go_quote(layout)}: cannot parse {_go_quote(rest)} "
            f"as {_go_quote(element)}")


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _days_in(month: int, year: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


# Each element parser returns (number, rest, out-of-range name or "") or None when the text does not fit.
_Parsed = tuple[int, str, str] | None


def _digits(text: str, count: int) -> _Parsed:
    head = text[:count]
    return (int(head), text[count:], "") if len(head) == count and head.isascii() and head.isdigit() else None


def _in_range(parsed: _Parsed, low: int, high: int, name: str) -> _Parsed:
    if parsed is None:
        return None
    number, rest, _ = parsed
    return number, rest, "" if low <= number <= high else name


def _year(text: str, layout: str) -> _Parsed:
    return _digits(text, 4)


def _hour(text: str, layout: str) -> _Parsed:
    # "15" accepts one or two digits.
    parsed = _digits(text, 2) if text[1:2].isdigit() else _digits(text, 1)
    return _in_range(parsed, 0, 23, "hour")


def _second(text: str, layout: str) -> _Parsed:
    parsed = _in_range(_digits(text, 2), 0, 59, "second")
    if parsed is None or parsed[2] or layout == _MICRO_LAYOUT:
        return parsed
    number, rest, _ = parsed
    # A fraction the layout does not mention is accepted after the seconds.
    if rest[:1] in (".", ",") and rest[1:2].isdigit():
        rest = rest[1:].lstrip("0123456789")
    return number, rest, ""


def _fraction(text: str, layout: str) -> _Parsed:
    if text[:1] not in (".", ","):
        return None
    parsed = _digits(text[1:], 6)
    return None if parsed is None else (parsed[0], parsed[1], "")


def _zone(text: str, layout: str) -> _Parsed:
    if text.startswith("Z"):
        return 0, text[1:], ""
    if len(text) < 6 or text[3] != ":" or text[0] not in "+-":
        return None
    hours, minutes = _digits(text[1:3], 2), _digits(text[4:6], 2)
    if hours is None or minutes is None:
        return None
    out_of_range = ("time zone offset hour" if hours[0] > 24 else
                    "time zone offset minute" if minutes[0] > 60 else "")
    return 0, text[6:], out_of_range


_TIME_ELEMENTS = {
    "2006": _year,
    "01": lambda text, layout: _in_range(_digits(text, 2), 1, 12, "month"),
    "02": lambda text, layout: _digits(text, 2),
    "15": _hour,
    "04": lambda text, layout: _in_range(_digits(text, 2), 0, 59, "minute"),
    "05": _second,
    ".000000": _fraction,
    "Z07:00": _zone,
}
