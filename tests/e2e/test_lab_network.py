"""Cluster networking across simulated hosts (kubelab/lab.py): pod to pod between hosts, Services by ClusterIP and
NodePort from pods and hosts, cluster DNS, readiness taking endpoints out of rotation, kube-proxy's rules following
Services and surviving a restart, a host cut off and healed, and the VXLAN backend.

Commands run in pods through their host's own Docker engine (`docker -H <host socket> exec`), and in hosts with
`ip netns exec`; the test runner itself sits in the root namespace on the lab network (10.77.0.1)."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from kubelab.lab import Lab

from .lab_helpers import (BIG_FILE_BYTES, READY_FILE_PROBE, SLEEPER, WHO_SERVER, create_pods, create_service,
                          host_curl, kube_rules, leftovers, pod_exec, pod_manifest, remote_address, service_manifest,
                          stable_rules, wait_for, who, who_many)

pytestmark = pytest.mark.slow


# -- tests -----------------------------------------------------------------------------------------------------

def test_pod_to_pod_across_hosts_keeps_the_client_address(lab: Lab, api: httpx.Client, ns: str) -> None:
    ips = create_pods(api, ns, pod_manifest("server", "h2", WHO_SERVER), pod_manifest("client", "h1", SLEEPER))
    assert ips["server"] != ips["client"]
    answer = wait_for(lambda: who(lab, "h1", ns, "client", f"http://{ips['server']}:8080"), 20,
                      "the server pod on h2 to answer the client pod on h1")
    hostname, _ = answer.split(maxsplit=1)
    assert hostname == "server"
    assert remote_address(answer) == ips["client"], f"the server saw {answer!r}, not the client's pod IP (NAT?)"


def test_cluster_ip_spreads_over_backends_on_other_hosts(lab: Lab, api: httpx.Client, ns: str) -> None:
    web = {"app": "web"}
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, web), pod_manifest("web-h3", "h3", WHO_SERVER, web),
                pod_manifest("client", "h1", SLEEPER))
    service = create_service(api, ns, service_manifest("web", web))
    url = f"http://{service['spec']['clusterIP']}"
    wait_for(lambda: who(lab, "h1", ns, "client", url), 20, "the ClusterIP to answer")
    served = Counter(who_many(lab, "h1", ns, "client", url, 50))
    assert "FAIL" not in served, f"some requests failed: {served}"
    assert set(served) == {"web-h2", "web-h3"}, served


def test_host_reaches_cluster_ip(lab: Lab, api: httpx.Client, ns: str) -> None:
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, {"app": "web"}))
    service = create_service(api, ns, service_manifest("web", {"app": "web"}))
    url = f"http://{service['spec']['clusterIP']}/cgi-bin/who"
    answer = wait_for(lambda: host_curl(lab, "h1", url), 20, "host h1 to reach the ClusterIP")
    assert answer.split()[0] == "web-h2"


def test_node_port_answers_on_every_host(lab: Lab, api: httpx.Client, ns: str) -> None:
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, {"app": "web"}))
    service = create_service(api, ns, service_manifest("web", {"app": "web"}, type_="NodePort"))
    node_port = service["spec"]["ports"][0].get("nodePort")
    assert node_port and 30000 <= node_port <= 32767, service["spec"]

    def answers(host_ip: str) -> str | None:  # from the root namespace, i.e. from outside the cluster's hosts
        resp = httpx.get(f"http://{host_ip}:{node_port}/cgi-bin/who", timeout=2, trust_env=False)
        return resp.text if resp.status_code == 200 else None
    for host in lab.hosts:
        assert wait_for(lambda: answers(host.ip), 20, f"NodePort {node_port} on {host.name}").split()[0] == "web-h2"


def test_pod_resolves_services_by_dns(lab: Lab, api: httpx.Client, ns: str) -> None:
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, {"app": "web"}),
                pod_manifest("client", "h1", SLEEPER))
    cluster_ip = create_service(api, ns, service_manifest("web", {"app": "web"}))["spec"]["clusterIP"]
    resolv = pod_exec(lab, "h1", ns, "client", "cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in resolv, resolv
    assert f"search {ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv, resolv
    fqdn = f"web.{ns}.svc.cluster.local"
    wait_for(lambda: cluster_ip in pod_exec(lab, "h1", ns, "client", f"nslookup {fqdn}", check=False), 20,
             f"{fqdn} to resolve to {cluster_ip}")
    # busybox's nslookup walks the whole search path and exits 1 for the suffixes that do not exist: read the answer.
    assert cluster_ip in pod_exec(lab, "h1", ns, "client", "nslookup web", check=False)
    # The short name goes through the resolver's search path, as an application's lookup does.
    answer = wait_for(lambda: who(lab, "h1", ns, "client", "http://web"), 20, "http://web to answer")
    assert answer.split()[0] == "web-h2"


def test_unready_endpoint_stops_receiving_traffic(lab: Lab, api: httpx.Client, ns: str) -> None:
    web = {"app": "web"}
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, web, READY_FILE_PROBE),
                pod_manifest("web-h3", "h3", WHO_SERVER, web, READY_FILE_PROBE),
                pod_manifest("client", "h1", SLEEPER))
    url = f"http://{create_service(api, ns, service_manifest('web', web))['spec']['clusterIP']}"
    wait_for(lambda: set(who_many(lab, "h1", ns, "client", url, 20)) == {"web-h2", "web-h3"}, 20,
             "both backends to serve")
    pod_exec(lab, "h3", ns, "web-h3", "rm /tmp/ready")
    started = time.monotonic()
    wait_for(lambda: set(who_many(lab, "h1", ns, "client", url, 10)) == {"web-h2"}, 15,
             "traffic to leave the unready web-h3", interval=0)
    took = time.monotonic() - started
    assert set(who_many(lab, "h1", ns, "client", url, 20)) == {"web-h2"}
    assert took < 10, f"the unready endpoint kept receiving traffic for {took:.1f}s"
    print(f"unready endpoint out of rotation after {took:.1f}s")


def test_deleting_a_service_removes_its_rules(lab: Lab, api: httpx.Client, ns: str) -> None:
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, {"app": "web"}))
    cluster_ip = create_service(api, ns, service_manifest("web", {"app": "web"}))["spec"]["clusterIP"]

    def rules_everywhere(present: bool) -> bool:
        return all((cluster_ip in h.run("iptables-save", "-t", "nat")) == present for h in lab.hosts)
    wait_for(lambda: rules_everywhere(True), 20, f"rules for {cluster_ip} on every host")
    api.delete(f"/api/v1/namespaces/{ns}/services/web").raise_for_status()
    wait_for(lambda: rules_everywhere(False), 10, f"the rules for {cluster_ip} to go from every host")
    for host in lab.hosts:
        assert f"{ns}/web" not in host.run("iptables-save"), f"{host.name} still has rules naming {ns}/web"


def test_restarted_kube_proxy_rewrites_identical_rules(lab: Lab, api: httpx.Client, ns: str) -> None:
    create_pods(api, ns, pod_manifest("web-h2", "h2", WHO_SERVER, {"app": "web"}))
    cluster_ip = create_service(api, ns, service_manifest("web", {"app": "web"}))["spec"]["clusterIP"]
    wait_for(lambda: any(cluster_ip in line for line in kube_rules(lab, "h1")), 20, "the Service's rules on h1")
    before = stable_rules(lab, "h1")
    lab.stop_daemon("h1", "kube-proxy")
    lab.host("h1").run("iptables", "-t", "nat", "-F", "KUBE-SERVICES")  # drift while it is down
    assert kube_rules(lab, "h1") != before
    lab.start_daemon("h1", "kube-proxy")
    wait_for(lambda: kube_rules(lab, "h1") == before, 20, "the restarted kube-proxy to rewrite its rules")
    time.sleep(1)
    assert kube_rules(lab, "h1") == before


def test_cut_host_goes_unknown_and_heals(lab: Lab, api: httpx.Client) -> None:
    def ready(node: str) -> str | None:
        conditions = api.get(f"/api/v1/nodes/{node}").raise_for_status().json()["status"]["conditions"]
        return next(c["status"] for c in conditions if c["type"] == "Ready")
    healthz = f"http://{lab.host('h3').ip}:10248/healthz"
    lab.cut("h3")
    try:
        assert lab.status()["hosts"]["h3"]["link"] == "down"
        assert host_curl(lab, "h1", healthz, timeout_s=1) == "", "h1 still reaches h3"
        wait_for(lambda: ready("h3") == "Unknown", 40, "node h3 to turn Unknown", interval=1)
        assert ready("h1") == "True"
    finally:
        lab.heal("h3")
    wait_for(lambda: ready("h3") == "True", 30, "node h3 to be Ready again", interval=1)
    assert host_curl(lab, "h1", healthz) == "ok"


def test_vxlan_backend_pod_to_pod_across_hosts(lab: Lab, make_lab: Callable[[str], Lab]) -> None:
    """Last in the module: it takes the host-gw lab down to bring up one with the VXLAN backend."""
    lab.down()
    vxlan = make_lab("vxlan")
    assert "vxlan" in vxlan.host("h1").run("ip", "-d", "link"), "no VXLAN device on h1"
    with vxlan.http() as api:
        ns = "vxlan-test"
        api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": ns}}).raise_for_status()
        try:
            ips = create_pods(api, ns, pod_manifest("server", "h3", WHO_SERVER), pod_manifest("client", "h1", SLEEPER))
            answer = wait_for(lambda: who(vxlan, "h1", ns, "client", f"http://{ips['server']}:8080"), 20,
                              "the server pod on h3 to answer over VXLAN")
            assert answer.split()[0] == "server" and remote_address(answer) == ips["client"], answer
            # Full-size segments: only fit if the pod network's MTU leaves room for the VXLAN header.
            size = pod_exec(vxlan, "h1", ns, "client",
                            f"timeout 10 wget -qO- http://{ips['server']}:8080/big | wc -c").strip()
            assert size == str(BIG_FILE_BYTES), f"fetched {size} of {BIG_FILE_BYTES} bytes across VXLAN"
        finally:
            api.delete(f"/api/v1/namespaces/{ns}/pods")
            api.delete(f"/api/v1/namespaces/{ns}")
    vxlan.down()
    assert leftovers(vxlan) == []
