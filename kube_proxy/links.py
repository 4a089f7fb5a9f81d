"""The one module that runs `ip` and `bridge`: links, addresses, routes, neighbours, VXLAN FDB entries, ip_forward.

The pod network agent (podnet.py) decides what the kernel should hold as pure
values (`Route`, `Neigh`, `Fdb`, `VxlanSpec`); this module reads the kernel's
current state back as the same values and applies changes, one command each.
Reads use iproute2's JSON output (`-j`), so nothing parses human text.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import dataclass
from typing import Any


class LinkError(RuntimeError):
    """`ip` or `bridge` refused; the message carries the command and its stderr."""


@dataclass(frozen=True, order=True)
class Route:
    """`dst via gateway dev dev [onlink]`, tagged with the agent's protocol number when installed."""
    dst: str  # CIDR, e.g. 10.244.1.0/24
    via: str
    dev: str
    onlink: bool = False


@dataclass(frozen=True, order=True)
class Neigh:
    """A permanent ARP entry: `ip` on `dev` is at `mac` (the remote VTEP's address)."""
    ip: str
    mac: str
    dev: str


@dataclass(frozen=True, order=True)
class Fdb:
    """A VXLAN forwarding entry: frames for `mac` on `dev` go in UDP to `dst` (the remote host)."""
    mac: str
    dst: str
    dev: str


@dataclass(frozen=True)
class VxlanSpec:
    name: str
    vni: int
    port: int
    local: str  # this host's public IP: the tunnel's source
    underlay: str  # the interface carrying the tunnel
    mtu: int


async def _run(argv: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise LinkError(f"{' '.join(argv)} exited {proc.returncode}: {err.decode(errors='replace').strip()}")
    return out.decode()


async def ip(*args: str) -> str:
    return await _run(["ip", *args])


async def _json(argv: list[str]) -> list[dict[str, Any]]:
    out = (await _run(argv)).strip()
    return json.loads(out) if out else []


# -- interfaces and addresses ----------------------------------------------------------------------------

async def link(name: str) -> dict[str, Any] | None:
    """`ip -d link show` of one link as a dict, or None when it does not exist."""
    try:
        found = await _json(["ip", "-j", "-d", "link", "show", "dev", name])
    except LinkError:
        return None
    return found[0] if found else None


async def ipv4_addresses(dev: str) -> list[str]:
    """The link's IPv4 addresses as CIDRs (`10.0.0.1/24`)."""
    found = await _json(["ip", "-j", "-4", "addr", "show", "dev", dev])
    return [f"{a['local']}/{a['prefixlen']}" for entry in found for a in entry.get("addr_info") or []]


async def dev_with_address(address: str) -> str | None:
    """The link that holds `address`, if any."""
    for entry in await _json(["ip", "-j", "-4", "addr", "show"]):
        if any(a.get("local") == address for a in entry.get("addr_info") or []):
            return entry["ifname"]
    return None


async def default_route_dev() -> str | None:
    found = await _json(["ip", "-j", "-4", "route", "show", "default"])
    return found[0].get("dev") if found else None


async def set_only_address(dev: str, cidr: str) -> None:
    """Make `cidr` the link's one IPv4 address (a changed pod CIDR leaves no old one behind)."""
    for old in await ipv4_addresses(dev):
        if old != cidr:
            await ip("addr", "del", old, "dev", dev)
    await ip("addr", "replace", cidr, "dev", dev)


async def delete_link(name: str) -> bool:
    if await link(name) is None:
        return False
    await ip("link", "del", name)
    return True


# -- VXLAN device ------------------------------------------------------------------------------------------

def vxlan_matches(found: dict[str, Any], spec: VxlanSpec) -> bool:
    """Whether an existing link is the VXLAN device `spec` describes (else it must be recreated)."""
    info = found.get("linkinfo") or {}
    data = info.get("info_data") or {}
    return (info.get("info_kind") == "vxlan" and data.get("id") == spec.vni and data.get("port") == spec.port
            and data.get("local") == spec.local and not data.get("learning", False))


async def ensure_vxlan(spec: VxlanSpec) -> str:
    """Create (or keep, when it already matches, so its MAC survives restarts) the VXLAN device; returns its MAC."""
    found = await link(spec.name)
    if found is not None and not vxlan_matches(found, spec):
        await ip("link", "del", spec.name)
        found = None
    if found is None:
        await ip("link", "add", spec.name, "type", "vxlan", "id", str(spec.vni), "dstport", str(spec.port),
                 "local", spec.local, "dev", spec.underlay, "nolearning")
    await ip("link", "set", spec.name, "mtu", str(spec.mtu), "up")
    return (await link(spec.name) or {})["address"]


async def mtu(dev: str) -> int:
    found = await link(dev)
    if found is None:
        raise LinkError(f"no link {dev!r}")
    return int(found["mtu"])


# -- routes --------------------------------------------------------------------------------------------------

async def routes(proto: int) -> list[Route]:
    """IPv4 routes of the main table carrying protocol tag `proto` (the ones an agent installed)."""
    found = await _json(["ip", "-j", "-4", "route", "show", "proto", str(proto)])
    return [Route(_cidr(r["dst"]), r.get("gateway", ""), r.get("dev", ""), "onlink" in (r.get("flags") or []))
            for r in found if r.get("dst") != "default"]


async def replace_route(route: Route, proto: int) -> None:
    argv = ["route", "replace", route.dst, "via", route.via, "dev", route.dev, "proto", str(proto)]
    await ip(*argv, *(["onlink"] if route.onlink else []))


async def delete_route(route: Route, proto: int) -> None:
    await ip("route", "del", route.dst, "proto", str(proto))


def _cidr(dst: str) -> str:
    """`ip -j` prints a /32 route's dst without its prefix."""
    return str(ipaddress.ip_network(dst, strict=False))


# -- neighbours and FDB ------------------------------------------------------------------------------------

async def neighbours(dev: str) -> list[Neigh]:
    """Permanent IPv4 neighbours of `dev` (the ones an agent installs)."""
    found = await _json(["ip", "-j", "-4", "neigh", "show", "dev", dev, "nud", "permanent"])
    return [Neigh(n["dst"], n.get("lladdr", ""), dev) for n in found]


async def replace_neigh(entry: Neigh) -> None:
    await ip("neigh", "replace", entry.ip, "lladdr", entry.mac, "dev", entry.dev, "nud", "permanent")


async def delete_neigh(entry: Neigh) -> None:
    await ip("neigh", "del", entry.ip, "dev", entry.dev)


async def fdb_entries(dev: str) -> list[Fdb]:
    """The device's forwarding entries that name a remote (`dst`)."""
    found = await _json(["bridge", "-j", "fdb", "show", "dev", dev])
    return [Fdb(f["mac"], f["dst"], dev) for f in found if f.get("dst")]


async def replace_fdb(entry: Fdb) -> None:
    await _run(["bridge", "fdb", "replace", entry.mac, "dev", entry.dev, "dst", entry.dst, "self", "permanent"])


async def delete_fdb(entry: Fdb) -> None:
    await _run(["bridge", "fdb", "del", entry.mac, "dev", entry.dev, "dst", entry.dst, "self"])


# -- sysctl ---------------------------------------------------------------------------------------------------

def enable_ip_forward(path: str = "/proc/sys/net/ipv4/ip_forward") -> bool:
    """Turn on IPv4 forwarding (pods' packets cross this host); True when it was off."""
    with open(path) as f:
        if f.read().strip() == "1":
            return False
    with open(path, "w") as f:
        f.write("1")
    return True
