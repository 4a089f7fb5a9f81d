"""NodePorts filter: a pod's hostPorts must be free on the node; hostIP 0.0.0.0 conflicts with
the same protocol/port on any IP, a specific IP with itself and with 0.0.0.0."""
from __future__ import annotations

from collections.abc import Iterable

from ..framework import SKIP, SUCCESS, CycleState, NodeInfo, Plugin, PodInfo, Status

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
ANY_IP = "0.0.0.0"

HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def conflicts(wanted: HostPort, used: Iterable[HostPort]) -> bool:
    ip, protocol, port = wanted
    if ip == ANY_IP:
        return any(p == port and proto == protocol for _, proto, p in used)
    return any(p == port and proto == protocol and used_ip in (ip, ANY_IP) for used_ip, proto, p in used)


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    used = node.used_ports
    return not used or not any(conflicts(wanted, used) for wanted in pod.host_ports)


class NodePorts(Plugin):
    name = "NodePorts"
    _rejected = Status.unschedulable(ERR_REASON, plugin=name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return SUCCESS if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else self._rejected
