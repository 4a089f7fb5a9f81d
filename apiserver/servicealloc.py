"""Service cluster IPs and node ports: the ranges, choosing free values, and claiming them in etcd with the Service.

Upstream keeps one bitmap per range in etcd and a repair loop that mends what a crash between the
allocation and the Service write leaves behind.  Here every allocated IP and node port is a key of its
own (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/servicenodeports/<port>`) created and deleted
in the same etcd transaction as the Service, so a Service and its allocations never disagree, even with
several apiserver processes writing at once.  Choosing is optimistic, like upstream's random scan: a
random free value by this process's view of the keys, and a collision in the transaction (another
process took it first) refreshes that view and chooses again.  A value the client asked for is honoured
if free and in range, otherwise the write is refused as upstream refuses it.
"""
from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import logging
import random
from collections.abc import Container
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client import Counter, Gauge

from common.errors import Invalid, ServiceUnavailable, field_cause, invalid

from . import defaults, storage
from .validation import render

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IP_PREFIX = "/registry/ranges/serviceips/"
PORT_PREFIX = "/registry/ranges/servicenodeports/"
_ATTEMPTS = 16  # collisions with other writers before giving up (each one refreshes our view)
_MAX_TXN_KEYS = 120  # etcd refuses transactions of more than 128 operations (--max-txn-ops)

# Upstream's allocator metrics; the gauges are this process's view (exact with one apiserver process).
IP_ALLOCATIONS = Counter("kube_apiserver_clusterip_allocator_allocation_total",
                         "cluster IPs claimed, by range and whether the client named them", ["cidr", "scope"])
IPS_ALLOCATED = Gauge("kube_apiserver_clusterip_allocator_allocated_ips", "cluster IPs in use", ["cidr"])
PORT_ALLOCATIONS = Counter("kube_apiserver_nodeport_allocator_allocation_total",
                           "node ports claimed, by whether the client named them", ["scope"])
PORTS_ALLOCATED = Gauge("kube_apiserver_nodeport_allocator_allocated_ports", "node ports in use")


# -- ranges (pure) ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class IPRange:
    """--service-cluster-ip-range: the network's addresses without its network and broadcast addresses."""
    network: ipaddress.IPv4Network

    @classmethod
    def parse(cls, cidr: str) -> "IPRange":
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=True)
        except ValueError as exc:
            raise ValueError(f"invalid service cluster IP range {cidr!r}: {exc}") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError(f"invalid service cluster IP range {cidr!r}: only IPv4 ranges are supported")
        if network.num_addresses < 4:
            raise ValueError(f"invalid service cluster IP range {cidr!r}: too small to hold a service IP")
        return cls(network)

    @property
    def size(self) -> int:
        return self.network.num_addresses - 2

    @property
    def static_band(self) -> int:
        """Offsets below this are left to requested IPs first (upstream's ServiceIPStaticSubrange: 16..256)."""
        return _static_band(self.network.num_addresses, 16, 256, 16)

    def contains(self, ip: str) -> bool:
        return self.offset(ip) is not None

    def offset(self, ip: str) -> int | None:
        try:
            index = int(ipaddress.IPv4Address(ip)) - int(self.network.network_address) - 1
        except ValueError:
            return None
        return index if 0 <= index < self.size else None

    def at(self, offset: int) -> str:
        return str(self.network.network_address + 1 + offset)

    def first(self) -> str:
        """The kubernetes Service's IP, as upstream's: the range's first usable address."""
        return self.at(0)

    def __str__(self) -> str:
        return str(self.network)


@dataclass(frozen=True)
class PortRange:
    """--service-node-port-range, `low-high` or `base+size` as upstream's net.ParsePortRange."""
    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> "PortRange":
        text = text.strip()
        try:
            if "+" in text:
                base, size = (int(part) for part in text.split("+", 1))
                low, high = base, base + size
            else:
                low, high = (int(part) for part in text.split("-", 1))
        except ValueError:
            raise ValueError(f"invalid port range {text!r}: want LOW-HIGH, e.g. 30000-32767") from None
        if not 0 < low <= high <= 65535:
            raise ValueError(f"invalid port range {text!r}: ports must be 1-65535 and LOW <= HIGH")
        return cls(low, high)

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    @property
    def static_band(self) -> int:
        return _static_band(self.size, 16, 128, 32)

    def offset(self, port: int) -> int | None:
        return port - self.low if self.low <= port <= self.high else None

    def at(self, offset: int) -> int:
        return self.low + offset

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


def _static_band(size: int, low: int, high: int, step: int) -> int:
    """upstream's calculateRangeOffset: dynamic picks prefer the range above this many values."""
    if size <= low:
        return 0
    return max(low, min(high, size // step))


def choose_free(size: int, taken: Container[int], static_band: int = 0, rng: random.Random | None = None) -> int | None:
    """A random free offset, scanning on from a random start (upper band first, then the static band);
    None when every offset is taken."""
    rng = rng or random
    for start, end in ((static_band, size), (0, static_band)):
        count = end - start
        if count <= 0:
            continue
        first = rng.randrange(count)
        for step in range(count):
            candidate = start + (first + step) % count
            if candidate not in taken:
                return candidate
    return None


class RangeFull(Exception):
    """No free value is left in a range."""


# -- what a Service holds (pure) --------------------------------------------------------------------

class Held(NamedTuple):
    key: str
    path: str  # the field naming it, for error causes
    value: Any  # the IP string or port number, as the client wrote it


def needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None" and \
        (spec.get("clusterIPs") or [None])[0] != "None"


def needs_node_ports(spec: Obj) -> bool:
    """Whether unset node ports get one (requested ones are honoured for LoadBalancer either way)."""
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def needs_health_check_port(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def held(service: Obj | None) -> dict[str, Held]:
    """Every cluster IP and node port the Service names, by allocation key (first field wins)."""
    spec = (service or {}).get("spec") or {}
    if not isinstance(spec, dict):
        return {}
    found: dict[str, Held] = {}
    if needs_cluster_ip(spec):
        ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        for i, ip in enumerate(ips if isinstance(ips, list) else []):
            normal = _normal_ip(ip)
            if normal:
                found.setdefault(IP_PREFIX + normal, Held(IP_PREFIX + normal, f"spec.clusterIPs[{i}]", ip))
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        for i, port in enumerate(spec.get("ports") or []):
            node_port = port.get("nodePort") if isinstance(port, dict) else None
            if isinstance(node_port, int) and node_port > 0:
                key = f"{PORT_PREFIX}{node_port}"
                found.setdefault(key, Held(key, f"spec.ports[{i}].nodePort", node_port))
    health = spec.get("healthCheckNodePort")
    if needs_health_check_port(spec) and isinstance(health, int) and health > 0:
        key = f"{PORT_PREFIX}{health}"
        found.setdefault(key, Held(key, "spec.healthCheckNodePort", health))
    return found


def _normal_ip(ip: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(ip)) if isinstance(ip, str) else None
    except ValueError:
        return None


# -- the allocator ----------------------------------------------------------------------------------

class Plan(NamedTuple):
    claims: dict[str, bytes]
    releases: list[str]
    requested: dict[str, Held]  # claims the client named itself: a collision on one is the client's error


class ServiceAllocator:
    """Fills in and claims a Service's cluster IP and node ports as part of its create, update and delete."""

    def __init__(self, store: storage.Storage, ip_range: IPRange, port_range: PortRange,
                 rng: random.Random | None = None) -> None:
        self.storage = store
        self.ips, self.ports = ip_range, port_range
        self._rng = rng or random.Random()
        # This process's view of the allocated offsets: a hint for choosing; etcd decides.
        self._taken_ips: set[int] = set()
        self._taken_ports: set[int] = set()
        self._refreshing: asyncio.Lock = asyncio.Lock()

    # -- choosing (pure over the current view) --------------------------------------------------

    def assign(self, service: Obj) -> None:
        """Fill in what the Service needs and lacks: its cluster IP, node ports, health check node port."""
        spec = service.get("spec")
        if not isinstance(spec, dict):
            return
        own = held(service)
        if needs_cluster_ip(spec) and not spec.get("clusterIP") and not spec.get("clusterIPs"):
            ip = self._choose_ip(own)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            defaults.service_ip_families(spec)
        if needs_node_ports(spec):
            self._assign_node_ports(spec, own)
        if needs_health_check_port(spec) and not spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = self._choose_port(held(service))

    def _assign_node_ports(self, spec: Obj, own: dict[str, Held]) -> None:
        """Unset node ports get one; ports sharing a number (TCP and UDP 53) share it, as upstream."""
        by_number: dict[Any, int] = {}
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        for port in ports:
            if isinstance(port.get("nodePort"), int) and port["nodePort"] > 0:
                by_number.setdefault(port.get("port"), port["nodePort"])
        for port in ports:
            if port.get("nodePort"):
                continue
            if port.get("port") not in by_number:
                by_number[port.get("port")] = self._choose_port(own)
                own[f"{PORT_PREFIX}{by_number[port.get('port')]}"] = Held("", "", 0)
            port["nodePort"] = by_number[port.get("port")]

    def _choose_ip(self, own: dict[str, Held]) -> str:
        taken = self._taken_ips | {self.ips.offset(k.removeprefix(IP_PREFIX)) for k in own if k.startswith(IP_PREFIX)}
        offset = choose_free(self.ips.size, taken, self.ips.static_band, self._rng)
        if offset is None:
            raise RangeFull("failed to allocate a serviceIP: range is full")
        self._taken_ips.add(offset)  # concurrent writes in this process choose others (a failed write's
        return self.ips.at(offset)   # pick stays marked until the next refresh: only a hint)

    def _choose_port(self, own: dict[str, Held]) -> int:
        mine = {self.ports.offset(int(k.removeprefix(PORT_PREFIX))) for k in own if k.startswith(PORT_PREFIX)}
        offset = choose_free(self.ports.size, self._taken_ports | mine, self.ports.static_band, self._rng)
        if offset is None:
            raise RangeFull("failed to allocate a nodePort: range is full")
        self._taken_ports.add(offset)
        return self.ports.at(offset)

    def plan(self, new: Obj | None, old: Obj | None, requested_keys: set[str]) -> Plan:
        """Claims (keys the new object names and the old did not) and releases (the reverse), refusing
        requested values outside the ranges with upstream's messages."""
        before, after = held(old), held(new)
        if new is not None:
            self._check_families(new, old)
            _check_health_check_port(new, old)
        owner = _owner(new or old or {})
        claims: dict[str, bytes] = {}
        requested: dict[str, Held] = {}
        for key, item in after.items():
            if key in before:
                continue
            if key in requested_keys:
                self._check_in_range(new or {}, item)
                requested[key] = item
            if self._in_range(key):
                claims[key] = owner
        releases = [key for key in before if key not in after and self._in_range(key)]
        if len(claims) + len(releases) >= _MAX_TXN_KEYS:
            raise invalid("Service", _name(new or old or {}), [field_cause(
                "spec.ports", f"Too many: {len(claims) + len(releases)}: must claim and release at most "
                              f"{_MAX_TXN_KEYS - 1} node ports in one write", "FieldValueTooMany")])
        return Plan(claims, releases, requested)

    @staticmethod
    def _check_families(service: Obj, old: Obj | None) -> None:
        """This cluster is single-stack IPv4: refuse IPv6 and dual-stack as upstream's allocator does
        (unless the Service had them already, from before)."""
        spec, before = service.get("spec") or {}, (old or {}).get("spec") or {}
        if not needs_cluster_ip(spec):
            return
        families = spec.get("ipFamilies") if isinstance(spec.get("ipFamilies"), list) else []
        for i, family in enumerate(families):
            if family != "IPv4" and families != before.get("ipFamilies"):
                item = Held("", f"spec.ipFamilies[{i}]", family)
                raise _invalid(service, item, "not configured on this cluster")
        policy = spec.get("ipFamilyPolicy")
        if policy == "RequireDualStack" and before.get("ipFamilyPolicy") != policy:
            raise _invalid(service, Held("", "spec.ipFamilyPolicy", policy),
                           "this cluster is not configured for dual-stack services")

    def _in_range(self, key: str) -> bool:
        if key.startswith(IP_PREFIX):
            return self.ips.contains(key.removeprefix(IP_PREFIX))
        return self.ports.offset(int(key.removeprefix(PORT_PREFIX))) is not None

    def _check_in_range(self, service: Obj, item: Held) -> None:
        if self._in_range(item.key):
            return
        if item.key.startswith(IP_PREFIX):
            raise _invalid(service, item, f"failed to allocate IP {item.value}: the provided IP ({item.value}) is "
                                          f"not in the valid range. The range of valid IPs is {self.ips}")
        raise _invalid(service, item, _port_error(item, "provided port is not in the valid range. "
                                                        f"The range of valid ports is {self.ports}"))

    # -- writing --------------------------------------------------------------------------------

    async def create(self, key: str, service: Obj, encode: Any) -> tuple[bytes, int]:
        """Store a new Service with its allocations; returns (stored value, revision).  Raises KeyExists."""
        return await self._commit(key, service, None, 0, encode)

    async def update(self, key: str, service: Obj, old: Obj, mod_revision: int, encode: Any) -> tuple[bytes, int]:
        """Store a changed Service, claiming what it newly names and releasing what it no longer does."""
        return await self._commit(key, service, old, mod_revision, encode)

    async def delete(self, key: str, old: Obj, mod_revision: int) -> int:
        """Remove a Service and release everything it held."""
        releases = self.plan(None, old, set()).releases
        revision = await self.storage.commit(key, None, mod_revision, releases=releases)
        self._note({}, releases)
        self._count(Plan({}, releases, {}))
        return revision

    async def dry_run(self, service: Obj, old: Obj | None) -> None:
        """Fill in values as a real write would and refuse what it would refuse, claiming nothing."""
        requested_keys = set(held(service))
        await self._assign_refreshing(service)
        for item in self.plan(service, old, requested_keys).requested.values():
            if await self.storage.get(item.key) is not None:
                raise _already_allocated(service, item)

    async def _commit(self, key: str, service: Obj, old: Obj | None, mod_revision: int,
                      encode: Any) -> tuple[bytes, int]:
        original = copy.deepcopy(service.get("spec"))
        for _attempt in range(_ATTEMPTS):
            requested_keys = set(held(service))
            await self._assign_refreshing(service)
            plan = self.plan(service, old, requested_keys)
            value = encode(service)
            try:
                revision = await self.storage.commit(key, value, mod_revision, claims=plan.claims,
                                                     releases=plan.releases)
            except (storage.KeyExists, storage.RevisionMismatch, storage.KeyNotFound):
                service["spec"] = original  # nothing was claimed: the caller retries from the request
                raise
            except storage.ClaimsTaken as taken:
                mine = [plan.requested[k] for k in taken.keys if k in plan.requested]
                if mine:
                    raise _already_allocated(service, min(mine, key=lambda h: h.path)) from None
                await self.refresh()  # another writer got there first: learn what it took, choose again
                service["spec"] = copy.deepcopy(original)
                continue
            self._note(plan.claims, plan.releases)
            self._count(plan)
            return value, revision
        raise ServiceUnavailable("failed to allocate the service's cluster IP and node ports: too many concurrent "
                                 "allocations, try again")

    async def _assign_refreshing(self, service: Obj) -> None:
        """assign(); a range that looks full is looked at again in etcd before the client hears so."""
        if not self._assign_or_fail(service, retry_full=True):
            await self.refresh()
            self._assign_or_fail(service)

    def _assign_or_fail(self, service: Obj, retry_full: bool = False) -> bool:
        """assign(); a full range is the client's 422 (False instead when the caller may refresh and retry)."""
        snapshot = copy.deepcopy(service.get("spec"))
        try:
            self.assign(service)
            return True
        except RangeFull as full:
            service["spec"] = snapshot
            if retry_full:
                return False
            path = "spec.clusterIPs" if "serviceIP" in str(full) else "spec.ports"
            raise invalid("Service", _name(service), [field_cause(path, str(full))]) from None

    def _count(self, plan: Plan) -> None:
        for key in plan.claims:
            scope = "static" if key in plan.requested else "dynamic"
            if key.startswith(IP_PREFIX):
                IP_ALLOCATIONS.labels(str(self.ips), scope).inc()
            else:
                PORT_ALLOCATIONS.labels(scope).inc()
        IPS_ALLOCATED.labels(str(self.ips)).set(len(self._taken_ips))
        PORTS_ALLOCATED.set(len(self._taken_ports))

    def _note(self, claims: dict[str, bytes], releases: list[str]) -> None:
        for key in claims:
            self._mark(key, self._taken_ips.add, self._taken_ports.add)
        for key in releases:
            self._mark(key, self._taken_ips.discard, self._taken_ports.discard)

    def _mark(self, key: str, on_ip: Any, on_port: Any) -> None:
        if key.startswith(IP_PREFIX):
            offset = self.ips.offset(key.removeprefix(IP_PREFIX))
            if offset is not None:
                on_ip(offset)
        elif key.startswith(PORT_PREFIX) and key.removeprefix(PORT_PREFIX).isdigit():
            offset = self.ports.offset(int(key.removeprefix(PORT_PREFIX)))
            if offset is not None:
                on_port(offset)

    async def refresh(self) -> None:
        """Reload the view of allocated values from etcd (one reload serves everyone waiting for it)."""
        if self._refreshing.locked():
            async with self._refreshing:
                return
        async with self._refreshing:
            ips, ports = await asyncio.gather(self.storage.list(IP_PREFIX), self.storage.list(PORT_PREFIX))
            self._taken_ips, self._taken_ports = set(), set()
            self._note({kv.key: b"" for kv in ips.items + ports.items}, [])

    async def repair(self, services_prefix: str) -> None:
        """Start-up mending, as upstream's repair controllers: claim what stored Services hold without a
        key (Services written before allocation existed) and free keys no Service holds.  Both read at one
        revision, and a freed key must be unchanged since, so a concurrent create is never undone."""
        revision = await self.storage.current_revision()
        services, ips, ports = await asyncio.gather(self.storage.list(services_prefix, revision=revision),
                                                    self.storage.list(IP_PREFIX, revision=revision),
                                                    self.storage.list(PORT_PREFIX, revision=revision))
        allocated = {kv.key: kv for kv in ips.items + ports.items}
        wanted: dict[str, bytes] = {}
        for kv in services.items:
            service = json.loads(kv.value)
            for key in held(service):
                if self._in_range(key):
                    wanted.setdefault(key, _owner(service))
        for key, owner in wanted.items():
            if key not in allocated:
                try:
                    await self.storage.create(key, owner)
                except storage.KeyExists:
                    pass
        for key, kv in allocated.items():
            if key not in wanted:
                log.info("releasing %s: no Service holds it", key)
                try:
                    await self.storage.delete(key, kv.mod_revision)
                except (storage.RevisionMismatch, storage.KeyNotFound):
                    pass
        await self.refresh()


# -- the kubernetes Service -------------------------------------------------------------------------

def _kubernetes_ports(port: int) -> list[Obj]:
    return [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]


def kubernetes_service(ip: str, port: int) -> Obj:
    """default/kubernetes as upstream's apiserver creates it: the range's first IP, https 443 → the API port."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "sessionAffinity": "None",
                     "ports": _kubernetes_ports(port)}}


def with_kubernetes_ports(current: Obj, port: int) -> Obj:
    """An existing kubernetes Service gets its ports put back (upstream reconciles only those)."""
    current.setdefault("spec", {})["ports"] = _kubernetes_ports(port)
    return current


def kubernetes_endpoints(address: str, port: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def _check_health_check_port(service: Obj, old: Obj | None) -> None:
    """A health check node port is a port of its own, never one of the Service's node ports."""
    spec = service.get("spec") or {}
    health = spec.get("healthCheckNodePort")
    if not needs_health_check_port(spec) or not health or health == ((old or {}).get("spec") or {}).get(
            "healthCheckNodePort"):
        return
    if health in {p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)}:
        item = Held(f"{PORT_PREFIX}{health}", "spec.healthCheckNodePort", health)
        raise _already_allocated(service, item)


def _owner(service: Obj) -> bytes:
    meta = service.get("metadata") or {}
    return json.dumps({"namespace": meta.get("namespace"), "name": meta.get("name"),
                       "uid": meta.get("uid")}, separators=(",", ":")).encode()


def _name(service: Obj) -> str:
    return str((service.get("metadata") or {}).get("name", ""))


def _port_error(item: Held, message: str) -> str:
    if item.path == "spec.healthCheckNodePort":
        return f"failed to allocate requested HealthCheck NodePort {item.value}: {message}"
    return message


def _already_allocated(service: Obj, item: Held) -> Invalid:
    if item.key.startswith(IP_PREFIX):
        return _invalid(service, item, f"failed to allocate IP {item.value}: provided IP is already allocated")
    return _invalid(service, item, _port_error(item, "provided port is already allocated"))


def _invalid(service: Obj, item: Held, message: str) -> Invalid:
    return invalid("Service", _name(service), [field_cause(item.path, f"Invalid value: {render(item.value)}: {message}")])
