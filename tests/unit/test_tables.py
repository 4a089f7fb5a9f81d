"""Server-side Table output: columns, cells per kind, human durations and the Table envelope."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apiserver.tables import age, column_definitions, human_duration, row_cells, to_table
from common.api import kinds
from common.api.registry import REGISTRY, ResourceType

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
WIDGETS = ResourceType("example.com", "v1", "Widget", "widgets", namespaced=True)


def ago(**delta: float) -> str:
    """An RFC3339 timestamp this long before NOW."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str = "x", **extra: object) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


# ---------------------------------------------------------------------------
# human_duration and age


@pytest.mark.parametrize("delta, expected", [
    (timedelta(seconds=-2), "<invalid>"),
    (timedelta(seconds=-1, microseconds=-999_999), "0s"),
    (timedelta(seconds=-1), "0s"),
    (timedelta(0), "0s"),
    (timedelta(seconds=1, microseconds=900_000), "1s"),
    (timedelta(seconds=119), "119s"),
    (timedelta(seconds=120), "2m"),
    (timedelta(seconds=121), "2m1s"),
    (timedelta(minutes=9, seconds=59), "9m59s"),
    (timedelta(minutes=10), "10m"),
    (timedelta(minutes=10, seconds=30), "10m"),
    (timedelta(minutes=179, seconds=59), "179m"),
    (timedelta(minutes=180), "3h"),
    (timedelta(hours=3, minutes=1), "3h1m"),
    (timedelta(hours=7, minutes=59, seconds=59), "7h59m"),
    (timedelta(hours=8), "8h"),
    (timedelta(hours=8, minutes=30), "8h"),
    (timedelta(hours=47, minutes=59), "47h"),
    (timedelta(hours=48), "2d"),
    (timedelta(hours=49), "2d1h"),
    (timedelta(days=7, hours=23), "7d23h"),
    (timedelta(days=8), "8d"),
    (timedelta(days=729, hours=23), "729d"),
    (timedelta(days=730), "2y"),
    (timedelta(days=731), "2y1d"),
    (timedelta(days=8 * 365 - 1), "7y364d"),
    (timedelta(days=8 * 365), "8y"),
    (timedelta(days=20 * 365 + 100), "20y"),
])
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


@pytest.mark.parametrize("metadata, expected", [
    ({"creationTimestamp": ago(seconds=30)}, "30s"),
    ({"creationTimestamp": ago(days=3)}, "3d"),
    ({"creationTimestamp": "2024-05-01T11:59:00.123456789Z"}, "59s"),  # fractional (MicroTime-like)
    ({"creationTimestamp": "2024-05-01T13:00:00+02:00"}, "60m"),  # an offset, not UTC
    ({}, "<unknown>"),
    ({"creationTimestamp": None}, "<unknown>"),
    ({"creationTimestamp": "yesterday"}, "<unknown>"),
    ({"creationTimestamp": "0001-01-01T00:00:00Z"}, "<unknown>"),  # Go's zero time
])
def test_age(metadata: dict, expected: str) -> None:
    assert age({"metadata": metadata}, NOW) == expected


def test_age_accepts_a_naive_now_as_utc() -> None:
    assert age({"metadata": {"creationTimestamp": ago(minutes=3)}}, NOW.replace(tzinfo=None)) == "3m"


# ---------------------------------------------------------------------------
# Pod


def running(name: str = "app", ready: bool = True, restarts: int = 0, **extra: object) -> dict:
    return {"name": name, "ready": ready, "restartCount": restarts,
            "state": {"running": {"startedAt": ago(minutes=4)}}, **extra}


def waiting(reason: str, name: str = "app", restarts: int = 0, **extra: object) -> dict:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}, **extra}


def terminated(name: str = "app", restarts: int = 0, **state: object) -> dict:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"terminated": state}}


def last_finished(**delta: float) -> dict:
    return {"lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(**delta)}}}


def pod(containers: int = 1, init: list[dict] | None = None, status: dict | None = None, **metadata: object) -> dict:
    spec = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta("web", **metadata), "spec": spec}
    if status is not None:
        body["status"] = status
    return body


READY = {"type": "Ready", "status": "True"}
INITIALIZED = {"type": "Initialized", "status": "True"}
INIT_2 = [{"name": "i0"}, {"name": "i1"}]
SIDECAR = {"name": "proxy", "restartPolicy": "Always"}


@pytest.mark.parametrize("case, obj, expected", [
    ("no status yet", pod(), ["0/1", "", "0"]),
    ("pending", pod(status={"phase": "Pending"}), ["0/1", "Pending", "0"]),
    ("status reason wins over phase", pod(status={"phase": "Failed", "reason": "Evicted"}), ["0/1", "Evicted", "0"]),
    ("scheduling gated", pod(status={"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}), ["0/1", "SchedulingGated", "0"]),
    ("running and ready", pod(status={"phase": "Running", "containerStatuses": [running()]}), ["1/1", "Running", "0"]),
    ("running, not ready", pod(status={"phase": "Running", "containerStatuses": [running(ready=False)]}),
     ["0/1", "Running", "0"]),
    ("crash loop with last restart", pod(status={"phase": "Running", "containerStatuses": [
        waiting("CrashLoopBackOff", restarts=5, **last_finished(minutes=2))]}),
     ["0/1", "CrashLoopBackOff", "5 (2m ago)"]),
    ("restarts without a last termination time", pod(status={"phase": "Running", "containerStatuses": [
        running(restarts=2)]}), ["1/1", "Running", "2"]),
    ("completed", pod(status={"phase": "Succeeded", "containerStatuses": [
        terminated(exitCode=0, reason="Completed")]}), ["0/1", "Completed", "0"]),
    ("error", pod(status={"phase": "Failed", "containerStatuses": [terminated(exitCode=1, reason="Error")]}),
     ["0/1", "Error", "0"]),
    ("exit code without reason", pod(status={"phase": "Running", "containerStatuses": [terminated(exitCode=137)]}),
     ["0/1", "ExitCode:137", "0"]),
    ("signal without reason", pod(status={"phase": "Running", "containerStatuses": [
        terminated(exitCode=0, signal=9)]}), ["0/1", "Signal:9", "0"]),
    ("completed beside a running container, pod ready", pod(2, status={"phase": "Running", "conditions": [READY],
        "containerStatuses": [running("c0"), terminated("c1", exitCode=0, reason="Completed")]}),
     ["1/2", "Running", "0"]),
    ("completed beside a running container, pod not ready", pod(2, status={"phase": "Running",
        "containerStatuses": [running("c0"), terminated("c1", exitCode=0, reason="Completed")]}),
     ["1/2", "NotReady", "0"]),
    ("first container's reason wins", pod(2, status={"phase": "Pending", "containerStatuses": [
        waiting("ErrImagePull", "c0"), waiting("ContainerCreating", "c1")]}), ["0/2", "ErrImagePull", "0"]),
    ("init not started", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        waiting("PodInitializing", "i0"), waiting("PodInitializing", "i1")]}), ["0/1", "Init:0/2", "0"]),
    ("second init running", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        terminated("i0", exitCode=0, reason="Completed"), running("i1", ready=False)]}), ["0/1", "Init:1/2", "0"]),
    ("init failed", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        terminated("i0", exitCode=1, reason="Error")]}), ["0/1", "Init:Error", "0"]),
    ("init exit code", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        terminated("i0", exitCode=2)]}), ["0/1", "Init:ExitCode:2", "0"]),
    ("init signal", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        terminated("i0", exitCode=1, signal=15)]}), ["0/1", "Init:Signal:15", "0"]),
    ("init crash loop counts init restarts", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        waiting("CrashLoopBackOff", "i0", restarts=3, **last_finished(seconds=70))]}),
     ["0/1", "Init:CrashLoopBackOff", "3 (70s ago)"]),
    ("init done, app containers starting", pod(init=INIT_2, status={"phase": "Pending", "initContainerStatuses": [
        terminated("i0", exitCode=0), terminated("i1", exitCode=0)],
        "containerStatuses": [waiting("PodInitializing", "c0")]}), ["0/1", "PodInitializing", "0"]),
    ("sidecar counts toward ready and total", pod(init=[SIDECAR], status={"phase": "Running",
        "conditions": [INITIALIZED, READY],
        "initContainerStatuses": [running("proxy", started=True, restarts=1, **last_finished(minutes=30))],
        "containerStatuses": [running("c0", restarts=1, **last_finished(minutes=3))]}),
     ["2/2", "Running", "2 (3m ago)"]),
    ("sidecar not started yet", pod(init=[SIDECAR], status={"phase": "Pending", "initContainerStatuses": [
        running("proxy", ready=False, started=False)]}), ["0/2", "Init:0/1", "0"]),
    ("terminating", pod(deletionTimestamp=ago(seconds=5), status={"phase": "Running",
        "containerStatuses": [running()]}), ["1/1", "Terminating", "0"]),
    ("deleted after it finished keeps its reason", pod(deletionTimestamp=ago(seconds=5), status={
        "phase": "Succeeded", "containerStatuses": [terminated(exitCode=0, reason="Completed")]}),
     ["0/1", "Completed", "0"]),
    ("node lost while deleting", pod(deletionTimestamp=ago(seconds=5), status={"phase": "Running",
        "reason": "NodeLost", "containerStatuses": [running()]}), ["1/1", "Unknown", "0"]),
    ("node lost, not deleting", pod(status={"phase": "Running", "reason": "NodeLost"}), ["0/1", "NodeLost", "0"]),
])
def test_pod_ready_status_restarts(case: str, obj: dict, expected: list) -> None:
    assert row_cells(kinds.PODS, obj, NOW)[1:4] == expected, case


def test_pod_full_row_includes_wide_cells() -> None:
    obj = pod(status={"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}], "nominatedNodeName": "n2",
                      "conditions": [{"type": "example.com/gate", "status": "True"}, READY],
                      "containerStatuses": [running("c0")]})
    obj["spec"] |= {"nodeName": "n1", "readinessGates": [{"conditionType": "example.com/gate"},
                                                         {"conditionType": "example.com/other"}]}
    assert row_cells(kinds.PODS, obj, NOW) == ["web", "1/1", "Running", "0", "5m", "10.244.1.5", "n1", "n2", "1/2"]


@pytest.mark.parametrize("status, expected_ip", [
    ({}, "<none>"),
    ({"podIP": "10.0.0.7"}, "10.0.0.7"),  # the v1 -> internal conversion fills podIPs from podIP
    ({"podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.8"}, {"ip": "fd00::8"}]}, "10.0.0.8"),
])
def test_pod_ip(status: dict, expected_ip: str) -> None:
    cells = row_cells(kinds.PODS, pod(status=status), NOW)
    assert cells[5:] == [expected_ip, "<none>", "<none>", "<none>"]


# ---------------------------------------------------------------------------
# Namespace, Node


@pytest.mark.parametrize("obj, expected", [
    ({"metadata": meta("dev"), "status": {"phase": "Active"}}, ["dev", "Active", "5m"]),
    ({"metadata": meta("gone"), "status": {"phase": "Terminating"}}, ["gone", "Terminating", "5m"]),
    ({"metadata": {"name": "new"}}, ["new", "", "<unknown>"]),
])
def test_namespace(obj: dict, expected: list) -> None:
    assert row_cells(kinds.NAMESPACES, obj, NOW) == expected


def node(conditions: list[dict] | None = None, labels: dict | None = None, unschedulable: bool = False) -> dict:
    body: dict = {"metadata": {"name": "n1", "creationTimestamp": ago(days=3), "labels": labels or {}},
                  "spec": {"unschedulable": unschedulable} if unschedulable else {}, "status": {}}
    if conditions is not None:
        body["status"]["conditions"] = conditions
    return body


@pytest.mark.parametrize("obj, expected_status, expected_roles", [
    (node([{"type": "Ready", "status": "True"}]), "Ready", "<none>"),
    (node([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "False"}]), "NotReady", "<none>"),
    (node([{"type": "Ready", "status": "Unknown"}]), "NotReady", "<none>"),
    (node(), "Unknown", "<none>"),
    (node([{"type": "Ready", "status": "True"}], unschedulable=True), "Ready,SchedulingDisabled", "<none>"),
    (node([], unschedulable=True), "Unknown,SchedulingDisabled", "<none>"),
    (node(labels={"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": ""}),
     "Unknown", "control-plane,worker"),
    (node(labels={"kubernetes.io/role": "master", "node-role.kubernetes.io/master": "", "kubernetes.io/os": "linux"}),
     "Unknown", "master"),
    (node(labels={"node-role.kubernetes.io/": "", "kubernetes.io/role": ""}), "Unknown", "<none>"),
])
def test_node_status_and_roles(obj: dict, expected_status: str, expected_roles: str) -> None:
    assert row_cells(kinds.NODES, obj, NOW)[1:3] == [expected_status, expected_roles]


def test_node_full_row() -> None:
    obj = node([{"type": "Ready", "status": "True"}])
    obj["status"] |= {
        "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"},
                      {"type": "ExternalIP", "address": "203.0.113.4"}],
        "nodeInfo": {"kubeletVersion": "v1.33.0-kubelab", "osImage": "Debian GNU/Linux 12 (bookworm)",
                     "kernelVersion": "6.1.0", "containerRuntimeVersion": "docker://27.0.3"}}
    assert row_cells(kinds.NODES, obj, NOW) == [
        "n1", "Ready", "<none>", "3d", "v1.33.0-kubelab", "192.168.1.10", "203.0.113.4",
        "Debian GNU/Linux 12 (bookworm)", "6.1.0", "docker://27.0.3"]


def test_node_without_status_prints_unknowns() -> None:
    assert row_cells(kinds.NODES, {"metadata": {"name": "n0"}}, NOW) == [
        "n0", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]


# ---------------------------------------------------------------------------
# Service, Endpoints


def service(spec: dict, status: dict | None = None) -> dict:
    return {"metadata": meta("web"), "spec": spec, "status": status or {}}


@pytest.mark.parametrize("obj, expected", [
    (service({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
              "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
              "selector": {"tier": "fe", "app": "web"}}),
     ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "5m", "app=web,tier=fe"]),
    (service({"type": "NodePort", "clusterIP": "10.96.3.4",
              "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
     ["web", "NodePort", "10.96.3.4", "<none>", "80:30080/TCP,53/UDP", "5m", "<none>"]),
    (service({"type": "ClusterIP", "clusterIPs": ["10.96.0.1"], "externalIPs": ["198.51.100.1", "198.51.100.2"]}),
     ["web", "ClusterIP", "10.96.0.1", "198.51.100.1,198.51.100.2", "<none>", "5m", "<none>"]),
    (service({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
     ["web", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"]),
    (service({"type": "LoadBalancer", "clusterIPs": ["10.96.0.2"], "ports": [{"port": 443, "nodePort": 31443,
                                                                             "protocol": "TCP"}]}),
     ["web", "LoadBalancer", "10.96.0.2", "<pending>", "443:31443/TCP", "5m", "<none>"]),
    (service({"type": "LoadBalancer", "clusterIPs": ["10.96.0.2"], "externalIPs": ["198.51.100.9"]},
             {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"},
                                           {"ip": "203.0.113.7"}]}}),
     ["web", "LoadBalancer", "10.96.0.2", "203.0.113.7,lb.example.com,198.51.100.9", "<none>", "5m", "<none>"]),
    (service({"type": "ExternalName", "externalName": "db.example.com"}),
     ["web", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"]),
    (service({}), ["web", "", "<none>", "<unknown>", "<none>", "5m", "<none>"]),
])
def test_service(obj: dict, expected: list) -> None:
    assert row_cells(kinds.SERVICES, obj, NOW) == expected


def addresses(*ips: str) -> list[dict]:
    return [{"ip": ip} for ip in ips]


@pytest.mark.parametrize("subsets, expected", [
    (None, "<none>"),
    ([], "<none>"),
    ([{"addresses": addresses("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}]}], "10.0.0.1:80,10.0.0.2:80"),
    ([{"addresses": addresses(*(f"10.0.0.{i}" for i in range(1, 6))), "ports": [{"port": 80}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."),
    ([{"addresses": addresses("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}, {"port": 443}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."),
    ([{"addresses": addresses("10.0.0.1")}, {"addresses": addresses("10.0.1.1"), "ports": [{"port": 53}]}],
     "10.0.0.1,10.0.1.1:53"),
    ([{"addresses": addresses("fd00::1"), "ports": [{"port": 8080}]}], "[fd00::1]:8080"),
    ([{"notReadyAddresses": addresses("10.0.0.9"), "ports": [{"port": 80}]}], ""),
])
def test_endpoints(subsets: list | None, expected: str) -> None:
    obj = {"metadata": meta("web")} | ({} if subsets is None else {"subsets": subsets})
    assert row_cells(kinds.ENDPOINTS, obj, NOW) == ["web", expected, "5m"]


# ---------------------------------------------------------------------------
# ConfigMap, Secret, ServiceAccount, Lease


@pytest.mark.parametrize("rt, obj, expected", [
    (kinds.CONFIGMAPS, {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["cfg", 3, "5m"]),
    (kinds.CONFIGMAPS, {"metadata": meta("empty")}, ["empty", 0, "5m"]),
    (kinds.SECRETS, {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     ["tls", "kubernetes.io/tls", 2, "5m"]),
    (kinds.SECRETS, {"metadata": meta("bare")}, ["bare", "", 0, "5m"]),
    (kinds.SERVICE_ACCOUNTS, {"metadata": meta("default"), "secrets": [{"name": "t"}]}, ["default", 1, "5m"]),
    (kinds.SERVICE_ACCOUNTS, {"metadata": meta("default")}, ["default", 0, "5m"]),
    (kinds.LEASES, {"metadata": meta("n1"), "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}},
     ["n1", "n1", "5m"]),
    (kinds.LEASES, {"metadata": meta("free"), "spec": {}}, ["free", "", "5m"]),
])
def test_simple_kinds(rt: ResourceType, obj: dict, expected: list) -> None:
    assert row_cells(rt, obj, NOW) == expected


# ---------------------------------------------------------------------------
# Event


def event(**fields: object) -> dict:
    involved = {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"}
    return {"metadata": meta("web.17a"), "involvedObject": involved,
            "type": "Normal", "reason": "Pulled", "message": "  Container image pulled\n",
            "source": {"component": "kubelet", "host": "n1"}, **fields}


@pytest.mark.parametrize("obj, expected", [
    (event(firstTimestamp=ago(minutes=10), lastTimestamp=ago(minutes=1), count=4),
     ["60s", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, n1", "Container image pulled",
      "10m", 4, "web.17a"]),
    (event(firstTimestamp=ago(minutes=10)), ["10m", "Normal", "Pulled", "pod/web", "spec.containers{app}",
                                              "kubelet, n1", "Container image pulled", "10m", 1, "web.17a"]),
    (event(eventTime="2024-05-01T11:57:00.000000Z", source={}, reportingComponent="default-scheduler",
           series={"count": 7, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}),
     ["30s", "Normal", "Pulled", "pod/web", "spec.containers{app}", "default-scheduler", "Container image pulled",
      "3m", 7, "web.17a"]),
    (event(involvedObject={"kind": "Node"}, source={"component": "kubelet"}, reportingInstance="n9"),
     ["<unknown>", "Normal", "Pulled", "node", "", "kubelet, n9", "Container image pulled", "<unknown>", 1, "web.17a"]),
])
def test_event(obj: dict, expected: list) -> None:
    assert row_cells(kinds.EVENTS, obj, NOW) == expected


# ---------------------------------------------------------------------------
# Workloads


def template(*containers: tuple[str, str], **pod_spec: object) -> dict:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": n, "image": i} for n, i in containers], **pod_spec}}


SELECTOR = {"matchLabels": {"app": "web"}}


@pytest.mark.parametrize("obj, expected", [
    ({"metadata": meta("web"), "spec": {"replicas": 3, "selector": SELECTOR,
                                         "template": template(("app", "nginx:1.27"), ("log", "busybox"))},
      "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
     ["web", "2/3", 3, 2, "5m", "app,log", "nginx:1.27,busybox", "app=web"]),
    ({"metadata": meta("web"), "spec": {"replicas": 1, "template": template(("app", "nginx"))}},
     ["web", "0/1", 0, 0, "5m", "app", "nginx", ""]),
    ({"metadata": meta("web"), "spec": {"selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["fe", "be"]}, {"key": "canary", "operator": "DoesNotExist"},
        {"key": "zone", "operator": "NotIn", "values": ["a"]}, {"key": "env", "operator": "Exists"}]}}},
     ["web", "0/0", 0, 0, "5m", "", "", "app=web,!canary,env,tier in (be,fe),zone notin (a)"]),
    ({"metadata": meta("web"), "spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}}},
     ["web", "0/0", 0, 0, "5m", "", "", "<invalid>"]),
])
def test_deployment(obj: dict, expected: list) -> None:
    assert row_cells(kinds.DEPLOYMENTS, obj, NOW) == expected


@pytest.mark.parametrize("obj, expected", [
    ({"metadata": meta("web-7d4b9"),
      "spec": {"replicas": 3, "selector": SELECTOR, "template": template(("app", "nginx"))},
      "status": {"replicas": 3, "readyReplicas": 1}},
     ["web-7d4b9", 3, 3, 1, "5m", "app", "nginx", "app=web"]),
    ({"metadata": meta("bare")}, ["bare", 0, 0, 0, "5m", "", "", "<none>"]),
    ({"metadata": meta("bad"), "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}},
     ["bad", 0, 0, 0, "5m", "", "", "<error>"]),
])
def test_replicaset(obj: dict, expected: list) -> None:
    assert row_cells(kinds.REPLICASETS, obj, NOW) == expected


@pytest.mark.parametrize("obj, expected", [
    ({"metadata": meta("proxy"), "spec": {"selector": SELECTOR, "template": template(
        ("proxy", "kube-proxy:v1"), nodeSelector={"kubernetes.io/os": "linux"})},
      "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                 "updatedNumberScheduled": 3, "numberAvailable": 2}},
     ["proxy", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "5m", "proxy", "kube-proxy:v1", "app=web"]),
    ({"metadata": meta("new"), "spec": {"template": template(("a", "b"))}},
     ["new", 0, 0, 0, 0, 0, "<none>", "5m", "a", "b", "<none>"]),
])
def test_daemonset(obj: dict, expected: list) -> None:
    assert row_cells(kinds.DAEMONSETS, obj, NOW) == expected


@pytest.mark.parametrize("obj, expected", [
    ({"metadata": meta("db"), "spec": {"replicas": 3, "template": template(("pg", "postgres:16"))},
      "status": {"readyReplicas": 3}}, ["db", "3/3", "5m", "pg", "postgres:16"]),
    ({"metadata": meta("db")}, ["db", "0/0", "5m", "", ""]),
])
def test_statefulset(obj: dict, expected: list) -> None:
    assert row_cells(kinds.STATEFULSETS, obj, NOW) == expected


def job(spec: dict | None = None, status: dict | None = None, **metadata: object) -> dict:
    return {"metadata": meta("pi", **metadata), "spec": {"template": template(("pi", "perl"))} | (spec or {}),
            "status": status or {}}


def condition(kind: str, status: str = "True") -> dict:
    return {"type": kind, "status": status}


@pytest.mark.parametrize("obj, expected", [
    (job({"completions": 1}, {"succeeded": 1, "startTime": ago(minutes=4), "completionTime": ago(minutes=3, seconds=50),
                              "conditions": [condition("SuccessCriteriaMet"), condition("Complete")]}),
     ["Complete", "1/1", "10s"]),
    (job({"completions": 5, "parallelism": 2}, {"succeeded": 2, "startTime": ago(minutes=3)}),
     ["Running", "2/5", "3m"]),
    (job({"parallelism": 3}, {"succeeded": 1}), ["Running", "1/1 of 3", ""]),
    (job({}, {}), ["Running", "0/1", ""]),
    (job({"completions": 1}, {"conditions": [condition("FailureTarget"), condition("Failed")]}), ["Failed", "0/1", ""]),
    (job({"completions": 1}, {"conditions": [condition("Complete", "False")]}, deletionTimestamp=ago(seconds=1)),
     ["Terminating", "0/1", ""]),
    (job({"completions": 1, "suspend": True}, {"conditions": [condition("Suspended")]}), ["Suspended", "0/1", ""]),
    (job({"completions": 1}, {"conditions": [condition("FailureTarget")]}), ["FailureTarget", "0/1", ""]),
])
def test_job_status_completions_duration(obj: dict, expected: list) -> None:
    assert row_cells(kinds.JOBS, obj, NOW)[1:4] == expected


def test_job_full_row() -> None:
    obj = job({"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}})
    assert row_cells(kinds.JOBS, obj, NOW) == [
        "pi", "Running", "0/1", "", "5m", "pi", "perl", "batch.kubernetes.io/controller-uid=u1"]


@pytest.mark.parametrize("obj, expected", [
    ({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Paris", "suspend": False,
                                             "jobTemplate": {"spec": {"template": template(("backup", "restic"))}}},
      "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=9)}},
     ["nightly", "0 3 * * *", "Europe/Paris", "False", 1, "9h", "5m", "backup", "restic", "<none>"]),
    ({"metadata": meta("raw"), "spec": {"schedule": "*/5 * * * *"}},
     ["raw", "*/5 * * * *", "<none>", "<unset>", 0, "<none>", "5m", "", "", "<none>"]),
    ({"metadata": meta("off"), "spec": {"schedule": "@daily", "suspend": True, "jobTemplate": {"spec": {
        "selector": SELECTOR, "template": template(("a", "b"))}}}},
     ["off", "@daily", "<none>", "True", 0, "<none>", "5m", "a", "b", "app=web"]),
])
def test_cronjob(obj: dict, expected: list) -> None:
    assert row_cells(kinds.CRONJOBS, obj, NOW) == expected


# ---------------------------------------------------------------------------
# HorizontalPodAutoscaler


def cpu(target: dict) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def cpu_now(current: dict) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "current": current}}


@pytest.mark.parametrize("metrics, current, expected", [
    (None, None, "<none>"),
    ([cpu({"type": "Utilization", "averageUtilization": 80})], None, "cpu: <unknown>/80%"),
    ([cpu({"type": "Utilization", "averageUtilization": 80})], [cpu_now({"averageUtilization": 35})], "cpu: 35%/80%"),
    ([cpu({"type": "AverageValue", "averageValue": "500m"})], [cpu_now({"averageValue": "250m"})], "cpu: 250m/500m"),
    ([cpu({"type": "Utilization"})], [cpu_now({})], "cpu: <unknown>/<auto>"),
    ([{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"averageValue": "1k"}}}],
     [{"type": "Pods", "pods": {"current": {"averageValue": "250"}}}], "250/1k"),
    ([{"type": "Object", "object": {"target": {"type": "Value", "value": "10"}}}], None, "<unknown>/10"),
    ([{"type": "External", "external": {"target": {"averageValue": "30"}}}],
     [{"type": "External", "external": {"current": {"averageValue": "12"}}}], "12/30 (avg)"),
    ([{"type": "Telepathy"}], None, "<unknown type>"),
    ([cpu({"averageUtilization": 80}), {"type": "ContainerResource", "containerResource": {
        "name": "memory", "container": "app", "target": {"averageValue": "1Gi"}}}, cpu({"averageUtilization": 90})],
     None, "cpu: <unknown>/80%, memory: <unknown>/1Gi + 1 more..."),
])
def test_hpa_targets(metrics: list | None, current: list | None, expected: str) -> None:
    spec = {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10}
    obj = {"metadata": meta("web"), "spec": spec | ({"metrics": metrics} if metrics else {}),
           "status": {"currentReplicas": 2} | ({"currentMetrics": current} if current else {})}
    assert row_cells(kinds.HORIZONTAL_POD_AUTOSCALERS, obj, NOW) == [
        "web", "Deployment/web", expected, "<unset>", 10, 2, "5m"]


def test_hpa_min_pods() -> None:
    obj = {"metadata": meta("web"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                                             "minReplicas": 2, "maxReplicas": 5}}
    assert row_cells(kinds.HORIZONTAL_POD_AUTOSCALERS, obj, NOW)[3:6] == ["2", 5, 0]


# ---------------------------------------------------------------------------
# Columns, the default table and robustness


EXPECTED_COLUMNS = {
    "Pod": [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
            ("Nominated Node", 1), ("Readiness Gates", 1)],
    "Namespace": [("Name", 0), ("Status", 0), ("Age", 0)],
    "Node": [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0), ("Internal-IP", 1),
             ("External-IP", 1), ("OS-Image", 1), ("Kernel-Version", 1), ("Container-Runtime", 1)],
    "Service": [("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0), ("Age", 0),
                ("Selector", 1)],
    "Endpoints": [("Name", 0), ("Endpoints", 0), ("Age", 0)],
    "ConfigMap": [("Name", 0), ("Data", 0), ("Age", 0)],
    "Secret": [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)],
    "Event": [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
              ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)],
    "ServiceAccount": [("Name", 0), ("Secrets", 0), ("Age", 0)],
    "Deployment": [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0), ("Containers", 1),
                   ("Images", 1), ("Selector", 1)],
    "ReplicaSet": [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0), ("Containers", 1),
                   ("Images", 1), ("Selector", 1)],
    "ReplicationController": [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0),
                              ("Containers", 1), ("Images", 1), ("Selector", 1)],
    "DaemonSet": [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0),
                  ("Node Selector", 0), ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1)],
    "StatefulSet": [("Name", 0), ("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)],
    "Job": [("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0), ("Containers", 1),
            ("Images", 1), ("Selector", 1)],
    "CronJob": [("Name", 0), ("Schedule", 0), ("Timezone", 0), ("Suspend", 0), ("Active", 0), ("Last Schedule", 0),
                ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1)],
    "HorizontalPodAutoscaler": [("Name", 0), ("Reference", 0), ("Targets", 0), ("MinPods", 0), ("MaxPods", 0),
                                ("Replicas", 0), ("Age", 0)],
    "Lease": [("Name", 0), ("Holder", 0), ("Age", 0)],
}


@pytest.mark.parametrize("rt", REGISTRY.all(), ids=lambda rt: rt.kind)
def test_column_names_and_priorities(rt: ResourceType) -> None:
    columns = column_definitions(rt)
    assert [(c["name"], c["priority"]) for c in columns] == EXPECTED_COLUMNS[rt.kind]
    assert all(set(c) == {"name", "type", "format", "description", "priority"} and c["description"] for c in columns)
    assert [c["name"] for c in columns if c["format"] == "name"] == ["Name"]


@pytest.mark.parametrize("kind, column, expected_type", [
    ("ReplicaSet", "Desired", "integer"),
    ("DaemonSet", "Available", "integer"),
    ("Deployment", "Up-to-date", "string"),
    ("CronJob", "Suspend", "boolean"),
    ("CronJob", "Active", "integer"),
    ("Pod", "Restarts", "string"),
    ("Event", "Count", "string"),
])
def test_column_types(kind: str, column: str, expected_type: str) -> None:
    rt = next(rt for rt in REGISTRY.all() if rt.kind == kind)
    assert {c["name"]: c["type"] for c in column_definitions(rt)}[column] == expected_type


def test_column_definitions_are_copies() -> None:
    column_definitions(kinds.PODS)[0]["name"] = "mutated"
    assert column_definitions(kinds.PODS)[0]["name"] == "Name"


def test_unknown_kind_gets_upstreams_default_table() -> None:
    columns = column_definitions(WIDGETS)
    assert [(c["name"], c["type"], c["format"]) for c in columns] == [("Name", "string", "name"),
                                                                      ("Created At", "date", "")]
    obj = {"metadata": {"name": "w1", "creationTimestamp": "2024-05-01T13:30:00+02:00"}}
    assert row_cells(WIDGETS, obj, NOW) == ["w1", "2024-05-01T11:30:00Z"]
    assert row_cells(WIDGETS, {}, NOW) == ["", "0001-01-01T00:00:00Z"]


GARBAGE = [
    {},
    {"metadata": None, "spec": None, "status": None},
    {"metadata": {"name": 7, "labels": "x"}, "spec": "x", "status": [1, 2]},
    {"spec": {"containers": "no", "initContainers": [None, 3], "template": [], "ports": [None, {"port": "80"}],
              "selector": {"matchLabels": {"a": 1}}, "metrics": [None, {"type": "Pods"}], "jobTemplate": 5},
     "status": {"containerStatuses": [None, {"state": None}], "initContainerStatuses": [{"state": {"waiting": 1}}],
                "conditions": "x", "addresses": [None], "active": 3, "currentMetrics": [None]},
     "subsets": [None, {"addresses": [None], "ports": "x"}], "series": {"count": "many"}, "involvedObject": []},
]


@pytest.mark.parametrize("rt", [*REGISTRY.all(), WIDGETS], ids=lambda rt: rt.kind)
@pytest.mark.parametrize("obj", GARBAGE, ids=range(len(GARBAGE)))
def test_odd_objects_never_raise_and_fill_every_column(rt: ResourceType, obj: dict) -> None:
    assert len(row_cells(rt, obj, NOW)) == len(column_definitions(rt))


# ---------------------------------------------------------------------------
# The Table envelope


PODS = [pod(status={"phase": "Running", "containerStatuses": [running("c0")]}),
        pod(status={"phase": "Succeeded"}) | {"metadata": meta("done", labels={"job": "x"})}]


def test_table_with_partial_object_metadata() -> None:
    table = to_table(kinds.PODS, PODS, resource_version="42", now=NOW)
    assert {k: table[k] for k in ("kind", "apiVersion", "metadata")} == {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "42"}}
    assert table["columnDefinitions"] == column_definitions(kinds.PODS)
    assert [row["cells"][:3] for row in table["rows"]] == [["web", "1/1", "Running"], ["done", "0/1", "Succeeded"]]
    assert table["rows"][1]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                          "metadata": PODS[1]["metadata"]}


def test_finished_pods_rows_carry_the_completed_condition() -> None:
    rows = to_table(kinds.PODS, PODS, resource_version="1", now=NOW)["rows"]
    assert "conditions" not in rows[0]
    assert rows[1]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                      "message": "The pod has completed successfully."}]


@pytest.mark.parametrize("include_object, expected", [
    ("Object", PODS[0]),
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": PODS[0]["metadata"]}),
])
def test_include_object(include_object: str, expected: dict) -> None:
    table = to_table(kinds.PODS, PODS[:1], resource_version="7", include_object=include_object, now=NOW)
    assert table["rows"][0]["object"] == expected


def test_include_object_none_omits_the_object() -> None:
    rows = to_table(kinds.PODS, PODS[:1], resource_version="7", include_object="None", now=NOW)["rows"]
    assert set(rows[0]) == {"cells"}


def test_without_headers_and_with_continue() -> None:
    table = to_table(kinds.NAMESPACES, [{"metadata": meta("dev")}], resource_version="9", continue_token="abc",
                     include_headers=False, now=NOW)
    assert table["columnDefinitions"] == []
    assert table["metadata"] == {"resourceVersion": "9", "continue": "abc"}
    assert table["rows"][0]["cells"] == ["dev", "", "5m"]


def test_empty_list_and_default_now() -> None:
    table = to_table(kinds.NAMESPACES, [], resource_version="3")
    assert table["rows"] == [] and len(table["columnDefinitions"]) == 3
    fresh = {"metadata": {"name": "n", "creationTimestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    assert to_table(kinds.NAMESPACES, [fresh], resource_version="3")["rows"][0]["cells"][2] in ("0s", "1s", "2s")
