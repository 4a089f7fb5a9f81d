"""The cluster DNS server process (`python -m kube_proxy.dns`) against the live apiserver, queried over UDP and TCP.

Names outside the cluster go to a stub upstream resolver this test runs on another loopback port (no internet).
"""
from __future__ import annotations

import random
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import httpx
import pytest

from common.localcluster import ChildProcess, free_port
from conftest import wait_until

EXTERNAL_IP = "192.0.2.53"
ADVERTISED = "192.0.2.10"  # only written into the Endpoints (the API refuses loopback there); nothing is sent to it
BIG_COUNT = 60  # A records in big.example.test: too many for 512 bytes of UDP


# -- a stub upstream resolver ------------------------------------------------------------------------------------

def stub_answer(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text().lower()
    if name in ("www.example.test.", "alias-target.example.test.") and question.rdtype == dns.rdatatype.A:
        response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", EXTERNAL_IP))
    elif name == "big.example.test." and question.rdtype == dns.rdatatype.A:
        ips = [f"198.51.100.{i}" for i in range(1, BIG_COUNT + 1)]
        response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "A", ips))
    else:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response


class StubUpstream:
    """UDP and TCP on one loopback port, answering from `stub_answer`; counts what it was asked, per protocol."""

    def __init__(self) -> None:
        self.port = free_port()
        self.asked: list[tuple[str, str]] = []
        stub = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                query = dns.message.from_wire(data)
                stub.asked.append(("udp", query.question[0].name.to_text()))
                response = stub_answer(query)
                try:
                    wire = response.to_wire(max_size=512 if query.edns < 0 else query.payload)
                except dns.exception.TooBig:
                    truncated = dns.message.make_response(query)
                    truncated.flags |= dns.flags.TC
                    wire = truncated.to_wire()
                sock.sendto(wire, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                query, _ = dns.query.receive_tcp(self.request, expiration=time.time() + 5)
                stub.asked.append(("tcp", query.question[0].name.to_text()))
                dns.query.send_tcp(self.request, stub_answer(query))

        self.servers = [socketserver.ThreadingUDPServer(("127.0.0.1", self.port), Udp),
                        socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Tcp)]
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


# -- the server under test ---------------------------------------------------------------------------------------

class DnsProcess(ChildProcess):
    def __init__(self, workdir: Path, api_url: str, upstream: str, *extra: str, listen_host: str = "127.0.0.1") -> None:
        self.port, self.health_port = free_port(), free_port()
        argv = [sys.executable, "-m", "kube_proxy.dns", "--server", api_url, "--listen", f"{listen_host}:{self.port}",
                "--upstream", upstream, "--health-port", str(self.health_port), *extra]
        super().__init__("cluster-dns", argv, workdir / f"dns-{self.port}.log")

    def start(self) -> None:
        super().start()
        self.wait_ready(f"http://127.0.0.1:{self.health_port}/healthz", timeout=30)
        # /healthz is up before the informers sync: wait for a cluster name to stop answering SERVFAIL
        wait_until(lambda: self.query("kubernetes.default.svc.cluster.local").rcode() != dns.rcode.SERVFAIL,
                   timeout=20, what="the DNS server's informers to sync")

    def query(self, name: str, rdtype: str = "A", tcp: bool = False, to: str = "127.0.0.1",
              **query_args: Any) -> dns.message.Message:
        message = dns.message.make_query(name, rdtype, **query_args)
        ask = dns.query.tcp if tcp else dns.query.udp
        return ask(message, to, timeout=5, port=self.port)

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.health_port}/metrics", timeout=5).text


@pytest.fixture(scope="module")
def upstream() -> Iterator[StubUpstream]:
    stub = StubUpstream()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def dns_server(apiserver: Any, upstream: StubUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsProcess]:
    server = DnsProcess(tmp_path_factory.mktemp("dns"), apiserver.url, f"127.0.0.1:{upstream.port}")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def random_service_ip() -> str:
    return f"10.96.{random.randint(100, 250)}.{random.randint(2, 250)}"


def create(http: httpx.Client, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    resp = http.post(path, json=obj)
    assert resp.status_code == 201, resp.text
    return resp.json()


def service(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def endpoints(name: str, ready: list[dict[str, Any]], not_ready: list[dict[str, Any]],
              ports: list[dict[str, Any]]) -> dict[str, Any]:
    subset: dict[str, Any] = {"addresses": ready, "ports": ports}
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name}, "subsets": [subset]}


def a_records(response: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset)


BOTH = pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])


# -- tests -------------------------------------------------------------------------------------------------------

@BOTH
def test_cluster_ip_service(dns_server: DnsProcess, http: httpx.Client, namespace: str, tcp: bool) -> None:
    ip = random_service_ip()
    create(http, f"/api/v1/namespaces/{namespace}/services",
           service("web", {"clusterIP": ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}))
    name = f"web.{namespace}.svc.cluster.local"
    response = wait_until(lambda: (r := dns_server.query(name, tcp=tcp)).answer and r, timeout=10, what="the A record")
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert a_records(response) == [ip] and response.answer[0].ttl == 5
    srv = dns_server.query(f"_http._tcp.{name}", "SRV", tcp=tcp)
    assert [rd.to_text() for rd in srv.answer[0]] == [f"0 100 80 {name}."]
    nodata = dns_server.query(name, "AAAA", tcp=tcp)
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


@BOTH
def test_unknown_name_is_nxdomain_with_soa(dns_server: DnsProcess, namespace: str, tcp: bool) -> None:
    response = dns_server.query(f"nope.{namespace}.svc.cluster.local", tcp=tcp)
    assert response.rcode() == dns.rcode.NXDOMAIN and not response.answer
    [soa] = response.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "cluster.local."


def test_headless_service_follows_readiness(dns_server: DnsProcess, http: httpx.Client, namespace: str) -> None:
    create(http, f"/api/v1/namespaces/{namespace}/services",
           service("db", {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}))
    ports = [{"name": "pg", "port": 5432, "protocol": "TCP"}]
    pod0 = {"ip": "10.244.7.10", "hostname": "db-0", "targetRef": {"kind": "Pod", "name": "db-0"}}
    pod1 = {"ip": "10.244.7.11", "hostname": "db-1", "targetRef": {"kind": "Pod", "name": "db-1"}}
    pod2 = {"ip": "10.244.7.12", "targetRef": {"kind": "Pod", "name": "db-2"}}
    created = create(http, f"/api/v1/namespaces/{namespace}/endpoints",
                     endpoints("db", [pod0, pod1], [pod2], ports))
    name = f"db.{namespace}.svc.cluster.local"
    wait_until(lambda: a_records(dns_server.query(name)) == ["10.244.7.10", "10.244.7.11"], timeout=10,
               what="the ready endpoints (only) in the headless answer")
    assert a_records(dns_server.query(name, tcp=True)) == ["10.244.7.10", "10.244.7.11"]
    assert a_records(dns_server.query(f"db-0.{name}")) == ["10.244.7.10"]
    srv = dns_server.query(f"_pg._tcp.{name}", "SRV", tcp=True)
    assert sorted(rd.to_text() for rd in srv.answer[0]) == [f"0 50 5432 db-0.{name}.", f"0 50 5432 db-1.{name}."]
    assert sorted(rrset.name.to_text() for rrset in srv.additional) == [f"db-0.{name}.", f"db-1.{name}."]

    # db-1 stops being ready: it moves to notReadyAddresses and leaves the answer within seconds
    created["subsets"] = [{"addresses": [pod0], "notReadyAddresses": [pod1, pod2], "ports": ports}]
    resp = http.put(f"/api/v1/namespaces/{namespace}/endpoints/db", json=created)
    assert resp.status_code == 200, resp.text
    started = time.monotonic()
    wait_until(lambda: a_records(dns_server.query(name)) == ["10.244.7.10"], timeout=5,
               what="the not-ready address to leave the answer")
    assert time.monotonic() - started < 5
    assert dns_server.query(f"db-1.{name}").rcode() == dns.rcode.NXDOMAIN


@BOTH
def test_external_name_is_a_cname_completed_upstream(dns_server: DnsProcess, http: httpx.Client, namespace: str,
                                                     tcp: bool) -> None:
    create(http, f"/api/v1/namespaces/{namespace}/services",
           service("ext", {"type": "ExternalName", "externalName": "www.example.test"}))
    name = f"ext.{namespace}.svc.cluster.local"
    response = wait_until(lambda: (r := dns_server.query(name, tcp=tcp)).answer and r, timeout=10, what="the CNAME")
    cname, address = response.answer
    assert cname.rdtype == dns.rdatatype.CNAME and cname[0].to_text() == "www.example.test."
    assert address.name.to_text() == "www.example.test." and [rd.to_text() for rd in address] == [EXTERNAL_IP]


@BOTH
def test_pod_name(dns_server: DnsProcess, namespace: str, tcp: bool) -> None:
    assert a_records(dns_server.query(f"10-244-3-4.{namespace}.pod.cluster.local", tcp=tcp)) == ["10.244.3.4"]


@BOTH
def test_other_names_are_forwarded_upstream(dns_server: DnsProcess, upstream: StubUpstream, tcp: bool) -> None:
    response = dns_server.query("www.example.test", tcp=tcp)
    assert response.rcode() == dns.rcode.NOERROR and a_records(response) == [EXTERNAL_IP]
    assert not response.flags & dns.flags.AA
    assert dns_server.query("missing.example.test", tcp=tcp).rcode() == dns.rcode.NXDOMAIN
    assert ("udp", "www.example.test.") in upstream.asked
    assert 'coredns_forward_requests_total{to="127.0.0.1:' in dns_server.metrics()


def test_truncated_upstream_answer_is_fetched_over_tcp(dns_server: DnsProcess, upstream: StubUpstream) -> None:
    response = dns_server.query("big.example.test", tcp=True)
    assert len(a_records(response)) == BIG_COUNT
    assert ("udp", "big.example.test.") in upstream.asked and ("tcp", "big.example.test.") in upstream.asked
    over_udp = dns_server.query("big.example.test", use_edns=False)  # too big for the client's 512 bytes
    assert over_udp.flags & dns.flags.TC


def test_metrics_count_responses_by_rcode(dns_server: DnsProcess) -> None:
    dns_server.query("nope.nowhere.svc.cluster.local")
    text = dns_server.metrics()
    assert 'coredns_dns_responses_total{rcode="NXDOMAIN"}' in text
    assert 'coredns_dns_responses_total{rcode="NOERROR"}' in text


def test_dead_upstream_is_servfail(apiserver: Any, tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    server = DnsProcess(tmp_path, apiserver.url, f"127.0.0.1:{dead}", "--forward-timeout", "500ms")
    try:
        server.start()
        for tcp in (False, True):
            started = time.monotonic()
            assert server.query("www.example.test", tcp=tcp).rcode() == dns.rcode.SERVFAIL
            assert time.monotonic() - started < 4
        assert server.query("kubernetes.default.svc.cluster.local").rcode() == dns.rcode.NOERROR
        assert "coredns_forward_failures_total 2.0" in server.metrics()
    finally:
        server.stop()


def test_wildcard_listener_answers_from_the_address_asked(apiserver: Any, upstream: StubUpstream,
                                                          tmp_path: Path) -> None:
    """Bound to 0.0.0.0, a query sent to 127.0.0.2 from 127.0.0.1 is answered from 127.0.0.2; routing alone would
    pick 127.0.0.1, and dnspython, like every resolver, rejects an answer from an address it did not ask."""
    server = DnsProcess(tmp_path, apiserver.url, f"127.0.0.1:{upstream.port}", listen_host="0.0.0.0")
    try:
        server.start()
        for to in ("127.0.0.2", "127.0.0.1"):
            response = server.query("kubernetes.default.svc.cluster.local", to=to)
            assert response.rcode() == dns.rcode.NOERROR and a_records(response), response
    finally:
        server.stop()


def test_register_service(apiserver: Any, http: httpx.Client, upstream: StubUpstream, namespace: str,
                          tmp_path: Path) -> None:
    ip = random_service_ip()
    http.delete("/api/v1/namespaces/kube-system/services/kube-dns")
    http.delete("/api/v1/namespaces/kube-system/endpoints/kube-dns")
    # first the IP is someone else's: the server says so and registers nothing
    blocker = create(http, f"/api/v1/namespaces/{namespace}/services",
                     service(f"blocker-{uuid.uuid4().hex[:6]}", {"clusterIP": ip, "ports": [{"port": 1}]}))
    server = DnsProcess(tmp_path, apiserver.url, f"127.0.0.1:{upstream.port}", "--register-service",
                        "--service-ip", ip, "--advertise-address", ADVERTISED)
    try:
        server.start()
        wait_until(lambda: f"is already the clusterIP of Service {namespace}/{blocker['metadata']['name']}"
                   in server.log_path.read_text(), timeout=10, what="the IP conflict in the log")
        assert http.get("/api/v1/namespaces/kube-system/services/kube-dns").status_code == 404

        # the IP frees up: the next round registers the Service and its Endpoints
        assert http.delete(f"/api/v1/namespaces/{namespace}/services/{blocker['metadata']['name']}").is_success
        svc = wait_until(lambda: (r := http.get("/api/v1/namespaces/kube-system/services/kube-dns")).is_success
                         and r.json(), timeout=20, what="kube-system/kube-dns")
        assert svc["spec"]["clusterIP"] == ip and svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
        assert "selector" not in svc["spec"]
        assert sorted((p["name"], p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]) == \
            [("dns", 53, "UDP", server.port), ("dns-tcp", 53, "TCP", server.port)]
        ep = wait_until(lambda: (r := http.get("/api/v1/namespaces/kube-system/endpoints/kube-dns")).is_success
                        and r.json(), timeout=10, what="the kube-dns Endpoints")
        [subset] = ep["subsets"]
        assert subset["addresses"] == [{"ip": ADVERTISED}]
        assert sorted((p["name"], p["port"], p["protocol"]) for p in subset["ports"]) == \
            [("dns", server.port, "UDP"), ("dns-tcp", server.port, "TCP")]
        # and it answers for itself
        wait_until(lambda: a_records(server.query("kube-dns.kube-system.svc.cluster.local")) == [ip], timeout=10,
                   what="kube-dns's own A record")
    finally:
        server.stop()
        http.delete("/api/v1/namespaces/kube-system/services/kube-dns")
        http.delete("/api/v1/namespaces/kube-system/endpoints/kube-dns")
