"""NodeUnschedulable filter: keep pods off cordoned nodes (spec.unschedulable) unless they tolerate
node.kubernetes.io/unschedulable:NoSchedule."""
from __future__ import annotations

from operator import attrgetter

from ..framework import SUCCESS, CycleState, NodeInfo, Plugin, PodInfo, Status, Taint, tolerations_tolerate

ERR_REASON = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")
_UNSCHEDULABLE = attrgetter("unschedulable")


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not node.unschedulable or tolerations_tolerate(pod.tolerations, UNSCHEDULABLE_TAINT)


class NodeUnschedulable(Plugin):
    name = "NodeUnschedulable"
    _rejected = Status.unresolvable(ERR_REASON, plugin=name)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else self._rejected

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        if not any(map(_UNSCHEDULABLE, nodes)):  # C-level scan
            return [SUCCESS] * len(nodes)
        return [self.filter(state, pod, node) for node in nodes]
