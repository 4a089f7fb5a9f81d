"""The pod network agent (flannel's role): routes pod CIDRs between nodes, host-gw or VXLAN, and masquerades egress.

One agent runs on every node, `python -m kube_proxy.podnet`.  Like flannel
with its Kubernetes subnet manager, it reads every Node's `spec.podCIDR` and
publishes its own tunnel endpoint as Node annotations:

- host-gw: for every other node, `<podCIDR> via <node IP>`; the nodes must
  share a layer-2 segment.
- vxlan: a VXLAN device `kubelab.<VNI>` (nolearning, MTU of the underlay
  minus 50) holding `<own podCIDR>.0/32`; for every other node a route
  `<podCIDR> via <podCIDR>.0 dev kubelab.<VNI> onlink`, a permanent
  neighbour `<podCIDR>.0 lladdr <its VTEP MAC>` and an FDB entry
  `<its VTEP MAC> dst <its IP>`.  Nodes whose agent has not published a
  VTEP MAC yet are left out until it does.

Routes carry a protocol tag of their own (`proto 66`), so a route whose node
is gone can be told from everybody else's and removed.  iptables (nat and
filter, in one restore, in chains of its own): pods keep their IP towards
other pods; traffic from pods to outside the cluster CIDR is masqueraded;
forwarding of the cluster CIDR is accepted (Docker's FORWARD policy is DROP).

Everything that decides is pure (`desired_state`, `plan`, `iptables_rules`,
`cleanup_rules`); links.py and iptables.py do the kernel side.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apiserver.discovery import GIT_VERSION
from prometheus_client import Counter, Gauge

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.daemon import (add_client_flags, add_logging_flags, env_default, health_server, parse_duration,
                           run_main, setup_logging)
from common.informer import Informer

from . import iptables, links
from .links import Fdb, LinkError, Neigh, Route

log = logging.getLogger("podnet")

Obj = dict[str, Any]

BACKEND_TYPE = "kubelab.io/backend-type"
PUBLIC_IP = "kubelab.io/public-ip"
VTEP_MAC = "kubelab.io/vtep-mac"
BACKENDS = ("host-gw", "vxlan")
ROUTE_PROTO = 66  # tags the routes this agent installs (iproute2 leaves 5..251 unassigned but for a few)
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8
NAT_CHAIN = "KUBELAB-POSTRTG"
FORWARD_CHAIN = "KUBELAB-FWD"
JUMP_COMMENT = "kubelab-pod-network"

PEERS = Gauge("kubelab_podnet_peers", "Other nodes this node routes pod traffic to")
SYNC_ERRORS = Counter("kubelab_podnet_sync_errors_total", "Passes that failed and were retried")


@dataclass(frozen=True)
class Config:
    node_name: str
    backend: str = "vxlan"
    cluster_cidr: str = "10.244.0.0/16"
    vxlan_id: int = 1
    vxlan_port: int = 8472

    @property
    def device(self) -> str:
        return f"kubelab.{self.vxlan_id}"


@dataclass(frozen=True)
class Lease:
    """What the agent needs of one Node (flannel's subnet lease)."""
    name: str
    subnet: ipaddress.IPv4Network
    public_ip: str
    backend: str  # "" when the node's agent has not announced one
    vtep_mac: str

    @property
    def tunnel_ip(self) -> str:
        """The VTEP's own address: the subnet's network address (flannel's `<subnet>.0`)."""
        return str(self.subnet.network_address)


@dataclass
class State:
    """Routes, neighbours and FDB entries, desired or as the kernel holds them."""
    routes: set[Route] = field(default_factory=set)
    neighs: set[Neigh] = field(default_factory=set)
    fdbs: set[Fdb] = field(default_factory=set)


@dataclass
class Plan:
    routes_to_replace: list[Route] = field(default_factory=list)
    routes_to_delete: list[Route] = field(default_factory=list)
    neighs_to_replace: list[Neigh] = field(default_factory=list)
    neighs_to_delete: list[Neigh] = field(default_factory=list)
    fdbs_to_replace: list[Fdb] = field(default_factory=list)
    fdbs_to_delete: list[Fdb] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(vars(self).values())


# -- pure core ---------------------------------------------------------------------------------------------

def internal_ip(node: Obj) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")


def pod_cidr(node: Obj) -> ipaddress.IPv4Network | None:
    text = (node.get("spec") or {}).get("podCIDR") or ""
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None


def lease_of(node: Obj) -> Lease | None:
    """The node's lease, or None while it has no pod CIDR or no address to reach it at."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    subnet = pod_cidr(node)
    public_ip = annotations.get(PUBLIC_IP) or internal_ip(node)
    if subnet is None or not public_ip:
        return None
    return Lease(node["metadata"]["name"], subnet, public_ip, annotations.get(BACKEND_TYPE, ""),
                 annotations.get(VTEP_MAC, ""))


def peer_leases(nodes: list[Obj], config: Config) -> list[Lease]:
    """Other nodes this node can route to with its backend, sorted by name.

    Subnets outside the cluster CIDR or overlapping this node's own are never routed: a replace would take over
    a route the agent does not own (e.g. the pod bridge's own connected route)."""
    cluster = ipaddress.IPv4Network(config.cluster_cidr)
    own = next((lease for node in nodes if (lease := lease_of(node)) and lease.name == config.node_name), None)
    leases = [lease for node in nodes if (lease := lease_of(node)) and lease.name != config.node_name
              and lease.subnet.subnet_of(cluster) and not (own and lease.subnet.overlaps(own.subnet))]
    if config.backend == "vxlan":  # unusable until its agent published a VTEP of ours
        leases = [lease for lease in leases if lease.backend == "vxlan" and lease.vtep_mac]
    else:  # host-gw needs no announcement, but a node announcing another backend routes differently
        leases = [lease for lease in leases if lease.backend in ("", config.backend)]
    return sorted(leases, key=lambda lease: lease.name)


def desired_state(nodes: list[Obj], config: Config, underlay: str) -> State:
    """The routes (and for vxlan, neighbours and FDB entries) this node should hold to reach every other node."""
    state = State()
    for lease in peer_leases(nodes, config):
        subnet = str(lease.subnet)
        if config.backend == "host-gw":
            state.routes.add(Route(subnet, lease.public_ip, underlay))
            continue
        state.routes.add(Route(subnet, lease.tunnel_ip, config.device, onlink=True))
        state.neighs.add(Neigh(lease.tunnel_ip, lease.vtep_mac, config.device))
        state.fdbs.add(Fdb(lease.vtep_mac, lease.public_ip, config.device))
    return state


def plan(desired: State, actual: State) -> Plan:
    """What to change so the kernel holds `desired`: missing or different entries replaced, stale ones deleted.

    `actual` holds only what this agent owns (routes with its protocol tag, entries on its device)."""
    wanted_dsts = {r.dst for r in desired.routes}
    wanted_ips = {n.ip for n in desired.neighs}
    return Plan(
        routes_to_replace=sorted(desired.routes - actual.routes),
        routes_to_delete=sorted(r for r in actual.routes if r.dst not in wanted_dsts),
        neighs_to_replace=sorted(desired.neighs - actual.neighs),
        neighs_to_delete=sorted(n for n in actual.neighs if n.ip not in wanted_ips),
        fdbs_to_replace=sorted(desired.fdbs - actual.fdbs),
        fdbs_to_delete=sorted(actual.fdbs - desired.fdbs),
    )


def own_annotations(config: Config, public_ip: str, vtep_mac: str = "") -> dict[str, str]:
    annotations = {BACKEND_TYPE: config.backend, PUBLIC_IP: public_ip}
    if vtep_mac:
        annotations[VTEP_MAC] = vtep_mac
    return annotations


def _jumps(saved: str, chain: str, target: str) -> list[str]:
    """Rule specs (after `-A <chain> `) of the jumps from `chain` to `target` in iptables-save text."""
    prefix = f"-A {chain} "
    return [line[len(prefix):] for line in saved.splitlines()
            if line.startswith(prefix) and line.split()[-2:] == ["-j", target]]


def iptables_rules(cluster_cidr: str, nat_saved: str, filter_saved: str) -> str:
    """Restore text (for --noflush) for the agent's chains; jumps into them are added only where missing."""
    jump = f"-m comment --comment {JUMP_COMMENT}"
    lines = ["*nat", f":{NAT_CHAIN} - [0:0]",
             f"-A {NAT_CHAIN} -s {cluster_cidr} ! -d {cluster_cidr} -j MASQUERADE --random-fully"]
    if not _jumps(nat_saved, "POSTROUTING", NAT_CHAIN):
        lines.append(f"-I POSTROUTING 1 {jump} -j {NAT_CHAIN}")
    lines += ["COMMIT", "*filter", f":{FORWARD_CHAIN} - [0:0]",
              f"-A {FORWARD_CHAIN} -s {cluster_cidr} -j ACCEPT",
              f"-A {FORWARD_CHAIN} -d {cluster_cidr} -j ACCEPT"]
    if not _jumps(filter_saved, "FORWARD", FORWARD_CHAIN):  # first: before Docker's rules and its DROP policy
        lines.append(f"-I FORWARD 1 {jump} -j {FORWARD_CHAIN}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def cleanup_rules(nat_saved: str, filter_saved: str) -> str:
    """Restore text removing the agent's jumps and chains (only those that exist); "" when nothing is left."""
    blocks = []
    for table, saved, parent, chain in (("nat", nat_saved, "POSTROUTING", NAT_CHAIN),
                                        ("filter", filter_saved, "FORWARD", FORWARD_CHAIN)):
        if f":{chain} " not in saved:
            continue
        deletes = [f"-D {parent} {spec}" for spec in _jumps(saved, parent, chain)]
        blocks.append("\n".join([f"*{table}", f":{chain} - [0:0]", *deletes, f"-X {chain}", "COMMIT"]))
    return "\n".join(blocks) + "\n" if blocks else ""


# -- the agent ---------------------------------------------------------------------------------------------

def _relevant(node: Obj) -> tuple[Any, ...]:
    """The parts of a Node the agent acts on: heartbeats that change nothing else wake no pass."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return ((node.get("spec") or {}).get("podCIDR"), internal_ip(node),
            tuple(annotations.get(k) for k in (BACKEND_TYPE, PUBLIC_IP, VTEP_MAC)))


class PodNetworkAgent:
    def __init__(self, client: ApiClient, config: Config, *, iface: str | None = None,
                 resync_period_s: float = 30.0) -> None:
        self.client, self.config = client, config
        self.iface = iface
        self.resync_period_s = resync_period_s
        self.public_ip = ""
        self._wake = asyncio.Event()  # set by Node events: run a pass now
        self.nodes = Informer(client, kinds.NODES)
        self.nodes.add_handler(on_add=lambda _n: self._wake.set(), on_delete=lambda _n: self._wake.set(),
                               on_update=self._node_updated)
        self._waiting = False  # logged once, not every pass

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if _relevant(old) != _relevant(new):
            self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.nodes.run())
            await self.nodes.wait_for_sync()
            while True:
                self._wake.clear()
                try:
                    await self.sync_once()
                except (LinkError, iptables.IptablesError, errors.ApiError, OSError) as err:
                    log.error("pod network pass failed (retrying): %s", err)
                    SYNC_ERRORS.inc()
                    await asyncio.sleep(1)
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self.resync_period_s)
                except TimeoutError:
                    pass  # periodic pass: repairs whatever drifted in the kernel

    async def sync_once(self) -> Plan | None:
        """One level-triggered pass; None while this node has no pod CIDR yet."""
        own = self.nodes.get(self.config.node_name)
        own_lease = lease_of(own) if own else None
        if own is None or own_lease is None:
            if not self._waiting:
                log.info("waiting for node %s to have a pod CIDR and an address", self.config.node_name)
            self._waiting = True
            return None
        self._waiting = False
        underlay = await self._underlay(own)
        if self.config.backend == "vxlan":
            vtep_mac = await self._ensure_vxlan(own_lease, underlay)
        else:
            vtep_mac = ""
            if await links.delete_link(self.config.device):  # switched from vxlan: no tunnel left behind
                log.info("removed VXLAN device %s", self.config.device)
        await self._publish(own, own_annotations(self.config, self.public_ip, vtep_mac))
        desired = desired_state(self.nodes.list(), self.config, underlay)
        PEERS.set(len(desired.routes))
        changes = plan(desired, await self._actual())
        await self._apply(changes)
        await self._sync_iptables()
        if links.enable_ip_forward():
            log.info("enabled net.ipv4.ip_forward")
        return changes

    async def _underlay(self, own: Obj) -> str:
        """The interface between hosts (--iface, else the one holding the InternalIP, else the default route's)."""
        iface = self.iface or await links.dev_with_address(internal_ip(own)) or await links.default_route_dev()
        if not iface:
            raise LinkError("no interface to reach other nodes: pass --iface")
        addresses = await links.ipv4_addresses(iface)
        if not addresses:
            raise LinkError(f"interface {iface} has no IPv4 address")
        self.public_ip = addresses[0].split("/")[0]
        return iface

    async def _ensure_vxlan(self, own: Lease, underlay: str) -> str:
        spec = links.VxlanSpec(self.config.device, self.config.vxlan_id, self.config.vxlan_port, self.public_ip,
                               underlay, await links.mtu(underlay) - VXLAN_OVERHEAD)
        mac = await links.ensure_vxlan(spec)
        await links.set_only_address(spec.name, f"{own.tunnel_ip}/32")
        return mac

    async def _publish(self, own: Obj, wanted: dict[str, str]) -> None:
        current = (own.get("metadata") or {}).get("annotations") or {}
        if all(current.get(k) == v for k, v in wanted.items()):
            return
        await self.client.patch(kinds.NODES, self.config.node_name, {"metadata": {"annotations": wanted}})
        log.info("published %s on node %s", wanted, self.config.node_name)

    async def _actual(self) -> State:
        state = State(routes=set(await links.routes(ROUTE_PROTO)))
        if self.config.backend == "vxlan" and await links.link(self.config.device) is not None:
            state.neighs = set(await links.neighbours(self.config.device))
            state.fdbs = set(await links.fdb_entries(self.config.device))
        return state

    async def _apply(self, changes: Plan) -> None:
        """Deletions first (a stale entry may hold what a new one needs); one failure does not stop the rest."""
        step = functools.partial
        steps: list[tuple[str, object, Callable[[], Awaitable[None]]]] = [
            *(("deleted route", r, step(links.delete_route, r, ROUTE_PROTO)) for r in changes.routes_to_delete),
            *(("deleted fdb", f, step(links.delete_fdb, f)) for f in changes.fdbs_to_delete),
            *(("deleted neighbour", n, step(links.delete_neigh, n)) for n in changes.neighs_to_delete),
            *(("set fdb", f, step(links.replace_fdb, f)) for f in changes.fdbs_to_replace),
            *(("set neighbour", n, step(links.replace_neigh, n)) for n in changes.neighs_to_replace),
            *(("set route", r, step(links.replace_route, r, ROUTE_PROTO)) for r in changes.routes_to_replace)]
        for what, entry, apply in steps:
            try:
                await apply()
                log.info("%s %s", what, entry)
            except LinkError as err:
                log.error("%s", err)

    async def _sync_iptables(self) -> None:
        nat, filter_ = await iptables.save("nat"), await iptables.save("filter")
        await iptables.restore(iptables_rules(self.config.cluster_cidr, nat, filter_), noflush=True)


async def cleanup(config: Config) -> None:
    """Remove the agent's routes, VXLAN device and iptables chains (the node's annotations stay)."""
    for route in await links.routes(ROUTE_PROTO):
        await links.delete_route(route, ROUTE_PROTO)
    await links.delete_link(config.device)
    rules = cleanup_rules(await iptables.save("nat"), await iptables.save("filter"))
    if rules:
        await iptables.restore(rules, noflush=True)


# -- daemon ------------------------------------------------------------------------------------------------

@dataclass
class Settings:
    server: str | None
    kubeconfig: str | None
    config: Config
    iface: str | None
    resync_period_s: float
    cleanup: bool
    healthz_bind_address: str
    healthz_port: int


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m kube_proxy.podnet",
                                description="kubelab pod network agent: routes pod CIDRs between nodes (flannel's "
                                            "role), host-gw or vxlan, and masquerades pod traffic leaving the cluster.")
    add_client_flags(p)
    p.add_argument("--node-name", default=env_default("--node-name"), help="this node (env KUBELAB_NODE_NAME)")
    p.add_argument("--backend", choices=BACKENDS, default=env_default("--backend", "vxlan"),
                   help="host-gw: route via each node's IP (nodes on one L2 segment); vxlan: a UDP tunnel (any IP path)")
    p.add_argument("--iface", default=env_default("--iface"),
                   help="interface between nodes (default: the one holding the Node's InternalIP)")
    p.add_argument("--cluster-cidr", default=env_default("--cluster-cidr", "10.244.0.0/16"))
    p.add_argument("--vxlan-id", type=int, default=int(env_default("--vxlan-id", "1") or 1),
                   help="VNI; the device is kubelab.<VNI>")
    p.add_argument("--vxlan-port", type=int, default=int(env_default("--vxlan-port", "8472") or 8472),
                   help="UDP port of the tunnel (8472: Linux's and flannel's default)")
    p.add_argument("--resync-period", type=parse_duration, default=env_default("--resync-period", "30s"),
                   help="longest time before drift in routes or rules is repaired")
    p.add_argument("--cleanup", action="store_true", help="remove this agent's routes, device and chains, then exit")
    p.add_argument("--healthz-bind-address", default=env_default("--healthz-bind-address", "127.0.0.1"))
    p.add_argument("--healthz-port", type=int, default=int(env_default("--healthz-port", "10268") or 10268),
                   help="port of /healthz and /metrics; 0 disables")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("podnet", args.verbosity)
    if not args.cleanup and not args.node_name:
        p.error("--node-name is required")
    try:
        ipaddress.IPv4Network(args.cluster_cidr)
    except ValueError as exc:
        p.error(f"--cluster-cidr: {exc}")
    resync = parse_duration(args.resync_period) if isinstance(args.resync_period, str) else args.resync_period
    config = Config(args.node_name or "", args.backend, args.cluster_cidr, args.vxlan_id, args.vxlan_port)
    return Settings(args.server, args.kubeconfig, config, args.iface, resync, args.cleanup,
                    args.healthz_bind_address, args.healthz_port)


async def serve(settings: Settings) -> int:
    if settings.cleanup:
        await cleanup(settings.config)
        log.info("removed the pod network's routes, device %s and chains", settings.config.device)
        return 0
    client = ApiClient.from_flags(settings.server, settings.kubeconfig,
                                  user_agent=f"kubelab-podnet/{GIT_VERSION} ({settings.config.node_name})")
    agent = PodNetworkAgent(client, settings.config, iface=settings.iface, resync_period_s=settings.resync_period_s)
    async with asyncio.TaskGroup() as tg:
        if settings.healthz_port:
            tg.create_task(health_server(settings.healthz_bind_address, settings.healthz_port).serve())
        log.info("pod network agent %s (%s) for node %s, cluster CIDR %s", GIT_VERSION, settings.config.backend,
                 settings.config.node_name, settings.config.cluster_cidr)
        await agent.run()
    return 0


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    run_main("podnet", lambda: serve(settings), fatal=(LinkError, iptables.IptablesError))


if __name__ == "__main__":
    main()
