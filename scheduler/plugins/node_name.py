"""NodeName filter: a pod that names its node (spec.nodeName) fits only that node."""
from __future__ import annotations

from ..framework import SKIP, SUCCESS, CycleState, NodeInfo, Plugin, PodInfo, Status

ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not pod.node_name or pod.node_name == node.name


class NodeName(Plugin):
    name = "NodeName"
    _rejected = Status.unresolvable(ERR_REASON, plugin=name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return SUCCESS if pod.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else self._rejected
