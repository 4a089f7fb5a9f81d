"""kube-proxy against real iptables: a "host" network namespace runs `python -m kube_proxy`, "pods" are further
namespaces behind veth pairs answering HTTP with their own name, and a private etcd + apiserver (bound to the
root end of the host's uplink veth) holds the Services and Endpoints the test writes.

    root ns ── 100.64.a.b/30 ── host ns (kube-proxy) ── 10.244.k.1/24 ── pod-k ns (10.244.k.2, HTTP :8080)

Nothing outside the namespaces created here is touched (the root end of the uplink gets an address, which is
what `veth(None, ...)` is for); every namespace, process and chain goes when the module ends.
"""
from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ApiServer, Etcd, wait_until
from netns_harness import Netns, veth  # noqa: F401

from common.localcluster import REPO
from kube_proxy.proxier import chain_name

pytestmark = pytest.mark.skipif(subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0",
                                reason="network namespaces need root")

POD_PORT = 8080
SYNC_PERIOD_S = 2.0

SERVER = r"""
import http.server, sys
name = sys.argv[1].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # "/": the pod's name; "/ip": name and the client address it sees
        body = name + b" " + self.client_address[0].encode() if self.path == "/ip" else name
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Handler).serve_forever()
"""

# n requests on fresh connections; each answer is the backend's name or "error:<exception>:<seconds taken>".
CLIENT = r"""
import http.client, json, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
answers = []
for _ in range(n):
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=3)
        conn.request("GET", "/", headers={"Connection": "close"})
        answers.append(conn.getresponse().read().decode())
        conn.close()
    except OSError as exc:
        answers.append(f"error:{type(exc).__name__}:{time.monotonic() - started:.3f}")
print(json.dumps(answers))
"""


@dataclass
class Lab:
    api: ApiServer
    http: httpx.Client
    host: Netns
    host_ip: str
    root_ip: str
    pods: dict[str, str]   # pod name -> IP
    client: Netns
    proxy_log: Path
    backend: str = "auto"  # kube-proxy's --iptables-backend; "auto" lands on the system's iptables here
    proxy: subprocess.Popen[bytes] | None = None
    namespaces: list[str] = field(default_factory=list)

    def save(self, table: str) -> str:
        """The host's table, read with the backend kube-proxy writes to."""
        tool = "iptables-legacy-save" if self.backend == "legacy" else "iptables-save"
        return self.host.run(tool, "-t", table).stdout

    def restore(self, text: str) -> None:
        tool = "iptables-legacy-restore" if self.backend == "legacy" else "iptables-restore"
        subprocess.run(self.host.argv([tool, "--noflush"]), input=text, text=True, check=True)

    def start_proxy(self) -> None:
        argv = [sys.executable, "-m", "kube_proxy", "--server", self.api.url, "--node-name", "host",
                "--cluster-cidr", "10.244.0.0/16", "--min-sync-period", "200ms", "--sync-period", f"{SYNC_PERIOD_S}s",
                "--metrics-bind-address", "0.0.0.0", "--iptables-backend", self.backend, "-v", "1"]
        with open(self.proxy_log, "ab") as log:
            self.proxy = self.host.popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_until(self._synced, timeout=30, what="kube-proxy's first sync")

    def _synced(self) -> bool:
        if self.proxy is not None and self.proxy.poll() is not None:
            raise AssertionError(f"kube-proxy exited {self.proxy.returncode}:\n{self.proxy_log.read_text()[-3000:]}")
        try:
            return bool(httpx.get(f"http://{self.host_ip}:10256/healthz", timeout=1).json()["lastUpdated"])
        except httpx.HTTPError:
            return False

    def stop_proxy(self) -> None:
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGTERM)
            try:
                self.proxy.wait(10)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                self.proxy.wait(5)
        self.proxy = None

    def namespace(self) -> str:
        name = f"kp-{uuid.uuid4().hex[:8]}"
        resp = self.http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
        assert resp.status_code == 201, resp.text
        return name


def _random_uplink() -> tuple[str, str]:
    """A /30 in 100.64.0.0/10 (shared address space, unused here) so parallel runs don't collide."""
    base = (100 << 24) | (64 << 16) | (random.randrange(1 << 14) << 2)
    as_ip = lambda n: socket.inet_ntoa(n.to_bytes(4, "big"))  # noqa: E731
    return as_ip(base + 1), as_ip(base + 2)


def _random_cluster_ip() -> str:
    return f"10.{random.randrange(97, 112)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _pod(ns_factory: list[Netns], host: Netns, index: int, name: str, serve: bool) -> tuple[Netns, str]:
    pod = Netns(f"kl-{name}-{uuid.uuid4().hex[:6]}")
    ns_factory.append(pod)
    veth(host, f"10.244.{index}.1/24", pod, f"10.244.{index}.2/24")
    pod.run("ip", "route", "add", "default", "via", f"10.244.{index}.1")
    if serve:
        pod.popen([sys.executable, "-c", SERVER, name, str(POD_PORT)], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)
    return pod, f"10.244.{index}.2"


@pytest.fixture(scope="module", params=["auto", "legacy"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The whole set-up, once per iptables backend (nf_tables through the system's iptables, and legacy)."""
    workdir = tmp_path_factory.mktemp("kube-proxy-live")
    made: list[Netns] = []
    etcd = api = None
    lab = None
    try:
        host = Netns(f"kl-host-{uuid.uuid4().hex[:6]}")
        made.append(host)
        root_ip, host_ip = _random_uplink()
        veth(None, f"{root_ip}/30", host, f"{host_ip}/30")
        host.run("ip", "route", "add", "10.96.0.0/12", "via", root_ip)  # ClusterIPs need a route before DNAT
        pods = {}
        for i, name in enumerate(("pod-a", "pod-b", "pod-c"), start=1):
            _, pods[name] = _pod(made, host, i, name, serve=True)
        client, _ = _pod(made, host, 9, "client", serve=False)
        etcd = Etcd(workdir)
        etcd.start()
        api = ApiServer(workdir, etcd.url, "--bind-address", root_ip, "--insecure-allow-remote")
        api.url = f"http://{root_ip}:{api.port}"
        api.start()
        lab = Lab(api, httpx.Client(base_url=api.url, timeout=30), host, host_ip, root_ip, pods, client,
                  workdir / f"kube-proxy-{request.param}.log", request.param)
        for ip in pods.values():
            wait_until(lambda ip=ip: host.run("python3", "-c", f"import socket; socket.create_connection(('{ip}', "
                                                           f"{POD_PORT}), 1)", check=False).returncode == 0,
                       timeout=15, what=f"pod at {ip}")
        lab.start_proxy()
        yield lab
    finally:
        if lab is not None:
            lab.stop_proxy()
            lab.http.close()
        if api is not None:
            api.stop()
        if etcd is not None:
            etcd.stop()
        for ns in reversed(made):
            ns.delete()


# -- helpers -------------------------------------------------------------------------------------------------

def make_service(lab: Lab, ns: str, name: str, *, node_port: int | None = None, **spec: Any) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": POD_PORT, "protocol": "TCP"}
    if node_port:
        port["nodePort"] = node_port
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "NodePort" if node_port else "ClusterIP", "clusterIP": _random_cluster_ip(),
                     "ports": [port], **spec}}
    resp = lab.http.post(f"/api/v1/namespaces/{ns}/services", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def set_endpoints(lab: Lab, ns: str, name: str, ready: list[str], not_ready: list[str] = (),
                  nodes: dict[str, str] | None = None) -> None:
    """Endpoints by hand, as the endpoints controller would write them; `nodes` maps pods to their nodeName."""
    subsets = [] if not (ready or not_ready) else [{
        "addresses": [{"ip": lab.pods[p], **({"nodeName": nodes[p]} if nodes else {})} for p in ready],
        "notReadyAddresses": [{"ip": lab.pods[p]} for p in not_ready],
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}]}]
    path = f"/api/v1/namespaces/{ns}/endpoints/{name}"
    body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}, "subsets": subsets}
    if lab.http.get(path).status_code == 404:
        resp = lab.http.post(f"/api/v1/namespaces/{ns}/endpoints", json=body)
    else:
        resp = lab.http.patch(path, json={"subsets": subsets},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code in (200, 201), resp.text


def request(ns: Netns, host: str, port: int, n: int) -> list[str]:
    out = ns.run(sys.executable, "-c", CLIENT, host, str(port), str(n), timeout=120).stdout
    return json.loads(out)


def svc_chain(ns: str, name: str) -> str:
    return chain_name("KUBE-SVC-", f"{ns}/{name}:httptcp")


def sep_chains(lab: Lab, chain: str) -> list[str]:
    """The endpoint chains a KUBE-SVC chain currently jumps to."""
    return sorted({line.rsplit(" -j ", 1)[1] for line in lab.save("nat").splitlines()
                   if line.startswith(f"-A {chain} ") and "-j KUBE-SEP-" in line})


def without_counters(saved: str) -> list[str]:
    """iptables-save output minus its comment lines and packet counters."""
    return [line.split(" [", 1)[0] if line.startswith(":") else line
            for line in saved.splitlines() if not line.startswith("#")]


def chain_exists(lab: Lab, chain: str) -> bool:
    return f":{chain} " in lab.save("nat")


# -- tests -----------------------------------------------------------------------------------------------------

def test_cluster_ip_spreads_over_backends_from_host_and_from_a_pod(lab: Lab) -> None:
    ns = lab.namespace()
    svc = make_service(lab, ns, "web")
    set_endpoints(lab, ns, "web", ["pod-a", "pod-b", "pod-c"])
    ip = svc["spec"]["clusterIP"]
    wait_until(lambda: len(sep_chains(lab, svc_chain(ns, "web"))) == 3, timeout=10, what="3 endpoint chains")
    answers = request(lab.host, ip, 80, 50)
    assert all(a in lab.pods for a in answers), answers
    assert len(set(answers)) >= 2, f"50 requests all went to {set(answers)}"
    from_pod = request(lab.client, ip, 80, 10)
    assert all(a in lab.pods for a in from_pod), from_pod


def test_client_ip_affinity_sticks_to_one_backend(lab: Lab) -> None:
    ns = lab.namespace()
    svc = make_service(lab, ns, "sticky", sessionAffinity="ClientIP")
    set_endpoints(lab, ns, "sticky", ["pod-a", "pod-b", "pod-c"])
    wait_until(lambda: len(sep_chains(lab, svc_chain(ns, "sticky"))) == 3, timeout=10, what="3 endpoint chains")
    answers = request(lab.host, svc["spec"]["clusterIP"], 80, 20)
    assert len(set(answers)) == 1 and answers[0] in lab.pods, answers


def test_node_port_answers_on_the_hosts_ip_and_localhost(lab: Lab) -> None:
    ns = lab.namespace()
    node_port = random.randrange(30000, 32768)
    make_service(lab, ns, "np", node_port=node_port)
    set_endpoints(lab, ns, "np", ["pod-b"])
    wait_until(lambda: f"--dport {node_port} -j KUBE-EXT-" in lab.save("nat"), timeout=10,
               what="the NodePort rule")
    with socket.create_connection((lab.host_ip, node_port), timeout=5) as conn:  # from the root namespace
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert conn.makefile("rb").read().endswith(b"pod-b")
    assert request(lab.host, "127.0.0.1", node_port, 3) == ["pod-b"] * 3  # route_localnet, as upstream


def http_get(address: tuple[str, int], path: str = "/") -> str:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        return conn.makefile("rb").read().split(b"\r\n\r\n", 1)[1].decode()


def test_local_traffic_policy_keeps_client_ip_and_load_balancer_ip_works(lab: Lab) -> None:
    ns = lab.namespace()
    node_port = random.randrange(30000, 32768)
    lb_ip = f"203.0.113.{random.randrange(1, 255)}"  # TEST-NET-3: reached from the client pod via the host
    make_service(lab, ns, "local", node_port=node_port, externalTrafficPolicy="Local", type="LoadBalancer")
    resp = lab.http.patch(f"/api/v1/namespaces/{ns}/services/local/status",
                          json={"status": {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    set_endpoints(lab, ns, "local", ["pod-a", "pod-b"], nodes={"pod-a": "host", "pod-b": "elsewhere"})
    svl = chain_name("KUBE-SVL-", f"{ns}/local:httptcp")
    wait_until(lambda: f"-d {lb_ip}/32" in lab.save("nat") and chain_exists(lab, svl), timeout=10,
               what="the load balancer and local-endpoints rules")
    # From outside the cluster: only the endpoint on this node, and it sees the real client address.
    answers = {http_get((lab.host_ip, node_port), "/ip") for _ in range(12)}
    assert answers == {f"pod-a {lab.root_ip}"}, answers
    # The load balancer IP, from a pod: pods use the whole service.
    assert set(request(lab.client, lb_ip, 80, 30)) == {"pod-a", "pod-b"}


def test_not_ready_endpoint_stops_receiving_traffic(lab: Lab) -> None:
    ns = lab.namespace()
    svc = make_service(lab, ns, "flaky")
    set_endpoints(lab, ns, "flaky", ["pod-a", "pod-c"])
    ip = svc["spec"]["clusterIP"]
    wait_until(lambda: len(sep_chains(lab, svc_chain(ns, "flaky"))) == 2, timeout=10, what="2 endpoint chains")
    assert {"pod-a", "pod-c"} == set(request(lab.host, ip, 80, 40))
    changed = time.monotonic()
    set_endpoints(lab, ns, "flaky", ["pod-a"], not_ready=["pod-c"])
    wait_until(lambda: len(sep_chains(lab, svc_chain(ns, "flaky"))) == 1, timeout=5, what="pod-c's rule gone")
    assert time.monotonic() - changed < 5
    assert set(request(lab.host, ip, 80, 30)) == {"pod-a"}


def test_service_without_endpoints_refuses_connections_at_once(lab: Lab) -> None:
    ns = lab.namespace()
    svc = make_service(lab, ns, "empty")
    ip = svc["spec"]["clusterIP"]
    wait_until(lambda: f'"{ns}/empty:http has no endpoints"' in lab.save("filter"), timeout=10,
               what="the REJECT rule")
    for answer in request(lab.host, ip, 80, 3) + request(lab.client, ip, 80, 3):
        kind, error, seconds = answer.split(":")
        assert (kind, error) == ("error", "ConnectionRefusedError") and float(seconds) < 0.5, answer


def test_deleting_a_service_removes_its_chains(lab: Lab) -> None:
    ns = lab.namespace()
    make_service(lab, ns, "doomed", node_port=random.randrange(30000, 32768))
    set_endpoints(lab, ns, "doomed", ["pod-a", "pod-b"])
    chain = svc_chain(ns, "doomed")
    wait_until(lambda: len(sep_chains(lab, chain)) == 2, timeout=10, what="the service's chains")
    seps = sep_chains(lab, chain)
    ext = chain.replace("KUBE-SVC-", "KUBE-EXT-")
    assert chain_exists(lab, ext)
    assert lab.http.delete(f"/api/v1/namespaces/{ns}/services/doomed").status_code == 200
    wait_until(lambda: not chain_exists(lab, chain), timeout=10, what="KUBE-SVC chain deleted")
    saved = lab.save("nat")
    assert all(f":{c} " not in saved for c in [*seps, ext]), saved
    assert f"{ns}/doomed" not in saved + lab.save("filter")


def test_resync_repairs_a_chain_and_a_jump_deleted_by_hand(lab: Lab) -> None:
    ns = lab.namespace()
    svc = make_service(lab, ns, "drift")
    set_endpoints(lab, ns, "drift", ["pod-c"])
    chain = svc_chain(ns, "drift")
    wait_until(lambda: len(sep_chains(lab, chain)) == 1, timeout=10, what="the service's chains")
    sep = sep_chains(lab, chain)[0]
    vandal = "\n".join(["*nat", f"-F {chain}", f"-F {sep}", "-F KUBE-SERVICES", f"-X {chain}", f"-X {sep}",
                        '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                        "COMMIT", ""])
    lab.restore(vandal)
    assert not chain_exists(lab, chain)
    wait_until(lambda: chain_exists(lab, chain) and chain_exists(lab, sep), timeout=3 * SYNC_PERIOD_S,
               what="the resync")
    wait_until(lambda: lab.save("nat").count("-A PREROUTING -m comment --comment "
                                                           '"kubernetes service portals" -j KUBE-SERVICES') == 1,
               timeout=3 * SYNC_PERIOD_S, what="the PREROUTING jump back, once")
    assert request(lab.host, svc["spec"]["clusterIP"], 80, 3) == ["pod-c"] * 3


def test_restarted_kube_proxy_writes_identical_rules(lab: Lab) -> None:
    ns = lab.namespace()
    make_service(lab, ns, "stable", node_port=random.randrange(30000, 32768), sessionAffinity="ClientIP")
    set_endpoints(lab, ns, "stable", ["pod-a", "pod-b"], not_ready=["pod-c"])
    wait_until(lambda: len(sep_chains(lab, svc_chain(ns, "stable"))) == 2, timeout=10, what="the service's chains")
    time.sleep(0.5)  # let any sync in flight land
    before = {t: without_counters(lab.save(t)) for t in ("filter", "nat")}
    lab.stop_proxy()
    lab.start_proxy()
    after = {t: without_counters(lab.save(t)) for t in ("filter", "nat")}
    assert after == before


def test_healthz_and_metrics(lab: Lab) -> None:
    health = httpx.get(f"http://{lab.host_ip}:10256/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["lastUpdated"] > 0
    text = httpx.get(f"http://{lab.host_ip}:10249/metrics", timeout=5).text
    for name in ("kubeproxy_sync_proxy_rules_duration_seconds_bucket",
                 "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                 "kubeproxy_network_programming_duration_seconds_bucket"):
        assert name in text, name
    count = next(line for line in text.splitlines()
                 if line.startswith("kubeproxy_sync_proxy_rules_duration_seconds_count"))
    assert float(count.split()[1]) >= 1


def test_cleanup_leaves_no_kube_chain_and_keeps_others(lab: Lab) -> None:
    """In a second host namespace of its own: run kube-proxy, stop it, `--cleanup`, look."""
    ns = lab.namespace()
    make_service(lab, ns, "own", node_port=random.randrange(30000, 32768), sessionAffinity="ClientIP")
    set_endpoints(lab, ns, "own", ["pod-a"])
    host2 = Netns(f"kl-host2-{uuid.uuid4().hex[:6]}")
    try:
        root_ip, host_ip = _random_uplink()
        veth(None, f"{root_ip}/30", host2, f"{host_ip}/30")
        # A chain and a jump of someone else's (Docker-like) that must survive.
        host2.run("iptables", "-t", "nat", "-N", "DOCKER")
        host2.run("iptables", "-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL",
                  "-j", "DOCKER")
        api_url = f"http://{lab.root_ip}:{lab.api.port}"
        host2.run("ip", "route", "add", f"{lab.root_ip}/32", "via", root_ip)
        argv = [sys.executable, "-m", "kube_proxy", "--server", api_url, "--node-name", "host2",
                "--healthz-port", "0", "--metrics-port", "0", "--iptables-backend", lab.backend]
        saves = [("iptables-save", "-t", t) for t in ("nat", "filter")] + \
                [("iptables-legacy-save", "-t", t) for t in ("nat", "filter")]
        everything = lambda: "".join(host2.run(*argv_).stdout for argv_ in saves)  # noqa: E731
        proc = host2.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        try:
            wait_until(lambda: f":{svc_chain(ns, 'own')} " in everything(), timeout=30, what="kube-proxy's sync")
        finally:
            proc.terminate()
            proc.wait(10)
        done = host2.run(sys.executable, "-m", "kube_proxy", "--cleanup", timeout=60)  # auto: both backends
        assert done.returncode == 0
        saved = everything()
        assert "KUBE-" not in saved, saved
        assert ":DOCKER - " in saved and "-j DOCKER" in saved
        assert host2.run(sys.executable, "-m", "kube_proxy", "--cleanup", timeout=60).returncode == 0  # idempotent
    finally:
        host2.delete()
