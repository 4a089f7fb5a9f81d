"""apiserver/validation.py: upstream's field paths, reasons and messages, immutable fields, no exceptions."""
from __future__ import annotations

import copy
import dataclasses
import re
from decimal import Decimal
from typing import Any

import pytest

from apiserver import defaults
from apiserver.validation import (canonical_quantity, cron_error, is_dns1035_label, is_dns1123_label,
                                  is_dns1123_subdomain, is_qualified_name, is_valid_label_value, parse_ip,
                                  parse_quantity, validate)
from common.api import kinds
from common.api.registry import ResourceType
from common.errors import invalid

# -- fixtures: one good object per kind, defaulted the way the apiserver does before validating ----------


def _container(name: str = "web", image: str = "nginx:1.25") -> dict[str, Any]:
    return {"name": name, "image": image, "ports": [{"name": "http", "containerPort": 80}],
            "env": [{"name": "MODE", "value": "prod"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
            "readinessProbe": {"httpGet": {"port": "http"}}, "livenessProbe": {"tcpSocket": {"port": 80}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}


def _pod_spec() -> dict[str, Any]:
    return {"containers": [_container()], "volumes": [{"name": "data", "emptyDir": {}}]}


def _template(labels: dict[str, str], restart: str | None = None) -> dict[str, Any]:
    spec = _pod_spec()
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def _meta(name: str, namespace: str | None = "default", **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "uid": "0b1c2d3e-0000-4000-8000-000000000001", **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


APP = {"app": "web"}
RAW: dict[ResourceType, dict[str, Any]] = {
    kinds.PODS: {"metadata": _meta("web-0", labels=APP), "spec": _pod_spec()},
    kinds.SERVICES: {"metadata": _meta("web"), "spec": {"selector": APP,
                                                        "ports": [{"port": 80, "targetPort": "http"}]}},
    kinds.ENDPOINTS: {"metadata": _meta("web"), "subsets": [{"addresses": [{"ip": "10.244.1.5"}],
                                                             "ports": [{"port": 80}]}]},
    kinds.CONFIGMAPS: {"metadata": _meta("settings"), "data": {"app.conf": "x=1", "MODE": "prod"}},
    kinds.SECRETS: {"metadata": _meta("creds"), "data": {"password": "c2VjcmV0"}},
    kinds.EVENTS: {"metadata": _meta("web-0.17a3b"), "involvedObject": {"kind": "Pod", "namespace": "default",
                                                                        "name": "web-0"},
                   "reason": "Started", "message": "Started container", "type": "Normal"},
    kinds.SERVICE_ACCOUNTS: {"metadata": _meta("builder")},
    kinds.NAMESPACES: {"metadata": _meta("team-a", namespace=None)},
    kinds.NODES: {"metadata": _meta("node-1", namespace=None), "spec": {"podCIDR": "10.244.1.0/24",
                                                                        "taints": [{"key": "dedicated",
                                                                                    "value": "gpu",
                                                                                    "effect": "NoSchedule"}]},
                  "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}},
    kinds.DEPLOYMENTS: {"metadata": _meta("web"), "spec": {"selector": {"matchLabels": APP},
                                                          "template": _template(APP)}},
    kinds.REPLICATION_CONTROLLERS: {"metadata": _meta("web-rc"), "spec": {"replicas": 2, "selector": APP,
                                                                      "template": _template(APP)}},
    kinds.REPLICASETS: {"metadata": _meta("web-5d8f"), "spec": {"replicas": 2, "selector": {"matchLabels": APP},
                                                               "template": _template(APP)}},
    kinds.DAEMONSETS: {"metadata": _meta("agent"), "spec": {"selector": {"matchLabels": APP},
                                                           "template": _template(APP)}},
    kinds.STATEFULSETS: {"metadata": _meta("db"), "spec": {"serviceName": "db", "selector": {"matchLabels": APP},
                                                          "template": _template(APP)}},
    kinds.JOBS: {"metadata": _meta("pi"), "spec": {"template": _template({}, restart="Never")}},
    kinds.CRONJOBS: {"metadata": _meta("nightly"), "spec": {"schedule": "*/5 * * * *", "jobTemplate": {
        "spec": {"template": _template({}, restart="OnFailure")}}}},
    kinds.HORIZONTAL_POD_AUTOSCALERS: {"metadata": _meta("web"), "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}},
    kinds.LEASES: {"metadata": _meta("node-1"), "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}},
}


def good(rt: ResourceType) -> dict[str, Any]:
    obj = copy.deepcopy(RAW[rt])
    obj.update(apiVersion=rt.api_version, kind=rt.kind)
    defaults.apply_defaults(rt, obj)
    return obj


# -- path helpers: "spec.containers[0].image", "data[app.conf]" ---------------------------------------------

DELETE = object()


def _tokens(path: str) -> list[str | int]:
    return [int(sub) if sub.isdigit() else sub if sub else name
            for name, sub in re.findall(r"([^.\[\]]+)|\[([^\]]*)\]", path)]


def set_path(obj: Any, path: str, value: Any) -> Any:
    *parents, last = _tokens(path)
    for token in parents:
        obj = obj[token] if isinstance(token, int) else obj.setdefault(token, {})
    if value is DELETE:
        obj.pop(last, None)
    elif isinstance(obj, list) and last == len(obj):
        obj.append(value)
    else:
        obj[last] = value
    return obj


def causes_at(causes: list[dict[str, str]], field: str, reason: str) -> list[dict[str, str]]:
    return [c for c in causes if c["field"] == field and c["reason"] == reason]


# -- every good object passes --------------------------------------------------------------------------------

@pytest.mark.parametrize("rt", list(RAW), ids=lambda rt: rt.kind)
def test_good_object_passes(rt: ResourceType) -> None:
    assert validate(rt, good(rt)) == []


@pytest.mark.parametrize("rt", list(RAW), ids=lambda rt: rt.kind)
def test_unchanged_update_passes(rt: ResourceType) -> None:
    obj = good(rt)
    assert validate(rt, copy.deepcopy(obj), obj) == []


# -- exact messages for the shapes every other check reuses ---------------------------------------------------

def test_invalid_name_message_is_upstreams() -> None:
    pod = good(kinds.PODS)
    pod["metadata"]["name"] = "Foo"
    assert validate(kinds.PODS, pod) == [{
        "reason": "FieldValueInvalid", "field": "metadata.name",
        "message": "Invalid value: \"Foo\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                   "'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"}]


def test_invalid_error_summary_reads_like_kubectl() -> None:
    pod = good(kinds.PODS)
    pod["spec"]["containers"][0]["image"] = ""
    err = invalid("Pod", "web-0", validate(kinds.PODS, pod))
    assert err.message == 'Pod "web-0" is invalid: spec.containers[0].image: Required value'


@pytest.mark.parametrize("rt, path, value, field, message", [
    (kinds.PODS, "spec.restartPolicy", "Sometimes", "spec.restartPolicy",
     'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    (kinds.PODS, "metadata.labels", {"a b": "x"}, "metadata.labels",
     "Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
     "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
     "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
    (kinds.PODS, "spec.containers[0].resources.requests.cpu", "1", "spec.containers[0].resources.requests",
     'Invalid value: "1": must be less than or equal to cpu limit of 500m'),
    (kinds.PODS, "metadata.annotations", {"big": "x" * 262144}, "metadata.annotations",
     "Too long: must have at most 262144 bytes"),
    (kinds.PODS, "spec.containers[0].ports[0].containerPort", 70000, "spec.containers[0].ports[0].containerPort",
     "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    (kinds.DEPLOYMENTS, "spec.template.metadata.labels", {"app": "other"}, "spec.template.metadata.labels",
     'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'),
    (kinds.DEPLOYMENTS, "spec.strategy.rollingUpdate.maxSurge", "50x", "spec.strategy.rollingUpdate.maxSurge",
     "Invalid value: 50x: a valid percent string must be a numeric string followed by an ending '%' "
     "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"),
    (kinds.JOBS, "spec.template.spec.restartPolicy", "Always", "spec.template.spec.restartPolicy",
     'Required value: valid values: "OnFailure", "Never"'),
    (kinds.PODS, "spec.volumes[0].name", "other", "spec.containers[0].volumeMounts[0].name",
     'Not found: "data"'),
])
def test_exact_messages(rt: ResourceType, path: str, value: Any, field: str, message: str) -> None:
    obj = good(rt)
    set_path(obj, path, value)
    assert message in [c["message"] for c in validate(rt, obj) if c["field"] == field]


# -- one broken field at a time: the expected path and reason (and, where given, a message fragment) ----------

_LONG = "x" * 53
BROKEN = [
    # metadata, on any kind
    (kinds.PODS, "metadata.name", DELETE, "metadata.name", "FieldValueRequired", "name or generateName is required"),
    (kinds.PODS, "metadata.generateName", "Web-", "metadata.generateName", "FieldValueInvalid", "RFC 1123 subdomain"),
    (kinds.PODS, "metadata.namespace", "Bad_NS", "metadata.namespace", "FieldValueInvalid", "RFC 1123 label"),
    (kinds.PODS, "metadata.namespace", DELETE, "metadata.namespace", "FieldValueRequired", None),
    (kinds.PODS, "metadata.labels", {"app": "-web"}, "metadata.labels", "FieldValueInvalid", "a valid label must"),
    (kinds.PODS, "metadata.labels", {"app": "x" * 64}, "metadata.labels", "FieldValueInvalid", "no more than 63"),
    (kinds.PODS, "metadata.labels", {"a/b/c": "x"}, "metadata.labels", "FieldValueInvalid", "a qualified name"),
    (kinds.PODS, "metadata.annotations", {"Bad Key": "x"}, "metadata.annotations", "FieldValueInvalid", None),
    (kinds.PODS, "metadata.ownerReferences", [{"apiVersion": "", "kind": "ReplicaSet", "name": "rs", "uid": "1"}],
     "metadata.ownerReferences.apiVersion", "FieldValueInvalid", "version must not be empty"),
    (kinds.PODS, "metadata.ownerReferences", [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"}],
     "metadata.ownerReferences.uid", "FieldValueInvalid", "must not be empty"),
    (kinds.PODS, "metadata.ownerReferences", [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"}],
     "metadata.ownerReferences", "FieldValueInvalid", "/v1, Kind=Event is disallowed from being an owner"),
    (kinds.PODS, "metadata.ownerReferences", [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": True}],
     "metadata.ownerReferences", "FieldValueInvalid", "Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"),
    (kinds.PODS, "metadata.finalizers", ["bad finalizer"], "metadata.finalizers", "FieldValueInvalid", None),
    (kinds.PODS, "metadata.finalizers", ["custom"], "metadata.finalizers[0]", "FieldValueInvalid",
     "neither a standard finalizer name nor is it fully qualified"),
    (kinds.PODS, "metadata.finalizers", ["orphan", "foregroundDeletion"], "metadata.finalizers", "FieldValueInvalid",
     "cannot be both set"),
    (kinds.NAMESPACES, "metadata.namespace", "default", "metadata.namespace", "FieldValueForbidden",
     "not allowed on this type"),
    # pod spec
    (kinds.PODS, "spec.containers", [], "spec.containers", "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].name", "Web", "spec.containers[0].name", "FieldValueInvalid", "RFC 1123 label"),
    (kinds.PODS, "spec.containers[0].name", DELETE, "spec.containers[0].name", "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].image", "", "spec.containers[0].image", "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].image", " nginx", "spec.containers[0].image", "FieldValueInvalid",
     "must not have leading or trailing whitespace"),
    (kinds.PODS, "spec.containers[0].imagePullPolicy", "Sometimes", "spec.containers[0].imagePullPolicy",
     "FieldValueNotSupported", '"Always", "IfNotPresent", "Never"'),
    (kinds.PODS, "spec.containers[0].terminationMessagePolicy", "Log", "spec.containers[0].terminationMessagePolicy",
     "FieldValueNotSupported", None),
    (kinds.PODS, "spec.containers[0].ports[0].containerPort", DELETE, "spec.containers[0].ports[0].containerPort",
     "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].ports[0].protocol", "HTTP", "spec.containers[0].ports[0].protocol",
     "FieldValueNotSupported", 'supported values: "SCTP", "TCP", "UDP"'),
    (kinds.PODS, "spec.containers[0].ports[0].name", "http_web", "spec.containers[0].ports[0].name",
     "FieldValueInvalid", "must contain only alpha-numeric characters"),
    (kinds.PODS, "spec.containers[0].ports[0].hostPort", 70000, "spec.containers[0].ports[0].hostPort",
     "FieldValueInvalid", "must be between 1 and 65535"),
    (kinds.PODS, "spec.containers[0].env[0].name", "", "spec.containers[0].env[0].name", "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].env[0].name", "A=B", "spec.containers[0].env[0].name", "FieldValueInvalid",
     "printable ASCII characters other than '='"),
    (kinds.PODS, "spec.containers[0].env[0].valueFrom", {"fieldRef": {"fieldPath": "metadata.name"}},
     "spec.containers[0].env[0].valueFrom", "FieldValueInvalid", "may not be specified when `value` is not empty"),
    (kinds.PODS, "spec.containers[0].env[0]", {"name": "X", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                        "fieldPath": "spec.bogus"}}},
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "FieldValueInvalid", "field label not supported"),
    (kinds.PODS, "spec.containers[0].env[0]", {"name": "X", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                        "fieldPath": "status.phase"}}},
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "FieldValueNotSupported", None),
    (kinds.PODS, "spec.containers[0].env[0]", {"name": "X", "valueFrom": {}},
     "spec.containers[0].env[0].valueFrom", "FieldValueInvalid", "must specify one of"),
    (kinds.PODS, "spec.containers[0].envFrom", [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}],
     "spec.containers[0].envFrom", "FieldValueInvalid", "may not have more than one field specified at a time"),
    (kinds.PODS, "spec.volumes[0].name", "Data", "spec.volumes[0].name", "FieldValueInvalid", None),
    (kinds.PODS, "spec.volumes[0].secret", {"secretName": "s"}, "spec.volumes[0].secret", "FieldValueForbidden",
     "may not specify more than 1 volume type"),
    (kinds.PODS, "spec.volumes[0]", {"name": "data"}, "spec.volumes[0]", "FieldValueRequired",
     "must specify a volume type"),
    (kinds.PODS, "spec.volumes[0]", {"name": "data", "secret": {}}, "spec.volumes[0].secret.secretName",
     "FieldValueRequired", None),
    (kinds.PODS, "spec.volumes[0]", {"name": "data", "configMap": {"name": "c", "defaultMode": 1000}},
     "spec.volumes[0].configMap.defaultMode", "FieldValueInvalid", "0777 (octal)"),
    (kinds.PODS, "spec.volumes[0]", {"name": "data", "configMap": {"name": "c", "items": [{"key": "k",
                                                                                          "path": "../x"}]}},
     "spec.volumes[0].configMap.items[0].path", "FieldValueInvalid", "must not contain '..'"),
    (kinds.PODS, "spec.volumes[0]", {"name": "data", "hostPath": {"path": "/d", "type": "Dir"}},
     "spec.volumes[0].hostPath.type", "FieldValueNotSupported", None),
    (kinds.PODS, "spec.volumes[0]", {"name": "data", "persistentVolumeClaim": {}},
     "spec.volumes[0].persistentVolumeClaim.claimName", "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].volumeMounts[0].mountPath", "", "spec.containers[0].volumeMounts[0].mountPath",
     "FieldValueRequired", None),
    (kinds.PODS, "spec.restartPolicy", "", "spec.restartPolicy", "FieldValueRequired", None),
    (kinds.PODS, "spec.dnsPolicy", "Foo", "spec.dnsPolicy", "FieldValueNotSupported", None),
    (kinds.PODS, "spec.terminationGracePeriodSeconds", DELETE, "spec.terminationGracePeriodSeconds",
     "FieldValueRequired", None),
    (kinds.PODS, "spec.containers[0].livenessProbe", {"periodSeconds": 10, "successThreshold": 1},
     "spec.containers[0].livenessProbe", "FieldValueRequired", "must specify a handler type"),
    (kinds.PODS, "spec.containers[0].livenessProbe.exec", {"command": ["true"]},
     "spec.containers[0].livenessProbe.tcpSocket", "FieldValueForbidden", "may not specify more than 1 handler type"),
    (kinds.PODS, "spec.containers[0].livenessProbe.successThreshold", 2,
     "spec.containers[0].livenessProbe.successThreshold", "FieldValueInvalid", "must be 1"),
    (kinds.PODS, "spec.containers[0].readinessProbe.periodSeconds", -1,
     "spec.containers[0].readinessProbe.periodSeconds", "FieldValueInvalid", "must be greater than or equal to 0"),
    (kinds.PODS, "spec.containers[0].readinessProbe.httpGet.port", "Http!",
     "spec.containers[0].readinessProbe.httpGet.port", "FieldValueInvalid", None),
    (kinds.PODS, "spec.containers[0].readinessProbe.httpGet.scheme", "FTP",
     "spec.containers[0].readinessProbe.httpGet.scheme", "FieldValueNotSupported", '"HTTP", "HTTPS"'),
    (kinds.PODS, "spec.containers[0].livenessProbe.tcpSocket.port", 0,
     "spec.containers[0].livenessProbe.tcpSocket.port", "FieldValueInvalid", None),
    (kinds.PODS, "spec.containers[0].resources.limits.cpu", "abc", "spec.containers[0].resources.limits[cpu]",
     "FieldValueInvalid", "quantities must match the regular expression"),
    (kinds.PODS, "spec.containers[0].resources.requests.memory", "-1", "spec.containers[0].resources.requests[memory]",
     "FieldValueInvalid", "must be greater than or equal to 0"),
    (kinds.PODS, "spec.containers[0].resources.limits.foo", "1", "spec.containers[0].resources.limits[foo]",
     "FieldValueInvalid", "must be a standard resource for containers"),
    (kinds.PODS, "spec.containers[0].resources.requests[example.com/gpu]", "1", "spec.containers[0].resources.limits",
     "FieldValueRequired", "Limit must be set for non overcommitable resources"),
    (kinds.PODS, "spec.containers[0].lifecycle", {"preStop": {"sleep": {"seconds": 100}}},
     "spec.containers[0].lifecycle.preStop.sleep", "FieldValueInvalid", "terminationGracePeriodSeconds (30)"),
    (kinds.PODS, "spec.containers[0].restartPolicy", "Always", "spec.containers[0].restartPolicy",
     "FieldValueForbidden", "may not be set for non-init containers"),
    (kinds.PODS, "spec.nodeSelector", {"bad key!": "x"}, "spec.nodeSelector", "FieldValueInvalid", None),
    (kinds.PODS, "spec.tolerations", [{"key": "k", "operator": "Maybe"}], "spec.tolerations[0].operator",
     "FieldValueNotSupported", '"Equal", "Exists"'),
    (kinds.PODS, "spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "Sometimes"}],
     "spec.tolerations[0].effect", "FieldValueNotSupported", None),
    (kinds.PODS, "spec.tolerations", [{"operator": "Equal", "value": "x"}], "spec.tolerations[0].operator",
     "FieldValueInvalid", "operator must be Exists when `key` is empty"),
    (kinds.PODS, "spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "NoSchedule",
                                       "tolerationSeconds": 5}],
     "spec.tolerations[0].effect", "FieldValueInvalid", "effect must be 'NoExecute'"),
    (kinds.PODS, "spec.activeDeadlineSeconds", 0, "spec.activeDeadlineSeconds", "FieldValueInvalid", None),
    (kinds.PODS, "spec.serviceAccountName", "Builder", "spec.serviceAccountName", "FieldValueInvalid", None),
    (kinds.PODS, "spec.nodeName", "node_1", "spec.nodeName", "FieldValueInvalid", None),
    (kinds.PODS, "spec.securityContext.runAsUser", -1, "spec.securityContext.runAsUser", "FieldValueInvalid",
     "must be between 0 and 4294967295, inclusive"),
    (kinds.PODS, "spec.dnsPolicy", "None", "spec.dnsConfig", "FieldValueRequired", None),
    (kinds.PODS, "spec.affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Near"}]}]}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0].operator", "FieldValueInvalid", "not a valid selector operator"),
    (kinds.PODS, "metadata.annotations", {"controller.kubernetes.io/pod-deletion-cost": "cheap"},
     "metadata.annotations[controller.kubernetes.io/pod-deletion-cost]", "FieldValueInvalid",
     "must be a 32bit integer"),
    (kinds.PODS, "metadata.annotations", {"kubernetes.io/config.mirror": "abc"},
     "metadata.annotations[kubernetes.io/config.mirror]", "FieldValueInvalid", "must set spec.nodeName"),
    (kinds.DEPLOYMENTS, "spec.template.metadata.annotations", {"controller.kubernetes.io/pod-deletion-cost": "1e3"},
     "spec.template.annotations[controller.kubernetes.io/pod-deletion-cost]", "FieldValueInvalid", None),
    (kinds.PODS, "spec.ephemeralContainers", [{"name": "debug", "image": "busybox"}], "spec.ephemeralContainers",
     "FieldValueForbidden", "cannot be set on create"),
    # Service
    (kinds.SERVICES, "metadata.name", "1web", "metadata.name", "FieldValueInvalid", "a DNS-1035 label"),
    (kinds.SERVICES, "spec.ports", [], "spec.ports", "FieldValueRequired", None),
    (kinds.SERVICES, "spec.ports[0].port", 0, "spec.ports[0].port", "FieldValueInvalid", None),
    (kinds.SERVICES, "spec.ports[0].protocol", "ICMP", "spec.ports[0].protocol", "FieldValueNotSupported", None),
    (kinds.SERVICES, "spec.ports[0].targetPort", "not_valid", "spec.ports[0].targetPort", "FieldValueInvalid", None),
    (kinds.SERVICES, "spec.ports[0].targetPort", 70000, "spec.ports[0].targetPort", "FieldValueInvalid", None),
    (kinds.SERVICES, "spec.ports", [{"port": 80, "protocol": "TCP", "targetPort": 80},
                                    {"port": 81, "protocol": "TCP", "targetPort": 81}],
     "spec.ports[0].name", "FieldValueRequired", None),
    (kinds.SERVICES, "spec.ports", [{"name": "a", "port": 80, "protocol": "TCP", "targetPort": 80},
                                    {"name": "a", "port": 81, "protocol": "TCP", "targetPort": 81}],
     "spec.ports[1].name", "FieldValueDuplicate", None),
    (kinds.SERVICES, "spec.ports", [{"name": "a", "port": 80, "protocol": "TCP", "targetPort": 80},
                                    {"name": "b", "port": 80, "protocol": "TCP", "targetPort": 81}],
     "spec.ports[1]", "FieldValueDuplicate", None),
    (kinds.SERVICES, "spec.type", "Foo", "spec.type", "FieldValueNotSupported",
     '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
    (kinds.SERVICES, "spec.clusterIP", "10.96.0.5", "spec.clusterIPs", "FieldValueRequired", None),
    (kinds.SERVICES, "spec.clusterIPs", ["10.96.0.5"], "spec.clusterIPs", "FieldValueInvalid",
     "must be empty when `clusterIP` is not specified"),
    (kinds.SERVICES, "spec.clusterIPs", ["300.1.1.1"], "spec.clusterIPs[0]", "FieldValueInvalid",
     "must be a valid IP address"),
    (kinds.SERVICES, "spec.sessionAffinity", "Sticky", "spec.sessionAffinity", "FieldValueNotSupported", None),
    (kinds.SERVICES, "spec.ports[0].nodePort", 30080, "spec.ports[0].nodePort", "FieldValueForbidden",
     "may not be used when `type` is 'ClusterIP'"),
    (kinds.SERVICES, "spec.selector", {"app": "-x"}, "spec.selector", "FieldValueInvalid", None),
    (kinds.SERVICES, "spec.externalTrafficPolicy", "Local", "spec.externalTrafficPolicy", "FieldValueInvalid",
     "may only be set for externally-accessible services"),
    (kinds.SERVICES, "spec.internalTrafficPolicy", "Nearby", "spec.internalTrafficPolicy", "FieldValueNotSupported",
     None),
    (kinds.SERVICES, "spec.externalIPs", ["127.0.0.1"], "spec.externalIPs[0]", "FieldValueInvalid",
     "loopback range"),
    # Endpoints
    (kinds.ENDPOINTS, "subsets[0].addresses[0].ip", "not-an-ip", "subsets[0].addresses[0].ip", "FieldValueInvalid",
     "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
    (kinds.ENDPOINTS, "subsets[0].addresses[0].ip", "127.0.0.1", "subsets[0].addresses[0].ip", "FieldValueInvalid",
     "may not be in the loopback range"),
    (kinds.ENDPOINTS, "subsets[0].addresses", [], "subsets[0]", "FieldValueRequired",
     "must specify `addresses` or `notReadyAddresses`"),
    (kinds.ENDPOINTS, "subsets[0].ports[0].port", 0, "subsets[0].ports[0].port", "FieldValueInvalid", None),
    (kinds.ENDPOINTS, "subsets[0].ports[0].protocol", "", "subsets[0].ports[0].protocol", "FieldValueRequired", None),
    (kinds.ENDPOINTS, "subsets[0].ports", [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}],
     "subsets[0].ports[0].name", "FieldValueRequired", None),
    # ConfigMap and Secret
    (kinds.CONFIGMAPS, "data", {"bad key": "x"}, "data[bad key]", "FieldValueInvalid", "a valid config key"),
    (kinds.CONFIGMAPS, "data", {"..": "x"}, "data[..]", "FieldValueInvalid", "must not be '..'"),
    (kinds.CONFIGMAPS, "binaryData", {"blob": "!!"}, "binaryData[blob]", "FieldValueInvalid", "illegal base64 data"),
    (kinds.CONFIGMAPS, "binaryData", {"MODE": "AA=="}, "data[MODE]", "FieldValueInvalid",
     "duplicate of key present in binaryData"),
    (kinds.CONFIGMAPS, "data", {"big": "x" * (1024 * 1024 + 1)}, "", "FieldValueTooLong",
     "must have at most 1048576 bytes"),
    (kinds.SECRETS, "data", {"k": "!!!"}, "data[k]", "FieldValueInvalid",
     'Invalid value: "<secret contents redacted>": illegal base64 data at input byte 0'),
    (kinds.SECRETS, "data", {"bad key": "YQ=="}, "data[bad key]", "FieldValueInvalid", None),
    (kinds.SECRETS, "type", "kubernetes.io/tls", "data[tls.crt]", "FieldValueRequired", None),
    (kinds.SECRETS, "type", "kubernetes.io/dockerconfigjson", "data[.dockerconfigjson]", "FieldValueRequired", None),
    (kinds.SECRETS, "type", "kubernetes.io/service-account-token",
     "metadata.annotations[kubernetes.io/service-account.name]", "FieldValueRequired", None),
    (kinds.SECRETS, "data", {"big": "eHh4" * 350000}, "data", "FieldValueTooLong", None),
    # Namespace, Node, Event, ServiceAccount
    (kinds.NAMESPACES, "metadata.name", "team.a", "metadata.name", "FieldValueInvalid", "must not contain dots"),
    (kinds.NAMESPACES, "spec.finalizers", ["bad name!"], "spec.finalizers", "FieldValueInvalid", None),
    (kinds.NODES, "spec.podCIDR", "10.244.1.0/33", "spec.podCIDRs[0]", "FieldValueInvalid",
     "must be a valid CIDR value"),
    (kinds.NODES, "spec.taints[0].effect", "Sometimes", "metadata.taints[0].effect", "FieldValueNotSupported", None),
    (kinds.NODES, "spec.taints[0].key", "", "metadata.taints[0].key", "FieldValueInvalid", None),
    (kinds.NODES, "spec.taints[1]", {"key": "dedicated", "value": "x", "effect": "NoSchedule"}, "metadata.taints[1]",
     "FieldValueDuplicate", "taints must be unique by key and effect pair"),
    (kinds.NODES, "status.capacity.cpu", "-1", "status.capacity.cpu", "FieldValueInvalid", None),
    (kinds.EVENTS, "metadata.name", "a/b", "metadata.name", "FieldValueInvalid", "may not contain '/'"),
    (kinds.EVENTS, "involvedObject.namespace", "other", "involvedObject.namespace", "FieldValueInvalid",
     "does not match event.namespace"),
    (kinds.EVENTS, "eventTime", "2024-01-01T00:00:00.000000Z", "reportingController", "FieldValueRequired", None),
    (kinds.SERVICE_ACCOUNTS, "metadata.name", "Builder", "metadata.name", "FieldValueInvalid", None),
    # Deployment
    (kinds.DEPLOYMENTS, "spec.replicas", -1, "spec.replicas", "FieldValueInvalid",
     "must be greater than or equal to 0"),
    (kinds.DEPLOYMENTS, "spec.selector", DELETE, "spec.selector", "FieldValueRequired", None),
    (kinds.DEPLOYMENTS, "spec.selector", {}, "spec.selector", "FieldValueInvalid", "empty selector is invalid for "
     "deployment"),
    (kinds.DEPLOYMENTS, "spec.selector", {"matchExpressions": [{"key": "app", "operator": "Bogus"}]},
     "spec.selector.matchExpressions[0].operator", "FieldValueInvalid", "not a valid selector operator"),
    (kinds.DEPLOYMENTS, "spec.template.spec.restartPolicy", "Never", "spec.template.spec.restartPolicy",
     "FieldValueNotSupported", 'supported values: "Always"'),
    (kinds.DEPLOYMENTS, "spec.template.spec.containers[0].image", "", "spec.template.spec.containers[0].image",
     "FieldValueRequired", None),
    (kinds.DEPLOYMENTS, "spec.template.spec.activeDeadlineSeconds", 5, "spec.template.spec.activeDeadlineSeconds",
     "FieldValueForbidden", "activeDeadlineSeconds in ReplicaSet is not Supported"),
    (kinds.DEPLOYMENTS, "spec.template.metadata.labels.tier", "-x", "spec.template.labels", "FieldValueInvalid", None),
    (kinds.DEPLOYMENTS, "spec.strategy.type", "BlueGreen", "spec.strategy", "FieldValueNotSupported",
     '"Recreate", "RollingUpdate"'),
    (kinds.DEPLOYMENTS, "spec.strategy.rollingUpdate", {"maxSurge": 0, "maxUnavailable": "0%"},
     "spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid", "may not be 0 when `maxSurge` is 0"),
    (kinds.DEPLOYMENTS, "spec.strategy.rollingUpdate.maxUnavailable", "150%",
     "spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid", "must not be greater than 100%"),
    (kinds.DEPLOYMENTS, "spec.strategy.rollingUpdate.maxSurge", -1, "spec.strategy.rollingUpdate.maxSurge",
     "FieldValueInvalid", None),
    (kinds.DEPLOYMENTS, "spec.revisionHistoryLimit", -1, "spec.revisionHistoryLimit", "FieldValueInvalid", None),
    (kinds.DEPLOYMENTS, "spec.minReadySeconds", 700, "spec.progressDeadlineSeconds", "FieldValueInvalid",
     "must be greater than minReadySeconds"),
    # ReplicaSet, DaemonSet, StatefulSet
    (kinds.REPLICASETS, "spec.replicas", -1, "spec.replicas", "FieldValueInvalid", None),
    (kinds.REPLICASETS, "spec.selector.matchLabels", {"app": "other"}, "spec.template.metadata.labels",
     "FieldValueInvalid", None),
    (kinds.DAEMONSETS, "spec.updateStrategy.type", "Sometimes", "spec.updateStrategy", "FieldValueNotSupported",
     None),
    (kinds.DAEMONSETS, "spec.updateStrategy.rollingUpdate", {"maxUnavailable": 0, "maxSurge": 0},
     "spec.updateStrategy.rollingUpdate.maxUnavailable", "FieldValueRequired", "cannot be 0 when maxSurge is 0"),
    (kinds.DAEMONSETS, "spec.updateStrategy.rollingUpdate", {"maxUnavailable": 1, "maxSurge": 1},
     "spec.updateStrategy.rollingUpdate.maxSurge", "FieldValueInvalid", "may not be set when maxUnavailable"),
    (kinds.DAEMONSETS, "spec.selector", DELETE, "spec.template.metadata.labels", "FieldValueInvalid", None),
    (kinds.STATEFULSETS, "metadata.name", "db.primary", "metadata.name", "FieldValueInvalid", "must not contain dots"),
    (kinds.STATEFULSETS, "spec.podManagementPolicy", "Bogus", "spec.podManagementPolicy", "FieldValueInvalid",
     "must be 'OrderedReady' or 'Parallel'"),
    (kinds.STATEFULSETS, "spec.updateStrategy.type", "Bogus", "spec.updateStrategy", "FieldValueInvalid",
     "must be 'RollingUpdate' or 'OnDelete'"),
    (kinds.STATEFULSETS, "spec.updateStrategy.rollingUpdate.partition", -1,
     "spec.updateStrategy.rollingUpdate.partition", "FieldValueInvalid", None),
    (kinds.STATEFULSETS, "spec.replicas", -1, "spec.replicas", "FieldValueInvalid", None),
    (kinds.STATEFULSETS, "spec.selector", {}, "spec.selector", "FieldValueInvalid", "invalid for statefulset"),
    (kinds.STATEFULSETS, "spec.template.spec.restartPolicy", "Never", "spec.template.spec.restartPolicy",
     "FieldValueNotSupported", None),
    (kinds.STATEFULSETS, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "Keep",
     "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "FieldValueNotSupported", None),
    # Job and CronJob
    (kinds.JOBS, "spec.parallelism", -1, "spec.parallelism", "FieldValueInvalid", None),
    (kinds.JOBS, "spec.completions", -1, "spec.completions", "FieldValueInvalid", None),
    (kinds.JOBS, "spec.backoffLimit", -1, "spec.backoffLimit", "FieldValueInvalid", None),
    (kinds.JOBS, "spec.template.spec.restartPolicy", "Sometimes", "spec.template.spec.restartPolicy",
     "FieldValueNotSupported", None),
    (kinds.JOBS, "spec.completionMode", "Sometimes", "spec.completionMode", "FieldValueNotSupported", None),
    (kinds.JOBS, "spec.podReplacementPolicy", "Bogus", "spec.podReplacementPolicy", "FieldValueNotSupported", None),
    (kinds.JOBS, "spec.template.metadata.labels[controller-uid]", "someone-else",
     "spec.template.metadata.labels[controller-uid]", "FieldValueInvalid", "must be '"),
    (kinds.JOBS, "metadata.uid", DELETE, "metadata.uid", "FieldValueRequired", None),
    (kinds.CRONJOBS, "spec.schedule", "", "spec.schedule", "FieldValueRequired", None),
    (kinds.CRONJOBS, "spec.schedule", "* * *", "spec.schedule", "FieldValueInvalid",
     "expected exactly 5 fields, found 3: [* * *]"),
    (kinds.CRONJOBS, "spec.schedule", "61 * * * *", "spec.schedule", "FieldValueInvalid",
     "end of range (61) above maximum (59): 61"),
    (kinds.CRONJOBS, "spec.schedule", "TZ=UTC 0 * * * *", "spec.schedule", "FieldValueInvalid",
     "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    (kinds.CRONJOBS, "spec.timeZone", "Local", "spec.timeZone", "FieldValueInvalid", "must be an explicit time zone"),
    (kinds.CRONJOBS, "spec.concurrencyPolicy", "Sometimes", "spec.concurrencyPolicy", "FieldValueNotSupported",
     '"Allow", "Forbid", "Replace"'),
    (kinds.CRONJOBS, "spec.jobTemplate.spec.template.spec.restartPolicy", "Always",
     "spec.jobTemplate.spec.template.spec.restartPolicy", "FieldValueRequired", None),
    (kinds.CRONJOBS, "spec.jobTemplate.spec.selector", {"matchLabels": {"a": "b"}}, "spec.jobTemplate.spec.selector",
     "FieldValueInvalid", "`selector` will be auto-generated"),
    (kinds.CRONJOBS, "metadata.name", _LONG, "metadata.name", "FieldValueInvalid",
     "must be no more than 52 characters"),
    (kinds.CRONJOBS, "spec.successfulJobsHistoryLimit", -1, "spec.successfulJobsHistoryLimit", "FieldValueInvalid",
     None),
    # HorizontalPodAutoscaler and Lease
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.minReplicas", 0, "spec.minReplicas", "FieldValueInvalid",
     "must be greater than or equal to 1"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.maxReplicas", 0, "spec.maxReplicas", "FieldValueInvalid",
     "must be greater than 0"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.minReplicas", 7, "spec.maxReplicas", "FieldValueInvalid",
     "must be greater than or equal to `minReplicas`"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.scaleTargetRef.name", "", "spec.scaleTargetRef.name",
     "FieldValueRequired", None),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.scaleTargetRef.kind", "apps/Deployment", "spec.scaleTargetRef.kind",
     "FieldValueInvalid", "may not contain '/'"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.metrics[0].type", "Bogus", "spec.metrics[0].type",
     "FieldValueNotSupported", None),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.metrics[0].resource.target.averageUtilization", 0,
     "spec.metrics[0].resource.target.averageUtilization", "FieldValueInvalid", "must be greater than 0"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.metrics[0]", {"type": "Pods"}, "spec.metrics[0].pods",
     "FieldValueRequired", "must populate information for the given metric source"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.behavior", {"scaleUp": {"policies": []}},
     "spec.behavior.scaleUp.policies", "FieldValueRequired", "must specify at least one Policy"),
    (kinds.HORIZONTAL_POD_AUTOSCALERS, "spec.behavior", {"scaleDown": {"selectPolicy": "Most", "policies": [
        {"type": "Pods", "value": 1, "periodSeconds": 60}]}}, "spec.behavior.scaleDown.selectPolicy",
     "FieldValueNotSupported", None),
    (kinds.LEASES, "spec.leaseDurationSeconds", 0, "spec.leaseDurationSeconds", "FieldValueInvalid",
     "must be greater than 0"),
    (kinds.LEASES, "spec.leaseTransitions", -1, "spec.leaseTransitions", "FieldValueInvalid", None),
    # wrong JSON types become causes
    (kinds.DEPLOYMENTS, "spec.replicas", "three", "spec.replicas", "FieldValueTypeInvalid",
     'spec.replicas in body must be of type integer: "string"'),
    (kinds.PODS, "metadata.labels", "app=web", "metadata.labels", "FieldValueTypeInvalid", None),
    (kinds.PODS, "spec.containers", "web", "spec.containers", "FieldValueTypeInvalid", None),
    (kinds.PODS, "spec.containers[0].ports[0].containerPort", "80", "spec.containers[0].ports[0].containerPort",
     "FieldValueTypeInvalid", None),
]


@pytest.mark.parametrize("rt, path, value, field, reason, fragment", BROKEN,
                         ids=[f"{case[0].kind}:{case[1]}={str(case[2])[:20]}" for case in BROKEN])
def test_broken_field(rt: ResourceType, path: str, value: Any, field: str, reason: str, fragment: str | None) -> None:
    obj = good(rt)
    set_path(obj, path, value)
    causes = validate(rt, obj)
    found = causes_at(causes, field, reason)
    assert found, causes
    if fragment:
        assert any(fragment in c["message"] for c in found), found


def test_headless_service_without_ports_is_valid() -> None:
    svc = good(kinds.SERVICES)
    svc["spec"].update(clusterIP="None", clusterIPs=["None"], ports=[])
    assert validate(kinds.SERVICES, svc) == []


def test_external_name_service_needs_a_name_but_no_ports() -> None:
    svc = good(kinds.SERVICES)
    svc["spec"] = {"type": "ExternalName", "externalName": "db.example.com.", "sessionAffinity": "None"}
    assert validate(kinds.SERVICES, svc) == []
    svc["spec"]["externalName"] = ""
    assert causes_at(validate(kinds.SERVICES, svc), "spec.externalName", "FieldValueRequired")


def test_node_port_outside_the_range_is_refused() -> None:
    svc = good(kinds.SERVICES)
    svc["spec"].update(type="NodePort", externalTrafficPolicy="Cluster")
    svc["spec"]["ports"][0]["nodePort"] = 80
    assert causes_at(validate(kinds.SERVICES, svc), "spec.ports[0].nodePort", "FieldValueInvalid")
    svc["spec"]["ports"][0]["nodePort"] = 30080
    assert validate(kinds.SERVICES, svc) == []


def test_tls_and_docker_config_secrets() -> None:
    secret = good(kinds.SECRETS)
    secret.update(type="kubernetes.io/tls", data={"tls.crt": "Y3J0", "tls.key": "a2V5"})
    assert validate(kinds.SECRETS, secret) == []
    secret.update(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": "bm90IGpzb24="})  # "not json"
    found = causes_at(validate(kinds.SECRETS, secret), "data[.dockerconfigjson]", "FieldValueInvalid")
    assert found and "invalid character 'n' looking for beginning of value" in found[0]["message"]
    secret["data"] = {".dockerconfigjson": "eyJhdXRocyI6IHt9fQ=="}  # {"auths": {}}
    assert validate(kinds.SECRETS, secret) == []


def test_init_and_app_container_names_must_differ() -> None:
    pod = good(kinds.PODS)
    pod["spec"]["initContainers"] = [{**copy.deepcopy(pod["spec"]["containers"][0]), "livenessProbe": None,
                                      "readinessProbe": None}]
    assert causes_at(validate(kinds.PODS, pod), "spec.initContainers[0].name", "FieldValueDuplicate")


def test_init_container_probes_need_a_sidecar() -> None:
    pod = good(kinds.PODS)
    init = {**copy.deepcopy(pod["spec"]["containers"][0]), "name": "setup"}
    pod["spec"]["initContainers"] = [init]
    assert causes_at(validate(kinds.PODS, pod), "spec.initContainers[0].livenessProbe", "FieldValueForbidden")
    init["restartPolicy"] = "Always"  # a sidecar may have probes
    assert validate(kinds.PODS, pod) == []


def test_duplicate_host_ports_across_containers() -> None:
    pod = good(kinds.PODS)
    second = {**copy.deepcopy(pod["spec"]["containers"][0]), "name": "sidecar"}
    pod["spec"]["containers"].append(second)
    for container in pod["spec"]["containers"]:
        container["ports"][0]["hostPort"] = 8080
    second["ports"][0]["name"] = "alt"
    assert causes_at(validate(kinds.PODS, pod), "spec.containers[1].ports[0].hostPort", "FieldValueDuplicate")


def test_job_with_manual_selector_must_still_select_its_pods() -> None:
    job = good(kinds.JOBS)
    job["spec"].update(manualSelector=True, selector={"matchLabels": {"app": "batch"}})
    found = causes_at(validate(kinds.JOBS, job), "spec.template.metadata.labels", "FieldValueInvalid")
    assert found and "`selector` does not match template `labels`" in found[0]["message"]
    job["spec"]["template"]["metadata"]["labels"]["app"] = "batch"
    assert validate(kinds.JOBS, job) == []


def test_indexed_job_needs_completions() -> None:
    job = good(kinds.JOBS)
    job["spec"]["completionMode"] = "Indexed"
    del job["spec"]["completions"]
    assert causes_at(validate(kinds.JOBS, job), "spec.completions", "FieldValueRequired")


# -- updates: immutable fields ---------------------------------------------------------------------------------

def _change_selector(obj: dict[str, Any]) -> None:
    obj["spec"]["selector"] = {"matchLabels": {"app": "web2"}}
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}


def _rename_container(obj: dict[str, Any]) -> None:
    obj["spec"]["containers"][0]["name"] = "renamed"


def _add_container(obj: dict[str, Any]) -> None:
    obj["spec"]["containers"].append({**copy.deepcopy(obj["spec"]["containers"][0]), "name": "extra"})


def _modify_toleration(obj: dict[str, Any]) -> None:
    obj["spec"]["tolerations"][0]["effect"] = "NoSchedule"
    obj["spec"]["tolerations"][0].pop("tolerationSeconds")


IMMUTABLE = [
    (kinds.DEPLOYMENTS, _change_selector, "spec.selector", "FieldValueInvalid", "field is immutable"),
    (kinds.REPLICASETS, _change_selector, "spec.selector", "FieldValueInvalid", "field is immutable"),
    (kinds.DAEMONSETS, _change_selector, "spec.selector", "FieldValueInvalid", "field is immutable"),
    (kinds.STATEFULSETS, lambda o: set_path(o, "spec.serviceName", "db2"), "spec", "FieldValueForbidden",
     "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
     "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"),
    (kinds.JOBS, lambda o: set_path(o, "spec.selector.matchLabels.extra", "x"), "spec.selector", "FieldValueInvalid",
     "field is immutable"),
    (kinds.JOBS, lambda o: set_path(o, "spec.template.spec.containers[0].image", "nginx:1.26"), "spec.template",
     "FieldValueInvalid", "field is immutable"),
    (kinds.JOBS, lambda o: set_path(o, "spec.completions", 3), "spec.completions", "FieldValueInvalid",
     "field is immutable"),
    (kinds.PODS, _rename_container, "spec", "FieldValueForbidden",
     "pod updates may not change fields other than `spec.containers[*].image`"),
    (kinds.PODS, _add_container, "spec.containers", "FieldValueForbidden",
     "pod updates may not add or remove containers"),
    (kinds.PODS, _modify_toleration, "spec.tolerations", "FieldValueForbidden",
     "existing toleration can not be modified except its tolerationSeconds"),
    (kinds.PODS, lambda o: set_path(o, "spec.nodeName", "node-2"), "spec", "FieldValueForbidden", None),
    (kinds.SERVICES, lambda o: o["spec"].update(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"]),
     "spec.clusterIPs[0]", "FieldValueInvalid", "may not change once set"),
    (kinds.SERVICES, lambda o: o["spec"].update(clusterIP="", clusterIPs=[]), "spec.clusterIPs[0]",
     "FieldValueInvalid", "primary clusterIP can not be unset"),
    (kinds.SECRETS, lambda o: o.update(type="kubernetes.io/basic-auth", data={"username": "YQ=="}), "type",
     "FieldValueInvalid", "field is immutable"),
    (kinds.PODS, lambda o: set_path(o, "metadata.name", "web-1"), "metadata.name", "FieldValueInvalid",
     "field is immutable"),
    (kinds.PODS, lambda o: set_path(o, "metadata.namespace", "other"), "metadata.namespace", "FieldValueInvalid",
     "field is immutable"),
    (kinds.PODS, lambda o: set_path(o, "metadata.uid", "another-uid"), "metadata.uid", "FieldValueInvalid",
     "field is immutable"),
    (kinds.NODES, lambda o: set_path(o, "spec.podCIDR", "10.244.2.0/24"), "spec.podCIDRs", "FieldValueForbidden",
     'node updates may not change podCIDR except from "" to valid'),
]


def _service_with_ip(obj: dict[str, Any]) -> dict[str, Any]:
    obj["spec"].update(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"], ipFamilies=["IPv4"],
                       ipFamilyPolicy="SingleStack")
    return obj


@pytest.mark.parametrize("rt, change, field, reason, fragment", IMMUTABLE,
                         ids=[f"{case[0].kind}:{case[2]}:{i}" for i, case in enumerate(IMMUTABLE)])
def test_update_of_immutable_field_is_refused(rt: ResourceType, change: Any, field: str, reason: str,
                                              fragment: str | None) -> None:
    old = good(rt)
    if rt == kinds.SERVICES:
        _service_with_ip(old)
    new = copy.deepcopy(old)
    change(new)
    found = causes_at(validate(rt, new, old), field, reason)
    assert found, validate(rt, new, old)
    if fragment:
        assert fragment in found[0]["message"]


MUTABLE = [
    (kinds.PODS, lambda o: set_path(o, "spec.containers[0].image", "nginx:1.26")),
    (kinds.PODS, lambda o: set_path(o, "spec.activeDeadlineSeconds", 600)),
    (kinds.PODS, lambda o: o["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists"})),
    (kinds.PODS, lambda o: set_path(o, "spec.tolerations[0].tolerationSeconds", 60)),
    (kinds.PODS, lambda o: set_path(o, "metadata.labels.version", "2")),
    (kinds.DEPLOYMENTS, lambda o: set_path(o, "spec.replicas", 5)),
    (kinds.DEPLOYMENTS, lambda o: set_path(o, "spec.template.spec.containers[0].image", "nginx:1.26")),
    (kinds.STATEFULSETS, lambda o: set_path(o, "spec.replicas", 3)),
    (kinds.JOBS, lambda o: set_path(o, "spec.parallelism", 4)),
    (kinds.CONFIGMAPS, lambda o: set_path(o, "data.MODE", "dev")),
    (kinds.SECRETS, lambda o: set_path(o, "data.password", "bmV3")),
    (kinds.NODES, lambda o: set_path(o, "spec.unschedulable", True)),
    (kinds.SERVICES, lambda o: set_path(o, "spec.ports[0].port", 8080)),
]


@pytest.mark.parametrize("rt, change", MUTABLE, ids=[f"{case[0].kind}:{i}" for i, case in enumerate(MUTABLE)])
def test_allowed_updates_pass(rt: ResourceType, change: Any) -> None:
    old = good(rt)
    if rt == kinds.SERVICES:
        _service_with_ip(old)
    new = copy.deepcopy(old)
    change(new)
    assert validate(rt, new, old) == []


def test_active_deadline_may_only_shrink() -> None:
    old = good(kinds.PODS)
    old["spec"]["activeDeadlineSeconds"] = 100
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 200
    assert causes_at(validate(kinds.PODS, new, old), "spec.activeDeadlineSeconds", "FieldValueInvalid")
    del new["spec"]["activeDeadlineSeconds"]
    found = causes_at(validate(kinds.PODS, new, old), "spec.activeDeadlineSeconds", "FieldValueInvalid")
    assert found and found[0]["message"] == "Invalid value: null: must not update from a positive integer to nil value"


@pytest.mark.parametrize("rt, keys", [(kinds.CONFIGMAPS, ("data", "immutable")), (kinds.SECRETS, ("data",))])
def test_immutable_config_refuses_data_changes(rt: ResourceType, keys: tuple[str, ...]) -> None:
    old = good(rt)
    old["immutable"] = True
    new = copy.deepcopy(old)
    new["data"]["extra"] = "eHg="
    new["immutable"] = False
    causes = validate(rt, new, old)
    assert causes_at(causes, "data", "FieldValueForbidden")
    assert causes_at(causes, "immutable", "FieldValueForbidden")


def test_no_new_finalizers_while_deleting() -> None:
    old = good(kinds.PODS)
    old["metadata"].update(deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["example.com/a"])
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"].append("example.com/b")
    assert causes_at(validate(kinds.PODS, new, old), "metadata.finalizers", "FieldValueForbidden")
    new["metadata"]["finalizers"] = []
    assert validate(kinds.PODS, new, old) == []


def test_node_may_get_its_first_pod_cidr() -> None:
    old = good(kinds.NODES)
    del old["spec"]["podCIDR"]
    new = copy.deepcopy(old)
    new["spec"]["podCIDR"] = "10.244.3.0/24"
    assert validate(kinds.NODES, new, old) == []


# -- never an exception, whatever the input ------------------------------------------------------------------

def _paths(value: Any, prefix: str = "") -> list[str]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, f"{prefix}[{i}]")
    return found


ODD_VALUES = [None, 1, -1, 1.5, True, "x", "", [], {}, [None], {"x": 1}]


@pytest.mark.parametrize("rt", list(RAW), ids=lambda rt: rt.kind)
def test_odd_values_anywhere_become_causes_not_exceptions(rt: ResourceType) -> None:
    base = good(rt)
    for path in _paths(base):
        for value in ODD_VALUES:
            obj = copy.deepcopy(base)
            set_path(obj, path, value)
            causes = validate(rt, obj)
            assert not [c for c in causes if c["reason"] == "InternalError"], (path, value, causes)
            assert all(set(c) == {"reason", "message", "field"} for c in causes)
            update = validate(rt, obj, base)
            assert not [c for c in update if c["reason"] == "InternalError"], (path, value, update)


@pytest.mark.parametrize("obj", [None, [], "pod", 3, {}, {"metadata": []}, {"metadata": {"name": 5}},
                                 {"spec": None}, {"metadata": {"labels": {1: "x"}}}])
def test_non_objects_and_empty_objects(obj: Any) -> None:
    for rt in RAW:
        causes = validate(rt, obj)
        assert causes and not [c for c in causes if c["reason"] == "InternalError"]


# -- format helpers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, value, ok", [
    (is_dns1123_label, "my-name", True), (is_dns1123_label, "123-abc", True), (is_dns1123_label, "a" * 63, True),
    (is_dns1123_label, "a" * 64, False), (is_dns1123_label, "a.b", False), (is_dns1123_label, "-a", False),
    (is_dns1123_label, "A", False), (is_dns1123_label, "", False), (is_dns1123_label, "a\n", False),
    (is_dns1123_subdomain, "example.com", True), (is_dns1123_subdomain, "a" * 253, True),
    (is_dns1123_subdomain, "a" * 254, False), (is_dns1123_subdomain, "a..b", False),
    (is_dns1123_subdomain, "a_b", False), (is_dns1035_label, "my-name", True), (is_dns1035_label, "1abc", False),
    (is_qualified_name, "example.com/MyName", True), (is_qualified_name, "my.name", True),
    (is_qualified_name, "/name", False), (is_qualified_name, "Example.com/x", False),
    (is_qualified_name, "a/b/c", False), (is_qualified_name, "x" * 64, False), (is_qualified_name, "", False),
    (is_valid_label_value, "", True), (is_valid_label_value, "my_value", True),
    (is_valid_label_value, "-x", False), (is_valid_label_value, "x" * 64, False),
    (is_dns1123_label, 5, False), (is_valid_label_value, None, False),
])
def test_format_checks(check: Any, value: Any, ok: bool) -> None:
    assert (check(value) == []) is ok


def test_label_message_mentions_dots_for_subdomains() -> None:
    assert is_dns1123_label("a.b") == ["must not contain dots"]


@pytest.mark.parametrize("text, expected", [
    ("100m", "0.1"), ("1", "1"), ("1Gi", str(2**30)), ("1.5Gi", str(3 * 2**29)), ("1e3", "1000"), ("1E3", "1000"),
    ("1E", "1000000000000000000"), ("0.5", "0.5"), (".5", "0.5"), ("5.", "5"), ("+1k", "1000"), ("-1", "-1"),
    ("1n", "1E-9"), ("0.1n", "1E-9"), (2, "2"), (0.25, "0.25"), ("1e-3", "0.001"), ("9Ei", str(2**63 - 1)),
])
def test_parse_quantity(text: Any, expected: str) -> None:
    assert parse_quantity(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1Kb", "1 Gi", "e3", "1e", "--1", "1ki", None, True, [],
                                  "1e99999999999"])
def test_parse_quantity_refuses_malformed(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("text, canonical", [
    ("1000m", "1"), ("1500m", "1500m"), ("0.5", "500m"), ("1.5Gi", "1536Mi"), ("0.5Gi", "512Mi"), ("100Mi", "100Mi"),
    ("1024", "1024"), ("2048Ki", "2Mi"), ("1e3", "1e3"), ("1.5e3", "1500"), ("2000", "2k"), ("0", "0"),
    ("512", "512"), ("0.5Ki", "512"), ("1.5Ki", "1536"), ("1100Ki", "1100Ki"), ("-1", "-1"), ("1u", "1u"),
])
def test_canonical_quantity(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize("schedule, error", [
    ("*/5 * * * *", None), ("0 0 * * 0", None), ("0 9-17 * JAN-MAR mon-fri", None), ("@hourly", None),
    ("@every 1h30m", None), ("0,15,30,45 * * * *", None), ("? ? * * *", None),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 * ", "end of range (13) above maximum (12): 13"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/2/3 * * * *", "too many slashes: */2/3"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("@sometimes", "unrecognized descriptor: @sometimes"),
    ("", "empty spec string"),
])
def test_cron_parsing(schedule: str, error: str | None) -> None:
    assert cron_error(schedule) == error


@pytest.mark.parametrize("text, ok", [("10.0.0.1", True), ("010.000.000.001", True), ("::1", True),
                                      ("fe80::1%eth0", False), ("256.0.0.1", False), ("1.2.3", False), ("", False)])
def test_ip_parsing_is_sloppy_like_upstream(text: str, ok: bool) -> None:
    assert (parse_ip(text) is not None) is ok


# -- the fast paths keep upstream's answers: caches, identity lookups, causes in their order ---------------

QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def test_quantity_cache_tells_true_from_one() -> None:
    pod = good(kinds.PODS)
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": True, "memory": 1},
                                                 "requests": {"cpu": 1, "memory": True}}
    for _ in range(2):  # the second time from the cache
        assert validate(kinds.PODS, pod) == [
            invalid_cause("spec.containers[0].resources.limits[cpu]", f"Invalid value: true: {QUANTITY_FORMAT}"),
            invalid_cause("spec.containers[0].resources.requests[memory]", f"Invalid value: true: {QUANTITY_FORMAT}"),
        ]


def invalid_cause(field: str, message: str) -> dict[str, str]:
    return {"reason": "FieldValueInvalid", "message": message, "field": field}


def test_non_string_keys_and_items_are_reported_in_order() -> None:
    pod = good(kinds.PODS)
    pod["metadata"]["finalizers"] = [1, "x"]
    pod["metadata"]["labels"] = {"a": 1, 2: "b"}
    assert [(c["reason"], c["field"]) for c in validate(kinds.PODS, pod)] == [
        ("FieldValueTypeInvalid", "metadata.labels[2]"), ("FieldValueTypeInvalid", "metadata.labels[a]"),
        ("FieldValueTypeInvalid", "metadata.finalizers[0]"), ("FieldValueInvalid", "metadata.finalizers[0]")]


def test_extra_volume_sources_are_forbidden_in_upstream_order() -> None:
    pod = good(kinds.PODS)
    pod["spec"]["volumes"] = [{"name": "v", "configMap": {"name": "c"}, "emptyDir": {}, "secret": {"secretName": ""},
                               "cephfs": {}, "downwardAPI": None}]
    assert [(c["reason"], c["field"]) for c in validate(kinds.PODS, pod)] == [
        ("FieldValueForbidden", "spec.volumes[0].secret"), ("FieldValueForbidden", "spec.volumes[0].cephFS"),
        ("FieldValueForbidden", "spec.volumes[0].configMap"),
        ("FieldValueNotFound", "spec.containers[0].volumeMounts[0].name")]


def test_pod_updates_may_reorder_tolerations_and_change_their_seconds_but_not_drop_them() -> None:
    old = good(kinds.PODS)
    old["spec"]["tolerations"] = [{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1},
                                  {"key": "b", "operator": "Exists"}]
    new = copy.deepcopy(old)
    new["spec"]["tolerations"] = list(reversed(new["spec"]["tolerations"]))
    new["spec"]["tolerations"][1]["tolerationSeconds"] = 5
    assert validate(kinds.PODS, new, old) == []
    new["spec"]["tolerations"] = new["spec"]["tolerations"][:1]
    assert [c["field"] for c in validate(kinds.PODS, new, old)] == ["spec.tolerations"]


def test_an_equal_resource_type_object_validates_like_the_registry_one() -> None:
    twin = dataclasses.replace(kinds.SERVICES)
    assert twin == kinds.SERVICES and twin is not kinds.SERVICES
    bad = good(kinds.SERVICES)
    bad["metadata"]["name"] = "1web"  # a DNS-1035 label must start with a letter: a Service-only rule
    assert validate(twin, bad) == validate(kinds.SERVICES, bad) != []


def test_format_checks_hand_out_fresh_lists() -> None:
    first = is_dns1123_label("a.b")
    first.append("scribbled on by a caller")
    assert is_dns1123_label("a.b") == ["must not contain dots"]


def test_a_non_object_list_item_is_reported_between_its_neighbours() -> None:
    pod = good(kinds.PODS)
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 0}, 5, {"containerPort": 80, "protocol": "XTP"}]
    assert [(c["reason"], c["field"]) for c in validate(kinds.PODS, pod)] == [
        ("FieldValueRequired", "spec.containers[0].ports[0].containerPort"),
        ("FieldValueRequired", "spec.containers[0].ports[0].protocol"),
        ("FieldValueTypeInvalid", "spec.containers[0].ports[1]"),
        ("FieldValueNotSupported", "spec.containers[0].ports[2].protocol")]


def test_long_strings_are_checked_afresh_with_the_same_answers() -> None:
    long_name = "a" * 600 + ".b"  # longer than any answer the format checks remember
    for _ in range(2):
        assert is_dns1123_label(long_name) == ["must be no more than 63 characters", "must not contain dots"]
        assert parse_quantity("1" * 600) == Decimal(2**63 - 1)
