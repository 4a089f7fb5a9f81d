"""The pod network agent on three simulated hosts (network namespaces on one switch), for both backends.

Topology, all inside namespaces this test creates (the root namespace only gets
one veth end, for the apiserver to listen on):

    root ──veth── switch netns (Linux bridge) ──veth── host-a, host-b, host-c, outside
    host-X: eth0 on the switch, bridge cni0 = <podCIDR>.1, one "pod" netns on it (<podCIDR>.2)

Each host runs `python -m kube_proxy.podnet` against a private apiserver; the
hosts' FORWARD policy is DROP, as Docker leaves it, and ip_forward starts off.
"""
from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.localcluster import REPO
from conftest import ApiServer, Etcd, wait_until
from netns_harness import Netns, ip, netns  # noqa: F401

CLUSTER_CIDR = "10.244.0.0/16"
PROTO = "66"
HOSTS = ("a", "b", "c")

# Answers every GET with the client's address as the server saw it.
ECHO_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], 8080), H).serve_forever()
"""
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"


class Host:
    def __init__(self, name: str, ns: Netns, ip_addr: str, subnet_index: int, pod: Netns) -> None:
        self.name, self.ns, self.ip, self.pod = name, ns, ip_addr, pod
        self.pod_cidr = f"10.244.{subnet_index}.0/24"
        self.gateway = f"10.244.{subnet_index}.1"
        self.pod_ip = f"10.244.{subnet_index}.2"
        self.agent: subprocess.Popen[bytes] | None = None

    def routes(self) -> str:
        return self.ns.run("ip", "route", "show", "proto", PROTO).stdout


class Lab:
    """`docker_hosts`: hosts left without cni0 and pod, for a Docker engine to make the pod bridge."""

    def __init__(self, make: Any, tmp_path: Path, docker_hosts: tuple[str, ...] = ()) -> None:
        self.make, self.tmp_path, self.docker_hosts = make, tmp_path, docker_hosts
        self.prefix = f"100.{random.randint(64, 127)}.{random.randint(0, 255)}"  # CGNAT space: no host uses it
        self.switch = make("sw")
        self.switch.run("ip", "link", "add", "br0", "type", "bridge")
        self.switch.run("ip", "link", "set", "br0", "up")
        self.uplink = f"kpn{uuid.uuid4().hex[:6]}"  # the root end; it goes with the switch namespace
        ip("link", "add", self.uplink, "type", "veth", "peer", "name", "up0", "netns", self.switch.name)
        self._attach(self.switch, "up0")
        ip("addr", "add", f"{self.prefix}.1/24", "dev", self.uplink)
        ip("link", "set", self.uplink, "up")
        self.hosts = [self._host(name, i + 1) for i, name in enumerate(HOSTS)]
        self.outside = make("out")
        self._plug(self.outside, f"{self.prefix}.100/24")

    def _attach(self, switch: Netns, port: str) -> None:
        switch.run("ip", "link", "set", port, "master", "br0")
        switch.run("ip", "link", "set", port, "up")

    def _plug(self, ns: Netns, cidr: str) -> None:
        port = f"p{uuid.uuid4().hex[:8]}"
        self.switch.run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
        self._attach(self.switch, port)
        ns.run("ip", "addr", "add", cidr, "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")

    def _host(self, name: str, index: int) -> Host:
        ns, pod = self.make(f"h{name}"), self.make(f"p{name}")
        host = Host(f"node-{name}", ns, f"{self.prefix}.{10 + index}", index, pod)
        self._plug(ns, f"{host.ip}/24")
        ns.run("sysctl", "-qw", "net.ipv4.ip_forward=0")
        ns.run("iptables", "-P", "FORWARD", "DROP")  # as Docker leaves it: the agent must accept pod traffic
        if name in self.docker_hosts:
            return host
        ns.run("ip", "link", "add", "cni0", "type", "bridge")
        ns.run("ip", "addr", "add", f"{host.gateway}/24", "dev", "cni0")
        ns.run("ip", "link", "set", "cni0", "up")
        ns.run("ip", "link", "add", "vpod", "type", "veth", "peer", "name", "eth0", "netns", pod.name)
        ns.run("ip", "link", "set", "vpod", "master", "cni0")
        ns.run("ip", "link", "set", "vpod", "up")
        pod.run("ip", "addr", "add", f"{host.pod_ip}/24", "dev", "eth0")
        pod.run("ip", "link", "set", "eth0", "up")
        pod.run("ip", "route", "add", "default", "via", host.gateway)
        return host

    def start_agent(self, host: Host, api_url: str, backend: str) -> None:
        log = open(self.tmp_path / f"podnet-{host.name}.log", "ab")
        host.agent = host.ns.popen([sys.executable, "-m", "kube_proxy.podnet", "--server", api_url,
                                    "--node-name", host.name, "--backend", backend, "--iface", "eth0",
                                    "--cluster-cidr", CLUSTER_CIDR, "--resync-period", "1s", "--healthz-port", "0",
                                    "-v", "1"], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.tmp_path.glob("podnet-*.log")))


@pytest.fixture
def lab(netns: Any, tmp_path: Path) -> Iterator[tuple[Lab, str]]:  # noqa: F811
    with running_lab(netns, tmp_path) as started:
        yield started


@contextlib.contextmanager
def running_lab(netns: Any, tmp_path: Path, docker_hosts: tuple[str, ...] = ()) -> Iterator[tuple[Lab, str]]:  # noqa: F811
    """The hosts, the switch and a private etcd + apiserver the hosts reach; agents are started by the test."""
    the_lab = Lab(netns, tmp_path, docker_hosts)
    etcd_server = Etcd(tmp_path)
    api: ApiServer | None = None
    try:
        etcd_server.start()
        # a private cluster: the agents act on every Node, so no other test's nodes may be in it
        api = ApiServer(tmp_path, etcd_server.url, "--bind-address", f"{the_lab.prefix}.1", "--insecure-allow-remote")
        api.url = f"http://{the_lab.prefix}.1:{api.port}"  # the hosts reach it over the switch
        api.start()
        yield the_lab, api.url
    finally:
        for host in the_lab.hosts:
            if host.agent is not None:
                host.agent.kill()
                host.agent.wait()
        print(the_lab.logs())
        if api is not None:
            api.stop()
        etcd_server.stop()


def create_node(http: httpx.Client, host: Host) -> None:
    resp = http.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": host.name},
                                            "spec": {"podCIDR": host.pod_cidr, "podCIDRs": [host.pod_cidr]}})
    assert resp.status_code == 201, resp.text
    resp = http.patch(f"/api/v1/nodes/{host.name}/status",
                      json={"status": {"addresses": [{"type": "InternalIP", "address": host.ip}]}},
                      headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text


def fetch(client: Netns, url: str) -> str:
    return client.run(sys.executable, "-c", FETCH, url, timeout=10).stdout.strip()


def serve_echo(ns: Netns, address: str) -> None:
    ns.popen([sys.executable, "-c", ECHO_SERVER, address], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("backend", ["host-gw", "vxlan"])
def test_pods_reach_each_other_unmasqueraded_and_the_outside_masqueraded(lab: tuple[Lab, str],
                                                                         backend: str) -> None:
    the_lab, api_url = lab
    a, b, c = the_lab.hosts
    with httpx.Client(base_url=api_url, timeout=10) as http:
        for host in the_lab.hosts:
            create_node(http, host)
        for host in the_lab.hosts:
            the_lab.start_agent(host, api_url, backend)
        for host in the_lab.hosts:
            others = [h.pod_cidr for h in the_lab.hosts if h is not host]
            wait_until(lambda: all(cidr in host.routes() for cidr in others), timeout=30,
                       what=f"routes to the other pod CIDRs on {host.name}")
        if backend == "vxlan":
            node_b = http.get(f"/api/v1/nodes/{b.name}").json()
            mac = node_b["metadata"]["annotations"]["kubelab.io/vtep-mac"]
            assert mac in a.ns.run("bridge", "fdb", "show", "dev", "kubelab.1").stdout
            assert f"{b.ip}" in a.ns.run("bridge", "fdb", "show", "dev", "kubelab.1").stdout
            assert "10.244.2.0 lladdr " + mac in a.ns.run("ip", "neigh", "show", "dev", "kubelab.1").stdout
            assert "mtu 1450" in a.ns.run("ip", "link", "show", "kubelab.1").stdout
        assert a.ns.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"

        # pod on A → pod on B: the server sees the client pod's own IP
        serve_echo(b.pod, b.pod_ip)
        assert wait_until(lambda: fetch(a.pod, f"http://{b.pod_ip}:8080/"), timeout=15,
                          what="pod a to reach pod b") == a.pod_ip
        assert fetch(c.pod, f"http://{b.pod_ip}:8080/") == c.pod_ip
        # pod on A → outside the cluster CIDR: masqueraded to host A's address
        serve_echo(the_lab.outside, f"{the_lab.prefix}.100")
        assert wait_until(lambda: fetch(a.pod, f"http://{the_lab.prefix}.100:8080/"), timeout=15,
                          what="pod a to reach the outside") == a.ip

        # drift: a route removed by hand comes back on the periodic pass
        a.ns.run("ip", "route", "del", b.pod_cidr)
        wait_until(lambda: b.pod_cidr in a.routes(), timeout=10, what="the deleted route to come back")

        # a deleted Node's route (and tunnel entries) disappear on the others, nobody else's route is touched
        a.ns.run("ip", "route", "add", "10.99.0.0/24", "via", f"{the_lab.prefix}.100")
        assert http.delete(f"/api/v1/nodes/{c.name}").status_code == 200
        for host in (a, b):
            wait_until(lambda: c.pod_cidr not in host.routes(), timeout=15, what=f"{host.name} to drop node c")
        assert b.pod_cidr in a.routes() and a.pod_cidr in b.routes()
        assert "10.99.0.0/24" in a.ns.run("ip", "route").stdout
        if backend == "vxlan":
            assert "10.244.3.0" not in a.ns.run("ip", "neigh", "show", "dev", "kubelab.1").stdout
        assert fetch(a.pod, f"http://{b.pod_ip}:8080/") == a.pod_ip

        # --cleanup leaves no route, device or chain of the agent
        assert "KUBELAB-POSTRTG" in a.ns.iptables_save("nat")
        assert "KUBELAB-FWD" in a.ns.iptables_save("filter")
        assert a.agent is not None
        a.agent.kill()
        a.agent.wait()
        a.ns.run(sys.executable, "-m", "kube_proxy.podnet", "--cleanup", "--vxlan-id", "1")
        assert a.routes().strip() == ""
        assert "kubelab.1" not in a.ns.run("ip", "link").stdout
        assert "KUBELAB" not in a.ns.iptables_save("nat") + a.ns.iptables_save("filter")
        assert "10.99.0.0/24" in a.ns.run("ip", "route").stdout
        assert "cni0" in a.ns.run("ip", "route").stdout
