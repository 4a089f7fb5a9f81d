"""Pod DNS: the resolv.conf a pod gets, composed as upstream's kubelet does (pkg/kubelet/network/dns/dns.go).

- ClusterFirst (the default): the cluster DNS servers (--cluster-dns) only,
  searches `<ns>.svc.<domain> svc.<domain> <domain>` then the host's, and
  `options ndots:5`.  Without --cluster-dns it falls back to Default (with a
  MissingClusterDNS warning), and a hostNetwork pod gets Default too.
- ClusterFirstWithHostNet: ClusterFirst, hostNetwork or not.
- Default: the host's resolv.conf (--resolv-conf); with `--resolv-conf ""`,
  the node's own resolver (127.0.0.1) and no search path.
- None: nothing but the pod's dnsConfig.
- dnsConfig is merged last: nameservers and searches appended without
  duplicates, options overriding by name.  Then the limits: 3 nameservers,
  32 search paths of at most 253 characters and 2048 characters in all
  (extra ones dropped with a DNSConfigForming warning).

Everything here is pure but `Configurer`, the kubelet's hook, which reads the
host file per pod (as upstream does) and records the warnings as events.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Obj = dict[str, Any]

MAX_NAMESERVERS = 3  # validation.MaxDNSNameservers
MAX_SEARCH_PATHS = 32  # validation.MaxDNSSearchPathsExpanded
MAX_SEARCH_CHARS = 2048  # validation.MaxDNSSearchListCharsExpanded
MAX_SEARCH_PATH_LENGTH = 253  # DNS1123SubdomainMaxLength: longer paths make some resolvers (glibc 2.28) abort
DEFAULT_OPTIONS = ("ndots:5",)
HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLVED_CONF = "/run/systemd/resolve/resolv.conf"


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> ResolvConf:
    """Upstream's parseResolvConf: nameservers accumulate, the last `search` and `options` lines win."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.strip().split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            nameservers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:]]  # `a.` and `a` count once
        elif fields[0] == "options":
            options = fields[1:]
    return ResolvConf(tuple(nameservers), tuple(searches), tuple(options))


@dataclass(frozen=True)
class DNSSettings:
    """The kubelet's flags: --cluster-dns, --cluster-domain, and the parsed --resolv-conf (None: the flag is "")."""
    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    host: ResolvConf | None = ResolvConf()


@dataclass
class PodDNS:
    nameservers: list[str]
    searches: list[str]
    options: list[str]
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (event reason, message), as upstream records

    def runtime_config(self) -> Obj:
        """What DockerRuntime.run_sandbox takes.  Docker fills an empty search line from the host's, so "no
        search path" is spelled ".", Docker's own word for it."""
        searches = self.searches or (["."] if self.nameservers else [])
        return {"nameservers": list(self.nameservers), "searches": searches, "options": list(self.options)}


def dns_type(pod: Obj) -> str:
    """"cluster", "host" or "none", as upstream's getPodDNSType (an unknown policy counts as ClusterFirst)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet":
        return "cluster"
    if policy == "ClusterFirst":
        return "host" if spec.get("hostNetwork") else "cluster"
    if policy == "Default":
        return "host"
    return "cluster"


def cluster_searches(namespace: str, domain: str, host_searches: tuple[str, ...]) -> list[str]:
    if not domain:
        return list(host_searches)
    return _unique([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches])


def compose(pod: Obj, settings: DNSSettings) -> PodDNS:
    """The pod's nameservers, search paths and options (upstream's GetPodDNS)."""
    host = settings.host or ResolvConf()
    result = PodDNS(list(host.nameservers), list(host.searches), list(host.options))
    kind = dns_type(pod)
    if kind == "none":
        result = PodDNS([], [], [])
    elif kind == "cluster" and settings.cluster_dns:
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        result = PodDNS(list(settings.cluster_dns), cluster_searches(namespace, settings.cluster_domain,
                                                                      host.searches), list(DEFAULT_OPTIONS))
    else:
        if kind == "cluster":
            result.warnings.append(("MissingClusterDNS", _missing_cluster_dns(pod)))
        if settings.host is None:  # --resolv-conf "": the node's own resolver, no search path
            result.nameservers, result.searches = ["127.0.0.1"], ["."]
    config = (pod.get("spec") or {}).get("dnsConfig")
    if config:
        _append_dns_config(result, config)
    _fit_limits(result)
    return result


def _missing_cluster_dns(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return (f'pod: "{meta.get("name")}_{meta.get("namespace")}({meta.get("uid", "")})". kubelet does not have '
            'ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. '
            'Falling back to "Default" policy.')


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _append_dns_config(result: PodDNS, config: Obj) -> None:
    result.nameservers = _unique([*result.nameservers, *(config.get("nameservers") or [])])
    result.searches = _unique([*result.searches, *(config.get("searches") or [])])
    result.options = merge_options(result.options, config.get("options") or [])


def merge_options(existing: list[str], overrides: list[Obj]) -> list[str]:
    """Upstream's mergeDNSOptions: one entry per name, dnsConfig's value winning (kept in first-seen order)."""
    merged: dict[str, str] = {}
    for option in existing:
        name, _, value = option.partition(":")
        merged[name] = value
    for option in overrides:
        value = option.get("value")
        merged[str(option.get("name", ""))] = "" if value is None else str(value)
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def _fit_limits(result: PodDNS) -> None:
    if len(result.nameservers) > MAX_NAMESERVERS:
        result.nameservers = result.nameservers[:MAX_NAMESERVERS]
        result.warnings.append(("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been "
                                f"omitted, the applied nameserver line is: {' '.join(result.nameservers)}"))
    searches, cut = fit_search_limits(result.searches)
    if cut:
        result.searches = searches
        result.warnings.append(("DNSConfigForming", "Search Line limits were exceeded, some search paths have "
                                f"been omitted, the applied search line is: {' '.join(searches)}"))


def fit_search_limits(searches: list[str]) -> tuple[list[str], bool]:
    """(the search paths that fit, whether any were dropped): the first 32, none over 253 characters, and the
    last ones dropped until the line is at most 2048 characters."""
    kept = [s for s in searches[:MAX_SEARCH_PATHS] if len(s) <= MAX_SEARCH_PATH_LENGTH]
    while kept and len(" ".join(kept)) > MAX_SEARCH_CHARS:
        kept.pop()
    return kept, len(kept) != len(searches)


def default_resolv_conf(etc: str = HOST_RESOLV_CONF, resolved: str = SYSTEMD_RESOLVED_CONF) -> str:
    """/etc/resolv.conf, unless it only names a local stub resolver (systemd-resolved's 127.0.0.53) that a pod's
    network namespace cannot reach: then resolved's upstream list, as kubeadm configures the kubelet."""
    try:
        nameservers = parse_resolv_conf(Path(etc).read_text()).nameservers
    except OSError:
        return etc
    if nameservers and all(_is_loopback(ns) for ns in nameservers) and Path(resolved).exists():
        return resolved
    return etc


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def parse_cluster_dns(text: str) -> tuple[str, ...]:
    """--cluster-dns: a comma list of IPs; ValueError names a bad one."""
    ips = tuple(part.strip() for part in text.split(",") if part.strip())
    for ip in ips:
        ipaddress.ip_address(ip)
    return ips


# -- the kubelet's hook (reads the host file, records events) ----------------------------------------------------

EventSink = Callable[[Obj, str, str, str], Awaitable[None]]  # (pod, type, reason, message)


class Configurer:
    """PodSyncer's `dns_config(pod)`: composes per sandbox start, re-reading --resolv-conf as upstream does."""

    def __init__(self, cluster_dns: tuple[str, ...], cluster_domain: str, resolv_conf: str,
                 record: EventSink | None = None) -> None:
        self.cluster_dns, self.cluster_domain, self.resolv_conf = cluster_dns, cluster_domain, resolv_conf
        self.record = record
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, pod: Obj) -> Obj:
        result = compose(pod, DNSSettings(self.cluster_dns, self.cluster_domain, self._host()))
        for reason, message in result.warnings:
            log.warning("pod %s/%s: %s", (pod.get("metadata") or {}).get("namespace"),
                        (pod.get("metadata") or {}).get("name"), message)
            self._record(pod, reason, message)
        return result.runtime_config()

    def _host(self) -> ResolvConf | None:
        if not self.resolv_conf:
            return None
        try:
            return parse_resolv_conf(Path(self.resolv_conf).read_text())
        except OSError as err:
            log.warning("cannot read --resolv-conf %s: %s; pods get no host DNS settings", self.resolv_conf, err)
            return ResolvConf()

    def _record(self, pod: Obj, reason: str, message: str) -> None:
        if self.record is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(self.record(pod, "Warning", reason, message))
        except RuntimeError:
            return  # no loop (a unit test calling the hook directly): the log line is enough
        self._tasks.add(task)  # a reference until done: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)
