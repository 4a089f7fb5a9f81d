"""NodeResourcesFit: filter nodes without room for the pod's requests (cpu, memory, ephemeral
storage, pod count, extended resources); score by the LeastAllocated (default) or MostAllocated
strategy over weighted resources, counting the pod with upstream's non-zero request defaults."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..framework import (MAX_NODE_SCORE, SUCCESS, Code, CycleState, NodeInfo, NodeMemo, Plugin, PodInfo, Resources,
                         Status, is_scalar_resource_name)

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
PRE_SCORE_KEY = "PreScoreNodeResourcesFit"


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    weight: int = 1


DEFAULT_RESOURCES = (ResourceSpec("cpu", 1), ResourceSpec("memory", 1))


@dataclass(frozen=True)
class ScoringStrategy:
    type: str = LEAST_ALLOCATED
    resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES


@dataclass(frozen=True)
class NodeResourcesFitArgs:
    scoring_strategy: ScoringStrategy = ScoringStrategy()
    ignored_resources: frozenset[str] = frozenset()
    ignored_resource_groups: frozenset[str] = frozenset()


# ---- filter

def _is_extended(name: str) -> bool:
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


def insufficient_resources(requests: Resources, node: NodeInfo, ignored: frozenset[str] = frozenset(),
                           ignored_groups: frozenset[str] = frozenset()) -> list[tuple[str, bool]]:
    """Upstream fitsRequest: (reason, unresolvable) per missing resource; unresolvable when even an
    empty node could not hold the request."""
    alloc, used = node.allocatable, node.requested
    out: list[tuple[str, bool]] = []
    if len(node.pods) + 1 > alloc.pods:
        out.append(("Too many pods", False))
    if requests.is_zero():
        return out
    for label, want, have, taken in (("cpu", requests.milli_cpu, alloc.milli_cpu, used.milli_cpu),
                                     ("memory", requests.memory, alloc.memory, used.memory),
                                     ("ephemeral-storage", requests.ephemeral_storage,
                                      alloc.ephemeral_storage, used.ephemeral_storage)):
        if want > 0 and want > have - taken:
            out.append((f"Insufficient {label}", want > have))
    for name, want in requests.scalar.items():
        if want == 0 or (_is_extended(name) and (name in ignored or name.split("/")[0] in ignored_groups)):
            continue
        have = alloc.scalar.get(name, 0)
        if want > have - used.scalar.get(name, 0):
            out.append((f"Insufficient {name}", want > have))
    return out


def _roomy(nodes: list[NodeInfo], cpu: int, memory: int) -> list[bool]:
    """Room for one more pod requesting only cpu and memory: filter()'s common case, inline."""
    return [len(n.pods) < n.allocatable.pods and cpu <= n.allocatable.milli_cpu - n.requested.milli_cpu
            and memory <= n.allocatable.memory - n.requested.memory for n in nodes]


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not insufficient_resources(pod.requests, node)


# ---- score (shared with NodeResourcesBalancedAllocation)

def pod_resource_request(pod: PodInfo, resource: str, non_zero: bool) -> int:
    requests = pod.non_zero_requests if non_zero and resource in ("cpu", "memory") else pod.requests
    if resource == "cpu":
        return requests.milli_cpu
    if resource == "memory":
        return requests.memory
    if resource == "ephemeral-storage":
        return requests.ephemeral_storage
    return requests.scalar.get(resource, 0)


def allocatable_and_requested(node: NodeInfo, resource: str, pod_request: int,
                              use_requested: bool) -> tuple[int, int]:
    """Upstream calculateResourceAllocatableRequest: (allocatable, requested incl. the pod); (0, 0)
    skips the resource. cpu/memory count non-zero requests unless use_requested."""
    alloc = node.allocatable
    requested = node.requested if use_requested else node.non_zero_requested
    if resource == "cpu":
        return alloc.milli_cpu, requested.milli_cpu + pod_request
    if resource == "memory":
        return alloc.memory, requested.memory + pod_request
    if resource == "ephemeral-storage":
        return alloc.ephemeral_storage, node.requested.ephemeral_storage + pod_request
    if pod_request == 0 and is_scalar_resource_name(resource):
        return 0, 0
    if resource in alloc.scalar:
        return alloc.scalar[resource], node.requested.scalar.get(resource, 0) + pod_request
    return 0, 0


def least_allocated_score(requested: Sequence[int], allocatable: Sequence[int], weights: Sequence[int]) -> int:
    """Weighted mean of (free after placing / allocatable) * 100 over resources the node has."""
    total = weight_sum = 0
    for req, cap, weight in zip(requested, allocatable, weights):
        if cap:
            total += (0 if req > cap else (cap - req) * MAX_NODE_SCORE // cap) * weight
            weight_sum += weight
    return total // weight_sum if weight_sum else 0


def most_allocated_score(requested: Sequence[int], allocatable: Sequence[int], weights: Sequence[int]) -> int:
    """Weighted mean of (used after placing / allocatable) * 100; over-commit counts as full."""
    total = weight_sum = 0
    for req, cap, weight in zip(requested, allocatable, weights):
        if cap:
            total += min(req, cap) * MAX_NODE_SCORE // cap * weight
            weight_sum += weight
    return total // weight_sum if weight_sum else 0


SCORERS: dict[str, Callable[[Sequence[int], Sequence[int], Sequence[int]], int]] = {
    LEAST_ALLOCATED: least_allocated_score, MOST_ALLOCATED: most_allocated_score}


def cpu_memory_scores(strategy: str, nodes: Sequence[NodeInfo], cpu: int, memory: int,
                      weights: Sequence[int]) -> list[int]:
    """Batch form of the strategy for the default (cpu, memory) resources: the same integer
    arithmetic as the scorers above, inlined, since it runs for hundreds of nodes per pod."""
    w_cpu, w_memory = weights
    least = strategy == LEAST_ALLOCATED
    scorer = SCORERS[strategy]
    out: list[int] = []
    for node in nodes:
        alloc, used = node.allocatable, node.non_zero_requested
        cap_cpu, cap_memory = alloc.milli_cpu, alloc.memory
        req_cpu, req_memory = used.milli_cpu + cpu, used.memory + memory
        if not (cap_cpu and cap_memory):  # a resource the node lacks drops out of the mean
            out.append(scorer((req_cpu, req_memory), (cap_cpu, cap_memory), weights))
        elif least:
            s_cpu = 0 if req_cpu > cap_cpu else (cap_cpu - req_cpu) * MAX_NODE_SCORE // cap_cpu
            s_memory = 0 if req_memory > cap_memory else (cap_memory - req_memory) * MAX_NODE_SCORE // cap_memory
            out.append((s_cpu * w_cpu + s_memory * w_memory) // (w_cpu + w_memory))
        else:
            s_cpu = (cap_cpu if req_cpu > cap_cpu else req_cpu) * MAX_NODE_SCORE // cap_cpu
            s_memory = (cap_memory if req_memory > cap_memory else req_memory) * MAX_NODE_SCORE // cap_memory
            out.append((s_cpu * w_cpu + s_memory * w_memory) // (w_cpu + w_memory))
    return out


class NodeResourcesFit(Plugin):
    name = "NodeResourcesFit"

    def __init__(self, args: NodeResourcesFitArgs | None = None) -> None:
        super().__init__(args or NodeResourcesFitArgs())
        strategy = self.args.scoring_strategy
        self.strategy = strategy.type
        self.scorer = SCORERS[strategy.type]
        self.resources = tuple(r.name for r in strategy.resources)
        self.weights = tuple(r.weight for r in strategy.resources)
        self._cpu_memory = self.resources == ("cpu", "memory")  # the default: batch fast path
        self._memo, self._room_memo = NodeMemo(), NodeMemo()

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return SUCCESS  # requests are precomputed in PodInfo

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        missing = insufficient_resources(pod.requests, node, self.args.ignored_resources,
                                         self.args.ignored_resource_groups)
        if not missing:
            return SUCCESS
        code = Code.UnschedulableAndUnresolvable if any(flag for _, flag in missing) else Code.Unschedulable
        return Status(code, tuple(reason for reason, _ in missing), self.name)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        req = pod.requests
        if req.scalar or req.ephemeral_storage:
            return [self.filter(state, pod, node) for node in nodes]
        cpu, memory = req.milli_cpu, req.memory
        roomy = self._room_memo.results((cpu, memory), nodes, lambda missing: _roomy(missing, cpu, memory))
        if all(roomy):
            return [SUCCESS] * len(nodes)
        # the common case decided by _roomy; the rest (and every failure) by filter()
        return [SUCCESS if ok else self.filter(state, pod, node) for ok, node in zip(roomy, nodes)]

    def pod_requests(self, pod: PodInfo) -> list[int]:
        return [pod_resource_request(pod, r, non_zero=True) for r in self.resources]

    def _requests(self, state: CycleState, pod: PodInfo) -> list[int]:
        requests = state.get(PRE_SCORE_KEY)
        return self.pod_requests(pod) if requests is None else requests

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        state[PRE_SCORE_KEY] = self.pod_requests(pod)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        pairs = [allocatable_and_requested(node, r, q, use_requested=False)
                 for r, q in zip(self.resources, self._requests(state, pod))]
        return self.scorer([req for _, req in pairs], [cap for cap, _ in pairs], self.weights)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        if not self._cpu_memory:
            return [self.score(state, pod, node) for node in nodes]
        cpu, memory = self._requests(state, pod)
        return self._memo.results((cpu, memory), nodes,
                                 lambda missing: cpu_memory_scores(self.strategy, missing, cpu, memory, self.weights))
