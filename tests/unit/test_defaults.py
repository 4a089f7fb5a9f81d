"""apiserver/defaults.py: upstream's default values, idempotence, the status stored on create, QoS classes."""
from __future__ import annotations

import base64
import copy
import re
from typing import Any

import pytest

from apiserver import defaults
from apiserver.defaults import apply_defaults, image_tag, initial_status, preserve_service_allocations, qos_class
from apiserver.validation import validate
from common.api import kinds
from common.api.registry import ResourceType

UID = "6f2a9c1e-0000-4000-8000-00000000abcd"
APP = {"app": "web"}


def _container(**extra: Any) -> dict[str, Any]:
    return {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}], **extra}


def _template(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": dict(APP)}, "spec": {"containers": [_container()], **spec}}


def _meta(name: str, namespaced: bool = True) -> dict[str, Any]:
    meta = {"name": name, "uid": UID}
    return {**meta, "namespace": "default"} if namespaced else meta


RAW: dict[ResourceType, dict[str, Any]] = {
    kinds.PODS: {"metadata": _meta("web-0"), "spec": {
        "containers": [_container(
            livenessProbe={"httpGet": {"port": 80}}, readinessProbe={"exec": {"command": ["true"]}},
            lifecycle={"preStop": {"httpGet": {"port": 80}}},
            env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})],
        "volumes": [{"name": "scratch"}, {"name": "cm", "configMap": {"name": "settings"}},
                    {"name": "creds", "secret": {"secretName": "creds"}}, {"name": "host", "hostPath": {"path": "/x"}},
                    {"name": "info", "downwardAPI": {"items": [{"path": "labels",
                                                                "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}},
    kinds.SERVICES: {"metadata": _meta("web"), "spec": {"selector": APP, "ports": [{"port": 80}]}},
    kinds.ENDPOINTS: {"metadata": _meta("web"), "subsets": [{"addresses": [{"ip": "10.244.1.5"}],
                                                             "ports": [{"port": 80}]}]},
    kinds.SECRETS: {"metadata": _meta("creds"), "stringData": {"password": "s3cr3t"}, "data": {"user": "YWRtaW4="}},
    kinds.NAMESPACES: {"metadata": _meta("team-a", namespaced=False)},
    kinds.NODES: {"metadata": _meta("node-1", namespaced=False), "status": {"capacity": {"cpu": "2", "pods": "110"}}},
    kinds.DEPLOYMENTS: {"metadata": _meta("web"), "spec": {"selector": {"matchLabels": APP}, "template": _template()}},
    kinds.REPLICATION_CONTROLLERS: {"metadata": _meta("web-rc"), "spec": {"template": _template()}},
    kinds.REPLICASETS: {"metadata": _meta("web-1"), "spec": {"selector": {"matchLabels": APP},
                                                            "template": _template()}},
    kinds.DAEMONSETS: {"metadata": _meta("agent"), "spec": {"selector": {"matchLabels": APP}, "template": _template()}},
    kinds.STATEFULSETS: {"metadata": _meta("db"), "spec": {
        "serviceName": "db", "selector": {"matchLabels": APP}, "template": _template(),
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}},
    kinds.JOBS: {"metadata": _meta("pi"), "spec": {"template": _template(restartPolicy="Never")}},
    kinds.CRONJOBS: {"metadata": _meta("nightly"), "spec": {"schedule": "@daily", "jobTemplate": {
        "spec": {"template": _template(restartPolicy="OnFailure")}}}},
    kinds.HORIZONTAL_POD_AUTOSCALERS: {"metadata": _meta("web"), "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 4}},
    kinds.CONFIGMAPS: {"metadata": _meta("settings"), "data": {"a": "b"}},
    kinds.LEASES: {"metadata": _meta("node-1"), "spec": {"holderIdentity": "node-1"}},
    kinds.EVENTS: {"metadata": _meta("web-0.1"), "involvedObject": {"kind": "Pod", "namespace": "default",
                                                                    "name": "web-0"}},
    kinds.SERVICE_ACCOUNTS: {"metadata": _meta("builder")},
}


def defaulted(rt: ResourceType, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    obj = copy.deepcopy(RAW[rt] if raw is None else raw)
    apply_defaults(rt, obj)
    return obj


def get_path(obj: Any, path: str) -> Any:
    for name, sub in re.findall(r"([^.\[\]]+)|\[([^\]]*)\]", path):
        obj = obj[int(sub)] if sub.isdigit() else obj[sub or name]
    return obj


MISSING = object()


def value_at(obj: Any, path: str) -> Any:
    try:
        return get_path(obj, path)
    except (KeyError, IndexError, TypeError):
        return MISSING


# -- upstream's values -------------------------------------------------------------------------------------

TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]

EXPECTED = [
    (kinds.PODS, "spec.restartPolicy", "Always"),
    (kinds.PODS, "spec.terminationGracePeriodSeconds", 30),
    (kinds.PODS, "spec.dnsPolicy", "ClusterFirst"),
    (kinds.PODS, "spec.schedulerName", "default-scheduler"),
    (kinds.PODS, "spec.securityContext", {}),
    (kinds.PODS, "spec.enableServiceLinks", True),
    (kinds.PODS, "spec.priority", 0),
    (kinds.PODS, "spec.preemptionPolicy", "PreemptLowerPriority"),
    (kinds.PODS, "spec.serviceAccountName", "default"),
    (kinds.PODS, "spec.serviceAccount", "default"),
    (kinds.PODS, "spec.tolerations", TOLERATIONS),
    (kinds.PODS, "spec.containers[0].terminationMessagePath", "/dev/termination-log"),
    (kinds.PODS, "spec.containers[0].terminationMessagePolicy", "File"),
    (kinds.PODS, "spec.containers[0].imagePullPolicy", "Always"),
    (kinds.PODS, "spec.containers[0].ports[0].protocol", "TCP"),
    (kinds.PODS, "spec.containers[0].resources.requests", {"cpu": "500m", "memory": "1Gi"}),
    (kinds.PODS, "spec.containers[0].livenessProbe", {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                                      "timeoutSeconds": 1, "periodSeconds": 10,
                                                      "successThreshold": 1, "failureThreshold": 3}),
    (kinds.PODS, "spec.containers[0].readinessProbe.failureThreshold", 3),
    (kinds.PODS, "spec.containers[0].lifecycle.preStop.httpGet.scheme", "HTTP"),
    (kinds.PODS, "spec.containers[0].env[0].valueFrom.fieldRef.apiVersion", "v1"),
    (kinds.PODS, "spec.volumes[0].emptyDir", {}),
    (kinds.PODS, "spec.volumes[1].configMap.defaultMode", 420),
    (kinds.PODS, "spec.volumes[2].secret.defaultMode", 420),
    (kinds.PODS, "spec.volumes[3].hostPath.type", ""),
    (kinds.PODS, "spec.volumes[4].downwardAPI.defaultMode", 420),
    (kinds.PODS, "spec.volumes[4].downwardAPI.items[0].fieldRef.apiVersion", "v1"),
    (kinds.PODS, "spec.volumes[5].projected.defaultMode", 420),
    (kinds.PODS, "spec.volumes[5].projected.sources[0].serviceAccountToken.expirationSeconds", 3600),
    (kinds.DEPLOYMENTS, "spec.replicas", 1),
    (kinds.DEPLOYMENTS, "spec.strategy", {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    (kinds.DEPLOYMENTS, "spec.revisionHistoryLimit", 10),
    (kinds.DEPLOYMENTS, "spec.progressDeadlineSeconds", 600),
    (kinds.DEPLOYMENTS, "spec.template.spec.restartPolicy", "Always"),
    (kinds.DEPLOYMENTS, "spec.template.spec.containers[0].terminationMessagePolicy", "File"),
    (kinds.DEPLOYMENTS, "spec.template.spec.tolerations", MISSING),  # admission only touches real pods
    (kinds.DEPLOYMENTS, "spec.template.spec.enableServiceLinks", MISSING),
    (kinds.REPLICASETS, "spec.replicas", 1),
    (kinds.REPLICATION_CONTROLLERS, "spec.replicas", 1),
    (kinds.REPLICATION_CONTROLLERS, "spec.selector", {"app": "web"}),
    (kinds.REPLICATION_CONTROLLERS, "metadata.labels", {"app": "web"}),
    (kinds.REPLICATION_CONTROLLERS, "spec.template.spec.restartPolicy", "Always"),
    (kinds.REPLICASETS, "spec.template.spec.schedulerName", "default-scheduler"),
    (kinds.DAEMONSETS, "spec.updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    (kinds.DAEMONSETS, "spec.revisionHistoryLimit", 10),
    (kinds.STATEFULSETS, "spec.replicas", 1),
    (kinds.STATEFULSETS, "spec.podManagementPolicy", "OrderedReady"),
    (kinds.STATEFULSETS, "spec.updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    (kinds.STATEFULSETS, "spec.revisionHistoryLimit", 10),
    (kinds.STATEFULSETS, "spec.persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain",
                                                                       "whenScaled": "Retain"}),
    (kinds.STATEFULSETS, "spec.volumeClaimTemplates[0].spec.volumeMode", "Filesystem"),
    (kinds.STATEFULSETS, "spec.volumeClaimTemplates[0].status.phase", "Pending"),
    (kinds.JOBS, "spec.completions", 1),
    (kinds.JOBS, "spec.parallelism", 1),
    (kinds.JOBS, "spec.backoffLimit", 6),
    (kinds.JOBS, "spec.completionMode", "NonIndexed"),
    (kinds.JOBS, "spec.suspend", False),
    (kinds.JOBS, "spec.podReplacementPolicy", "TerminatingOrFailed"),
    (kinds.JOBS, "spec.manualSelector", MISSING),
    (kinds.JOBS, "spec.selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}),
    (kinds.JOBS, "spec.template.metadata.labels", {
        "app": "web", "controller-uid": UID, "batch.kubernetes.io/controller-uid": UID, "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi"}),
    (kinds.JOBS, "metadata.labels", {
        "app": "web", "controller-uid": UID, "batch.kubernetes.io/controller-uid": UID, "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi"}),
    (kinds.JOBS, "spec.template.spec.dnsPolicy", "ClusterFirst"),
    (kinds.CRONJOBS, "spec.concurrencyPolicy", "Allow"),
    (kinds.CRONJOBS, "spec.suspend", False),
    (kinds.CRONJOBS, "spec.successfulJobsHistoryLimit", 3),
    (kinds.CRONJOBS, "spec.failedJobsHistoryLimit", 1),
    (kinds.CRONJOBS, "spec.jobTemplate.spec.template.spec.terminationGracePeriodSeconds", 30),
    (kinds.CRONJOBS, "spec.jobTemplate.spec.backoffLimit", MISSING),  # SetDefaults_Job is for Jobs only
    (kinds.SERVICES, "spec.type", "ClusterIP"),
    (kinds.SERVICES, "spec.sessionAffinity", "None"),
    (kinds.SERVICES, "spec.ports[0]", {"port": 80, "protocol": "TCP", "targetPort": 80}),
    (kinds.SERVICES, "spec.internalTrafficPolicy", "Cluster"),
    (kinds.SERVICES, "spec.externalTrafficPolicy", MISSING),
    (kinds.SERVICES, "spec.ipFamilies", MISSING),  # no cluster IP allocated yet
    (kinds.ENDPOINTS, "subsets[0].ports[0].protocol", "TCP"),
    (kinds.SECRETS, "type", "Opaque"),
    (kinds.SECRETS, "data", {"user": "YWRtaW4=", "password": base64.b64encode(b"s3cr3t").decode()}),
    (kinds.SECRETS, "stringData", MISSING),
    (kinds.NAMESPACES, "metadata.labels", {"kubernetes.io/metadata.name": "team-a"}),
    (kinds.NAMESPACES, "spec.finalizers", ["kubernetes"]),
    (kinds.NODES, "status.allocatable", {"cpu": "2", "pods": "110"}),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.minReplicas", 1),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.metrics", [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.behavior", MISSING),
]


@pytest.mark.parametrize("rt, path, expected", EXPECTED, ids=[f"{c[0].kind}:{c[1]}" for c in EXPECTED])
def test_upstream_default(rt: ResourceType, path: str, expected: Any) -> None:
    assert value_at(defaulted(rt), path) == expected


@pytest.mark.parametrize("rt", list(RAW), ids=lambda rt: rt.kind)
def test_defaults_are_idempotent(rt: ResourceType) -> None:
    once = defaulted(rt)
    twice = copy.deepcopy(once)
    apply_defaults(rt, twice)
    assert twice == once


@pytest.mark.parametrize("rt", [rt for rt in RAW if rt != kinds.EVENTS], ids=lambda rt: rt.kind)
def test_defaulted_objects_validate(rt: ResourceType) -> None:
    assert validate(rt, defaulted(rt)) == []


EXPLICIT = [
    (kinds.PODS, "spec.restartPolicy", "Never"),
    (kinds.PODS, "spec.terminationGracePeriodSeconds", 0),
    (kinds.PODS, "spec.containers[0].imagePullPolicy", "Never"),
    (kinds.PODS, "spec.containers[0].ports[0].protocol", "UDP"),
    (kinds.PODS, "spec.containers[0].livenessProbe.periodSeconds", 3),
    (kinds.PODS, "spec.volumes[1].configMap.defaultMode", 256),
    (kinds.PODS, "spec.serviceAccountName", "builder"),
    (kinds.DEPLOYMENTS, "spec.replicas", 0),
    (kinds.DEPLOYMENTS, "spec.revisionHistoryLimit", 0),
    (kinds.DEPLOYMENTS, "spec.strategy", {"type": "Recreate"}),
    (kinds.DAEMONSETS, "spec.updateStrategy", {"type": "OnDelete"}),
    (kinds.STATEFULSETS, "spec.updateStrategy", {"type": "RollingUpdate"}),
    (kinds.JOBS, "spec.backoffLimit", 0),
    (kinds.CRONJOBS, "spec.concurrencyPolicy", "Forbid"),
    (kinds.SERVICES, "spec.type", "NodePort"),
    (kinds.SERVICES, "spec.ports[0].targetPort", "http"),
    (kinds.SECRETS, "type", "kubernetes.io/tls"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.minReplicas", 2),
]


@pytest.mark.parametrize("rt, path, value", EXPLICIT, ids=[f"{c[0].kind}:{c[1]}" for c in EXPLICIT])
def test_explicit_values_are_kept(rt: ResourceType, path: str, value: Any) -> None:
    raw = copy.deepcopy(RAW[rt])
    *parents, last = [p for p in re.findall(r"[^.\[\]]+", path)]
    target = raw
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[last] = copy.deepcopy(value)
    assert get_path(defaulted(rt, raw), path) == value


# -- defaults that depend on other fields ----------------------------------------------------------------

@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/team/nginx:1", "IfNotPresent"),
    ("registry.k8s.io/pause:3.9", "IfNotPresent"), ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx:latest@sha256:" + "a" * 64, "Always"), ("Nginx", "IfNotPresent"), ("", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    pod = {"metadata": _meta("p"), "spec": {"containers": [{"name": "c", "image": image}]}}
    apply_defaults(kinds.PODS, pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_image_tag_parsing() -> None:
    assert (image_tag("busybox"), image_tag("busybox:1.36"), image_tag("a@sha256:" + "0" * 64)) == ("latest", "1.36",
                                                                                                     "")


@pytest.mark.parametrize("given, added", [
    ([], TOLERATIONS),
    ([{"operator": "Exists"}], []),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}],
     [TOLERATIONS[1]]),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], [TOLERATIONS[0]]),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}], TOLERATIONS),
])
def test_default_toleration_seconds(given: list[dict[str, Any]], added: list[dict[str, Any]]) -> None:
    pod = {"metadata": _meta("p"), "spec": {"containers": [_container()], "tolerations": copy.deepcopy(given)}}
    apply_defaults(kinds.PODS, pod)
    assert pod["spec"]["tolerations"] == given + added


def test_system_priority_classes_and_unknown_classes() -> None:
    pod = {"metadata": _meta("p"), "spec": {"containers": [_container()], "priorityClassName": "system-node-critical"}}
    apply_defaults(kinds.PODS, pod)
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (2000001000, "PreemptLowerPriority")
    pod = {"metadata": _meta("p"), "spec": {"containers": [_container()], "priorityClassName": "batch-low"}}
    apply_defaults(kinds.PODS, pod)
    assert "priority" not in pod["spec"]


def test_host_network_pods_publish_their_ports_and_negative_grace_becomes_one() -> None:
    pod = {"metadata": _meta("p"), "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": -5,
                                            "containers": [_container()]}}
    apply_defaults(kinds.PODS, pod)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 80
    assert pod["spec"]["terminationGracePeriodSeconds"] == 1


def test_job_with_manual_selector_gets_no_generated_labels() -> None:
    raw = copy.deepcopy(RAW[kinds.JOBS])
    raw["spec"].update(manualSelector=True, selector={"matchLabels": APP})
    job = defaulted(kinds.JOBS, raw)
    assert job["spec"]["selector"] == {"matchLabels": APP}
    assert job["spec"]["template"]["metadata"]["labels"] == APP


@pytest.mark.parametrize("spec, completions, parallelism, backoff", [
    ({"parallelism": 3}, MISSING, 3, 6),
    ({"completions": 5}, 5, 1, 6),
    ({"completionMode": "Indexed", "completions": 4, "backoffLimitPerIndex": 1}, 4, 1, 2**31 - 1),
])
def test_job_counts(spec: dict[str, Any], completions: Any, parallelism: int, backoff: int) -> None:
    raw = copy.deepcopy(RAW[kinds.JOBS])
    raw["spec"].update(spec)
    job = defaulted(kinds.JOBS, raw)
    assert (value_at(job, "spec.completions"), job["spec"]["parallelism"], job["spec"]["backoffLimit"]) == (
        completions, parallelism, backoff)


def test_job_with_pod_failure_policy_replaces_failed_pods_only() -> None:
    raw = copy.deepcopy(RAW[kinds.JOBS])
    raw["spec"]["podFailurePolicy"] = {"rules": [{"action": "Ignore",
                                                  "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    job = defaulted(kinds.JOBS, raw)
    assert job["spec"]["podReplacementPolicy"] == "Failed"
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


@pytest.mark.parametrize("spec, path, expected", [
    ({"type": "NodePort"}, "spec.externalTrafficPolicy", "Cluster"),
    ({"type": "LoadBalancer"}, "spec.allocateLoadBalancerNodePorts", True),
    ({"type": "ExternalName", "externalName": "db.example.com"}, "spec.internalTrafficPolicy", MISSING),
    ({"clusterIP": "10.96.0.10"}, "spec.clusterIPs", ["10.96.0.10"]),
    ({"clusterIP": "10.96.0.10"}, "spec.ipFamilies", ["IPv4"]),
    ({"clusterIP": "10.96.0.10"}, "spec.ipFamilyPolicy", "SingleStack"),
    ({"clusterIP": "fd00::10"}, "spec.ipFamilies", ["IPv6"]),
    ({"clusterIP": "None"}, "spec.ipFamilyPolicy", "SingleStack"),
    ({"clusterIP": "None", "selector": None}, "spec.ipFamilyPolicy", "RequireDualStack"),
    ({"sessionAffinity": "ClientIP"}, "spec.sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}}),
    ({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}, "spec.sessionAffinityConfig", MISSING),
])
def test_service_defaults(spec: dict[str, Any], path: str, expected: Any) -> None:
    raw = copy.deepcopy(RAW[kinds.SERVICES])
    raw["spec"].update(spec)
    raw["spec"] = {k: v for k, v in raw["spec"].items() if v is not None}
    assert value_at(defaulted(kinds.SERVICES, raw), path) == expected


def test_service_allocations_survive_an_update_that_omits_them() -> None:
    old = defaulted(kinds.SERVICES)
    old["spec"].update(type="NodePort", clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])
    old["spec"]["ports"][0]["nodePort"] = 30080
    new = copy.deepcopy(RAW[kinds.SERVICES])
    new["spec"]["type"] = "NodePort"
    preserve_service_allocations(new, old)
    assert (new["spec"]["clusterIP"], new["spec"]["clusterIPs"], new["spec"]["ports"][0]["nodePort"]) == (
        "10.96.0.10", ["10.96.0.10"], 30080)


def test_namespace_finalizer_is_added_on_create_only() -> None:
    created = defaulted(kinds.NAMESPACES, {"metadata": {"name": "a"}, "spec": {"finalizers": ["example.com/x"]}})
    assert created["spec"]["finalizers"] == ["example.com/x", "kubernetes"]
    finalized = {"metadata": {"name": "a", "resourceVersion": "42"}, "spec": {"finalizers": []}}
    apply_defaults(kinds.NAMESPACES, finalized)
    assert finalized["spec"]["finalizers"] == []


def test_hpa_behavior_is_completed_from_upstream_rules() -> None:
    raw = copy.deepcopy(RAW[kinds.HORIZONTAL_POD_AUTOSCALERS])
    raw["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    hpa = defaulted(kinds.HORIZONTAL_POD_AUTOSCALERS, raw)
    assert hpa["spec"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                 {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_secret_string_data_overrides_data() -> None:
    secret = defaulted(kinds.SECRETS, {"metadata": _meta("s"), "data": {"k": "b2xk"}, "stringData": {"k": "new"}})
    assert secret["data"] == {"k": base64.b64encode(b"new").decode()} and "stringData" not in secret


# -- status on create and QoS ----------------------------------------------------------------------------

@pytest.mark.parametrize("rt, expected", [
    (kinds.PODS, {"phase": "Pending", "qosClass": "Burstable"}),
    (kinds.NAMESPACES, {"phase": "Active"}),
    (kinds.SERVICES, {"loadBalancer": {}}),
    (kinds.DEPLOYMENTS, {}),
    (kinds.REPLICASETS, {"replicas": 0}),
    (kinds.REPLICATION_CONTROLLERS, {"replicas": 0}),
    (kinds.STATEFULSETS, {"replicas": 0, "availableReplicas": 0}),
    (kinds.DAEMONSETS, {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                        "numberReady": 0}),
    (kinds.JOBS, {}), (kinds.CRONJOBS, {}),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, {"desiredReplicas": 0}),
    (kinds.NODES, {"capacity": {"cpu": "2", "pods": "110"}}),
    (kinds.CONFIGMAPS, None), (kinds.SECRETS, None), (kinds.EVENTS, None), (kinds.LEASES, None),
    (kinds.ENDPOINTS, None), (kinds.SERVICE_ACCOUNTS, None),
])
def test_initial_status(rt: ResourceType, expected: Any) -> None:
    assert initial_status(rt, copy.deepcopy(RAW[rt])) == expected


def test_initial_status_is_a_fresh_copy() -> None:
    first = initial_status(kinds.REPLICASETS, {})
    assert first is not None
    first["replicas"] = 3
    assert initial_status(kinds.REPLICASETS, {}) == {"replicas": 0}


def _resources(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "image": "x", "resources": resources}


FULL = {"cpu": "500m", "memory": "128Mi"}


@pytest.mark.parametrize("containers, init, expected", [
    ([_resources()], [], "BestEffort"),
    ([_resources(requests={"cpu": "0"})], [], "BestEffort"),
    ([_resources(requests={"ephemeral-storage": "1Gi"})], [], "BestEffort"),
    ([_resources(limits=FULL)], [], "Guaranteed"),
    ([_resources(requests={"cpu": "0.5", "memory": "128Mi"}, limits=FULL)], [], "Guaranteed"),
    ([_resources(requests={"cpu": "100m"}, limits=FULL)], [], "Burstable"),
    ([_resources(requests={"cpu": "100m"})], [], "Burstable"),
    ([_resources(limits={"cpu": "1"})], [], "Burstable"),
    ([_resources(limits=FULL), _resources()], [], "Burstable"),
    ([_resources(limits=FULL)], [_resources()], "Burstable"),
    ([_resources(limits=FULL)], [_resources(limits=FULL)], "Guaranteed"),
    ([_resources(limits={"cpu": "bogus", "memory": "1Gi"})], [], "Burstable"),
])
def test_qos_class(containers: list[dict[str, Any]], init: list[dict[str, Any]], expected: str) -> None:
    assert qos_class({"containers": containers, "initContainers": init}) == expected


def test_qos_is_the_same_before_and_after_defaults() -> None:
    pod = copy.deepcopy(RAW[kinds.PODS])
    before = qos_class(pod["spec"])
    apply_defaults(kinds.PODS, pod)
    assert qos_class(pod["spec"]) == before == "Burstable"


# -- never an exception ----------------------------------------------------------------------------------------

def _paths(value: Any, prefix: str = "") -> list[str]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, f"{prefix}[{i}]")
    return found


def _replace(obj: Any, path: str, value: Any) -> None:
    tokens = [int(sub) if sub.isdigit() else sub or name for name, sub in re.findall(r"([^.\[\]]+)|\[([^\]]*)\]", path)]
    for token in tokens[:-1]:
        obj = obj[token]
    obj[tokens[-1]] = value


@pytest.mark.parametrize("rt", list(RAW), ids=lambda rt: rt.kind)
def test_odd_values_never_break_the_defaulters(rt: ResourceType) -> None:
    """The defaulter itself (not apply_defaults' safety net) copes with any JSON value anywhere."""
    defaulter = defaults._DEFAULTERS.get(rt, lambda obj: None)
    for path in _paths(RAW[rt]):
        for value in (None, 1, -1, "x", "", [], {}, [None], True, 1.5):
            obj = copy.deepcopy(RAW[rt])
            _replace(obj, path, value)
            defaulter(obj)
            initial_status(rt, obj)
            spec = obj.get("spec")
            qos_class(spec if isinstance(spec, dict) else {})


def test_each_volume_source_gets_its_own_defaults() -> None:
    pod = {"metadata": _meta("p"), "spec": {"containers": [_container()], "volumes": [
        {"name": "img", "image": {"reference": "busybox"}}, {"name": "img2", "image": {"reference": "busybox:1.36"}},
        {"name": "proj", "projected": {"sources": [{"downwardAPI": {"items": [
            {"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}},
        {"name": "two", "secret": {"secretName": "s"}, "hostPath": {"path": "/x"}},  # invalid, defaulted anyway
        {"name": "nulls", "emptyDir": None, "secret": None}]}}
    assert defaulted(kinds.PODS, pod)["spec"]["volumes"] == [
        {"name": "img", "image": {"reference": "busybox", "pullPolicy": "Always"}},
        {"name": "img2", "image": {"reference": "busybox:1.36", "pullPolicy": "IfNotPresent"}},
        {"name": "proj", "projected": {"sources": [{"downwardAPI": {"items": [
            {"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}]}}], "defaultMode": 420}},
        {"name": "two", "secret": {"secretName": "s", "defaultMode": 420}, "hostPath": {"path": "/x", "type": ""}},
        {"name": "nulls", "emptyDir": {}, "secret": None}]


def test_init_container_limits_count_towards_qos() -> None:
    limits = {"cpu": "1", "memory": "1Gi"}
    spec = {"containers": [{"resources": {"limits": dict(limits)}}],
            "initContainers": [{"resources": {"limits": dict(limits), "requests": {"cpu": "1"}}}]}
    assert initial_status(kinds.PODS, {"spec": spec}) == {"phase": "Pending", "qosClass": "Guaranteed"}
    spec["initContainers"][0]["resources"]["requests"]["cpu"] = "500m"
    assert qos_class(spec) == "Burstable"
