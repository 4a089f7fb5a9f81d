"""The node IPAM controller: gives each Node a pod CIDR (spec.podCIDR/podCIDRs) from the cluster CIDR.

Modelled on upstream pkg/controller/nodeipam's range allocator: the cluster
CIDR (default 10.244.0.0/16) is cut into subnets of `node_cidr_mask_size`
(default /24).  Before the first allocation every CIDR already on a Node is
marked used; a Node without one gets the next free subnet (searching on from
the last one given, as upstream's rotating allocator), patched onto its spec;
a deleted Node's subnet is released.  Keys are node names.
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Any

from common.api import kinds
from common.controller import Controller
from common.events import EventRecorder
from common.informer import Informer, Obj, SharedInformers

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDRExhausted(Exception):
    """No free subnet is left in the cluster CIDR."""


class CidrSet:
    """The subnets of a cluster CIDR, by index: which are used, and the next free one."""

    def __init__(self, cluster_cidr: str, mask_size: int) -> None:
        self.network: Network = ipaddress.ip_network(cluster_cidr, strict=True)
        if not self.network.prefixlen <= mask_size <= self.network.max_prefixlen:
            raise ValueError(f"node CIDR mask size {mask_size} does not fit cluster CIDR {cluster_cidr}")
        self.mask_size = mask_size
        self.size = 2 ** (mask_size - self.network.prefixlen)
        self.used: set[int] = set()
        self._next = 0

    def subnet(self, index: int) -> Network:
        step = 2 ** (self.network.max_prefixlen - self.mask_size)
        address = ipaddress.ip_address(int(self.network.network_address) + index * step)
        return ipaddress.ip_network(f"{address}/{self.mask_size}")

    def index_of(self, cidr: str) -> int | None:
        """The index of `cidr` if it is exactly one of this set's subnets, else None."""
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            return None
        if network.version != self.network.version or network.prefixlen != self.mask_size:
            return None
        if not network.subnet_of(self.network):  # type: ignore[arg-type]
            return None
        step = 2 ** (self.network.max_prefixlen - self.mask_size)
        return (int(network.network_address) - int(self.network.network_address)) // step

    def occupy(self, cidr: str) -> bool:
        index = self.index_of(cidr)
        if index is None:
            return False
        self.used.add(index)
        return True

    def release(self, cidr: str) -> None:
        index = self.index_of(cidr)
        if index is not None:
            self.used.discard(index)

    def allocate(self) -> str:
        for offset in range(self.size):
            index = (self._next + offset) % self.size
            if index not in self.used:
                self.used.add(index)
                self._next = (index + 1) % self.size
                return str(self.subnet(index))
        raise CIDRExhausted(f"no free /{self.mask_size} left in {self.network}")


def node_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or [])
    if not cidrs and spec.get("podCIDR"):
        cidrs = [spec["podCIDR"]]
    return cidrs


class NodeIpamController(Controller):
    name = "node-ipam-controller"

    def __init__(self, client: Any, informers: SharedInformers, *, cluster_cidr: str = "10.244.0.0/16",
                 node_cidr_mask_size: int = 24, recorder: EventRecorder | None = None, **options: Any) -> None:
        super().__init__(client, **options)
        self.cidrs = CidrSet(cluster_cidr, node_cidr_mask_size)
        self.recorder = recorder or EventRecorder(client, "cidrAllocator")
        self.by_node: dict[str, str] = {}  # what this controller gave (or found on) each node
        self._rebuilt = False
        self.nodes: Informer = self.add_informer(informers.get(kinds.NODES))
        self.enqueue_on_events(self.nodes)

    def rebuild(self) -> None:
        """Mark every CIDR already on a cached Node as used (upstream: before the allocator starts)."""
        for node in self.nodes.list():
            self._occupy(node)
        self._rebuilt = True

    def _occupy(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        for cidr in node_cidrs(node):
            if self.cidrs.occupy(cidr):
                self.by_node[name] = cidr
            else:
                log.debug("%s: node %s has pod CIDR %s outside %s", self.name, name, cidr, self.cidrs.network)

    async def reconcile(self, key: str) -> None:
        if not self._rebuilt:
            self.rebuild()
        node = self.nodes.get(key)
        if node is None:
            self._release(key)
            return
        if node_cidrs(node):
            self._occupy(node)
            return
        await self._assign(node)

    def _release(self, name: str) -> None:
        cidr = self.by_node.pop(name, None)
        if cidr is not None:
            log.info("%s: released %s of deleted node %s", self.name, cidr, name)
            self.cidrs.release(cidr)

    async def _assign(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        cidr = self.by_node.get(name)  # given before but not in the cache yet: give the same one again
        if cidr is None:
            try:
                cidr = self.cidrs.allocate()
            except CIDRExhausted:
                await self.recorder.record({"kind": "Node", "apiVersion": "v1", **node}, "Normal",
                                           "CIDRNotAvailable", f"Node {name} status is now: CIDRNotAvailable")
                raise
            self.by_node[name] = cidr
        log.info("%s: assigning pod CIDR %s to node %s", self.name, cidr, name)
        await self.client.patch(kinds.NODES, name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
