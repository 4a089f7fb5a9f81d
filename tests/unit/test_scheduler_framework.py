"""Scheduler framework: PodInfo/NodeInfo bookkeeping and Framework.schedule() (filter from a rotating
start, sampling, scoring, tie-break, FitError text), with the in-tree plugins and with test plugins."""
from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from scheduler.config import Profile, default_config, parse_config
from scheduler.framework import (DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST, NO_NODES_AVAILABLE, SKIP,
                                 SUCCESS, Code, Framework, NodeInfo, Plugin, PodInfo, Resources, Status,
                                 fit_error_message, num_feasible_nodes_to_find)

GI = 1024 ** 3
MI = 1024 ** 2


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", **spec: Any) -> NodeInfo:
    return NodeInfo.from_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                               "spec": spec, "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}}})


def pod(name: str = "p", cpu: str | None = None, memory: str | None = None, **spec: Any) -> PodInfo:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container = {"name": "c", "image": "app", "resources": {"requests": requests}}
    return PodInfo.of({"metadata": {"name": name, "namespace": "ns"}, "spec": {"containers": [container], **spec}})


def container(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "image": "app", "resources": {"requests": requests}, **extra}


# ---------------------------------------------------------------- PodInfo

@pytest.mark.parametrize(("spec", "cpu", "memory"), [
    ({"containers": [container("100m", "1Gi"), container("200m", "1Gi")]}, 300, 2 * GI),
    # init containers run one at a time: the pod needs the biggest of them if that exceeds the sum
    ({"initContainers": [container("2", "1Gi"), container("500m", "3Gi")],
      "containers": [container("1", "1Gi"), container("1", "1Gi")]}, 2000, 3 * GI),
    # a sidecar (restartable init container) runs alongside everything after it
    ({"initContainers": [container("1", "1Gi", restartPolicy="Always"), container("2", "1Gi")],
      "containers": [container("500m", "1Gi")]}, 3000, 2 * GI),
    ({"containers": [container("1", "1Gi")], "overhead": {"cpu": "250m", "memory": "128Mi"}}, 1250, GI + 128 * MI),
    ({"containers": [container()]}, 0, 0),
])
def test_pod_requests(spec: dict, cpu: int, memory: int) -> None:
    info = PodInfo.of({"metadata": {"name": "p"}, "spec": spec})
    assert (info.requests.milli_cpu, info.requests.memory) == (cpu, memory)


def test_non_zero_requests_default_only_missing_cpu_and_memory() -> None:
    info = PodInfo.of({"metadata": {"name": "p"}, "spec": {"containers": [
        container(), container(cpu="0"), container(memory="1Gi")]}})
    assert info.non_zero_requests.milli_cpu == 2 * DEFAULT_MILLI_CPU_REQUEST  # the explicit "0" stays 0
    assert info.non_zero_requests.memory == 2 * DEFAULT_MEMORY_REQUEST + GI
    assert (info.requests.milli_cpu, info.requests.memory) == (0, GI)


def test_pod_info_fields_parsed_once() -> None:
    info = PodInfo.of({
        "metadata": {"name": "web", "namespace": "prod", "uid": "u1"},
        "spec": {"priority": 7, "nodeSelector": {"zone": "a"},
                 "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                 "initContainers": [{"name": "s", "image": "proxy", "restartPolicy": "Always",
                                     "ports": [{"containerPort": 15000, "hostPort": 15000}]}],
                 "containers": [{"name": "c", "image": "nginx:1.25", "ports": [
                     {"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1", "protocol": "UDP"},
                     {"containerPort": 81}]}]}})
    assert (info.key, info.uid, info.priority) == ("prod/web", "u1", 7)
    assert info.host_ports == {("0.0.0.0", "TCP", 15000), ("10.0.0.1", "UDP", 8080)}
    assert info.images == ("proxy:latest", "nginx:1.25")
    assert info.node_selector == {"zone": "a"}
    assert info.required_affinity is None and info.preferred_affinity == ()
    assert info.tolerations[0].operator == "Exists"
    assert info.scheduler_name == "default-scheduler"


def test_pod_info_rejects_bad_quantities() -> None:
    with pytest.raises(ValueError):
        pod(cpu="lots")


# ---------------------------------------------------------------- NodeInfo

def test_node_info_from_node() -> None:
    n = NodeInfo.from_node({
        "metadata": {"name": "n1", "labels": {"a": "b"}},
        "spec": {"unschedulable": True, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"},
                                                   {"key": "p", "effect": "PreferNoSchedule"}]},
        "status": {"allocatable": {"cpu": "3500m", "memory": "2Gi", "pods": "30", "example.com/gpu": "2"},
                   "images": [{"names": ["docker.io/library/nginx:1.25", "nginx:1.25"], "sizeBytes": 123}]}})
    assert n.allocatable == Resources(3500, 2 * GI, 30, {"example.com/gpu": 2})
    assert n.unschedulable and n.labels == {"a": "b"}
    assert [t.key for t in n.no_schedule_taints] == ["k"] and [t.key for t in n.prefer_no_schedule_taints] == ["p"]
    assert n.image_sizes == {"docker.io/library/nginx:1.25": 123, "nginx:1.25": 123}


def test_node_info_add_remove_pod_and_generation() -> None:
    n = node("n1")
    generations = [n.generation]
    p1, p2 = pod("a", "500m", "1Gi"), pod("b")
    p1_ports = PodInfo.of({"metadata": {"name": "c"}, "spec": {"containers": [
        {"name": "c", "ports": [{"containerPort": 1, "hostPort": 8080}]}]}})
    p2_ports = PodInfo.of({"metadata": {"name": "d"}, "spec": {"containers": [
        {"name": "c", "ports": [{"containerPort": 1, "hostPort": 8080}]}]}})
    for p in (p1, p2, p1_ports, p2_ports):
        n.add_pod(p)
        generations.append(n.generation)
    assert n.requested.milli_cpu == 500 and n.requested.memory == GI
    assert n.non_zero_requested.milli_cpu == 500 + 3 * DEFAULT_MILLI_CPU_REQUEST
    assert n.used_ports == Counter({("0.0.0.0", "TCP", 8080): 2})
    assert n.remove_pod("default/c") and n.used_ports == Counter({("0.0.0.0", "TCP", 8080): 1})
    assert n.remove_pod("default/d") and not n.used_ports  # the port is free once nobody uses it
    assert not n.remove_pod("default/d")
    assert n.remove_pod("ns/a")
    assert n.requested.milli_cpu == 0 and n.non_zero_requested.milli_cpu == DEFAULT_MILLI_CPU_REQUEST
    generations.append(n.generation)
    assert generations == sorted(set(generations))  # strictly increasing


def test_node_info_add_same_key_replaces() -> None:
    n = node("n1")
    n.add_pod(pod("a", "1"))
    n.add_pod(pod("a", "2"))
    assert len(n.pods) == 1 and n.requested.milli_cpu == 2000


def test_set_node_keeps_pods() -> None:
    n = node("n1", cpu="2")
    n.add_pod(pod("a", "1"))
    before = n.generation
    n.set_node({"metadata": {"name": "n1"}, "spec": {}, "status": {"allocatable": {"cpu": "8", "pods": "10"}}})
    assert n.allocatable.milli_cpu == 8000 and list(n.pods) == ["ns/a"] and n.requested.milli_cpu == 1000
    assert n.generation > before


def test_image_epoch_moves_only_when_images_change() -> None:
    raw = {"metadata": {"name": "n"}, "status": {"images": [{"names": ["a:1"], "sizeBytes": 1}]}}
    n = NodeInfo.from_node(raw)
    epoch = NodeInfo.image_epoch
    n.set_node({**raw, "spec": {"unschedulable": True}})
    assert NodeInfo.image_epoch == epoch
    n.set_node({**raw, "status": {"images": [{"names": ["a:2"], "sizeBytes": 1}]}})
    assert NodeInfo.image_epoch == epoch + 1 and n.image_sizes == {"a:2": 1}


# ---------------------------------------------------------------- statuses and FitError text

def test_status_helpers_and_code_aliases() -> None:
    assert Code.SUCCESS is Code.Success and str(Code.UnschedulableAndUnresolvable) == "UnschedulableAndUnresolvable"
    status = Status.unschedulable("a", "b")
    assert status.is_rejected() and status.message == "a, b" and status.with_plugin("X").plugin == "X"
    assert SUCCESS.is_success() and SKIP.is_skip() and Status.error("boom").code is Code.Error


def test_fit_error_message_sorts_the_histogram_as_strings() -> None:
    statuses = {f"n{i}": Status.unschedulable("Insufficient memory") for i in range(10)}
    statuses |= {"x": Status.unschedulable("Insufficient cpu"), "y": Status.unschedulable("Insufficient cpu")}
    assert fit_error_message(12, statuses) == \
        "0/12 nodes are available: 10 Insufficient memory, 2 Insufficient cpu."
    assert fit_error_message(3, statuses, "pod is gated") == "0/3 nodes are available: pod is gated."


# ---------------------------------------------------------------- num_feasible_nodes_to_find

@pytest.mark.parametrize(("nodes", "percentage", "expected"), [
    (50, None, 50),
    (100, None, 100),  # 50% adaptive, but never fewer than 100
    (1000, None, 420),  # 50 - 1000/125 = 42%
    (5000, None, 500),  # 50 - 40 = 10%
    (20000, None, 1000),  # adaptive floor 5%
    (50, 10, 50),  # below 100 nodes: all of them
    (100, 10, 100),
    (1000, 10, 100),
    (1000, 70, 700),
    (5000, 10, 500),
    (5000, 1, 100),
    (5000, 100, 5000),
    (1000, 0, 420),  # 0 means adaptive
])
def test_num_feasible_nodes_to_find(nodes: int, percentage: int | None, expected: int) -> None:
    assert num_feasible_nodes_to_find(nodes, percentage) == expected
    profile = Profile(percentage_of_nodes_to_score=percentage)
    assert Framework(profile).num_feasible_nodes_to_find(nodes) == expected
    # the top-level value applies when the profile has none of its own
    assert Framework(Profile(), percentage).num_feasible_nodes_to_find(nodes) == expected


def test_profile_percentage_beats_the_top_level_one() -> None:
    assert Framework(Profile(percentage_of_nodes_to_score=70), 10).num_feasible_nodes_to_find(1000) == 700


# ---------------------------------------------------------------- schedule() with the default plugins

def test_picks_the_least_allocated_node() -> None:
    nodes = [node("busy"), node("idle"), node("half")]
    nodes[0].add_pod(pod("x", "3", "6Gi"))
    nodes[2].add_pod(pod("y", "2", "4Gi"))
    result = Framework(rng=random.Random(0)).schedule(pod("new", "500m", "512Mi"), nodes)
    assert (result.node, result.feasible, result.evaluated, result.message) == ("idle", 3, 3, "")


def test_most_allocated_and_least_allocated_choose_different_nodes() -> None:
    def profile(strategy: str) -> Profile:
        return parse_config({
            "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {
                "scoringStrategy": {"type": strategy}}}]}]}).profiles[0]

    def cluster() -> list[NodeInfo]:
        nodes = [node("empty"), node("used")]
        nodes[1].add_pod(pod("x", "2", "4Gi"))
        return nodes

    new = pod("new", "1", "2Gi")
    assert Framework(profile("LeastAllocated"), rng=random.Random(0)).schedule(new, cluster()).node == "empty"
    assert Framework(profile("MostAllocated"), rng=random.Random(0)).schedule(new, cluster()).node == "used"


def test_fit_error_message_from_the_default_plugins() -> None:
    tainted = NodeInfo.from_node({"metadata": {"name": "t"}, "spec": {"taints": [
        {"key": "k", "value": "v", "effect": "NoSchedule"}]}, "status": {"allocatable": {
            "cpu": "8", "memory": "8Gi", "pods": "110"}}})
    nodes = [tainted, node("small1", cpu="1"), node("small2", cpu="1")]
    result = Framework().schedule(pod("big", "2"), nodes)
    assert result.node is None and not result.error
    assert result.message == "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu."
    assert result.statuses["t"].plugin == "TaintToleration"
    # 2 cpus can never fit a 1-cpu node: unresolvable (preemption would not help)
    assert result.statuses["small1"] == Status(Code.UnschedulableAndUnresolvable, ("Insufficient cpu",),
                                               "NodeResourcesFit")
    assert result.unschedulable_plugins == {"TaintToleration", "NodeResourcesFit"}
    assert (result.feasible, result.evaluated) == (0, 3)


def test_no_nodes() -> None:
    result = Framework().schedule(pod(), [])
    assert result.node is None and result.message == NO_NODES_AVAILABLE


def test_node_selector_narrows_to_one_node() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    result = Framework().schedule(pod(nodeSelector={"kubernetes.io/hostname": "n3"}), nodes)
    assert (result.node, result.feasible, result.evaluated) == ("n3", 1, 5)
    assert set(result.statuses) == {"n0", "n1", "n2", "n4"}


def test_tie_break_spreads_over_equal_nodes() -> None:
    nodes = [node(f"n{i}") for i in range(4)]
    framework = Framework(rng=random.Random(42))
    picks = Counter(framework.schedule(pod(), nodes).node for _ in range(400))
    assert set(picks) == {"n0", "n1", "n2", "n3"}
    assert min(picks.values()) > 60  # uniform: ~100 each


def test_rng_makes_the_choice_reproducible() -> None:
    nodes = [node(f"n{i}") for i in range(10)]
    first = [Framework(rng=random.Random(7)).schedule(pod(), nodes).node for _ in range(5)]
    again = [Framework(rng=random.Random(7)).schedule(pod(), nodes).node for _ in range(5)]
    assert first == again


def test_fills_the_cluster_then_reports_unschedulable() -> None:
    nodes = [node(f"n{i}", cpu="1") for i in range(3)]
    framework = Framework(rng=random.Random(1))
    placed = []
    for i in range(4):
        p = pod(f"p{i}", "1")
        result = framework.schedule(p, nodes)
        if result.node:
            next(n for n in nodes if n.name == result.node).add_pod(p)
            placed.append(result.node)
    assert sorted(placed) == ["n0", "n1", "n2"]
    assert result.node is None and result.message == "0/3 nodes are available: 3 Insufficient cpu."


# ---------------------------------------------------------------- schedule() with test plugins

class Recorder(Plugin):
    """Filter that records the nodes it saw and rejects the names in `reject`."""
    name = "Recorder"

    def __init__(self, args: Any = None) -> None:
        super().__init__(args)
        self.seen: list[str] = []
        self.reject: set[str] = set()
        self.pre: Status = SUCCESS

    def pre_filter(self, state: dict, pod: PodInfo) -> Status:
        return self.pre

    def filter(self, state: dict, pod: PodInfo, node: NodeInfo) -> Status:
        self.seen.append(node.name)
        return Status.unschedulable("rejected by recorder") if node.name in self.reject else SUCCESS


class ByIndex(Plugin):
    """Score = the node's number ("n7" -> 7), optionally normalized or out of range."""
    name = "ByIndex"

    def score(self, state: dict, pod: PodInfo, node: NodeInfo) -> int:
        return int(node.name[1:]) * (self.args or 1)


class ByReverseIndex(Plugin):
    """Score = 100 - the node's number: the opposite preference of ByIndex."""
    name = "ByReverseIndex"

    def score(self, state: dict, pod: PodInfo, node: NodeInfo) -> int:
        return 100 - int(node.name[1:])


class Exploding(Plugin):
    name = "Exploding"

    def score(self, state: dict, pod: PodInfo, node: NodeInfo) -> int:
        raise AssertionError("scoring should have been skipped")


class Failing(Plugin):
    name = "Failing"

    def filter(self, state: dict, pod: PodInfo, node: NodeInfo) -> Status:
        return Status.error("disk on fire")


REGISTRY = {"Recorder": Recorder, "ByIndex": ByIndex, "ByReverseIndex": ByReverseIndex, "Exploding": Exploding,
            "Failing": Failing}


def framework(filters: list[str] | None = None, scores: dict[str, int] | None = None, percentage: int | None = None,
              args: dict | None = None) -> Framework:
    filters = ["Recorder"] if filters is None else filters
    profile = Profile(pre_filter=[f for f in filters if f == "Recorder"], filter=filters, score=scores or {},
                      percentage_of_nodes_to_score=percentage, plugin_args=args or {})
    return Framework(profile, registry=REGISTRY, rng=random.Random(3))


def test_rotating_start_index_and_sampling() -> None:
    nodes = [node(f"n{i}") for i in range(250)]  # adaptive: 50 - 2 = 48% -> 120 nodes per pod
    fw = framework()
    recorder = fw.plugins["Recorder"]
    first = fw.schedule(pod(), nodes)
    assert (first.feasible, first.evaluated, fw.next_start_index) == (120, 120, 120)
    assert recorder.seen == [f"n{i}" for i in range(120)]
    recorder.seen.clear()
    second = fw.schedule(pod(), nodes)
    assert recorder.seen == [f"n{i}" for i in range(120, 240)] and fw.next_start_index == 240
    recorder.seen.clear()
    fw.schedule(pod(), nodes)  # wraps around the end of the list
    assert recorder.seen == [f"n{i}" for i in [*range(240, 250), *range(110)]]
    assert fw.next_start_index == 110 and second.node in {f"n{i}" for i in range(120, 240)}


def test_rejected_nodes_count_as_evaluated() -> None:
    nodes = [node(f"n{i}") for i in range(200)]
    fw = framework(percentage=50)  # 100 feasible wanted
    fw.plugins["Recorder"].reject = {f"n{i}" for i in range(1, 200, 2)}  # every odd node
    result = fw.schedule(pod(), nodes)
    # n0, n2, ... n198 is the 100th feasible node: n199 is never looked at
    assert (result.feasible, result.evaluated, len(result.statuses)) == (100, 199, 99)
    assert fw.plugins["Recorder"].seen == [f"n{i}" for i in range(199)]
    assert fw.next_start_index == 199  # the node after the last one evaluated
    assert result.statuses["n1"] == Status(Code.Unschedulable, ("rejected by recorder",), "Recorder")


def test_fewer_nodes_than_the_minimum_are_all_evaluated() -> None:
    nodes = [node(f"n{i}") for i in range(50)]
    result = framework(percentage=10).schedule(pod(), nodes)
    assert (result.feasible, result.evaluated) == (50, 50)


def test_pre_filter_skip_skips_the_filter() -> None:
    fw = framework()
    fw.plugins["Recorder"].pre = SKIP
    fw.plugins["Recorder"].reject = {"n0", "n1"}
    result = fw.schedule(pod(), [node("n0"), node("n1")])
    assert fw.plugins["Recorder"].seen == [] and result.feasible == 2


def test_pre_filter_rejection_message_replaces_the_histogram() -> None:
    fw = framework()
    fw.plugins["Recorder"].pre = Status.unresolvable("pod has unbound PersistentVolumeClaims")
    result = fw.schedule(pod(), [node("n0"), node("n1"), node("n2")])
    assert result.message == "0/3 nodes are available: pod has unbound PersistentVolumeClaims."
    assert fw.plugins["Recorder"].seen == [] and set(result.statuses) == {"n0", "n1", "n2"}
    assert result.unschedulable_plugins == {"Recorder"} and not result.error


def test_pre_filter_error_is_an_error_not_unschedulable() -> None:
    fw = framework()
    fw.plugins["Recorder"].pre = Status.error("no state")
    result = fw.schedule(pod(), [node("n0")])
    assert result.error and result.message == "running PreFilter plugin 'Recorder': no state"


def test_filter_error_aborts_the_cycle() -> None:
    result = framework(filters=["Failing"]).schedule(pod(), [node("n0"), node("n1")])
    assert result.node is None and result.error
    assert result.message == "running 'Failing' filter plugin: disk on fire"


def test_one_feasible_node_skips_scoring() -> None:
    fw = framework(scores={"Exploding": 1})
    fw.plugins["Recorder"].reject = {"n0", "n2"}
    result = fw.schedule(pod(), [node("n0"), node("n1"), node("n2")])
    assert (result.node, result.feasible, result.evaluated) == ("n1", 1, 3)


def test_highest_weighted_score_wins() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    assert framework(scores={"ByIndex": 3}).schedule(pod(), nodes).node == "n4"


@pytest.mark.parametrize(("weights", "winner"), [
    ({"ByIndex": 1, "ByReverseIndex": 1}, None),  # 100 everywhere: a tie
    ({"ByIndex": 2, "ByReverseIndex": 1}, "n9"),
    ({"ByIndex": 1, "ByReverseIndex": 3}, "n0"),
])
def test_weights_decide_between_opposite_scores(weights: dict, winner: str | None) -> None:
    nodes = [node(f"n{i}") for i in range(10)]
    fw = framework(scores=weights)
    picks = {fw.schedule(pod(), nodes).node for _ in range(30)}
    if winner:
        assert picks == {winner}
    else:
        assert len(picks) >= 3  # the tie-break spreads


def test_out_of_range_score_is_an_error() -> None:
    nodes = [node("n1"), node("n60")]
    result = framework(scores={"ByIndex": 1}, args={"ByIndex": 2}).schedule(pod(), nodes)  # 120 > 100
    assert result.error and "returns an invalid score 120" in result.message


def test_normalize_runs_before_the_range_check() -> None:
    class Normalized(ByIndex):
        name = "Normalized"

        def normalize(self, state: dict, pod: PodInfo, scores: dict[str, int]) -> None:
            for name, value in scores.items():
                scores[name] = 100 - value // 10  # reverses the order, into range

    fw = Framework(Profile(score={"Normalized": 1}), registry={"Normalized": Normalized})
    assert fw.schedule(pod(), [node("n100"), node("n900"), node("n500")]).node == "n100"


def test_no_score_plugins_picks_among_all_feasible() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    fw = framework()
    picks = {fw.schedule(pod(), nodes).node for _ in range(60)}
    assert picks == {"n0", "n1", "n2"}


def test_unknown_plugin_in_profile() -> None:
    with pytest.raises(ValueError, match="'Nope' does not exist"):
        Framework(Profile(filter=["Nope"]), registry=REGISTRY)


def test_default_framework_matches_the_default_config() -> None:
    fw = Framework()
    profile = default_config().profiles[0]
    assert [p.name for p in fw.filter_plugins] == profile.filter
    assert {p.name: w for p, w in fw.score_plugins} == profile.score
    assert fw.scheduler_name == "default-scheduler"


def test_run_filter_plugins_on_one_node() -> None:
    fw = Framework()
    full = node("full", cpu="1")
    status = fw.run_filter_plugins({}, pod(cpu="2"), full)
    assert status == Status(Code.UnschedulableAndUnresolvable, ("Insufficient cpu",), "NodeResourcesFit")
    assert fw.run_filter_plugins({}, pod(cpu="500m"), full) is SUCCESS
