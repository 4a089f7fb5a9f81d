"""The cluster DNS answer logic (kube_proxy/dns.py) over fake Service/Endpoints dicts: no sockets, no API."""
from __future__ import annotations

import asyncio
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from kube_proxy import dns as cdns

ZONE = cdns.ZoneConfig(dns.name.from_text("cluster.local"), ttl=5)


def service(name: str, ns: str = "default", *, cluster_ip: str = "10.96.0.20", ports: list[dict[str, Any]] | None = None,
            type_: str = "ClusterIP", external_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": ports if ports is not None else
                            [{"name": "http", "port": 80, "protocol": "TCP"}]}
    if type_ == "ExternalName":
        spec["externalName"] = external_name
    else:
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoints(name: str, ns: str = "default", *, ready: list[dict[str, Any]], not_ready: list[dict[str, Any]] = (),
              ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    subset: dict[str, Any] = {"addresses": list(ready), "notReadyAddresses": list(not_ready)}
    if ports is not None:
        subset["ports"] = ports
    return {"metadata": {"name": name, "namespace": ns}, "subsets": [subset]}


def addr(ip: str, hostname: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"ip": ip, "targetRef": {"kind": "Pod", "name": f"pod-{ip}", "namespace": "default"}}
    if hostname:
        found["hostname"] = hostname
    return found


WEB_PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]

LOOKUP = cdns.DictLookup(
    services=[
        service("web", cluster_ip="10.96.0.20", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                                       {"name": "dns", "port": 53, "protocol": "UDP"},
                                                       {"port": 9000, "protocol": "TCP"}]),
        service("db", cluster_ip="None", ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        service("bare", cluster_ip="None", ports=[]),
        service("empty", cluster_ip="None"),
        service("ext", type_="ExternalName", external_name="www.example.test"),
        service("alias", type_="ExternalName", external_name="web.default.svc.cluster.local"),
        service("v6", cluster_ip="fd00::20"),
    ],
    endpoints=[
        endpoints("web", ready=[addr("10.244.1.5")], ports=WEB_PORTS),
        endpoints("db", ready=[addr("10.244.1.7", "db-0"), addr("10.244.2.8")], not_ready=[addr("10.244.3.9", "db-2")],
                  ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        endpoints("bare", ready=[addr("10.244.1.11")]),
        endpoints("empty", ready=[], not_ready=[addr("10.244.1.12")], ports=WEB_PORTS),
    ],
    namespaces=["default", "kube-system"], serial=1234)


def ask(name: str, rdtype: str = "A", lookup: cdns.Lookup = LOOKUP) -> cdns.Answer:
    return cdns.answer(dns.name.from_text(name), dns.rdatatype.from_text(rdtype), lookup, ZONE)


def texts(result: cdns.Answer, rdtype: str | None = None) -> list[str]:
    return sorted(rd.to_text() for rrset in result.answer for rd in rrset
                  if rdtype is None or rrset.rdtype == dns.rdatatype.from_text(rdtype))


@pytest.mark.parametrize("name, rdtype, expected", [
    ("web.default.svc.cluster.local", "A", ["10.96.0.20"]),
    ("WEB.Default.SVC.cluster.LOCAL", "A", ["10.96.0.20"]),  # case-insensitive
    ("v6.default.svc.cluster.local", "AAAA", ["fd00::20"]),
    ("db.default.svc.cluster.local", "A", ["10.244.1.7", "10.244.2.8"]),  # ready only, never notReadyAddresses
    ("db-0.db.default.svc.cluster.local", "A", ["10.244.1.7"]),
    ("10-244-2-8.db.default.svc.cluster.local", "A", ["10.244.2.8"]),  # no hostname: the dashed IP
    ("10-244-1-5.web.default.svc.cluster.local", "A", ["10.244.1.5"]),  # endpoint names work for ClusterIP too
    ("bare.default.svc.cluster.local", "A", ["10.244.1.11"]),  # headless without ports
    ("_http._tcp.web.default.svc.cluster.local", "A", ["10.96.0.20"]),
    ("10-1-2-3.default.pod.cluster.local", "A", ["10.1.2.3"]),
    ("fd00--7.default.pod.cluster.local", "AAAA", ["fd00::7"]),
    ("dns-version.cluster.local", "TXT", ['"1.1.0"']),
    ("cluster.local", "NS", ["ns.dns.cluster.local."]),
])
def test_positive_answers(name: str, rdtype: str, expected: list[str]) -> None:
    result = ask(name, rdtype)
    assert result.rcode == dns.rcode.NOERROR and not result.forward
    assert texts(result) == expected
    assert all(rrset.ttl == 5 for rrset in result.answer)
    assert all(rrset.name == dns.name.from_text(name) for rrset in result.answer)  # the question's own spelling


@pytest.mark.parametrize("name, expected", [
    ("_http._tcp.web.default.svc.cluster.local", ["0 100 80 web.default.svc.cluster.local."]),
    ("_dns._udp.web.default.svc.cluster.local", ["0 100 53 web.default.svc.cluster.local."]),
    ("_pg._tcp.db.default.svc.cluster.local",
     ["0 50 5432 10-244-2-8.db.default.svc.cluster.local.", "0 50 5432 db-0.db.default.svc.cluster.local."]),
    # no port named: every port, unnamed ones included (CoreDNS's wildcard default)
    ("web.default.svc.cluster.local", ["0 33 53 web.default.svc.cluster.local.",
                                       "0 33 80 web.default.svc.cluster.local.",
                                       "0 33 9000 web.default.svc.cluster.local."]),
], ids=["clusterip", "udp", "headless", "all-ports"])
def test_srv(name: str, expected: list[str]) -> None:
    result = ask(name, "SRV")
    assert result.rcode == dns.rcode.NOERROR
    assert texts(result) == expected


def test_headless_srv_carries_the_targets_addresses() -> None:
    result = ask("_pg._tcp.db.default.svc.cluster.local", "SRV")
    extra = {rrset.name.to_text(): [rd.to_text() for rd in rrset] for rrset in result.additional}
    assert extra == {"db-0.db.default.svc.cluster.local.": ["10.244.1.7"],
                     "10-244-2-8.db.default.svc.cluster.local.": ["10.244.2.8"]}


def test_external_name_is_a_cname_completed_upstream() -> None:
    result = ask("ext.default.svc.cluster.local", "A")
    assert texts(result) == ["www.example.test."]
    assert result.answer[0].rdtype == dns.rdatatype.CNAME
    assert result.chase == dns.name.from_text("www.example.test")
    cname_only = ask("ext.default.svc.cluster.local", "CNAME")
    assert texts(cname_only) == ["www.example.test."] and cname_only.chase is None


def test_external_name_inside_the_zone_is_followed_here() -> None:
    result = ask("alias.default.svc.cluster.local", "A")
    assert [rrset.rdtype for rrset in result.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert texts(result, "A") == ["10.96.0.20"] and result.chase is None


@pytest.mark.parametrize("name, rdtype", [
    ("nope.default.svc.cluster.local", "A"),
    ("web.nowhere.svc.cluster.local", "A"),
    ("empty.default.svc.cluster.local", "A"),  # headless, nothing ready
    ("db-2.db.default.svc.cluster.local", "A"),  # a not-ready endpoint's name
    ("_nope._tcp.web.default.svc.cluster.local", "SRV"),
    ("_pg._udp.db.default.svc.cluster.local", "SRV"),
    ("a.b.c.web.default.svc.cluster.local", "A"),  # too many labels
    ("foo.cluster.local", "A"),
    ("x.default.pod.cluster.local", "A"),  # not an IP
    ("10-1-2-3.nowhere.pod.cluster.local", "A"),
    ("nowhere.svc.cluster.local", "A"),
    ("_http._tcp.ext.default.svc.cluster.local", "SRV"),
])
def test_nxdomain_with_soa(name: str, rdtype: str) -> None:
    result = ask(name, rdtype)
    assert result.rcode == dns.rcode.NXDOMAIN and not result.answer and not result.forward
    [soa] = result.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name == dns.name.from_text("cluster.local")
    assert soa[0].to_text() == "ns.dns.cluster.local. hostmaster.cluster.local. 1234 7200 1800 86400 5"


@pytest.mark.parametrize("name, rdtype", [
    ("web.default.svc.cluster.local", "AAAA"),
    ("web.default.svc.cluster.local", "TXT"),
    ("web.default.svc.cluster.local", "CNAME"),
    ("db.default.svc.cluster.local", "MX"),
    ("bare.default.svc.cluster.local", "SRV"),  # no ports, no SRV
    ("v6.default.svc.cluster.local", "A"),
    ("default.svc.cluster.local", "A"),  # an existing namespace: an empty non-terminal
    ("svc.cluster.local", "A"),
    ("default.pod.cluster.local", "A"),
    ("10-1-2-3.default.pod.cluster.local", "AAAA"),
    ("cluster.local", "A"),
    ("dns-version.cluster.local", "A"),
])
def test_existing_name_other_type_is_nodata(name: str, rdtype: str) -> None:
    result = ask(name, rdtype)
    assert result.rcode == dns.rcode.NOERROR and not result.answer and not result.forward
    assert [rrset.rdtype for rrset in result.authority] == [dns.rdatatype.SOA]


def test_ttl_is_configurable() -> None:
    result = cdns.answer(dns.name.from_text("web.default.svc.cluster.local"), dns.rdatatype.A, LOOKUP,
                         cdns.ZoneConfig(dns.name.from_text("cluster.local"), ttl=30))
    assert result.answer[0].ttl == 30


def test_other_domain() -> None:
    other = cdns.ZoneConfig(dns.name.from_text("kube.example"), ttl=5)
    assert cdns.answer(dns.name.from_text("web.default.svc.kube.example"), dns.rdatatype.A, LOOKUP, other).answer
    assert cdns.answer(dns.name.from_text("web.default.svc.cluster.local"), dns.rdatatype.A, LOOKUP, other).forward


@pytest.mark.parametrize("name, rdtype", [
    ("www.example.test", "A"),
    ("cluster.local.example.test", "A"),
    ("1.2.3.4.in-addr.arpa", "PTR"),  # an IP the cluster does not know: fall through to upstream
    ("20.0.96.10.in-addr.arpa", "A"),
])
def test_names_outside_the_cluster_are_forwarded(name: str, rdtype: str) -> None:
    assert ask(name, rdtype).forward


@pytest.mark.parametrize("name, expected", [
    ("20.0.96.10.in-addr.arpa", ["web.default.svc.cluster.local."]),
    ("7.1.244.10.in-addr.arpa", ["db-0.db.default.svc.cluster.local."]),
    ("8.2.244.10.in-addr.arpa", ["10-244-2-8.db.default.svc.cluster.local."]),
])
def test_ptr(name: str, expected: list[str]) -> None:
    result = ask(name, "PTR")
    assert not result.forward and texts(result) == expected


def test_not_ready_ip_has_no_ptr() -> None:
    assert ask("9.3.244.10.in-addr.arpa", "PTR").forward


# -- the server's message handling, with a fake forwarder ---------------------------------------------------------

class FakeForwarder(cdns.Forwarder):
    def __init__(self, answer_ip: str | None) -> None:
        super().__init__([])
        self.answer_ip = answer_ip
        self.asked: list[str] = []

    async def query(self, message: dns.message.Message) -> dns.message.Message | None:
        self.asked.append(message.question[0].name.to_text())
        if self.answer_ip is None:
            return None
        response = dns.message.make_response(message)
        response.answer.append(dns.rrset.from_text(message.question[0].name, 60, "IN", "A", self.answer_ip))
        return response


def handle(server: cdns.DnsServer, name: str, rdtype: str = "A", proto: str = "udp",
           **query_args: Any) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **query_args)
    wire = asyncio.run(server.handle(query.to_wire(), proto))
    assert wire is not None
    return dns.message.from_wire(wire)


def test_server_answers_authoritatively_and_forwards_the_rest() -> None:
    forwarder = FakeForwarder("192.0.2.53")
    server = cdns.DnsServer(LOOKUP, ZONE, forwarder)
    own = handle(server, "web.default.svc.cluster.local")
    assert own.flags & dns.flags.AA and own.rcode() == dns.rcode.NOERROR
    assert forwarder.asked == []
    other = handle(server, "www.example.test")
    assert [rd.to_text() for rd in other.answer[0]] == ["192.0.2.53"] and forwarder.asked == ["www.example.test."]


def test_server_completes_external_name_through_the_forwarder() -> None:
    server = cdns.DnsServer(LOOKUP, ZONE, FakeForwarder("192.0.2.53"))
    response = handle(server, "ext.default.svc.cluster.local")
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_server_servfail_when_upstream_fails() -> None:
    server = cdns.DnsServer(LOOKUP, ZONE, FakeForwarder(None))
    assert handle(server, "www.example.test").rcode() == dns.rcode.SERVFAIL
    dropped = handle(server, "ext.default.svc.cluster.local")  # CoreDNS drops a CNAME it cannot complete
    assert dropped.rcode() == dns.rcode.NOERROR and not dropped.answer


def test_server_servfail_for_cluster_names_until_synced() -> None:
    server = cdns.DnsServer(LOOKUP, ZONE, FakeForwarder("192.0.2.53"), ready=lambda: False)
    assert handle(server, "web.default.svc.cluster.local").rcode() == dns.rcode.SERVFAIL
    assert handle(server, "www.example.test").rcode() == dns.rcode.NOERROR


def test_udp_answer_too_big_is_truncated_and_tcp_is_not() -> None:
    many = [addr(f"10.244.{i // 250}.{i % 250 + 1}") for i in range(100)]
    lookup = cdns.DictLookup([service("big", cluster_ip="None")], [endpoints("big", ready=many, ports=WEB_PORTS)])
    server = cdns.DnsServer(lookup, ZONE, FakeForwarder(None))
    udp = handle(server, "big.default.svc.cluster.local", use_edns=False)
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = handle(server, "big.default.svc.cluster.local", proto="tcp", use_edns=False)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 100
    edns = handle(server, "big.default.svc.cluster.local", use_edns=0, payload=4096)
    assert not edns.flags & dns.flags.TC and len(edns.answer[0]) == 100


def test_garbage_gets_formerr_and_a_short_header_nothing() -> None:
    server = cdns.DnsServer(LOOKUP, ZONE, FakeForwarder(None))
    assert asyncio.run(server.handle(b"\x12", "udp")) is None
    reply = dns.message.from_wire(asyncio.run(server.handle(b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\xff" * 8,
                                                            "udp")) or b"")
    assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("text, expected", [
    ("10.0.0.1", ("10.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)), ("[::1]:5353", ("::1", 5353)),
])
def test_parse_upstream(text: str, expected: tuple[str, int]) -> None:
    assert cdns.parse_upstream(text) == expected


def test_resolv_conf_nameservers() -> None:
    text = "# comment\nsearch example.test\nnameserver 10.0.0.2\nnameserver  10.0.0.3 \noptions ndots:2\nnameserver\n"
    assert cdns.resolv_conf_nameservers(text) == ["10.0.0.2", "10.0.0.3"]


def test_registration_objects() -> None:
    svc = cdns.dns_service("10.96.0.10", 5353)
    assert svc["metadata"] == {"name": "kube-dns", "namespace": "kube-system",
                               "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}}
    assert "selector" not in svc["spec"] and svc["spec"]["clusterIP"] == "10.96.0.10"
    assert {(p["name"], p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]} == \
        {("dns", 53, "UDP", 5353), ("dns-tcp", 53, "TCP", 5353)}
    ep = cdns.dns_endpoints("192.168.1.2", 5353)
    assert ep["subsets"][0]["addresses"] == [{"ip": "192.168.1.2"}]


def test_addresses_come_in_varying_order() -> None:
    three = cdns.DictLookup([service("trio", cluster_ip="None")],
                            [endpoints("trio", ready=[addr("10.244.0.1"), addr("10.244.0.2"), addr("10.244.0.3")],
                                       ports=WEB_PORTS)])
    server = cdns.DnsServer(three, ZONE, FakeForwarder(None))
    orders = {tuple(rd.to_text() for rd in handle(server, "trio.default.svc.cluster.local").answer[0])
              for _ in range(40)}
    assert len(orders) > 1 and all(sorted(order) == ["10.244.0.1", "10.244.0.2", "10.244.0.3"] for order in orders)


def test_a_failing_lookup_is_servfail_not_silence() -> None:
    class Broken(cdns.DictLookup):
        def service(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise RuntimeError("boom")

    server = cdns.DnsServer(Broken(namespaces=["default"]), ZONE, FakeForwarder(None))
    assert handle(server, "web.default.svc.cluster.local").rcode() == dns.rcode.SERVFAIL
