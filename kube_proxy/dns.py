"""The cluster DNS server (CoreDNS's role): Service and pod names from the API, everything else forwarded upstream.

Mirrors CoreDNS's `kubernetes` plugin with `pods insecure` and `fallthrough
in-addr.arpa ip6.arpa`, then `forward . /etc/resolv.conf` (the default
Corefile), following the Kubernetes DNS specification
(kubernetes/dns docs/specification.md):

- `<svc>.<ns>.svc.<zone>`: the ClusterIP(s); a headless Service's ready
  endpoint IPs (`addresses`, never `notReadyAddresses`); an ExternalName
  Service's CNAME, completed with the target's records.
- `<hostname>.<svc>.<ns>.svc.<zone>`: the endpoint with that hostname (or
  dashed IP); `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV for named ports.
- `a-b-c-d.<ns>.pod.<zone>`: that IP, unchecked (`pods insecure`).
- PTR for ClusterIPs and endpoint IPs; other reverse names go upstream.
- A name under the zone that does not exist is NXDOMAIN, an existing name
  without records of the asked type is NOERROR/empty; both carry the zone's
  SOA in the authority section.

The answer logic is pure (`answer()` over a `Lookup`); the informers, the
sockets, forwarding and the kube-dns Service registration are around it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from prometheus_client import Counter

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.daemon import (add_client_flags, add_logging_flags, env_default, health_server, parse_duration, run_main,
                           setup_logging)
from common.informer import Informer

log = logging.getLogger("cluster-dns")

Obj = dict[str, Any]

SCHEMA_VERSION = "1.1.0"  # what CoreDNS answers for dns-version.<zone> TXT
DEFAULT_SERVICE_IP = "10.96.0.10"  # kubeadm's choice: the 10th address of the default service CIDR
DNS_SERVICE = ("kube-system", "kube-dns")
DEFAULT_HEALTH_PORT = 10054  # kube-dns's health port; CoreDNS's health plugin uses 8080, taken by the apiserver here
MAX_CNAME_CHAIN = 8  # CoreDNS stops following in-zone CNAMEs after 8
IP_INDEX = "ip"

REQUESTS = Counter("coredns_dns_requests_total", "DNS requests received", ["proto"])
RESPONSES = Counter("coredns_dns_responses_total", "DNS responses sent, by rcode", ["rcode"])
FORWARDS = Counter("coredns_forward_requests_total", "Queries forwarded upstream", ["to"])
FORWARD_FAILURES = Counter("coredns_forward_failures_total", "Forwarded queries every upstream failed", [])


# -- what the API says ------------------------------------------------------------------------------------------

class Lookup(Protocol):
    """The cluster state the answers are computed from (an informer cache, or plain dicts in tests)."""

    def service(self, namespace: str, name: str) -> Obj | None: ...

    def endpoints(self, namespace: str, name: str) -> Obj | None: ...

    def namespace_exists(self, namespace: str) -> bool: ...

    def services_with_ip(self, ip: str) -> list[Obj]: ...

    def endpoints_with_ip(self, ip: str) -> list[Obj]: ...

    def serial(self) -> int: ...


def cluster_ips(service: Obj) -> list[str]:
    """The Service's cluster IPs (dual-stack aware); none for headless and ExternalName Services."""
    spec = service.get("spec") or {}
    ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    return [ip for ip in ips if ip and ip != "None"]


def is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def is_external_name(service: Obj) -> bool:
    return (service.get("spec") or {}).get("type") == "ExternalName"


def ready_addresses(endpoints: Obj | None) -> Iterable[tuple[Obj, Obj]]:
    """(subset, address) for every ready address; notReadyAddresses never resolve."""
    for subset in (endpoints or {}).get("subsets") or []:
        for address in subset.get("addresses") or []:
            yield subset, address


def endpoint_hostname(address: Obj) -> str:
    """CoreDNS's endpointHostname: the address's hostname, else its IP with dashes."""
    if address.get("hostname"):
        return str(address["hostname"])
    return str(address.get("ip", "")).replace(".", "-").replace(":", "-")


def service_ips_index(service: Obj) -> list[str]:
    return cluster_ips(service)


def endpoint_ips_index(endpoints: Obj) -> list[str]:
    return sorted({str(address["ip"]) for _, address in ready_addresses(endpoints) if address.get("ip")})


def _meta(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class DictLookup:
    """A Lookup over plain lists of Service, Endpoints and Namespace names (unit tests, snapshots)."""

    def __init__(self, services: Iterable[Obj] = (), endpoints: Iterable[Obj] = (),
                 namespaces: Iterable[str] | None = None, serial: int = 1) -> None:
        self._services = {_meta(s): s for s in services}
        self._endpoints = {_meta(e): e for e in endpoints}
        known = {ns for ns, _ in [*self._services, *self._endpoints]}
        self._namespaces = set(namespaces) if namespaces is not None else known
        self._serial = serial

    def service(self, namespace: str, name: str) -> Obj | None:
        return self._services.get((namespace, name))

    def endpoints(self, namespace: str, name: str) -> Obj | None:
        return self._endpoints.get((namespace, name))

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self._namespaces

    def services_with_ip(self, ip: str) -> list[Obj]:
        return [s for s in self._services.values() if ip in cluster_ips(s)]

    def endpoints_with_ip(self, ip: str) -> list[Obj]:
        return [e for e in self._endpoints.values() if ip in endpoint_ips_index(e)]

    def serial(self) -> int:
        return self._serial


class InformerLookup:
    """A Lookup over informer caches of Services, Endpoints and Namespaces, kept current by watches."""

    def __init__(self, client: ApiClient) -> None:
        self.service_informer = Informer(client, kinds.SERVICES, indexers={IP_INDEX: service_ips_index})
        self.endpoint_informer = Informer(client, kinds.ENDPOINTS, indexers={IP_INDEX: endpoint_ips_index})
        self.namespace_informer = Informer(client, kinds.NAMESPACES)
        self._serial = int(time.time())
        for informer in self.informers:
            informer.add_handler(on_add=self._touch, on_update=lambda _old, _new: self._touch(),
                                 on_delete=self._touch)

    @property
    def informers(self) -> list[Informer]:
        return [self.service_informer, self.endpoint_informer, self.namespace_informer]

    @property
    def synced(self) -> bool:
        return all(informer.has_synced for informer in self.informers)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for informer in self.informers:
                tg.create_task(informer.run())

    def _touch(self, *_objs: Obj) -> None:
        self._serial = int(time.time())  # CoreDNS's SOA serial: when the cluster's records last changed

    def service(self, namespace: str, name: str) -> Obj | None:
        return self.service_informer.get(f"{namespace}/{name}")

    def endpoints(self, namespace: str, name: str) -> Obj | None:
        return self.endpoint_informer.get(f"{namespace}/{name}")

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self.namespace_informer

    def services_with_ip(self, ip: str) -> list[Obj]:
        return self.service_informer.by_index(IP_INDEX, ip)

    def endpoints_with_ip(self, ip: str) -> list[Obj]:
        return self.endpoint_informer.by_index(IP_INDEX, ip)

    def serial(self) -> int:
        return self._serial


# -- the answer logic (pure) ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZoneConfig:
    zone: dns.name.Name = dns.name.from_text("cluster.local")
    ttl: int = 5


@dataclass(frozen=True)
class Record:
    """What a name stands for (CoreDNS's msg.Service): an IP or an external name, and for SRV a port and target."""
    host: str
    target: dns.name.Name
    port: int | None = None


@dataclass
class Answer:
    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    chase: dns.name.Name | None = None  # an ExternalName target outside the zone: its records come from upstream
    forward: bool = False  # not the cluster's name: ask the upstream resolvers


def answer(qname: dns.name.Name, rdtype: int, lookup: Lookup, config: ZoneConfig) -> Answer:
    """The reply to one question, as CoreDNS's kubernetes plugin gives it."""
    if qname.is_subdomain(config.zone):
        return _answer_in_zone(qname, rdtype, lookup, config)
    if rdtype == dns.rdatatype.PTR and _is_reverse(qname):
        names = reverse_names(qname, lookup, config.zone)
        if names:
            return Answer(answer=[dns.rrset.from_text_list(qname, config.ttl, "IN", "PTR",
                                                           [n.to_text() for n in names])])
    return Answer(forward=True)


def _is_reverse(qname: dns.name.Name) -> bool:
    return qname.is_subdomain(dns.reversename.ipv4_reverse_domain) or \
        qname.is_subdomain(dns.reversename.ipv6_reverse_domain)


def reverse_names(qname: dns.name.Name, lookup: Lookup, zone: dns.name.Name) -> list[dns.name.Name]:
    """PTR targets for an IP: the Service owning it as ClusterIP, else every endpoint with it (CoreDNS's order)."""
    try:
        ip = dns.reversename.to_address(qname)
    except (dns.exception.SyntaxError, ValueError):
        return []
    for service in lookup.services_with_ip(ip):
        namespace, name = _meta(service)
        return [dns.name.Name((name, namespace, "svc")).concatenate(zone)]
    names = []
    for endpoints in lookup.endpoints_with_ip(ip):
        namespace, name = _meta(endpoints)
        for _, address in ready_addresses(endpoints):
            if address.get("ip") == ip:
                names.append(dns.name.Name((endpoint_hostname(address), name, namespace, "svc")).concatenate(zone))
    return names


def _answer_in_zone(qname: dns.name.Name, rdtype: int, lookup: Lookup, config: ZoneConfig) -> Answer:
    labels = _labels(qname, config.zone)
    if not labels:
        return _apex(qname, rdtype, lookup, config)
    if labels == ["dns-version"]:
        if rdtype == dns.rdatatype.TXT:
            return Answer(answer=[dns.rrset.from_text(qname, config.ttl, "IN", "TXT", f'"{SCHEMA_VERSION}"')])
        return _negative(dns.rcode.NOERROR, lookup, config)
    records = records_for(labels, lookup, config.zone)
    if records is None:
        return _negative(dns.rcode.NXDOMAIN, lookup, config)
    return _records_answer(qname, rdtype, records, lookup, config, depth=0)


def _labels(name: dns.name.Name, zone: dns.name.Name) -> list[str]:
    """The labels left of the zone, lowercased (names compare case-insensitively; binary bytes never match)."""
    return [label.decode("ascii", "replace").lower() for label in name.relativize(zone).labels]


def _apex(qname: dns.name.Name, rdtype: int, lookup: Lookup, config: ZoneConfig) -> Answer:
    if rdtype == dns.rdatatype.SOA:
        return Answer(answer=[soa_rrset(lookup, config)])
    if rdtype == dns.rdatatype.NS:
        ns_name = dns.name.Name(("ns", "dns")).concatenate(config.zone)
        return Answer(answer=[dns.rrset.from_text(qname, config.ttl, "IN", "NS", ns_name.to_text())])
    return _negative(dns.rcode.NOERROR, lookup, config)


def soa_rrset(lookup: Lookup, config: ZoneConfig) -> dns.rrset.RRset:
    """CoreDNS's SOA for the zone: ns.dns.<zone> hostmaster.<zone>, serial = last change, minimum = the TTL."""
    zone = config.zone
    text = (f"ns.dns.{zone.to_text()} hostmaster.{zone.to_text()} {lookup.serial() & 0xFFFFFFFF} "
            f"7200 1800 86400 {config.ttl}")
    return dns.rrset.from_text(zone, config.ttl, "IN", "SOA", text)


def _negative(rcode: int, lookup: Lookup, config: ZoneConfig) -> Answer:
    return Answer(rcode=rcode, authority=[soa_rrset(lookup, config)])


def records_for(labels: list[str], lookup: Lookup, zone: dns.name.Name) -> list[Record] | None:
    """What a name under the zone stands for (labels left to right, zone stripped); None: it does not exist.

    An empty list is a name that exists without records (`svc.<zone>`, `<ns>.svc.<zone>`): NODATA.
    """
    kind, rest = labels[-1], labels[:-1]
    if kind not in ("svc", "pod") or len(rest) > 4:
        return None
    if not rest:
        return []
    namespace = rest[-1]
    if not lookup.namespace_exists(namespace):
        return None
    if len(rest) == 1:
        return []
    if kind == "pod":
        return _pod_records(rest[-2], zone)
    return _service_records(rest, lookup, zone)


def _pod_records(pod_label: str, zone: dns.name.Name) -> list[Record] | None:
    """`pods insecure`: the IP written in the name, no check against pods; a name that is no IP does not exist."""
    if pod_label.count("-") == 3 and "--" not in pod_label:
        text = pod_label.replace("-", ".")
    else:
        text = pod_label.replace("-", ":")
    try:
        ip = str(ipaddress.ip_address(text))
    except ValueError:
        return None
    return [Record(ip, zone)]


def _strip_underscore(label: str) -> str:
    return label[1:] if label.startswith("_") else label


def _matches(wanted: str, actual: str) -> bool:
    """CoreDNS's match: `*` and `any` are wild, the rest compares case-insensitively."""
    return wanted in ("*", "any") or wanted.lower() == actual.lower()


def _service_records(rest: list[str], lookup: Lookup, zone: dns.name.Name) -> list[Record] | None:
    namespace, name = rest[-1], rest[-2]
    service = lookup.service(namespace, name)
    if service is None:
        return None
    extra = rest[:-2]  # one label: an endpoint; two: _port._proto
    endpoint = extra[0] if len(extra) == 1 else None
    port, proto = (_strip_underscore(extra[0]), _strip_underscore(extra[1])) if len(extra) == 2 else ("*", "*")
    service_name = dns.name.Name((name, namespace, "svc")).concatenate(zone)
    if is_external_name(service):
        external = (service.get("spec") or {}).get("externalName") or ""
        if endpoint is not None or port != "*" or proto != "*" or _is_ip(external) or not external:
            return None
        return [Record(external.rstrip("."), service_name)]
    if is_headless(service) or endpoint is not None:
        found = _endpoint_records(lookup.endpoints(namespace, name), endpoint, port, proto, service_name)
    else:
        found = _cluster_ip_records(service, port, proto, service_name)
    return found or None  # CoreDNS: no matching items is NXDOMAIN


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _port_matches(port: str, proto: str, candidate: Obj) -> bool:
    return _matches(port, str(candidate.get("name") or "")) and \
        _matches(proto, str(candidate.get("protocol") or "TCP"))


def _endpoint_records(endpoints: Obj | None, endpoint: str | None, port: str, proto: str,
                      service_name: dns.name.Name) -> list[Record]:
    records = []
    for subset, address in ready_addresses(endpoints):
        hostname = endpoint_hostname(address)
        if endpoint is not None and not _matches(endpoint, hostname):
            continue
        target = dns.name.Name((hostname,)).concatenate(service_name)
        ports = subset.get("ports") or [{"name": "", "protocol": "", "port": None}]  # CoreDNS's no-port sentinel
        for candidate in ports:
            if candidate.get("port") is None and (port, proto) == ("*", "*"):
                records.append(Record(str(address["ip"]), target))
            elif candidate.get("port") is not None and _port_matches(port, proto, candidate):
                records.append(Record(str(address["ip"]), target, int(candidate["port"])))
    return records


def _cluster_ip_records(service: Obj, port: str, proto: str, service_name: dns.name.Name) -> list[Record]:
    return [Record(ip, service_name, int(candidate["port"]))
            for candidate in (service.get("spec") or {}).get("ports") or []
            if _port_matches(port, proto, candidate)
            for ip in cluster_ips(service)]


def _records_answer(qname: dns.name.Name, rdtype: int, records: list[Record], lookup: Lookup,
                    config: ZoneConfig, depth: int) -> Answer:
    """Turn what the name stands for into the asked type's records; none of that type is NODATA."""
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME):
        result = _address_answer(qname, rdtype, records, lookup, config, depth)
    elif rdtype == dns.rdatatype.SRV:
        result = _srv_answer(qname, records, config)
    else:
        result = Answer()
    if not result.answer and result.rcode == dns.rcode.NOERROR:
        result.authority = [soa_rrset(lookup, config)]
    return result


def _address_answer(qname: dns.name.Name, rdtype: int, records: list[Record], lookup: Lookup,
                    config: ZoneConfig, depth: int) -> Answer:
    external = [r for r in records if not _is_ip(r.host)]
    if external:  # an ExternalName Service: its CNAME, then the target's records
        return _cname_answer(qname, rdtype, dns.name.from_text(external[0].host), lookup, config, depth)
    if rdtype == dns.rdatatype.CNAME:
        return Answer()
    wanted = 4 if rdtype == dns.rdatatype.A else 6
    ips = list(dict.fromkeys(r.host for r in records if ipaddress.ip_address(r.host).version == wanted))
    if not ips:
        return Answer()
    return Answer(answer=[dns.rrset.from_text_list(qname, config.ttl, "IN", dns.rdatatype.to_text(rdtype), ips)])


def _cname_answer(qname: dns.name.Name, rdtype: int, target: dns.name.Name, lookup: Lookup,
                  config: ZoneConfig, depth: int) -> Answer:
    cname = dns.rrset.from_text(qname, config.ttl, "IN", "CNAME", target.to_text())
    if rdtype == dns.rdatatype.CNAME or target == qname:
        return Answer(answer=[cname])
    if not target.is_subdomain(config.zone):
        return Answer(answer=[cname], chase=target)
    if depth >= MAX_CNAME_CHAIN:
        return Answer(answer=[cname])
    labels = _labels(target, config.zone)
    records = records_for(labels, lookup, config.zone) if labels else None
    if not records:
        return Answer()  # CoreDNS leaves out a CNAME whose in-zone target has nothing
    inner = _records_answer(target, rdtype, records, lookup, config, depth + 1)
    if not inner.answer:
        return Answer()
    inner.answer.insert(0, cname)
    inner.authority = []
    return inner


def _srv_answer(qname: dns.name.Name, records: list[Record], config: ZoneConfig) -> Answer:
    with_ports = [r for r in records if r.port is not None and _is_ip(r.host)]
    if not with_ports:
        return Answer()
    weight = max(1, 100 // len(with_ports))  # CoreDNS spreads 100 over the records of one priority
    srv = dict.fromkeys(f"0 {weight} {r.port} {r.target.to_text()}" for r in with_ports)
    answer_rrset = dns.rrset.from_text_list(qname, config.ttl, "IN", "SRV", list(srv))
    additional: dict[tuple[dns.name.Name, str], dns.rrset.RRset] = {}
    for r in with_ports:
        rdtype = "A" if ipaddress.ip_address(r.host).version == 4 else "AAAA"
        rrset = additional.setdefault((r.target, rdtype), dns.rrset.RRset(r.target, dns.rdataclass.IN,
                                                                          dns.rdatatype.from_text(rdtype)))
        rrset.update_ttl(config.ttl)
        rrset.add(dns.rdata.from_text("IN", rdtype, r.host))
    return Answer(answer=[answer_rrset], additional=list(additional.values()))


# -- forwarding -------------------------------------------------------------------------------------------------

Upstream = tuple[str, int]


def parse_upstream(text: str) -> Upstream:
    """`1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


def resolv_conf_nameservers(text: str) -> list[str]:
    """The `nameserver` lines of a resolv.conf, in order."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            found.append(fields[1])
    return found


class Forwarder:
    """Asks the upstream resolvers in order (CoreDNS forward's `policy sequential`): UDP, then TCP when truncated."""

    def __init__(self, upstreams: list[Upstream], timeout_s: float = 2.0) -> None:
        self.upstreams, self.timeout_s = upstreams, timeout_s

    async def query(self, message: dns.message.Message) -> dns.message.Message | None:
        """The first upstream's answer, or None when none answered in time (the caller says SERVFAIL)."""
        for host, port in self.upstreams:
            FORWARDS.labels(f"{host}:{port}").inc()
            try:
                return await self._ask(message, host, port)
            except (dns.exception.DNSException, OSError, EOFError) as err:
                log.debug("upstream %s:%s failed for %s: %r", host, port, message.question, err)
        FORWARD_FAILURES.inc()
        return None

    async def _ask(self, message: dns.message.Message, host: str, port: int) -> dns.message.Message:
        response = await dns.asyncquery.udp(message, host, timeout=self.timeout_s, port=port,
                                            ignore_unexpected=True)
        if response.flags & dns.flags.TC:
            response = await dns.asyncquery.tcp(message, host, timeout=self.timeout_s, port=port)
        return response

    async def resolve(self, name: dns.name.Name, rdtype: int) -> list[dns.rrset.RRset] | None:
        """The answer section for a name of ours to complete (an ExternalName's target); None on failure."""
        response = await self.query(dns.message.make_query(name, rdtype))
        return None if response is None else list(response.answer)


# -- serving ----------------------------------------------------------------------------------------------------

class DnsServer:
    """Wire in, wire out: parse, answer from the cluster or upstream, encode within the transport's size limit."""

    def __init__(self, lookup: Lookup, config: ZoneConfig, forwarder: Forwarder,
                 ready: Callable[[], bool] = lambda: True) -> None:
        self.lookup, self.config, self.forwarder, self.ready = lookup, config, forwarder, ready

    async def handle(self, wire: bytes, proto: str) -> bytes | None:
        REQUESTS.labels(proto).inc()
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            return None  # not even an id to answer to
        except dns.exception.DNSException:
            return self._encode(_format_error(wire), None, proto)
        try:
            response = await self.respond(query)
        except Exception:  # noqa: BLE001 - a bug answering one query must not take the server down
            log.exception("answering %s failed", query.question)
            response = _reply(query, dns.rcode.SERVFAIL)
        RESPONSES.labels(dns.rcode.to_text(response.rcode())).inc()
        return self._encode(response, query, proto)

    async def respond(self, query: dns.message.Message) -> dns.message.Message:
        if query.opcode() != dns.opcode.QUERY:
            return _reply(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return _reply(query, dns.rcode.FORMERR)
        question = query.question[0]
        result = answer(question.name, question.rdtype, self.lookup, self.config) \
            if question.rdclass == dns.rdataclass.IN else Answer(forward=True)
        if result.forward:
            return await self._forward(query)
        if not self.ready():
            return _reply(query, dns.rcode.SERVFAIL)  # CoreDNS too, until its informers have synced
        if result.chase is not None:
            await self._complete_cname(result, question.rdtype)
        return self._build(query, result)

    async def _forward(self, query: dns.message.Message) -> dns.message.Message:
        response = await self.forwarder.query(query)
        return response if response is not None else _reply(query, dns.rcode.SERVFAIL)

    async def _complete_cname(self, result: Answer, rdtype: int) -> None:
        assert result.chase is not None
        upstream = await self.forwarder.resolve(result.chase, rdtype)
        if upstream is None:
            result.answer = []  # CoreDNS drops a CNAME it could not complete
            result.authority = [soa_rrset(self.lookup, self.config)]
        else:
            result.answer.extend(upstream)

    def _build(self, query: dns.message.Message, result: Answer) -> dns.message.Message:
        response = _reply(query, result.rcode)
        response.flags |= dns.flags.AA
        response.answer.extend(_shuffled(rrset) for rrset in result.answer)
        response.authority.extend(result.authority)
        response.additional.extend(result.additional)
        return response

    @staticmethod
    def _encode(response: dns.message.Message, query: dns.message.Message | None, proto: str) -> bytes:
        limit = 65535 if proto == "tcp" else 512
        if proto != "tcp" and query is not None and query.edns >= 0:
            limit = max(512, min(query.payload, 65535))
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:  # the client retries over TCP
            truncated = _reply(query, response.rcode()) if query is not None else response
            truncated.flags |= dns.flags.TC
            return truncated.to_wire(max_size=limit)


def _shuffled(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """Addresses in random order (the default Corefile's `loadbalance`): clients taking the first spread out."""
    if rrset.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA) or len(rrset) < 2:
        return rrset
    items = list(rrset)
    random.shuffle(items)
    shuffled = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
    shuffled.update_ttl(rrset.ttl)
    for item in items:
        shuffled.add(item)
    return shuffled


def _reply(query: dns.message.Message, rcode: int) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA  # we recurse (forward) for the client
    response.set_rcode(rcode)
    return response


def _format_error(wire: bytes) -> dns.message.Message:
    """FORMERR for a message that does not parse: only its id (the first two bytes) is known."""
    response = dns.message.Message(id=int.from_bytes(wire[:2], "big"))
    response.flags = dns.flags.QR
    response.set_rcode(dns.rcode.FORMERR)
    return response


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value, for Pythons that lack the constant
_PKTINFO = struct.Struct("@I4s4s")  # struct in_pktinfo: interface index, local address, header destination
_UDP_MAX = 65535


class _UdpServer:
    """UDP on one socket; every query answered from its own task.  On IPv4 each reply leaves from the address its
    query was sent to (IP_PKTINFO), as CoreDNS does: bound to 0.0.0.0 on a host with several addresses, the kernel
    would otherwise pick the source by route, and resolvers drop answers from an address they did not ask."""

    def __init__(self, server: DnsServer, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.pktinfo = sock.family == socket.AF_INET
        if self.pktinfo:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.setblocking(False)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()

    def _readable(self) -> None:
        while True:
            try:
                data, ancillary, _, addr = self.sock.recvmsg(_UDP_MAX, socket.CMSG_SPACE(_PKTINFO.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error of an earlier reply: nothing to answer
                log.debug("UDP receive: %s", exc)
                return
            task = asyncio.get_running_loop().create_task(self._reply(data, addr, _local_address(ancillary)))
            self._tasks.add(task)  # keep a reference until done: the loop holds tasks only weakly
            task.add_done_callback(self._tasks.discard)

    async def _reply(self, data: bytes, addr: Any, local: bytes | None) -> None:
        try:
            reply = await self.server.handle(data, "udp")
        except Exception:  # noqa: BLE001 - one bad query must not stop the server
            log.exception("answering a UDP query from %s failed", addr)
            return
        if reply is None:
            return
        source = [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, local, bytes(4)))] if local else []
        try:
            self.sock.sendmsg([reply], source, 0, addr)
        except OSError as exc:  # a full send buffer or a vanished client: UDP drops it, so do we
            log.debug("UDP reply to %s: %s", addr, exc)


def _local_address(ancillary: list[tuple[int, int, bytes]]) -> bytes | None:
    """The address a query was sent to, from its IP_PKTINFO message."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
            return _PKTINFO.unpack_from(data)[1]
    return None


async def _serve_tcp_client(server: DnsServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            idle_timeout_s: float = 10.0) -> None:
    """Length-prefixed messages (RFC 1035 4.2.2), answered in order until the client closes or idles."""
    try:
        while True:
            length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), idle_timeout_s), "big")
            reply = await server.handle(await reader.readexactly(length), "tcp")
            if reply is not None:
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve_dns(server: DnsServer, host: str, port: int) -> None:
    """UDP and TCP on the same address until cancelled."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    udp = _UdpServer(server, sock)
    udp.start()
    try:
        tcp = await asyncio.start_server(lambda r, w: _serve_tcp_client(server, r, w), host, port, reuse_address=True)
        log.info("serving DNS on %s:%d (udp, tcp)", host, port)
        async with tcp:
            await tcp.serve_forever()
    finally:
        udp.close()


# -- the kube-dns Service --------------------------------------------------------------------------------------

def dns_service(service_ip: str, target_port: int) -> Obj:
    """kube-system/kube-dns as kubeadm creates it, without a selector: its Endpoints are ours to write."""
    namespace, name = DNS_SERVICE
    ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": target_port},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": target_port}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": service_ip, "ports": ports}}


def dns_endpoints(address: str, port: int) -> Obj:
    namespace, name = DNS_SERVICE
    ports = [{"name": "dns", "port": port, "protocol": "UDP"}, {"name": "dns-tcp", "port": port, "protocol": "TCP"}]
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": {"k8s-app": "kube-dns"}},
            "subsets": [{"addresses": [{"ip": address}], "ports": ports}]}


def _port_key(ports: list[Obj] | None) -> list[tuple[Any, ...]]:
    return sorted((p.get("name"), p.get("port"), p.get("protocol", "TCP"), p.get("targetPort")) for p in ports or [])


class Registrar:
    """Keeps kube-system/kube-dns and its Endpoints pointing at this server (kubeadm's CoreDNS addon, by hand)."""

    def __init__(self, client: ApiClient, lookup: InformerLookup, service_ip: str, address: str, port: int) -> None:
        self.client, self.lookup = client, lookup
        self.service_ip, self.address, self.port = service_ip, address, port
        self._last_problem = ""

    async def run(self, period_s: float = 5.0) -> None:
        await self.lookup.service_informer.wait_for_sync()
        await self.lookup.endpoint_informer.wait_for_sync()
        while True:
            try:
                await self.ensure()
            except errors.ApiError as err:
                self._problem(f"registering {'/'.join(DNS_SERVICE)} failed: {err.message}")
            await asyncio.sleep(period_s)

    async def ensure(self) -> None:
        if await self._ensure_service():
            await self._ensure_endpoints()

    async def _ensure_service(self) -> bool:
        namespace, name = DNS_SERVICE
        holders = [s for s in self.lookup.services_with_ip(self.service_ip) if _meta(s) != DNS_SERVICE]
        if holders:
            holder = "/".join(_meta(holders[0]))
            self._problem(f"cannot register {namespace}/{name} at {self.service_ip}: that IP is already the "
                          f"clusterIP of Service {holder}; pods using --cluster-dns {self.service_ip} will not "
                          f"reach this server (pick another --service-ip, and the same --cluster-dns for kubelets)")
            return False
        desired = dns_service(self.service_ip, self.port)
        current = self.lookup.service(namespace, name)
        if current is None:
            return await self._create_service(desired)
        if self.service_ip not in cluster_ips(current):
            self._problem(f"{namespace}/{name} exists with clusterIP {cluster_ips(current)}, not {self.service_ip} "
                          f"(clusterIP is immutable: delete the Service to move it)")
        if _port_key((current.get("spec") or {}).get("ports")) != _port_key(desired["spec"]["ports"]):
            await self.client.patch(kinds.SERVICES, name, {"spec": {"ports": desired["spec"]["ports"]}}, namespace)
            log.info("updated the ports of %s/%s to target %d", namespace, name, self.port)
        return True

    async def _create_service(self, desired: Obj) -> bool:
        try:
            await self.client.create(kinds.SERVICES, desired)
        except errors.AlreadyExists:
            return True  # our cache lags: the next round compares
        except errors.Invalid as err:
            self._problem(f"cannot create {'/'.join(DNS_SERVICE)} with clusterIP {self.service_ip}: {err.message}")
            return False
        log.info("created Service %s with clusterIP %s", "/".join(DNS_SERVICE), self.service_ip)
        return True

    async def _ensure_endpoints(self) -> None:
        namespace, name = DNS_SERVICE
        desired = dns_endpoints(self.address, self.port)
        current = self.lookup.endpoints(namespace, name)
        if current is None:
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(kinds.ENDPOINTS, desired)
                log.info("created Endpoints %s/%s -> %s:%d", namespace, name, self.address, self.port)
            return
        if current.get("subsets") != desired["subsets"]:
            desired["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
            with contextlib.suppress(errors.Conflict):
                await self.client.update(kinds.ENDPOINTS, desired)
                log.info("updated Endpoints %s/%s -> %s:%d", namespace, name, self.address, self.port)

    def _problem(self, message: str) -> None:
        if message != self._last_problem:  # say it once, not every round
            log.error("%s", message)
            self._last_problem = message


# -- flags and main ---------------------------------------------------------------------------------------------

@dataclass
class Settings:
    server: str | None
    kubeconfig: str | None
    listen: tuple[str, int]
    config: ZoneConfig
    upstreams: list[Upstream]
    forward_timeout_s: float
    register_service: bool
    service_ip: str
    advertise_address: str
    health_bind_address: str
    health_port: int


def detect_address() -> str:
    """The address this host reaches others from (a UDP connect sends nothing), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 53))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _unspecific(host: str) -> bool:
    """A wildcard or loopback listen address says nothing about where other hosts reach us."""
    return host in ("", "0.0.0.0", "::") or ipaddress.ip_address(host).is_loopback


def _host_upstreams(path: str) -> list[Upstream]:
    try:
        with open(path, encoding="utf-8") as f:
            return [(ip, 53) for ip in resolv_conf_nameservers(f.read())]
    except OSError as err:
        log.warning("cannot read %s for upstream resolvers: %s", path, err)
        return []


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m kube_proxy.dns",
                                description="kubelab cluster DNS (CoreDNS's role): Service and pod names, "
                                            "everything else forwarded.")
    add_client_flags(p)
    p.add_argument("--listen", default=env_default("--listen", "0.0.0.0:53"), help="ADDR:PORT for UDP and TCP")
    p.add_argument("--domain", "--cluster-domain", dest="domain", default=env_default("--domain", "cluster.local"))
    p.add_argument("--ttl", type=int, default=int(env_default("--ttl", "5") or 5), help="TTL of cluster answers")
    p.add_argument("--upstream", default=env_default("--upstream"),
                   help="comma list of resolvers (HOST or HOST:PORT) for other names; default: /etc/resolv.conf's")
    p.add_argument("--resolv-conf", default=env_default("--resolv-conf", "/etc/resolv.conf"),
                   help="where the default upstreams come from")
    p.add_argument("--forward-timeout", type=parse_duration, default=env_default("--forward-timeout", "2s"),
                   help="per upstream; when every upstream times out the answer is SERVFAIL")
    p.add_argument("--register-service", action="store_true",
                   help="ensure Service kube-system/kube-dns and its Endpoints point at this server")
    p.add_argument("--service-ip", default=env_default("--service-ip", DEFAULT_SERVICE_IP),
                   help="kube-dns clusterIP with --register-service (the kubelets' --cluster-dns)")
    p.add_argument("--advertise-address", default=env_default("--advertise-address"),
                   help="the address other hosts reach this server at (the Endpoints address); default: the "
                        "--listen address when specific, else detected")
    p.add_argument("--health-bind-address", default=env_default("--health-bind-address", "127.0.0.1"))
    p.add_argument("--health-port", type=int, default=int(env_default("--health-port", str(DEFAULT_HEALTH_PORT))
                                                          or DEFAULT_HEALTH_PORT),
                   help=f"/healthz and /metrics (default {DEFAULT_HEALTH_PORT}, kube-dns's; 0 disables)")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("cluster-dns", args.verbosity)
    try:
        host, port = parse_upstream(args.listen)
        upstreams = [parse_upstream(u) for u in args.upstream.split(",") if u.strip()] if args.upstream \
            else _host_upstreams(args.resolv_conf)
        zone = dns.name.from_text(args.domain)
    except (ValueError, dns.exception.DNSException) as exc:
        p.error(str(exc))
    timeout = parse_duration(args.forward_timeout) if isinstance(args.forward_timeout, str) else args.forward_timeout
    advertise = args.advertise_address or (detect_address() if _unspecific(host) else host)
    if args.register_service and ipaddress.ip_address(advertise).is_loopback:
        p.error(f"--advertise-address {advertise}: the API rejects loopback endpoint addresses; give the address "
                "other hosts reach this server at")
    return Settings(args.server, args.kubeconfig, (host, port), ZoneConfig(zone, args.ttl), upstreams, timeout,
                    args.register_service, args.service_ip, advertise, args.health_bind_address, args.health_port)


async def serve(settings: Settings) -> int:
    client = ApiClient.from_flags(settings.server, settings.kubeconfig, user_agent="kubelab-dns")
    lookup = InformerLookup(client)
    server = DnsServer(lookup, settings.config, Forwarder(settings.upstreams, settings.forward_timeout_s),
                       ready=lambda: lookup.synced)
    if not settings.upstreams:
        log.warning("no upstream resolvers: names outside %s get SERVFAIL", settings.config.zone)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(lookup.run())
        tg.create_task(serve_dns(server, *settings.listen))
        if settings.health_port:
            tg.create_task(health_server(settings.health_bind_address, settings.health_port).serve())
        if settings.register_service:
            tg.create_task(Registrar(client, lookup, settings.service_ip, settings.advertise_address,
                                     settings.listen[1]).run())
        log.info("cluster DNS for %s, upstreams %s", settings.config.zone,
                 ", ".join(f"{h}:{p}" for h, p in settings.upstreams) or "none")
    return 0


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    run_main("cluster-dns", lambda: serve(settings))


if __name__ == "__main__":
    main()
