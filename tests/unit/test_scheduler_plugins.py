"""Scheduler plugins one by one: tables of (pod, node) -> status or score, checked against upstream's rules."""
from __future__ import annotations

import random
from typing import Any

import pytest

from scheduler.framework import (ALL_NODES_KEY, SKIP, SUCCESS, Code, NodeInfo, PodInfo, Status,
                                 default_normalize_score, normalized_image_name)
from scheduler.plugins import (REGISTRY, ImageLocality, NodeAffinity, NodeName, NodePorts,
                               NodeResourcesBalancedAllocation, NodeResourcesBalancedAllocationArgs, NodeResourcesFit,
                               NodeResourcesFitArgs, NodeUnschedulable, ResourceSpec, ScoringStrategy, TaintToleration)
from scheduler.plugins import image_locality, node_ports

MB = 1024 * 1024
GI = 1024 * MB


def node(name: str = "n1", cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict | None = None,
         taints: list | None = None, unschedulable: bool = False, images: list | None = None,
         extra: dict | None = None) -> NodeInfo:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return NodeInfo.from_node({
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"allocatable": allocatable, "images": images or []}})


def pod(name: str = "p", requests: dict | None = None, image: str = "nginx:1.25", **spec: Any) -> PodInfo:
    container: dict[str, Any] = {"name": "c", "image": image}
    if requests is not None:
        container["resources"] = {"requests": requests}
    return PodInfo.of({"metadata": {"name": name, "namespace": "default"},
                       "spec": {"containers": [container], **spec}})


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict:
    return {"key": key, "value": value, "effect": effect}


def run_filter(plugin: Any, p: PodInfo, n: NodeInfo) -> Status:
    state: dict = {}
    if hasattr(plugin, "pre_filter"):
        pre = plugin.pre_filter(state, p)
        if pre.is_skip():
            return pre
    return plugin.filter(state, p, n)


def run_scores(plugin: Any, p: PodInfo, nodes: list[NodeInfo]) -> dict[str, int] | Status:
    """PreScore, Score and NormalizeScore over the nodes as the framework runs them."""
    state: dict = {ALL_NODES_KEY: nodes}
    if hasattr(plugin, "pre_score"):
        pre = plugin.pre_score(state, p, nodes)
        if pre.is_skip():
            return pre
    scores = {n.name: plugin.score(state, p, n) for n in nodes}
    if hasattr(plugin, "normalize"):
        plugin.normalize(state, p, scores)
    return scores


def test_registry_has_the_upstream_names() -> None:
    assert set(REGISTRY) == {"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                             "NodeResourcesFit", "NodeResourcesBalancedAllocation", "ImageLocality"}
    assert all(cls.name == name for name, cls in REGISTRY.items())


# ---------------------------------------------------------------- NodeUnschedulable

UNSCHEDULABLE_KEY = "node.kubernetes.io/unschedulable"


@pytest.mark.parametrize(("unschedulable", "tolerations", "ok"), [
    (False, [], True),
    (True, [], False),
    (True, [{"key": UNSCHEDULABLE_KEY, "operator": "Exists", "effect": "NoSchedule"}], True),
    (True, [{"operator": "Exists"}], True),  # tolerates everything
    (True, [{"key": UNSCHEDULABLE_KEY, "operator": "Exists", "effect": "NoExecute"}], False),
    (True, [{"key": "other", "operator": "Exists"}], False),
])
def test_node_unschedulable(unschedulable: bool, tolerations: list, ok: bool) -> None:
    status = run_filter(NodeUnschedulable(), pod(tolerations=tolerations), node(unschedulable=unschedulable))
    if ok:
        assert status is SUCCESS
    else:
        assert status == Status(Code.UnschedulableAndUnresolvable, ("node(s) were unschedulable",),
                                "NodeUnschedulable")


# ---------------------------------------------------------------- NodeName

@pytest.mark.parametrize(("node_name", "expected"), [
    ("", Code.Skip),
    ("n1", Code.Success),
    ("n2", Code.UnschedulableAndUnresolvable),
])
def test_node_name(node_name: str, expected: Code) -> None:
    status = run_filter(NodeName(), pod(nodeName=node_name) if node_name else pod(), node("n1"))
    assert status.code is expected
    if expected is Code.UnschedulableAndUnresolvable:
        assert status.reasons == ("node(s) didn't match the requested node name",)


# ---------------------------------------------------------------- NodeAffinity

def required(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict:
    return {"key": key, "operator": operator, "values": list(values)}


LABELS = {"zone": "a", "disk": "ssd", "cores": "8"}


@pytest.mark.parametrize(("spec", "labels", "ok"), [
    ({"nodeSelector": {"zone": "a"}}, LABELS, True),
    ({"nodeSelector": {"zone": "b"}}, LABELS, False),
    ({"nodeSelector": {"zone": "a", "gpu": "yes"}}, LABELS, False),
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "a", "b")]})}, LABELS, True),
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "b")]})}, LABELS, False),
    ({"affinity": required({"matchExpressions": [expr("zone", "NotIn", "b")]})}, LABELS, True),
    ({"affinity": required({"matchExpressions": [expr("gpu", "NotIn", "yes")]})}, LABELS, True),  # absent
    ({"affinity": required({"matchExpressions": [expr("disk", "Exists")]})}, LABELS, True),
    ({"affinity": required({"matchExpressions": [expr("gpu", "Exists")]})}, LABELS, False),
    ({"affinity": required({"matchExpressions": [expr("gpu", "DoesNotExist")]})}, LABELS, True),
    ({"affinity": required({"matchExpressions": [expr("disk", "DoesNotExist")]})}, LABELS, False),
    ({"affinity": required({"matchExpressions": [expr("cores", "Gt", "4")]})}, LABELS, True),
    ({"affinity": required({"matchExpressions": [expr("cores", "Gt", "8")]})}, LABELS, False),
    ({"affinity": required({"matchExpressions": [expr("cores", "Lt", "16")]})}, LABELS, True),
    ({"affinity": required({"matchExpressions": [expr("zone", "Gt", "1")]})}, LABELS, False),  # not an int
    ({"affinity": required({"matchExpressions": [expr("cores", "Gt", "x")]})}, LABELS, False),  # invalid term
    ({"affinity": required({"matchExpressions": [expr("zone", "In")]})}, LABELS, False),  # In without values
    ({"affinity": required({"matchExpressions": [expr("zone", "Near", "a")]})}, LABELS, False),
    # expressions ANDed
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "a"), expr("disk", "In", "hdd")]})},
     LABELS, False),
    # terms ORed
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "b")]},
                           {"matchExpressions": [expr("disk", "In", "ssd")]})}, LABELS, True),
    ({"affinity": required({})}, LABELS, False),  # an empty term matches nothing
    ({"affinity": required()}, LABELS, False),  # required with no terms matches nothing
    ({"affinity": required({"matchFields": [expr("metadata.name", "In", "n1")]})}, LABELS, True),
    ({"affinity": required({"matchFields": [expr("metadata.name", "In", "n2")]})}, LABELS, False),
    ({"affinity": required({"matchFields": [expr("metadata.name", "NotIn", "n2")]})}, LABELS, True),
    ({"affinity": required({"matchFields": [expr("metadata.name", "In", "n1", "n2")]})}, LABELS, False),
    # nodeSelector and affinity must both hold
    ({"nodeSelector": {"zone": "b"}, "affinity": required({"matchExpressions": [expr("disk", "Exists")]})},
     LABELS, False),
    ({"nodeSelector": {"zone": "a"}, "affinity": required({"matchExpressions": [expr("disk", "Exists")]})},
     LABELS, True),
])
def test_node_affinity_filter(spec: dict, labels: dict, ok: bool) -> None:
    status = run_filter(NodeAffinity(), pod(**spec), node("n1", labels=labels))
    if ok:
        assert status is SUCCESS
    else:
        assert status.code is Code.UnschedulableAndUnresolvable
        assert status.reasons == ("node(s) didn't match Pod's node affinity/selector",)


def test_node_affinity_pre_filter_skips_pods_without_constraints() -> None:
    plugin = NodeAffinity()
    assert plugin.pre_filter({}, pod()) is SKIP
    assert plugin.pre_filter({}, pod(nodeSelector={"a": "b"})).is_success()
    assert plugin.pre_filter({}, pod(affinity=required({}))).is_success()


def preferred(*weighted: tuple[int, dict]) -> dict:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": term} for w, term in weighted]}}


@pytest.mark.parametrize(("affinity", "expected"), [
    # raw sums 0 / 30 / 80, normalized by the highest
    (preferred((30, {"matchExpressions": [expr("zone", "In", "a")]}),
               (50, {"matchExpressions": [expr("disk", "In", "ssd")]})),
     {"plain": 0, "zone-a": 37, "both": 100}),
    (preferred((10, {"matchExpressions": [expr("gpu", "Exists")]})), {"plain": 0, "zone-a": 0, "both": 0}),
])
def test_node_affinity_preferred_score(affinity: dict, expected: dict) -> None:
    nodes = [node("plain"), node("zone-a", labels={"zone": "a"}), node("both", labels={"zone": "a", "disk": "ssd"})]
    assert run_scores(NodeAffinity(), pod(affinity=affinity), nodes) == expected


def test_node_affinity_pre_score_skips_without_preferred_terms() -> None:
    assert run_scores(NodeAffinity(), pod(), [node()]) is SKIP


# ---------------------------------------------------------------- TaintToleration

def tol(key: str = "", operator: str = "Equal", value: str = "", effect: str = "") -> dict:
    return {"key": key, "operator": operator, "value": value, "effect": effect}


@pytest.mark.parametrize(("taints", "tolerations", "reason"), [
    ([], [], None),
    ([taint("k", "v")], [], "node(s) had untolerated taint {k: v}"),
    ([taint("k", "v", "NoExecute")], [], "node(s) had untolerated taint {k: v}"),
    ([taint("k", "v", "PreferNoSchedule")], [], None),  # only a score matter
    ([taint("k", "v")], [tol("k", "Equal", "v", "NoSchedule")], None),
    ([taint("k", "v")], [tol("k", "", "v")], None),  # empty operator means Equal, empty effect all
    ([taint("k", "v")], [tol("k", "Equal", "w")], "node(s) had untolerated taint {k: v}"),
    ([taint("k", "v")], [tol("k", "Exists")], None),
    ([taint("k", "v")], [tol("", "Exists")], None),  # empty key + Exists tolerates everything
    ([taint("k", "v")], [tol("k", "Exists", effect="NoExecute")], "node(s) had untolerated taint {k: v}"),
    ([taint("a", "1"), taint("b", "2")], [tol("a", "Exists")], "node(s) had untolerated taint {b: 2}"),
    ([taint("k")], [], "node(s) had untolerated taint {k: }"),
])
def test_taint_toleration_filter(taints: list, tolerations: list, reason: str | None) -> None:
    status = run_filter(TaintToleration(), pod(tolerations=tolerations), node(taints=taints))
    if reason is None:
        assert status is SUCCESS
    else:
        assert status == Status(Code.UnschedulableAndUnresolvable, (reason,), "TaintToleration")


@pytest.mark.parametrize(("tolerations", "expected"), [
    ([], {"clean": 100, "one": 50, "two": 0}),
    ([tol("a", "Exists", effect="PreferNoSchedule")], {"clean": 100, "one": 100, "two": 0}),
    ([tol("", "Exists")], {"clean": 100, "one": 100, "two": 100}),
    ([tol("a", "Exists", effect="NoSchedule")], {"clean": 100, "one": 50, "two": 0}),  # wrong effect
])
def test_taint_toleration_score(tolerations: list, expected: dict) -> None:
    nodes = [node("clean"), node("one", taints=[taint("a", effect="PreferNoSchedule")]),
             node("two", taints=[taint("a", effect="PreferNoSchedule"), taint("b", effect="PreferNoSchedule")])]
    assert run_scores(TaintToleration(), pod(tolerations=tolerations), nodes) == expected


def test_taint_toleration_skips_score_without_prefer_no_schedule_taints() -> None:
    assert run_scores(TaintToleration(), pod(), [node("a"), node("b", taints=[taint("x")])]) is SKIP


@pytest.mark.parametrize(("scores", "reverse", "expected"), [
    ({"a": 0, "b": 0}, False, {"a": 0, "b": 0}),
    ({"a": 0, "b": 0}, True, {"a": 100, "b": 100}),
    ({"a": 1, "b": 3}, False, {"a": 33, "b": 100}),
    ({"a": 1, "b": 3}, True, {"a": 67, "b": 0}),
])
def test_default_normalize_score(scores: dict, reverse: bool, expected: dict) -> None:
    default_normalize_score(scores, reverse)
    assert scores == expected


# ---------------------------------------------------------------- NodeResourcesFit (filter)

def with_pods(n: NodeInfo, *requests: dict) -> NodeInfo:
    for i, req in enumerate(requests):
        n.add_pod(pod(f"existing-{i}", req))
    return n


@pytest.mark.parametrize(("requests", "n", "code", "reasons"), [
    ({"cpu": "1", "memory": "1Gi"}, node(), Code.Success, ()),
    ({"cpu": "4", "memory": "8Gi"}, node(), Code.Success, ()),  # exactly full
    ({"cpu": "2"}, with_pods(node(), {"cpu": "3"}), Code.Unschedulable, ("Insufficient cpu",)),
    ({"cpu": "5"}, node(), Code.UnschedulableAndUnresolvable, ("Insufficient cpu",)),  # beyond allocatable
    ({"memory": "2Gi"}, with_pods(node(), {"memory": "7Gi"}), Code.Unschedulable, ("Insufficient memory",)),
    ({"cpu": "3", "memory": "7Gi"}, with_pods(node(), {"cpu": "2", "memory": "2Gi"}), Code.Unschedulable,
     ("Insufficient cpu", "Insufficient memory")),
    ({}, with_pods(node(pods="1"), {}), Code.Unschedulable, ("Too many pods",)),
    ({"cpu": "5"}, with_pods(node(pods="1"), {}), Code.UnschedulableAndUnresolvable,
     ("Too many pods", "Insufficient cpu")),
    ({}, node(pods="0"), Code.Unschedulable, ("Too many pods",)),
    ({"example.com/gpu": "1"}, node(extra={"example.com/gpu": "2"}), Code.Success, ()),
    ({"example.com/gpu": "1"}, node(), Code.UnschedulableAndUnresolvable, ("Insufficient example.com/gpu",)),
    ({"example.com/gpu": "2"}, with_pods(node(extra={"example.com/gpu": "2"}), {"example.com/gpu": "1"}),
     Code.Unschedulable, ("Insufficient example.com/gpu",)),
    ({"ephemeral-storage": "2Gi"}, node(extra={"ephemeral-storage": "1Gi"}), Code.UnschedulableAndUnresolvable,
     ("Insufficient ephemeral-storage",)),
    ({"cpu": "0"}, with_pods(node(), {"cpu": "5"}), Code.Success, ()),  # zero asks for nothing, even overcommitted
])
def test_node_resources_fit_filter(requests: dict, n: NodeInfo, code: Code, reasons: tuple) -> None:
    status = run_filter(NodeResourcesFit(), pod(requests=requests), n)
    assert (status.code, status.reasons) == (code, reasons)
    assert status.is_success() or status.plugin == "NodeResourcesFit"


def test_node_resources_fit_ignores_configured_extended_resources() -> None:
    plugin = NodeResourcesFit(NodeResourcesFitArgs(ignored_resources=frozenset({"example.com/gpu"}),
                                                   ignored_resource_groups=frozenset({"vendor.io"})))
    p = pod(requests={"example.com/gpu": "1", "vendor.io/fpga": "1"})
    assert run_filter(plugin, p, node()) is SUCCESS
    assert run_filter(NodeResourcesFit(), p, node()).reasons == ("Insufficient example.com/gpu",
                                                                 "Insufficient vendor.io/fpga")


# ---------------------------------------------------------------- NodeResourcesFit (score)

def fit(strategy: str = "LeastAllocated", *resources: tuple[str, int]) -> NodeResourcesFit:
    specs = tuple(ResourceSpec(n, w) for n, w in resources) or ScoringStrategy().resources
    return NodeResourcesFit(NodeResourcesFitArgs(ScoringStrategy(strategy, specs)))


# node: 4000m cpu, 10000 bytes memory, nothing on it; the pod asks 3000m and 5000 bytes
SCORE_NODE = {"cpu": "4", "memory": "10000"}


@pytest.mark.parametrize(("plugin", "requests", "expected"), [
    (fit("LeastAllocated"), {"cpu": "3", "memory": "5000"}, (25 + 50) // 2),
    (fit("MostAllocated"), {"cpu": "3", "memory": "5000"}, (75 + 50) // 2),
    (fit("LeastAllocated", ("cpu", 3), ("memory", 1)), {"cpu": "3", "memory": "5000"}, (25 * 3 + 50) // 4),
    (fit("MostAllocated", ("cpu", 1), ("memory", 2)), {"cpu": "3", "memory": "5000"}, (75 + 50 * 2) // 3),
    (fit("LeastAllocated"), {"cpu": "5", "memory": "5000"}, (0 + 50) // 2),  # over capacity scores 0
    (fit("MostAllocated"), {"cpu": "5", "memory": "5000"}, (100 + 50) // 2),  # capped at full
    # no requests: upstream's non-zero defaults (100m, 200Mi) -> memory is over this tiny node
    (fit("LeastAllocated"), None, ((4000 - 100) * 100 // 4000 + 0) // 2),
    (fit("MostAllocated"), None, (100 * 100 // 4000 + 100) // 2),
    # a resource the node does not have drops out of the mean
    (fit("LeastAllocated", ("cpu", 1), ("example.com/gpu", 1)), {"cpu": "3", "example.com/gpu": "1"}, 25),
])
def test_node_resources_fit_score(plugin: NodeResourcesFit, requests: dict | None, expected: int) -> None:
    n = node("n1", **SCORE_NODE)
    assert run_scores(plugin, pod(requests=requests), [n]) == {"n1": expected}


def test_node_resources_fit_score_counts_existing_pods_with_non_zero_defaults() -> None:
    n = with_pods(node("n1", cpu="4", memory="10Gi"), {}, {"cpu": "1", "memory": "1Gi"})
    # existing: 100m + 1000m cpu, 200Mi + 1Gi memory; incoming: 1000m, 1Gi
    cpu = (4000 - 2100) * 100 // 4000
    memory = (10 * GI - (200 * MB + 2 * GI)) * 100 // (10 * GI)
    assert run_scores(fit(), pod(requests={"cpu": "1", "memory": "1Gi"}), [n]) == {"n1": (cpu + memory) // 2}


def test_extended_resource_score_uses_allocatable_scalar() -> None:
    plugin = fit("MostAllocated", ("example.com/gpu", 1))
    nodes = [node("two", extra={"example.com/gpu": "2"}), node("four", extra={"example.com/gpu": "4"})]
    assert run_scores(plugin, pod(requests={"example.com/gpu": "1"}), nodes) == {"two": 50, "four": 25}
    assert run_scores(plugin, pod(requests={"cpu": "1"}), nodes) == {"two": 0, "four": 0}


# ---------------------------------------------------------------- NodeResourcesBalancedAllocation

@pytest.mark.parametrize(("requests", "expected"), [
    ({"cpu": "3", "memory": "5000"}, int((1 - abs(0.75 - 0.5) / 2) * 100)),  # 87
    ({"cpu": "2", "memory": "5000"}, 100),  # perfectly balanced
    ({"cpu": "4", "memory": "0"}, 50),
    ({"cpu": "8", "memory": "20000"}, 100),  # fractions capped at 1
])
def test_balanced_allocation_score(requests: dict, expected: int) -> None:
    n = node("n1", **SCORE_NODE)
    assert run_scores(NodeResourcesBalancedAllocation(), pod(requests=requests), [n]) == {"n1": expected}


def test_balanced_allocation_uses_real_requests_of_existing_pods() -> None:
    n = with_pods(node("n1", cpu="4", memory="10000"), {})  # best-effort pod: no non-zero defaults here
    assert run_scores(NodeResourcesBalancedAllocation(), pod(requests={"cpu": "2", "memory": "5000"}), [n]) \
        == {"n1": 100}


def test_balanced_allocation_skips_best_effort_pods() -> None:
    assert run_scores(NodeResourcesBalancedAllocation(), pod(), [node()]) is SKIP


def test_balanced_allocation_three_resources_use_the_standard_deviation() -> None:
    args = NodeResourcesBalancedAllocationArgs((ResourceSpec("cpu"), ResourceSpec("memory"),
                                                ResourceSpec("example.com/gpu")))
    n = node("n1", cpu="4", memory="10000", extra={"example.com/gpu": "4"})
    fractions = [0.5, 0.5, 0.25]
    mean = sum(fractions) / 3
    std = (sum((f - mean) ** 2 for f in fractions) / 3) ** 0.5
    scores = run_scores(NodeResourcesBalancedAllocation(args),
                        pod(requests={"cpu": "2", "memory": "5000", "example.com/gpu": "1"}), [n])
    assert scores == {"n1": int((1 - std) * 100)}


# ---------------------------------------------------------------- NodePorts

def port_pod(*ports: tuple[str, str, int]) -> PodInfo:
    return PodInfo.of({"metadata": {"name": "ports"}, "spec": {"containers": [{"name": "c", "ports": [
        {"containerPort": 80, "hostPort": hp, "protocol": proto, **({"hostIP": ip} if ip else {})}
        for ip, proto, hp in ports]}]}})


@pytest.mark.parametrize(("used", "wanted", "ok"), [
    ([], [("", "TCP", 8080)], True),
    ([("", "TCP", 8080)], [("", "TCP", 8080)], False),
    ([("", "TCP", 8080)], [("127.0.0.1", "TCP", 8080)], False),  # 0.0.0.0 taken: every IP taken
    ([("10.0.0.1", "TCP", 8080)], [("", "TCP", 8080)], False),  # wanting 0.0.0.0 needs every IP free
    ([("10.0.0.1", "TCP", 8080)], [("10.0.0.2", "TCP", 8080)], True),
    ([("10.0.0.1", "TCP", 8080)], [("10.0.0.1", "TCP", 8080)], False),
    ([("", "UDP", 8080)], [("", "TCP", 8080)], True),
    ([("", "TCP", 8080)], [("", "TCP", 8081)], True),
    ([("", "TCP", 8080)], [("", "TCP", 9090), ("", "TCP", 8080)], False),
])
def test_node_ports(used: list, wanted: list, ok: bool) -> None:
    n = node()
    if used:
        n.add_pod(PodInfo.of({**port_pod(*used).pod, "metadata": {"name": "user", "namespace": "default"}}))
    status = run_filter(NodePorts(), port_pod(*wanted), n)
    if ok:
        assert status is SUCCESS
    else:
        assert status == Status(Code.Unschedulable, ("node(s) didn't have free ports for the requested pod ports",),
                                "NodePorts")


def test_node_ports_pre_filter_skips_pods_without_host_ports() -> None:
    assert NodePorts().pre_filter({}, pod()) is SKIP
    assert NodePorts().pre_filter({}, port_pod(("", "TCP", 80))).is_success()


def test_node_ports_conflicts_function() -> None:
    assert node_ports.conflicts(("0.0.0.0", "TCP", 80), [("1.2.3.4", "TCP", 80)])
    assert not node_ports.conflicts(("1.2.3.4", "TCP", 80), [("1.2.3.5", "TCP", 80)])


# ---------------------------------------------------------------- ImageLocality

@pytest.mark.parametrize(("name", "normalized"), [
    ("nginx", "nginx:latest"),
    ("nginx:1.25", "nginx:1.25"),
    ("registry:5000/app", "registry:5000/app:latest"),
    ("registry:5000/app:v1", "registry:5000/app:v1"),
])
def test_normalized_image_name(name: str, normalized: str) -> None:
    assert normalized_image_name(name) == normalized


@pytest.mark.parametrize(("sum_scores", "containers", "expected"), [
    (0, 1, 0),
    (23 * MB, 1, 0),
    (1000 * MB, 1, 100),
    (5000 * MB, 1, 100),
    (250 * MB, 1, 100 * (250 - 23) // (1000 - 23)),
    (1000 * MB, 2, 100 * (1000 - 23) // (2000 - 23)),  # the ceiling grows per container
])
def test_image_locality_calculate_priority(sum_scores: int, containers: int, expected: int) -> None:
    assert image_locality.calculate_priority(sum_scores, containers) == expected


def images(*entries: tuple[list[str], int]) -> list[dict]:
    return [{"names": names, "sizeBytes": size} for names, size in entries]


def test_image_locality_scales_by_spread() -> None:
    big = images((["docker.io/library/nginx:1.25", "nginx:1.25"], 500 * MB))
    nodes = [node("has", images=big), node("also", images=big), node("none"), node("none2")]
    # the image is on 2 of 4 nodes: 500 MB * 0.5 = 250 MB
    expected = 100 * (250 * MB - 23 * MB) // (1000 * MB - 23 * MB)
    assert run_scores(ImageLocality(), pod(image="nginx:1.25"), nodes) == {
        "has": expected, "also": expected, "none": 0, "none2": 0}


def test_image_locality_skips_when_no_node_has_the_images() -> None:
    assert run_scores(ImageLocality(), pod(image="busybox"), [node("a"), node("b")]) is SKIP


def test_image_locality_counts_follow_node_image_changes() -> None:
    plugin = ImageLocality()
    n1, n2 = node("n1"), node("n2")
    nodes = [n1, n2]
    assert run_scores(plugin, pod(image="nginx:1.25"), nodes) is SKIP
    n2.set_node({**n2.node, "status": {**n2.node["status"], "images": images((["nginx:1.25"], 2000 * MB))}})
    assert run_scores(plugin, pod(image="nginx:1.25"), nodes) == {"n1": 0, "n2": 100 * (1000 - 23) // (1000 - 23)}


# ---------------------------------------------------------------- batch forms equal per-node forms

def random_nodes(rng: random.Random, count: int = 60) -> list[NodeInfo]:
    nodes = []
    for i in range(count):
        n = node(f"r{i}", cpu=str(rng.choice([0, 1, 2, 8])), memory=f"{rng.choice([0, 1, 4, 16])}Gi",
                 pods=str(rng.choice([0, 2, 110])), unschedulable=rng.random() < 0.2,
                 taints=[taint("t", effect=rng.choice(["NoSchedule", "PreferNoSchedule"]))] if rng.random() < 0.3
                 else [], images=images((["nginx:1.25"], 300 * MB)) if rng.random() < 0.5 else [],
                 extra={"example.com/gpu": "2"} if rng.random() < 0.5 else {})
        for j in range(rng.randrange(3)):
            n.add_pod(pod(f"r{i}-{j}", rng.choice([None, {"cpu": "500m"}, {"cpu": "1", "memory": "3Gi"}])))
        nodes.append(n)
    return nodes


BATCH_PLUGINS = [NodeUnschedulable(), TaintToleration(), NodeResourcesFit(), fit("MostAllocated"),
                 fit("LeastAllocated", ("cpu", 2), ("memory", 1), ("example.com/gpu", 3)),
                 NodeResourcesBalancedAllocation(), ImageLocality()]
BATCH_PODS = [None, {"cpu": "1"}, {"cpu": "700m", "memory": "2Gi"}, {"example.com/gpu": "1", "cpu": "1"}]


@pytest.mark.parametrize("seed", range(5))
def test_batch_forms_equal_per_node_forms(seed: int) -> None:
    rng = random.Random(seed)
    nodes = random_nodes(rng)
    for plugin in BATCH_PLUGINS:
        for requests in BATCH_PODS:
            p = pod(requests=requests, tolerations=[tol("t", "Exists")] if rng.random() < 0.5 else [])
            state: dict = {ALL_NODES_KEY: nodes}
            if hasattr(plugin, "filter_nodes"):
                assert plugin.filter_nodes(state, p, nodes) == [plugin.filter(state, p, n) for n in nodes]
            if hasattr(plugin, "score_nodes"):
                if hasattr(plugin, "pre_score") and plugin.pre_score(state, p, nodes).is_skip():
                    continue
                assert plugin.score_nodes(state, p, nodes) == [plugin.score(state, p, n) for n in nodes], plugin.name


@pytest.mark.parametrize("seed", range(3))
def test_memoized_scores_follow_node_changes(seed: int) -> None:
    """Results reused across pods (NodeMemo) equal fresh ones after pods land on nodes and nodes change."""
    rng = random.Random(seed)
    nodes = random_nodes(rng)
    for plugin_class in (NodeResourcesFit, NodeResourcesBalancedAllocation):
        plugin = plugin_class()
        for step in range(20):
            p = pod(f"p{step}", requests=rng.choice([{"cpu": "1"}, {"cpu": "700m", "memory": "2Gi"}]))
            state: dict = {ALL_NODES_KEY: nodes}
            if plugin.pre_score(state, p, nodes).is_skip():
                continue
            window = rng.sample(nodes, 30)
            assert plugin.score_nodes(state, p, window) == [plugin.score(state, p, n) for n in window]
            if isinstance(plugin, NodeResourcesFit):
                assert plugin.filter_nodes(state, p, window) == [plugin.filter(state, p, n) for n in window]
            target = rng.choice(window)
            if rng.random() < 0.8:
                target.add_pod(p)
            else:
                target.set_node(dict(target.node or {}))
