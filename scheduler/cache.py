"""The scheduler's view of every node and the pods counted on it, with assume/forget as upstream's cache.

A pod counts on its node as soon as the scheduler decides (`assume`), before
the binding is written, so the next decision already sees the node's reduced
room; the informer's event for the bound pod later confirms the assumption,
and a failed binding `forget`s it.  Pods whose node is not known yet are kept
aside and counted once the node arrives.
"""
from __future__ import annotations

import logging
from typing import Any

from .framework import NodeInfo, PodInfo

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class SchedulerCache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._node_list: list[NodeInfo] | None = None  # the nodes in a stable order, rebuilt on add/remove
        self._pod_node: dict[str, str] = {}  # pod key -> the node it counts on
        self._pending: dict[str, dict[str, PodInfo]] = {}  # node name -> pods bound to a node not seen yet
        self.assumed: set[str] = set()

    # -- nodes -----------------------------------------------------------------------------------------

    def node_list(self) -> list[NodeInfo]:
        if self._node_list is None:
            self._node_list = [self.nodes[name] for name in sorted(self.nodes)]
        return self._node_list

    def set_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is not None:
            info.set_node(node)
            return
        info = self.nodes[name] = NodeInfo.from_node(node)
        for pod in self._pending.pop(name, {}).values():
            info.add_pod(pod)
        self._node_list = None

    def remove_node(self, name: str) -> None:
        """The node is gone; its pods stay known (aside) until their own deletions arrive."""
        info = self.nodes.pop(name, None)
        if info is not None:
            self._pending[name] = dict(info.pods)
            self._node_list = None

    # -- pods ------------------------------------------------------------------------------------------

    def assume(self, pod: PodInfo, node_name: str) -> None:
        self._count(pod, node_name)
        self.assumed.add(pod.key)

    def forget(self, key: str) -> None:
        """A binding failed: the node gets its room back."""
        if key in self.assumed:
            self.assumed.discard(key)
            self._uncount(key)

    def set_pod(self, pod: Obj) -> None:
        """An assigned pod from the informer (confirming an assumed one, or moved by an update)."""
        info = PodInfo.of(pod)
        self.assumed.discard(info.key)
        self._uncount(info.key)
        self._count(info, pod["spec"]["nodeName"])

    def remove_pod(self, key: str) -> None:
        self.assumed.discard(key)
        self._uncount(key)

    def node_of(self, key: str) -> str | None:
        return self._pod_node.get(key)

    def _count(self, pod: PodInfo, node_name: str) -> None:
        self._pod_node[pod.key] = node_name
        info = self.nodes.get(node_name)
        if info is None:
            self._pending.setdefault(node_name, {})[pod.key] = pod
        else:
            info.add_pod(pod)

    def _uncount(self, key: str) -> None:
        node_name = self._pod_node.pop(key, None)
        if node_name is None:
            return
        info = self.nodes.get(node_name)
        if info is not None:
            info.remove_pod(key)
        else:
            self._pending.get(node_name, {}).pop(key, None)
