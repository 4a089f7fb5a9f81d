"""Defaulting: the values upstream fills in before validating and storing an object.

`apply_defaults(rt, obj)` mirrors the SetDefaults_* functions of core/v1, apps/v1,
batch/v1 and autoscaling/v2, plus the few mutations upstream makes elsewhere on
every write: v1 conversion (Secret stringData, the deprecated serviceAccount
field), strategies (Job selector generation, the Namespace finalizer, Service
clusterIPs) and the DefaultTolerationSeconds / Priority / ServiceAccount
admission plugins.  It works in place, is idempotent and never raises.
`initial_status(rt, obj)` is the status PrepareForCreate stores; `qos_class`
computes a pod's QoS class.
"""
from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from common.api import kinds
from common.api.registry import ResourceType

from .validation import CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL
from .validation import KindTable, externally_accessible, parse_quantity

Obj = dict[str, Any]

DEFAULT_TOLERATION_SECONDS = 300
DEFAULT_CPU_UTILIZATION = 80
NOT_READY_TAINT, UNREACHABLE_TAINT = "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# The two PriorityClasses every cluster has; other class names are resolved by whoever knows them.
SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """Fill in upstream's defaults for `obj` of kind `rt`, in place."""
    apply = _DEFAULTERS.find(rt)
    if apply is None or not isinstance(obj, dict):
        return
    try:
        apply(obj)
    except Exception:  # defaulting is best effort: validation reports whatever is still wrong
        pass


# --------------------------------------------------------------------------------------------------
# Small helpers: read nested objects without trusting their types
# --------------------------------------------------------------------------------------------------

def _child(parent: Any, key: str, create: bool = True) -> dict[str, Any] | None:
    """parent[key] as a dict, created when missing (and `create`); None when it holds another type."""
    if not isinstance(parent, dict):
        return None
    value = parent.get(key)
    if value is None and create:
        value = parent[key] = {}
    return value if isinstance(value, dict) else None


def _items(parent: Any, key: str) -> list[dict[str, Any]]:
    """The dict elements of a list field."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _default(obj: dict[str, Any], key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = value


# --------------------------------------------------------------------------------------------------
# Pod specs (shared by pods and every pod template)
# --------------------------------------------------------------------------------------------------

def _pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the defaults of everything nested in it."""
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    _default(spec, "securityContext", {})
    _default(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "schedulerName", "default-scheduler")
    _service_account_conversion(spec)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in _items(spec, key):
            _container(container)
    for volume in _items(spec, "volumes"):
        _volume(volume)


def _service_account_conversion(spec: Obj) -> None:
    """v1 keeps the deprecated serviceAccount field in step with serviceAccountName."""
    if not spec.get("serviceAccountName") and isinstance(spec.get("serviceAccount"), str):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if isinstance(spec.get("serviceAccountName"), str) and spec["serviceAccountName"]:
        spec["serviceAccount"] = spec["serviceAccountName"]


def _container(container: Obj) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = "Always" if image_tag(container.get("image")) == "latest" else "IfNotPresent"
    _default(container, "terminationMessagePath", "/dev/termination-log")
    _default(container, "terminationMessagePolicy", "File")
    for port in _items(container, "ports"):
        _default(port, "protocol", "TCP")
    for var in _items(container, "env"):
        if var.get("valueFrom") is not None:  # most variables have a plain value
            _field_ref_version(_child(var, "valueFrom", create=False))
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind)
        if isinstance(probe, dict):
            _probe(probe)
    lifecycle = _child(container, "lifecycle", create=False)
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            _http_get(_child(_child(lifecycle, hook, create=False), "httpGet", create=False))


def _probe(probe: Obj) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not probe.get(key):  # upstream defaults zero as well as unset
            probe[key] = value
    _http_get(_child(probe, "httpGet", create=False))


def _http_get(action: Obj | None) -> None:
    if action is not None:
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


_VOLUME_SOURCES = ("emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
                   "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte",
                   "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
                   "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO", "csi",
                   "ephemeral", "image")
_DEFAULT_FILE_MODE = 0o644  # 420, the defaultMode of secret, configMap, downwardAPI and projected volumes


_VOLUME_SOURCE_NAMES = frozenset(_VOLUME_SOURCES)


def _volume(volume: Obj) -> None:
    sources = [key for key, value in volume.items() if key in _VOLUME_SOURCE_NAMES and value is not None]
    if not sources:
        volume["emptyDir"] = {}
    for source in sources:  # usually one: each source's own defaults
        _VOLUME_SOURCE_DEFAULTS.get(source, _no_defaults)(_child(volume, source, create=False))


def _file_mode_source(source: Obj | None) -> None:
    """secret, configMap, downwardAPI, projected: files get mode 0644 unless told otherwise."""
    if source is not None:
        _default(source, "defaultMode", _DEFAULT_FILE_MODE)


def _downward_api_source(source: Obj | None) -> None:
    _file_mode_source(source)
    for item in _items(source, "items"):
        _field_ref_version(item)


def _projected_source(source: Obj | None) -> None:
    _file_mode_source(source)
    for projection in _items(source, "sources"):
        token = _child(projection, "serviceAccountToken", create=False)
        if token is not None:
            _default(token, "expirationSeconds", 3600)
        for item in _items(_child(projection, "downwardAPI", create=False), "items"):
            _field_ref_version(item)


def _host_path_source(source: Obj | None) -> None:
    if source is not None:
        _default(source, "type", "")


def _image_source(source: Obj | None) -> None:
    if source is not None and not source.get("pullPolicy"):
        source["pullPolicy"] = "Always" if image_tag(source.get("reference")) == "latest" else "IfNotPresent"


def _no_defaults(source: Obj | None) -> None:
    pass


_VOLUME_SOURCE_DEFAULTS: dict[str, Callable[[Obj | None], None]] = {
    "secret": _file_mode_source, "configMap": _file_mode_source, "downwardAPI": _downward_api_source,
    "projected": _projected_source, "hostPath": _host_path_source, "image": _image_source,
}


def _field_ref_version(item: Obj | None) -> None:
    field_ref = _child(item, "fieldRef", create=False)
    if field_ref is not None:
        _default(field_ref, "apiVersion", "v1")


# Docker image references (distribution/reference): [domain/]path[:tag][@digest].
_PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = f"(?:{_DOMAIN_COMPONENT}(?:\\.{_DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?"
_IMAGE_REFERENCE = re.compile(
    f"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    "(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    "(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")


def image_tag(image: Any) -> str:
    """The tag upstream's ParseImageName sees: "latest" when none is given, "" for digests and bad references."""
    match = _IMAGE_REFERENCE.fullmatch(image) if isinstance(image, str) else None
    if match is None or len(match["name"]) > 255:
        return ""
    if match["tag"]:
        return match["tag"]
    return "" if match["digest"] else "latest"


def _pod_template(owner_spec: Any) -> None:
    _pod_spec_of(_child(owner_spec, "template", create=False))


def _pod_spec_of(template: Obj | None) -> None:
    spec = _child(template, "spec", create=False)
    if spec is not None:
        _pod_spec(spec)


# --------------------------------------------------------------------------------------------------
# core/v1
# --------------------------------------------------------------------------------------------------

def _pod(pod: Obj) -> None:
    """SetDefaults_Pod, v1 conversion and the admission plugins that fill in every new pod."""
    spec = _child(pod, "spec")
    if spec is None:
        return
    _pod_spec(spec)
    for key in ("containers", "initContainers"):
        for container in _items(spec, key):
            _requests_from_limits(_child(container, "resources", create=False))
    _default(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for container in _items(spec, key):
                for port in _items(container, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and not isinstance(grace, bool) and grace < 0:
        spec["terminationGracePeriodSeconds"] = 1  # v1 conversion treats a negative grace period as 1s
    _default(spec, "serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    _priority(spec)
    _default_tolerations(spec)


def _requests_from_limits(resources: Obj | None) -> None:
    limits = _child(resources, "limits", create=False)
    if not limits:
        return
    requests = _child(resources, "requests")
    if requests is not None:
        for name, value in limits.items():
            requests.setdefault(name, value)


def _priority(spec: Obj) -> None:
    """The Priority admission plugin: a pod without a class gets 0; the system classes their value."""
    class_name = spec.get("priorityClassName")
    if not class_name:
        _default(spec, "priority", 0)
    elif class_name in SYSTEM_PRIORITIES:
        _default(spec, "priority", SYSTEM_PRIORITIES[class_name])
    if spec.get("priority") is not None:
        _default(spec, "preemptionPolicy", "PreemptLowerPriority")


def _default_tolerations(spec: Obj) -> None:
    """DefaultTolerationSeconds admission: tolerate not-ready and unreachable nodes for 300s."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for taint in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        if not any(_tolerates_no_execute(t, taint) for t in tolerations):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations


def _tolerates_no_execute(toleration: Any, taint: str) -> bool:
    if not isinstance(toleration, dict):
        return False
    return toleration.get("key") in (taint, "", None) and toleration.get("effect") in ("NoExecute", "", None)


def _service(service: Obj) -> None:
    spec = _child(service, "spec")
    if spec is None:
        return
    _default(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        client_ip = _child(_child(spec, "sessionAffinityConfig"), "clientIP")
        if client_ip is not None:
            _default(client_ip, "timeoutSeconds", 10800)
    _default(spec, "type", "ClusterIP")
    for port in _items(spec, "ports"):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if externally_accessible(spec):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("type") in ("ClusterIP", "NodePort", "LoadBalancer"):
        _default(spec, "internalTrafficPolicy", "Cluster")
    if spec.get("type") == "LoadBalancer":
        _default(spec, "allocateLoadBalancerNodePorts", True)
    service_ip_families(spec)


def service_ip_families(spec: Obj) -> None:
    """clusterIPs mirrors clusterIP, and once an IP is set it names its family (single-stack)."""
    cluster_ip = spec.get("clusterIP")
    if spec.get("type") == "ExternalName" or not isinstance(cluster_ip, str) or not cluster_ip:
        return
    if not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    # Headless services without a selector get every family the cluster has (upstream's allocator).
    headless_unselected = cluster_ip == "None" and not spec.get("selector")
    _default(spec, "ipFamilyPolicy", "RequireDualStack" if headless_unselected else "SingleStack")
    if not spec.get("ipFamilies"):
        families = [_ip_family(ip) for ip in spec["clusterIPs"] if isinstance(ip, str)]
        spec["ipFamilies"] = [family for family in families if family] or ["IPv4"]


def _ip_family(ip: str) -> str | None:
    if ip == "None":
        return "IPv4"
    try:
        return f"IPv{ipaddress.ip_address(ip).version}"
    except ValueError:
        return None


def preserve_service_allocations(new: Obj, old: Obj) -> None:
    """On update, keep the cluster IPs and node ports the old Service was given when the new one omits them
    (upstream's patchAllocatedValues); call before validating an update."""
    spec, before = _child(new, "spec", create=False), _child(old, "spec", create=False)
    if spec is None or before is None:
        return
    drop_type_dependent_fields(new, spec, before)
    if "ExternalName" in (spec.get("type", "ClusterIP"), before.get("type")):
        return
    if not spec.get("clusterIP") and before.get("clusterIP"):
        spec["clusterIP"] = before["clusterIP"]
    if not spec.get("clusterIPs") and before.get("clusterIPs"):
        spec["clusterIPs"] = before["clusterIPs"]
    if spec.get("type") in ("NodePort", "LoadBalancer") and before.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in _items(before, "ports")}
        for port in _items(spec, "ports"):
            allocated = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if not port.get("nodePort") and allocated:
                port["nodePort"] = allocated


def drop_type_dependent_fields(new: Obj, spec: Obj, before: Obj) -> None:
    """Upstream's dropTypeDependentFields: a type change wipes what the old type was given and the new one
    cannot use (to be released by the allocator) — but only where the client left it as it was."""
    kind, old_kind = spec.get("type", "ClusterIP"), before.get("type", "ClusterIP")
    if old_kind != "ExternalName" and kind == "ExternalName":
        if spec.get("clusterIP") == before.get("clusterIP") and spec.get("clusterIPs") == before.get("clusterIPs"):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for key in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(key) == before.get(key):
                spec.pop(key, None)
    node_ports = ("NodePort", "LoadBalancer")
    if old_kind in node_ports and kind not in node_ports:
        old_ports = {p.get("nodePort") for p in _items(before, "ports")}
        if {p.get("nodePort") for p in _items(spec, "ports") if p.get("nodePort")} <= old_ports:
            for port in _items(spec, "ports"):
                port.pop("nodePort", None)
    if _needs_health_check(before) and not _needs_health_check(spec) and \
            spec.get("healthCheckNodePort") == before.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)
    if old_kind == "LoadBalancer" and kind != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(key) == before.get(key):
                spec.pop(key, None)
    if externally_accessible(before) and not externally_accessible(spec) and \
            spec.get("externalTrafficPolicy") == before.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)
    status = new.get("status")
    if kind != "LoadBalancer" and isinstance(status, dict) and status.get("loadBalancer"):
        status["loadBalancer"] = {}  # no load balancer any more: no ingress to report


def _needs_health_check(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _secret(secret: Obj) -> None:
    _default(secret, "type", "Opaque")
    string_data = secret.get("stringData")
    if not isinstance(string_data, dict):
        return
    data = _child(secret, "data")
    if data is None:
        return
    for key, value in string_data.items():
        if isinstance(value, str):
            data[key] = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
    if all(isinstance(value, str) for value in string_data.values()):
        del secret["stringData"]  # a write-only field: upstream never stores it


def _replication_controller(rc: Obj) -> None:
    """SetDefaults_ReplicationController: the selector and the object's labels from the template's labels."""
    spec = _child(rc, "spec")
    if spec is None:
        return
    template = _child(spec, "template", create=False)
    labels = _child(template, "metadata", create=False) if template is not None else None
    labels = labels.get("labels") if labels is not None else None
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _child(rc, "metadata")
        if meta is not None and not meta.get("labels"):
            meta["labels"] = dict(labels)
    _default(spec, "replicas", 1)
    _pod_template(spec)


def _namespace(namespace: Obj) -> None:
    meta = _child(namespace, "metadata")
    if meta is None:
        return
    name = meta.get("name")
    labels = _child(meta, "labels") if isinstance(name, str) and name else None
    if labels is not None:
        labels[NAMESPACE_NAME_LABEL] = name
    if not meta.get("resourceVersion"):  # a create: the finalize subresource may remove it later
        spec = _child(namespace, "spec")
        if spec is not None and spec.get("finalizers") is None:
            spec["finalizers"] = []
        finalizers = spec.get("finalizers") if spec is not None else None
        if isinstance(finalizers, list) and "kubernetes" not in finalizers:
            finalizers.append("kubernetes")


def _node(node: Obj) -> None:
    status = _child(node, "status", create=False)
    if status is not None and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def _endpoints(endpoints: Obj) -> None:
    for subset in _items(endpoints, "subsets"):
        for port in _items(subset, "ports"):
            _default(port, "protocol", "TCP")


# --------------------------------------------------------------------------------------------------
# apps/v1
# --------------------------------------------------------------------------------------------------

def _deployment(deployment: Obj) -> None:
    spec = _child(deployment, "spec")
    if spec is None:
        return
    _default(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    if strategy is not None:
        _default(strategy, "type", "RollingUpdate")
        rolling = _child(strategy, "rollingUpdate") if strategy["type"] == "RollingUpdate" else None
        if rolling is not None:
            _default(rolling, "maxUnavailable", "25%")
            _default(rolling, "maxSurge", "25%")
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    _pod_template(spec)


def _replica_set(replica_set: Obj) -> None:
    spec = _child(replica_set, "spec")
    if spec is not None:
        _default(spec, "replicas", 1)
        _pod_template(spec)


def _daemon_set(daemon_set: Obj) -> None:
    spec = _child(daemon_set, "spec")
    if spec is None:
        return
    strategy = _child(spec, "updateStrategy")
    if strategy is not None:
        _default(strategy, "type", "RollingUpdate")
        rolling = _child(strategy, "rollingUpdate") if strategy["type"] == "RollingUpdate" else None
        if rolling is not None:
            _default(rolling, "maxUnavailable", 1)
            _default(rolling, "maxSurge", 0)
    _default(spec, "revisionHistoryLimit", 10)
    _pod_template(spec)


def _stateful_set(stateful_set: Obj) -> None:
    spec = _child(stateful_set, "spec")
    if spec is None:
        return
    _default(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    if strategy is not None and not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _default(strategy, "rollingUpdate", {})
    rolling = _child(strategy, "rollingUpdate", create=False)
    if strategy is not None and strategy.get("type") == "RollingUpdate" and rolling is not None:
        _default(rolling, "partition", 0)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        _default(retention, "whenDeleted", "Retain")
        _default(retention, "whenScaled", "Retain")
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    for claim in _items(spec, "volumeClaimTemplates"):
        claim_spec = _child(claim, "spec")
        if claim_spec is not None:
            _default(claim_spec, "volumeMode", "Filesystem")
        claim_status = _child(claim, "status")
        if claim_status is not None:
            _default(claim_status, "phase", "Pending")
    _pod_template(spec)


# --------------------------------------------------------------------------------------------------
# batch/v1
# --------------------------------------------------------------------------------------------------

def _job(job: Obj) -> None:
    spec = _child(job, "spec")
    if spec is None:
        return
    _pod_template(spec)
    if spec.get("manualSelector") is not True:
        _generate_job_selector(job, spec)
    _job_spec(spec)
    template_meta = _child(_child(spec, "template", create=False), "metadata", create=False)
    template_labels = template_meta.get("labels") if template_meta is not None else None
    meta = _child(job, "metadata")
    if isinstance(template_labels, dict) and meta is not None and not meta.get("labels"):
        meta["labels"] = dict(template_labels)


def _generate_job_selector(job: Obj, spec: Obj) -> None:
    """The job strategy's generateSelector: label the pods with the job's uid and name, select the uid."""
    meta = _child(job, "metadata", create=False) or {}
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    template_meta = _child(_child(spec, "template"), "metadata")
    labels = _child(template_meta, "labels")
    if labels is None:
        return
    for key, value in ((LEGACY_JOB_NAME_LABEL, name), (JOB_NAME_LABEL, name),
                       (LEGACY_CONTROLLER_UID_LABEL, uid), (CONTROLLER_UID_LABEL, uid)):
        labels.setdefault(key, value)
    match_labels = _child(_child(spec, "selector"), "matchLabels")
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def _job_spec(spec: Obj) -> None:
    """SetDefaults_Job's spec part."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _default(spec, "parallelism", 1)
    _default(spec, "backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6)
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    failure_policy = _child(spec, "podFailurePolicy", create=False)
    for rule in _items(failure_policy, "rules"):
        for pattern in _items(rule, "onPodConditions"):
            if not pattern.get("status"):
                pattern["status"] = "True"
    _default(spec, "podReplacementPolicy", "Failed" if failure_policy is not None else "TerminatingOrFailed")


def _cron_job(cron_job: Obj) -> None:
    spec = _child(cron_job, "spec")
    if spec is None:
        return
    _default(spec, "concurrencyPolicy", "Allow")
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    _pod_template(_child(_child(spec, "jobTemplate", create=False), "spec", create=False))


# --------------------------------------------------------------------------------------------------
# autoscaling/v2
# --------------------------------------------------------------------------------------------------

def _scale_up_rules() -> Obj:
    return {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _scale_down_rules() -> Obj:
    return {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _hpa(hpa: Obj) -> None:
    spec = _child(hpa, "spec")
    if spec is None:
        return
    _default(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = _child(spec, "behavior", create=False)
    if behavior is not None:
        for direction, rules in (("scaleUp", _scale_up_rules()), ("scaleDown", _scale_down_rules())):
            given = behavior.get(direction)
            if isinstance(given, dict) or given is None:
                rules.update({k: v for k, v in (given or {}).items() if v is not None})
                behavior[direction] = rules


_DEFAULTERS: KindTable[Callable[[Obj], None] | None] = KindTable({
    kinds.PODS: _pod, kinds.SERVICES: _service, kinds.SECRETS: _secret, kinds.NAMESPACES: _namespace,
    kinds.NODES: _node, kinds.ENDPOINTS: _endpoints, kinds.REPLICATION_CONTROLLERS: _replication_controller,
    kinds.DEPLOYMENTS: _deployment,
    kinds.REPLICASETS: _replica_set, kinds.DAEMONSETS: _daemon_set, kinds.STATEFULSETS: _stateful_set,
    kinds.JOBS: _job, kinds.CRONJOBS: _cron_job, kinds.HORIZONTAL_POD_AUTOSCALERS: _hpa,
}, default=None)


# --------------------------------------------------------------------------------------------------
# Status on create, QoS
# --------------------------------------------------------------------------------------------------

def initial_status(rt: ResourceType, obj: Obj) -> Obj | None:
    """The status upstream's PrepareForCreate stores (zero counters included); None for kinds without one."""
    if not rt.has_status:
        return None
    derive = _STATUS_FROM_OBJECT.find(rt)
    if derive is not None:
        return derive(obj)
    return dict(_INITIAL_STATUS.find(rt))


def _pod_status(pod: Any) -> Obj:
    spec = pod.get("spec") if isinstance(pod, dict) else None
    return {"phase": "Pending", "qosClass": qos_class(spec if isinstance(spec, dict) else {})}


def _node_status(node: Any) -> Obj:
    """A kubelet registers its node with the status it observed."""
    status = node.get("status") if isinstance(node, dict) else None
    return dict(status) if isinstance(status, dict) else {}


# Kinds whose first status derives from the object itself; the others start from a fixed one.
_STATUS_FROM_OBJECT: KindTable[Callable[[Any], Obj] | None] = KindTable(
    {kinds.PODS: _pod_status, kinds.NODES: _node_status}, default=None)
_INITIAL_STATUS: KindTable[Obj] = KindTable({
    kinds.NAMESPACES: {"phase": "Active"},
    kinds.SERVICES: {"loadBalancer": {}},
    kinds.REPLICASETS: {"replicas": 0},
    kinds.REPLICATION_CONTROLLERS: {"replicas": 0},
    kinds.STATEFULSETS: {"replicas": 0, "availableReplicas": 0},
    kinds.DAEMONSETS: {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                       "numberReady": 0},
    kinds.HORIZONTAL_POD_AUTOSCALERS: {"desiredReplicas": 0},
}, default={})


_ZERO = Decimal(0)


def qos_class(pod_spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort from the cpu/memory requests and limits of every container."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    containers = _items(pod_spec, "containers") + _items(pod_spec, "initContainers")
    for container in containers:
        resources = _child(container, "resources", create=False) or {}
        container_limits = _positive_quantities(resources.get("limits"))
        # A pod's requests default to its limits (SetDefaults_Pod), so count them that way here too.
        container_requests = {**container_limits, **_positive_quantities(resources.get("requests"))}
        for name, amount in container_requests.items():
            requests[name] = requests.get(name, _ZERO) + amount
        for name, amount in container_limits.items():
            limits[name] = limits.get(name, _ZERO) + amount
        if "cpu" not in container_limits or "memory" not in container_limits:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _positive_quantities(resources: Any) -> dict[str, Decimal]:
    """The cpu and memory entries above zero; malformed quantities are validation's business."""
    found: dict[str, Decimal] = {}
    if not isinstance(resources, dict):
        return found
    for name in ("cpu", "memory"):
        raw = resources.get(name)
        if raw is None:
            continue
        try:
            amount = parse_quantity(raw)
        except ValueError:
            continue
        if amount > 0:
            found[name] = amount
    return found
