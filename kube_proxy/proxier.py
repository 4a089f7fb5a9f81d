"""The desired iptables ruleset for Services, as pure functions: Services + Endpoints in, iptables-restore text out.

Mirrors upstream kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go):
chain names (KUBE-SVC-/KUBE-SEP-/KUBE-EXT- + 16 chars of base32(sha256)),
comments, rule order, masquerade marking and the REJECT rules for services
without ready endpoints, plus KUBE-FIREWALL's guard for route_localnet.  The
text replaces only KUBE-* chains when applied
with `iptables-restore --noflush`, so chains of Docker or the host survive.

Output is deterministic (services and endpoints sorted), so two syncs of the
same state give byte-identical text.  Chains that existed before but are no
longer wanted are flushed and deleted (`-X`) in the same transaction.
externalTrafficPolicy Local follows upstream (KUBE-SVL chain of the local
endpoints, DROP when there is none).  Not implemented: internalTrafficPolicy
Local (treated as Cluster), loadBalancerSourceRanges (KUBE-FW), health-check
node ports, UDP conntrack flushing, IPv6.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import socket
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

# Chains this proxier owns outright (declared, hence flushed and rewritten, on every sync).
KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FIREWALL = "KUBE-FIREWALL"

FILTER_CHAINS = (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_FIREWALL)
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)
STATIC_CHAINS = {"filter": FILTER_CHAINS, "nat": NAT_CHAINS}
# Per-service chains: any of these found in the kernel and not wanted any more is stale.
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SVL-")

DEFAULT_AFFINITY_TIMEOUT_S = 10800  # upstream's sessionAffinityConfig.clientIP.timeoutSeconds default
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain sending traffic into one of ours (upstream's iptablesJumpChains)."""
    table: str
    src_chain: str
    dst_chain: str
    comment: str
    extra: tuple[str, ...] = ()

    def spec(self) -> str:
        """The rule as iptables-save prints it, minus `-A <chain>`."""
        comment = ["-m", "comment", "--comment", _quote(self.comment)] if self.comment else []
        return " ".join([*self.extra, *comment, "-j", self.dst_chain])


_NEW = ("-m", "conntrack", "--ctstate", "NEW")
JUMPS = (
    Jump("filter", "INPUT", KUBE_EXTERNAL_SERVICES, "kubernetes externally-visible service portals", _NEW),
    Jump("filter", "FORWARD", KUBE_EXTERNAL_SERVICES, "kubernetes externally-visible service portals", _NEW),
    Jump("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    Jump("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", _NEW),
    Jump("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", _NEW),
    Jump("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    Jump("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
    # route_localnet=1 (NodePorts on 127.0.0.1) would let other hosts reach 127/8 services: upstream blocks that.
    Jump("filter", "INPUT", KUBE_FIREWALL, ""),
    Jump("filter", "OUTPUT", KUBE_FIREWALL, ""),
)


@dataclass(frozen=True)
class ProxyConfig:
    cluster_cidr: str | None = None   # traffic from outside it to a ClusterIP is masqueraded
    masquerade_bit: int = 14          # fwmark bit meaning "SNAT this on the way out"
    masquerade_all: bool = False      # masquerade every ClusterIP connection (upstream --masquerade-all)
    node_name: str = ""               # endpoints whose nodeName is this are local (externalTrafficPolicy Local)

    @property
    def mark(self) -> str:
        return f"{1 << self.masquerade_bit:#x}"


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    local: bool = field(default=False, compare=False)  # on this node

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass
class ServicePort:
    """One port of one Service: what upstream calls a ServicePortName plus its ServiceInfo."""
    name: str                   # "ns/svc:port" (":port" only when the port is named)
    protocol: str               # lowercase: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: list[str] = field(default_factory=list)
    load_balancer_ips: list[str] = field(default_factory=list)
    affinity_timeout_s: int | None = None  # set for sessionAffinity ClientIP
    external_local: bool = False           # externalTrafficPolicy Local: outside traffic only to local endpoints

    @property
    def svc_chain(self) -> str:
        return chain_name("KUBE-SVC-", self.name + self.protocol)

    @property
    def ext_chain(self) -> str:
        return chain_name("KUBE-EXT-", self.name + self.protocol)

    @property
    def svl_chain(self) -> str:
        return chain_name("KUBE-SVL-", self.name + self.protocol)

    def sep_chain(self, ep: Endpoint) -> str:
        return chain_name("KUBE-SEP-", self.name + self.protocol + str(ep))

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)


@dataclass(frozen=True)
class Ruleset:
    text: str                              # iptables-restore input: *filter ... COMMIT *nat ... COMMIT
    chains: Mapping[str, frozenset[str]]   # table -> chains the text declares and keeps
    rule_counts: Mapping[str, int]         # table -> "-A" rules written


@functools.lru_cache(maxsize=1 << 16)
def chain_name(prefix: str, key: str) -> str:
    """Upstream's servicePortChainName & co: prefix + first 16 chars of base32(sha256(key)), ≤ 28 chars."""
    return prefix + base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()[:16]


def _quote(comment: str) -> str:
    return f'"{comment}"' if " " in comment else comment


def _ipv4(value: Any) -> str | None:
    """The canonical dotted quad, or None for anything else (IPv6, "None", garbage)."""
    return _parse_ipv4(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=1 << 17)  # the same IPs come back every sync; parsing them dominated a 10k-endpoint sync
def _parse_ipv4(value: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return None


def _valid_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


# -- Services and Endpoints -> ServicePorts and their ready endpoints ---------------------------------------

def service_ports(service: Obj) -> list[ServicePort]:
    """The proxied ports of a Service; [] for headless, ExternalName, IPv6-only or malformed ones."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    cluster_ip = _ipv4(spec.get("clusterIP"))
    if spec.get("type") == "ExternalName" or cluster_ip is None:
        return []  # headless ("None"), unallocated or not IPv4: nothing to proxy
    base = f"{meta.get('namespace')}/{meta.get('name')}"
    externals = sorted({ip for ip in map(_ipv4, spec.get("externalIPs") or []) if ip})
    lb_ips = sorted({ip for ing in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                     if isinstance(ing, dict) and ing.get("ipMode") != "Proxy" and (ip := _ipv4(ing.get("ip")))})
    affinity = _affinity_timeout(spec)
    local = spec.get("externalTrafficPolicy") == "Local"
    ports = []
    for p in spec.get("ports") or []:
        protocol = PROTOCOLS.get((p or {}).get("protocol") or "TCP")
        if protocol is None or not _valid_port(p.get("port")):
            continue
        name = f"{base}:{p['name']}" if p.get("name") else base
        node_port = p.get("nodePort") if _valid_port(p.get("nodePort")) else 0
        ports.append(ServicePort(name, protocol, cluster_ip, p["port"], node_port, externals, lb_ips, affinity,
                                 local))
    return ports


def _affinity_timeout(spec: Obj) -> int | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP")) or {}).get("timeoutSeconds")
    return timeout if isinstance(timeout, int) and timeout > 0 else DEFAULT_AFFINITY_TIMEOUT_S


def ready_endpoints(endpoints: Obj | None, node_name: str = "") -> dict[str, list[Endpoint]]:
    """Port name -> ready endpoints (subsets[].addresses only, never notReadyAddresses), sorted, deduplicated."""
    by_port: dict[str, set[Endpoint]] = {}
    for subset in (endpoints or {}).get("subsets") or []:
        ips = [(ip, bool(node_name) and a.get("nodeName") == node_name)
               for a in subset.get("addresses") or [] if (ip := _ipv4((a or {}).get("ip")))]
        for port in subset.get("ports") or []:
            if not _valid_port((port or {}).get("port")):
                continue
            by_port.setdefault(port.get("name") or "", set()).update(Endpoint(ip, port["port"], local)
                                                                     for ip, local in ips)
    return {name: sorted(eps, key=_endpoint_order) for name, eps in by_port.items()}


def _endpoint_order(ep: Endpoint) -> tuple[bytes, int]:
    return socket.inet_aton(ep.ip), ep.port  # numeric order; ep.ip is already a valid dotted quad


def port_name_of(sp: ServicePort) -> str:
    """The Endpoints port name a ServicePort matches (ports are matched by name, as upstream)."""
    _, _, name = sp.name.partition(":")
    return name


# -- the ruleset -----------------------------------------------------------------------------------------

class _Tables:
    """Line buffers for one sync: chain declarations and rules per table, as upstream's natChains/natRules."""

    def __init__(self, static: bool = True) -> None:
        self.chains: dict[str, list[str]] = {"filter": list(FILTER_CHAINS) if static else [],
                                             "nat": list(NAT_CHAINS) if static else []}
        self.kept: dict[str, set[str]] = {"filter": set(), "nat": set()}  # in use, but not rewritten this time
        self.rules: dict[str, list[str]] = {"filter": [], "nat": []}

    def declare(self, table: str, chain: str) -> None:
        self.chains[table].append(chain)

    def keep(self, table: str, chain: str) -> None:
        self.kept[table].add(chain)

    def add(self, table: str, line: str) -> None:
        self.rules[table].append(line)

    def merge(self, part: "_Tables") -> None:
        for table in ("filter", "nat"):
            self.chains[table] += part.chains[table]
            self.kept[table] |= part.kept[table]
            self.rules[table] += part.rules[table]


class RuleCache:
    """Each Service's rules from earlier syncs, reused while neither it nor its Endpoints changed.

    Keyed by the objects' resourceVersions (objects without one are never
    cached), so a resync of an unchanged cluster costs string joins, not
    rule generation.  Full and partial syncs want different rules for an
    unchanged service, so both variants are kept; services gone from the
    last build are dropped.
    """

    def __init__(self) -> None:
        self._parts: dict[tuple[str, bool], tuple[tuple[Any, ...], _Tables]] = {}
        self._seen: set[str] = set()

    def get(self, key: str, rewrite: bool, version: tuple[Any, ...] | None) -> _Tables | None:
        self._seen.add(key)
        hit = self._parts.get((key, rewrite))
        return hit[1] if version is not None and hit is not None and hit[0] == version else None

    def put(self, key: str, rewrite: bool, version: tuple[Any, ...] | None, part: _Tables) -> None:
        if version is not None:
            self._parts[(key, rewrite)] = (version, part)

    def finish(self) -> None:
        self._parts = {k: v for k, v in self._parts.items() if k[0] in self._seen}
        self._seen = set()


def build_ruleset(services: Iterable[Obj], endpoints: Mapping[str, Obj], config: ProxyConfig, *,
                  existing_chains: Mapping[str, Collection[str]] | None = None,
                  missing_jumps: Iterable[Jump] = (), changed: Collection[str] | None = None,
                  cache: RuleCache | None = None) -> Ruleset:
    """The whole desired ruleset.

    `endpoints` maps "namespace/name" to the Endpoints object of that Service.
    `existing_chains` (table -> chain names) are chains known to be in the
    kernel: per-service ones no longer wanted are deleted here.
    `missing_jumps` are inserted at the top of their built-in chains (pass
    only those not there yet: `missing_jumps()` on iptables-save output).
    `changed` ("namespace/name" keys) makes a partial sync, as upstream's
    MinimizeIPTablesRestore: the shared chains are rewritten whole, but the
    KUBE-SVC/EXT/SEP chains of services not in it are left as they are in
    the kernel (restoring them unchanged costs the most).  None: rewrite all.
    `cache` reuses the rules of services unchanged since an earlier build.
    """
    out = _Tables()
    _write_static_rules(out, config)
    by_key = {f"{(s.get('metadata') or {}).get('namespace')}/{(s.get('metadata') or {}).get('name')}": s
              for s in services}
    for key in sorted(by_key):
        rewrite = changed is None or key in changed
        out.merge(_service_rules(key, by_key[key], endpoints.get(key), config, rewrite, cache))
    if cache is not None:
        cache.finish()
    # Must stay the last rule of nat KUBE-SERVICES: anything addressed to this host may be a NodePort.
    out.add("nat", f"-A {KUBE_SERVICES} -m comment --comment \"kubernetes service nodeports; NOTE: this must be "
                   f"the last rule in this chain\" -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}")
    return _render(out, existing_chains or {}, missing_jumps)


def _service_rules(key: str, service: Obj, endpoints: Obj | None, config: ProxyConfig, rewrite: bool,
                   cache: RuleCache | None) -> _Tables:
    version = _version(service, endpoints, config)
    part = cache.get(key, rewrite, version) if cache is not None else None
    if part is None:
        part = _Tables(static=False)
        ports = sorted(service_ports(service), key=lambda sp: (sp.name, sp.protocol))
        ready = ready_endpoints(endpoints, config.node_name) if ports else {}
        for sp in ports:
            _write_service_port(part, sp, ready.get(port_name_of(sp), []), config, rewrite)
        if cache is not None:
            cache.put(key, rewrite, version, part)
    return part


def _version(service: Obj, endpoints: Obj | None, config: ProxyConfig) -> tuple[Any, ...] | None:
    svc_rv = (service.get("metadata") or {}).get("resourceVersion")
    eps_rv = ((endpoints or {}).get("metadata") or {}).get("resourceVersion") if endpoints else ""
    if not svc_rv or eps_rv is None:
        return None
    return svc_rv, eps_rv, config


def _write_static_rules(out: _Tables, config: ProxyConfig) -> None:
    mark = config.mark
    out.add("filter", f"-A {KUBE_FIREWALL} -m comment --comment \"block incoming localnet connections\" "
                      "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
    out.add("filter", f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP")
    out.add("filter", f"-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" "
                      f"-m mark --mark {mark}/{mark} -j ACCEPT")
    out.add("filter", f"-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" "
                      "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    out.add("nat", f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN")
    # Clear the mark so a packet re-traversing (e.g. IPsec) isn't masqueraded twice.
    out.add("nat", f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}")
    out.add("nat", f"-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" "
                   "-j MASQUERADE")
    out.add("nat", f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}")


def _write_service_port(out: _Tables, sp: ServicePort, eps: list[Endpoint], config: ProxyConfig,
                        rewrite: bool = True) -> None:
    name, proto = sp.name, sp.protocol
    match = f"-m {proto} -p {proto}"
    cluster_args = f"-m comment --comment \"{name} cluster IP\" {match} -d {sp.cluster_ip} --dport {sp.port}"
    if not eps:
        _write_rejects(out, sp, match)
        return
    svc_chain = sp.svc_chain
    ext_chain = sp.ext_chain if sp.externally_accessible else None
    out.add("nat", f"-A {KUBE_SERVICES} {cluster_args} -j {svc_chain}")
    for ip in sp.external_ips:
        out.add("nat", f"-A {KUBE_SERVICES} -m comment --comment \"{name} external IP\" {match} -d {ip} "
                       f"--dport {sp.port} -j {ext_chain}")
    for ip in sp.load_balancer_ips:
        out.add("nat", f"-A {KUBE_SERVICES} -m comment --comment \"{name} loadbalancer IP\" {match} -d {ip} "
                       f"--dport {sp.port} -j {ext_chain}")
    if sp.node_port:
        out.add("nat", f"-A {KUBE_NODEPORTS} -m comment --comment {_quote(name)} {match} --dport {sp.node_port} "
                       f"-j {ext_chain}")
    seps = [(ep, sp.sep_chain(ep)) for ep in eps]
    local_seps = [(ep, sep) for ep, sep in seps if ep.local] if ext_chain and sp.external_local else []
    if ext_chain and sp.external_local and not local_seps:
        _write_local_drops(out, sp, match)
    if not rewrite:  # partial sync, service unchanged: its chains stay as the kernel has them
        for chain in [svc_chain, *([ext_chain] if ext_chain else []), *([sp.svl_chain] if local_seps else []),
                      *(sep for _, sep in seps)]:
            out.keep("nat", chain)
        return
    # Masquerade ClusterIP traffic from outside the cluster, so replies come back through this node.
    if config.masquerade_all:
        out.add("nat", f"-A {svc_chain} {cluster_args} -j {KUBE_MARK_MASQ}")
    elif config.cluster_cidr:
        out.add("nat", f"-A {svc_chain} {cluster_args} ! -s {config.cluster_cidr} -j {KUBE_MARK_MASQ}")
    if ext_chain and sp.external_local:
        _write_local_ext_chain(out, sp, local_seps, config)
    elif ext_chain:
        out.declare("nat", ext_chain)
        out.add("nat", f"-A {ext_chain} -m comment --comment \"masquerade traffic for {name} external destinations\" "
                       f"-j {KUBE_MARK_MASQ}")
        out.add("nat", f"-A {ext_chain} -j {svc_chain}")
    out.declare("nat", svc_chain)
    _write_service_to_endpoints(out, sp, svc_chain, seps)
    _write_endpoint_chains(out, sp, seps)


def _write_local_ext_chain(out: _Tables, sp: ServicePort, local_seps: list[tuple[Endpoint, str]],
                           config: ProxyConfig) -> None:
    """externalTrafficPolicy Local: outside clients keep their source IP (no SNAT) and reach local pods only;
    pods and the node itself still go through the whole service, as upstream."""
    ext, name = sp.ext_chain, sp.name
    out.declare("nat", ext)
    if config.cluster_cidr:
        out.add("nat", f"-A {ext} -m comment --comment \"pod traffic for {name} external destinations\" "
                       f"-s {config.cluster_cidr} -j {sp.svc_chain}")
    out.add("nat", f"-A {ext} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" "
                   f"-m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}")
    out.add("nat", f"-A {ext} -m comment --comment \"route LOCAL traffic for {name} external destinations\" "
                   f"-m addrtype --src-type LOCAL -j {sp.svc_chain}")
    if local_seps:
        out.add("nat", f"-A {ext} -j {sp.svl_chain}")
        out.declare("nat", sp.svl_chain)
        _write_service_to_endpoints(out, sp, sp.svl_chain, local_seps)


def _write_local_drops(out: _Tables, sp: ServicePort, match: str) -> None:
    """Local policy without a local endpoint: outside traffic is dropped here (the load balancer's health check
    steers it to other nodes)."""
    comment = f"-m comment --comment \"{sp.name} has no local endpoints\""
    for ip in [*sp.external_ips, *sp.load_balancer_ips]:
        out.add("filter", f"-A {KUBE_EXTERNAL_SERVICES} {comment} {match} -d {ip} --dport {sp.port} -j DROP")
    if sp.node_port:
        out.add("filter", f"-A {KUBE_EXTERNAL_SERVICES} {comment} -m addrtype --dst-type LOCAL {match} "
                          f"--dport {sp.node_port} -j DROP")


def _write_rejects(out: _Tables, sp: ServicePort, match: str) -> None:
    """No ready endpoint: refuse at once (ICMP port unreachable) rather than let clients hang."""
    comment = f"-m comment --comment \"{sp.name} has no endpoints\""
    out.add("filter", f"-A {KUBE_SERVICES} {comment} {match} -d {sp.cluster_ip} --dport {sp.port} -j REJECT")
    for ip in [*sp.external_ips, *sp.load_balancer_ips]:
        out.add("filter", f"-A {KUBE_EXTERNAL_SERVICES} {comment} {match} -d {ip} --dport {sp.port} -j REJECT")
    if sp.node_port:
        out.add("filter", f"-A {KUBE_EXTERNAL_SERVICES} {comment} -m addrtype --dst-type LOCAL {match} "
                          f"--dport {sp.node_port} -j REJECT")


def _write_service_to_endpoints(out: _Tables, sp: ServicePort, svc_chain: str,
                                seps: list[tuple[Endpoint, str]]) -> None:
    """Affinity checks first, then a random pick: rule i matches with probability 1/(n-i), the last always."""
    if sp.affinity_timeout_s is not None:
        for ep, sep in seps:
            out.add("nat", f"-A {svc_chain} -m comment --comment \"{sp.name} -> {ep}\" -m recent --name {sep} "
                           f"--rcheck --seconds {sp.affinity_timeout_s} --reap -j {sep}")
    n = len(seps)
    for i, (ep, sep) in enumerate(seps):
        pick = f" -m statistic --mode random --probability {_probability(n - i)}" if i < n - 1 else ""
        out.add("nat", f"-A {svc_chain} -m comment --comment \"{sp.name} -> {ep}\"{pick} -j {sep}")


@functools.lru_cache(maxsize=1024)
def _probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


def _write_endpoint_chains(out: _Tables, sp: ServicePort, seps: list[tuple[Endpoint, str]]) -> None:
    comment = f"-m comment --comment {_quote(sp.name)}"
    for ep, sep in seps:
        out.declare("nat", sep)
        # Hairpin: a pod reaching itself through its Service must be SNATed or it would answer itself directly.
        out.add("nat", f"-A {sep} {comment} -s {ep.ip} -j {KUBE_MARK_MASQ}")
        recent = f" -m recent --name {sep} --set" if sp.affinity_timeout_s is not None else ""
        out.add("nat", f"-A {sep} {comment}{recent} -m {sp.protocol} -p {sp.protocol} -j DNAT --to-destination {ep}")


def _render(out: _Tables, existing: Mapping[str, Collection[str]], jumps: Iterable[Jump]) -> Ruleset:
    jumps = list(jumps)
    lines: list[str] = []
    chains: dict[str, frozenset[str]] = {}
    counts: dict[str, int] = {}
    for table in ("filter", "nat"):
        wanted = out.chains[table]
        chains[table] = frozenset(wanted) | out.kept[table]
        stale = sorted(c for c in existing.get(table, ()) if c.startswith(SERVICE_CHAIN_PREFIXES)
                       and c not in chains[table])
        lines.append(f"*{table}")
        lines.extend(f":{c} - [0:0]" for c in [*wanted, *stale])
        lines.extend(f"-I {j.src_chain} 1 {j.spec()}" for j in jumps if j.table == table)
        lines.extend(out.rules[table])
        lines.extend(f"-X {c}" for c in stale)
        lines.append("COMMIT")
        counts[table] = len(out.rules[table])
    return Ruleset("\n".join(lines) + "\n", chains, counts)


# -- reading iptables-save output --------------------------------------------------------------------------

def saved_chains(saved: str) -> set[str]:
    """Chain names declared in one table's iptables-save output."""
    return {line[1:].split(" ", 1)[0] for line in saved.splitlines() if line.startswith(":")}


def missing_jumps(saved: Mapping[str, str]) -> list[Jump]:
    """The JUMPS not present in iptables-save output (table -> text), so each is inserted only once."""
    present = {table: set(text.splitlines()) for table, text in saved.items()}
    return [j for j in JUMPS if f"-A {j.src_chain} {j.spec()}" not in present.get(j.table, set())]


def is_owned_chain(chain: str) -> bool:
    return chain in NAT_CHAINS or chain in FILTER_CHAINS or chain.startswith(SERVICE_CHAIN_PREFIXES)


def cleanup_rules(saved: Mapping[str, str]) -> str:
    """iptables-restore text deleting every chain this proxier owns and every rule jumping into one.

    Rules in chains we do not own (built-ins, mostly) that jump to ours are
    deleted with `-D`; our chains are then flushed (declared) and removed.
    """
    lines: list[str] = []
    for table, text in saved.items():
        owned = sorted(c for c in saved_chains(text) if is_owned_chain(c))
        if not owned:
            continue
        owned_set = set(owned)
        lines.append(f"*{table}")
        lines.extend(f":{c} - [0:0]" for c in owned)
        for line in text.splitlines():
            parts = line.split(" ")
            if line.startswith("-A ") and parts[1] not in owned_set and _jump_target(parts) in owned_set:
                lines.append("-D" + line[2:])
        lines.extend(f"-X {c}" for c in owned)
        lines.append("COMMIT")
    return "\n".join(lines) + "\n" if lines else ""


def _jump_target(parts: list[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in parts:
            i = parts.index(flag)
            return parts[i + 1] if i + 1 < len(parts) else None
    return None
