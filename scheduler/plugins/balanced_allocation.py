"""NodeResourcesBalancedAllocation score: prefer nodes whose resource utilization fractions
(cpu vs memory by default), with the pod placed, are closest to each other."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..framework import MAX_NODE_SCORE, SKIP, SUCCESS, CycleState, NodeInfo, NodeMemo, Plugin, PodInfo, Status
from .node_resources_fit import DEFAULT_RESOURCES, ResourceSpec, allocatable_and_requested, pod_resource_request

PRE_SCORE_KEY = "PreScoreNodeResourcesBalancedAllocation"


@dataclass(frozen=True)
class NodeResourcesBalancedAllocationArgs:
    resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES


def balanced_score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    """(1 - standard deviation of the utilization fractions) * 100; fractions capped at 1."""
    fractions = [min(req / cap, 1.0) for req, cap in zip(requested, allocatable) if cap]
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    else:
        std = 0.0
    return int((1 - std) * MAX_NODE_SCORE)


class NodeResourcesBalancedAllocation(Plugin):
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, args: NodeResourcesBalancedAllocationArgs | None = None) -> None:
        super().__init__(args or NodeResourcesBalancedAllocationArgs())
        self.resources = tuple(r.name for r in self.args.resources)
        self._cpu_memory = self.resources == ("cpu", "memory")
        self._memo = NodeMemo()

    def pod_requests(self, pod: PodInfo) -> list[int]:
        # actual requests, not the non-zero defaults: upstream's useRequested
        return [pod_resource_request(pod, r, non_zero=False) for r in self.resources]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        requests = self.pod_requests(pod)
        if not any(requests):
            return SKIP  # best-effort pods would all pile onto one node otherwise (kubernetes#129138)
        state[PRE_SCORE_KEY] = requests
        return SUCCESS

    def _requests(self, state: CycleState, pod: PodInfo) -> list[int]:
        requests = state.get(PRE_SCORE_KEY)
        return self.pod_requests(pod) if requests is None else requests

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        requests = self._requests(state, pod)
        if not any(requests):
            return 0  # only without PreScore: it skips best-effort pods
        pairs = [allocatable_and_requested(node, r, q, use_requested=True) for r, q in zip(self.resources, requests)]
        return balanced_score([req for _, req in pairs], [cap for cap, _ in pairs])

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        requests = self._requests(state, pod)
        if not self._cpu_memory or not any(requests):
            return [self.score(state, pod, node) for node in nodes]
        return self._memo.results(tuple(requests), nodes, lambda missing: self._cpu_memory_scores(requests, missing))

    def _cpu_memory_scores(self, requests: list[int], nodes: list[NodeInfo]) -> list[int]:
        cpu_request, memory_request = requests
        out: list[int] = []
        for node in nodes:  # balanced_score() for two fractions inlined (no min()/abs() calls): std = |a - b| / 2
            alloc, used = node.allocatable, node.requested
            cpu, memory = alloc.milli_cpu, alloc.memory
            if cpu and memory:
                a = (used.milli_cpu + cpu_request) / cpu
                b = (used.memory + memory_request) / memory
                if a > 1.0:
                    a = 1.0
                if b > 1.0:
                    b = 1.0
                out.append(int((1 - (a - b if a > b else b - a) / 2) * MAX_NODE_SCORE))
            else:  # a resource the node lacks drops out, as in score()
                out.append(balanced_score([used.milli_cpu + cpu_request, used.memory + memory_request], [cpu, memory]))
        return out
