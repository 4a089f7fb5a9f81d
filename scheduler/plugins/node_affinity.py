"""NodeAffinity: filter on spec.nodeSelector plus required node affinity (terms ORed, expressions
ANDed); score by the summed weights of matching preferred terms, normalized to 0..100."""
from __future__ import annotations

from collections.abc import Sequence

from ..framework import (SKIP, SUCCESS, CycleState, NodeInfo, Plugin, PodInfo, Status,
                         default_normalize_score)

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    if not node.labels.items() >= pod.node_selector.items():  # every nodeSelector pair is a node label
        return False
    if pod.required_affinity is None:
        return True
    return any(term.matches(node.labels, node.name) for term in pod.required_affinity)


def score(pod: PodInfo, node: NodeInfo) -> int:
    return sum(p.weight for p in pod.preferred_affinity if p.term.matches(node.labels, node.name))


class NodeAffinity(Plugin):
    name = "NodeAffinity"
    _rejected = Status.unresolvable(ERR_REASON_POD, plugin=name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return SUCCESS if pod.node_selector or pod.required_affinity is not None else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else self._rejected

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        if pod.required_affinity is None:  # nodeSelector only: one C-level superset test per node
            selector = pod.node_selector.items()
            return [SUCCESS if node.labels.items() >= selector else self._rejected for node in nodes]
        return [SUCCESS if fits(pod, node) else self._rejected for node in nodes]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        return SUCCESS if pod.preferred_affinity else SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return score(pod, node)

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize_score(scores, reverse=False)
