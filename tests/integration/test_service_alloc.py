"""Service cluster IP and node port allocation against a live apiserver and etcd.

The session apiserver is shared: every test works in its own namespace and asks for IPs and ports chosen
at random (and checked free in etcd) so that other tests' Services never collide with its requests.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from apiserver.servicealloc import IP_PREFIX, PORT_PREFIX
from apiserver.storage import Storage
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from conftest import ApiServer, Etcd, until, wait_until
from controller_manager.namespace import NamespaceController
from helpers import assert_status, cause_fields

RANGE = ipaddress.ip_network("10.96.0.0/12")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MERGE = {"Content-Type": "application/merge-patch+json"}


def svc_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/services" + (f"/{name}" if name else "")


def service(name: str, *, type_: str = "ClusterIP", cluster_ip: str | None = None,
            node_ports: list[int | None] | None = None, **spec: Any) -> dict[str, Any]:
    ports = [{"name": f"p{i}", "port": 80 + i, "protocol": "TCP"} for i in range(len(node_ports or [None]))]
    for port, node_port in zip(ports, node_ports or []):
        if node_port:
            port["nodePort"] = node_port
    body: dict[str, Any] = {"type": type_, "selector": {"app": name}, "ports": ports, **spec}
    if cluster_ip:
        body.update(clusterIP=cluster_ip, clusterIPs=[cluster_ip])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def etcd_keys(etcd_url: str, prefix: str) -> set[str]:
    async def read() -> set[str]:
        store = Storage([etcd_url])
        try:
            await store.connect()
            return {kv.key for kv in (await store.list(prefix)).items}
        finally:
            await store.close()
    return asyncio.run(read())


def free_ip(etcd: Etcd) -> str:
    """An IP in the range (away from the start, where fixed IPs such as DNS's live) that nothing holds."""
    taken = etcd_keys(etcd.url, IP_PREFIX)
    while True:
        ip = str(RANGE.network_address + random.randrange(4096, RANGE.num_addresses - 1))
        if IP_PREFIX + ip not in taken:
            return ip


def free_node_port(etcd: Etcd) -> int:
    taken = etcd_keys(etcd.url, PORT_PREFIX)
    while True:
        port = random.randrange(30000, 32768)
        if f"{PORT_PREFIX}{port}" not in taken:
            return port


def create(http: httpx.Client, ns: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    resp = http.post(svc_path(ns), json=body, params=params)
    assert resp.status_code == 201, resp.text
    return resp.json()


def node_ports(svc: dict[str, Any]) -> list[int]:
    return [p["nodePort"] for p in svc["spec"]["ports"] if p.get("nodePort")]


def assert_usable_ip(ip: str, network: ipaddress.IPv4Network = RANGE) -> None:
    address = ipaddress.ip_address(ip)
    assert address in network and address not in (network.network_address, network.broadcast_address), ip


def test_concurrent_creates_get_distinct_cluster_ips_and_node_ports(http: httpx.Client, namespace: str,
                                                                     etcd: Etcd) -> None:
    bodies = [service(f"s{i}", type_="NodePort" if i % 2 else "ClusterIP",
                      node_ports=[None, None] if i % 4 == 1 else None) for i in range(50)]
    with ThreadPoolExecutor(16) as pool:
        created = list(pool.map(lambda body: create(http, namespace, body), bodies))
    ips = [svc["spec"]["clusterIP"] for svc in created]
    assert len(set(ips)) == 50
    for svc, ip in zip(created, ips):
        assert_usable_ip(ip)
        assert svc["spec"]["clusterIPs"] == [ip] and svc["spec"]["ipFamilies"] == ["IPv4"]
        assert svc["spec"]["ipFamilyPolicy"] == "SingleStack"
    ports = [port for svc in created for port in node_ports(svc)]
    assert len(ports) == 25 + 13 and len(set(ports)) == len(ports)
    assert all(30000 <= port <= 32767 for port in ports)
    assert all(len(node_ports(svc)) == (2 if i % 4 == 1 else 1 if i % 2 else 0) for i, svc in enumerate(created))
    keys = etcd_keys(etcd.url, "/registry/ranges/")
    assert {IP_PREFIX + ip for ip in ips} <= keys and {f"{PORT_PREFIX}{p}" for p in ports} <= keys
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda body: http.delete(svc_path(namespace, body["metadata"]["name"])).status_code,
                              bodies))
    assert codes == [200] * 50
    keys = etcd_keys(etcd.url, "/registry/ranges/")
    assert not ({IP_PREFIX + ip for ip in ips} | {f"{PORT_PREFIX}{p}" for p in ports}) & keys  # nothing leaked


def test_requested_ip_and_port_are_honoured(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    ip, port = free_ip(etcd), free_node_port(etcd)
    svc = create(http, namespace, service("web", type_="NodePort", cluster_ip=ip, node_ports=[port]))
    assert svc["spec"]["clusterIPs"] == [ip] and node_ports(svc) == [port]
    assert {IP_PREFIX + ip, f"{PORT_PREFIX}{port}"} <= etcd_keys(etcd.url, "/registry/ranges/")


def test_taken_ip_is_refused_with_the_field_and_upstream_message(http: httpx.Client, namespace: str,
                                                                  etcd: Etcd) -> None:
    ip = free_ip(etcd)
    create(http, namespace, service("first", cluster_ip=ip))
    body = assert_status(http.post(svc_path(namespace), json=service("second", cluster_ip=ip)), 422, "Invalid")
    assert cause_fields(body) == ["spec.clusterIPs[0]"]
    assert body["message"] == (f'Service "second" is invalid: spec.clusterIPs[0]: Invalid value: "{ip}": '
                               f"failed to allocate IP {ip}: provided IP is already allocated")
    assert http.get(svc_path(namespace, "second")).status_code == 404  # no partial write


def test_ip_outside_the_range_is_refused(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    body = assert_status(http.post(svc_path(namespace), json=service("far", cluster_ip="10.0.0.5")), 422, "Invalid")
    assert cause_fields(body) == ["spec.clusterIPs[0]"]
    assert body["message"].endswith('spec.clusterIPs[0]: Invalid value: "10.0.0.5": failed to allocate IP 10.0.0.5: '
                                    "the provided IP (10.0.0.5) is not in the valid range. "
                                    "The range of valid IPs is 10.96.0.0/12")
    assert IP_PREFIX + "10.0.0.5" not in etcd_keys(etcd.url, IP_PREFIX)
    for address in ("10.96.0.0", "10.111.255.255"):  # the network and broadcast addresses are not for Services
        body = assert_status(http.post(svc_path(namespace), json=service("edge", cluster_ip=address)), 422, "Invalid")
        assert "not in the valid range" in body["message"], body


def test_taken_and_out_of_range_node_ports_are_refused(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    port = free_node_port(etcd)
    first = create(http, namespace, service("first", type_="NodePort", node_ports=[port]))
    body = assert_status(http.post(svc_path(namespace), json=service("second", type_="NodePort",
                                                                     node_ports=[None, port])), 422, "Invalid")
    assert cause_fields(body) == ["spec.ports[1].nodePort"]
    assert body["message"] == (f'Service "second" is invalid: spec.ports[1].nodePort: Invalid value: {port}: '
                               "provided port is already allocated")
    body = assert_status(http.post(svc_path(namespace), json=service("third", type_="NodePort", node_ports=[80])),
                         422, "Invalid")
    assert cause_fields(body) == ["spec.ports[0].nodePort"]
    assert body["message"].endswith("spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid "
                                    "range. The range of valid ports is 30000-32767")
    # The refused Services claimed nothing: their cluster IPs went back with them.
    ips = {key.removeprefix(IP_PREFIX) for key in etcd_keys(etcd.url, IP_PREFIX)}
    assert first["spec"]["clusterIP"] in ips
    assert [s["metadata"]["name"] for s in http.get(svc_path(namespace)).json()["items"]] == ["first"]


def test_delete_releases_ip_and_port_for_immediate_reuse(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    ip, port = free_ip(etcd), free_node_port(etcd)
    create(http, namespace, service("a", type_="NodePort", cluster_ip=ip, node_ports=[port]))
    assert http.delete(svc_path(namespace, "a")).status_code == 200
    assert not {IP_PREFIX + ip, f"{PORT_PREFIX}{port}"} & etcd_keys(etcd.url, "/registry/ranges/")
    again = create(http, namespace, service("b", type_="NodePort", cluster_ip=ip, node_ports=[port]))
    assert again["spec"]["clusterIP"] == ip and node_ports(again) == [port]


def test_type_changes_release_node_ports_and_cluster_ip(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    svc = create(http, namespace, service("web", type_="NodePort", node_ports=[None, None]))
    ip, ports = svc["spec"]["clusterIP"], node_ports(svc)
    resp = http.patch(svc_path(namespace, "web"), json={"spec": {"type": "ClusterIP"}}, headers=MERGE)
    assert resp.status_code == 200, resp.text
    assert node_ports(resp.json()) == [] and resp.json()["spec"]["clusterIP"] == ip
    assert "externalTrafficPolicy" not in resp.json()["spec"]
    create(http, namespace, service("reuse", type_="NodePort", node_ports=ports))  # the ports are free again
    resp = http.patch(svc_path(namespace, "web"), json={"spec": {"type": "ExternalName",
                                                                  "externalName": "db.example.com"}}, headers=MERGE)
    assert resp.status_code == 200, resp.text
    assert "clusterIP" not in resp.json()["spec"] and "clusterIPs" not in resp.json()["spec"]
    assert IP_PREFIX + ip not in etcd_keys(etcd.url, IP_PREFIX)
    create(http, namespace, service("reuse-ip", cluster_ip=ip))
    # ...and back: an ExternalName Service turned ClusterIP is given a new IP, NodePort new ports.
    resp = http.patch(svc_path(namespace, "web"), json={"spec": {"type": "NodePort", "externalName": None}},
                      headers=MERGE)
    assert resp.status_code == 200, resp.text
    assert_usable_ip(resp.json()["spec"]["clusterIP"])
    assert resp.json()["spec"]["clusterIP"] != ip and len(node_ports(resp.json())) == 2


def test_cluster_ip_is_immutable(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    svc = create(http, namespace, service("web"))
    other = free_ip(etcd)
    svc["spec"].update(clusterIP=other, clusterIPs=[other])
    body = assert_status(http.put(svc_path(namespace, "web"), json=svc), 422, "Invalid")
    assert "spec.clusterIPs[0]" in cause_fields(body) and "may not change once set" in body["message"]
    assert IP_PREFIX + other not in etcd_keys(etcd.url, IP_PREFIX)


def test_adding_and_removing_ports_claims_and_releases_node_ports(http: httpx.Client, namespace: str,
                                                                   etcd: Etcd) -> None:
    svc = create(http, namespace, service("web", type_="NodePort"))
    svc["spec"]["ports"].append({"name": "extra", "port": 9090, "protocol": "TCP"})
    grown = http.put(svc_path(namespace, "web"), json=svc).json()
    first, added = node_ports(grown)
    assert first == node_ports(svc)[0] and added != first
    assert f"{PORT_PREFIX}{added}" in etcd_keys(etcd.url, PORT_PREFIX)
    grown["spec"]["ports"] = grown["spec"]["ports"][:1]
    assert http.put(svc_path(namespace, "web"), json=grown).status_code == 200
    assert f"{PORT_PREFIX}{added}" not in etcd_keys(etcd.url, PORT_PREFIX)


def test_headless_and_external_name_services_get_no_ip(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    before = etcd_keys(etcd.url, "/registry/ranges/")
    headless = create(http, namespace, service("headless", cluster_ip="None"))
    assert headless["spec"]["clusterIPs"] == ["None"]
    external = create(http, namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                        "spec": {"type": "ExternalName", "externalName": "db.example.com"}})
    assert "clusterIP" not in external["spec"] and "clusterIPs" not in external["spec"]
    assert etcd_keys(etcd.url, "/registry/ranges/") <= before


def test_load_balancer_node_ports_follow_allocate_load_balancer_node_ports(http: httpx.Client, namespace: str) -> None:
    plain = create(http, namespace, service("lb", type_="LoadBalancer"))
    assert len(node_ports(plain)) == 1 and plain["spec"]["allocateLoadBalancerNodePorts"] is True
    without = create(http, namespace, service("lb-bare", type_="LoadBalancer", allocateLoadBalancerNodePorts=False))
    assert node_ports(without) == []
    local = create(http, namespace, service("lb-local", type_="LoadBalancer", externalTrafficPolicy="Local"))
    health = local["spec"]["healthCheckNodePort"]
    assert 30000 <= health <= 32767 and health not in node_ports(local)


def test_dry_run_allocates_nothing(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    before = etcd_keys(etcd.url, "/registry/ranges/")
    ip, port = free_ip(etcd), free_node_port(etcd)
    shown = create(http, namespace, service("dry", type_="NodePort", cluster_ip=ip, node_ports=[port]), dryRun="All")
    assert shown["spec"]["clusterIP"] == ip and node_ports(shown) == [port]
    auto = create(http, namespace, service("dry-auto", type_="NodePort"), dryRun="All")
    assert_usable_ip(auto["spec"]["clusterIP"]) and len(node_ports(auto)) == 1
    assert http.get(svc_path(namespace, "dry")).status_code == 404
    assert etcd_keys(etcd.url, "/registry/ranges/") == before
    create(http, namespace, service("real", type_="NodePort", cluster_ip=ip, node_ports=[port]))
    body = assert_status(http.post(svc_path(namespace), json=service("dry2", cluster_ip=ip),
                                   params={"dryRun": "All"}), 422, "Invalid")
    assert "provided IP is already allocated" in body["message"]
    resp = http.patch(svc_path(namespace, "real"), json={"spec": {"type": "ClusterIP"}}, headers=MERGE,
                      params={"dryRun": "All"})
    assert resp.status_code == 200 and node_ports(resp.json()) == []
    assert f"{PORT_PREFIX}{port}" in etcd_keys(etcd.url, PORT_PREFIX)  # a dry-run type change releases nothing
    assert node_ports(http.get(svc_path(namespace, "real")).json()) == [port]


def test_kubernetes_service_is_ensured_at_start_up(http: httpx.Client, apiserver: ApiServer) -> None:
    svc = http.get("/api/v1/namespaces/default/services/kubernetes").json()
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": apiserver.port}]
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    # Without --advertise-address there is no Endpoints object for it.
    assert http.get("/api/v1/namespaces/default/endpoints/kubernetes").status_code == 404


def test_table_shows_cluster_ip_and_ports(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    port = free_node_port(etcd)
    svc = create(http, namespace, service("web", type_="NodePort", node_ports=[port]))
    table = http.get(svc_path(namespace), headers={"Accept": TABLE}).json()
    columns = [c["name"] for c in table["columnDefinitions"]]
    row = dict(zip(columns, table["rows"][0]["cells"]))
    assert row["Cluster-IP"] == svc["spec"]["clusterIP"] and row["Port(s)"] == f"80:{port}/TCP"
    assert row["Type"] == "NodePort"


def test_workers_never_hand_out_a_value_twice_and_report_a_full_range(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two apiserver processes, small ranges: allocation races between them must still give distinct values."""
    etcd = Etcd(tmp_path)
    etcd.start()
    api = ApiServer(tmp_path, etcd.url, "--workers", "2", "--service-cluster-ip-range", "10.200.0.0/26",
                    "--service-node-port-range", "31000-31029", "--advertise-address", "192.0.2.10")
    try:
        api.start()
        assert httpx.post(f"{api.url}/api/v1/namespaces", json={"metadata": {"name": "w"}}).status_code == 201

        def post(i: int) -> httpx.Response:  # a new connection each time: the kernel spreads them over workers
            return httpx.post(f"{api.url}/api/v1/namespaces/w/services", json=service(f"s{i}", type_="NodePort"))
        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(post, range(34)))
        created = [r.json() for r in responses if r.status_code == 201]
        refused = [r.json() for r in responses if r.status_code != 201]
        assert len(created) == 30, [r["message"] for r in refused]
        assert len({s["spec"]["clusterIP"] for s in created}) == 30
        assert sorted(p for s in created for p in node_ports(s)) == list(range(31000, 31030))
        for body in refused:
            assert body["code"] == 422 and body["reason"] == "Invalid", body
            assert body["message"].endswith("spec.ports: failed to allocate a nodePort: range is full"), body
        kubernetes = httpx.get(f"{api.url}/api/v1/namespaces/default/services/kubernetes").json()
        assert kubernetes["spec"]["clusterIP"] == "10.200.0.1"
        endpoints = httpx.get(f"{api.url}/api/v1/namespaces/default/endpoints/kubernetes").json()
        assert endpoints["subsets"] == [{"addresses": [{"ip": "192.0.2.10"}],
                                         "ports": [{"name": "https", "port": api.port, "protocol": "TCP"}]}]
        for s in created:
            assert_usable_ip(s["spec"]["clusterIP"], ipaddress.ip_network("10.200.0.0/26"))
        assert len(etcd_keys(etcd.url, IP_PREFIX)) == 31  # 30 Services and kubernetes
        # Deleted, the kubernetes Service comes back (upstream's bootstrap controller: within 10s).
        assert httpx.delete(f"{api.url}/api/v1/namespaces/default/services/kubernetes").status_code == 200
        wait_until(lambda: httpx.get(f"{api.url}/api/v1/namespaces/default/services/kubernetes").json()
                   .get("spec", {}).get("clusterIP") == "10.200.0.1", timeout=25, what="kubernetes Service back")
    finally:
        api.stop()
        etcd.stop()


@pytest.mark.parametrize("flag, value", [("--service-cluster-ip-range", "10.96.0.0/33"),
                                         ("--service-node-port-range", "32767-30000")])
def test_bad_range_flags_stop_the_apiserver(flag: str, value: str) -> None:
    result = subprocess.run([sys.executable, "-m", "apiserver", flag, value], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "invalid" in result.stderr, result.stderr


def test_collection_delete_releases_everything(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    created = [create(http, namespace, service(f"c{i}", type_="NodePort")) for i in range(3)]
    held = {IP_PREFIX + s["spec"]["clusterIP"] for s in created} | {
        f"{PORT_PREFIX}{p}" for s in created for p in node_ports(s)}
    assert held <= etcd_keys(etcd.url, "/registry/ranges/")
    assert http.delete(svc_path(namespace)).status_code == 200
    assert not held & etcd_keys(etcd.url, "/registry/ranges/")


def test_ipv6_is_refused_on_this_single_stack_cluster(http: httpx.Client, namespace: str) -> None:
    body = assert_status(http.post(svc_path(namespace), json=service("v6", cluster_ip="fd00::10")), 422, "Invalid")
    assert cause_fields(body) == ["spec.ipFamilies[0]"] and "not configured on this cluster" in body["message"]


def _with(body: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body["spec"].update(spec)
    return body


@pytest.mark.parametrize("body, field", [
    (_with(service("p"), ports=[{"port": 0}]), "spec.ports[0].port"),
    (_with(service("p"), ports=[{"port": 80, "protocol": "ICMP"}]), "spec.ports[0].protocol"),
    (_with(service("p"), ports=[{"port": 80}, {"port": 81}]), "spec.ports[0].name"),
    (_with(service("p"), ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]), "spec.ports[1].name"),
    (_with(service("p"), ports=[{"port": 80, "targetPort": "Not_A_Name"}]), "spec.ports[0].targetPort"),
    (_with(service("p"), ports=[{"port": 80, "targetPort": 70000}]), "spec.ports[0].targetPort"),
    (_with(service("p"), type="Balanced"), "spec.type"),
    (_with(service("p"), type="ExternalName"), "spec.externalName"),
    (_with(service("p"), type="ExternalName", externalName="Not_DNS"), "spec.externalName"),
    (_with(service("p"), ports=[{"port": 80, "nodePort": 30080}]), "spec.ports[0].nodePort"),
    (_with(service("p"), sessionAffinity="Sticky"), "spec.sessionAffinity"),
    (_with(service("p"), sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 86401}}),
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds"),
])
def test_invalid_services_are_refused_and_claim_nothing(http: httpx.Client, namespace: str, etcd: Etcd,
                                                        body: dict[str, Any], field: str) -> None:
    before = etcd_keys(etcd.url, "/registry/ranges/")
    status = assert_status(http.post(svc_path(namespace), json=body), 422, "Invalid")
    assert field in cause_fields(status), status
    assert etcd_keys(etcd.url, "/registry/ranges/") == before


def test_service_defaults_on_create(http: httpx.Client, namespace: str) -> None:
    spec = create(http, namespace, _with(service("d", type_="NodePort"), sessionAffinity="ClientIP"))["spec"]
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert spec["externalTrafficPolicy"] == "Cluster" and spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"][0]["targetPort"] == 80 and spec["ports"][0]["protocol"] == "TCP"


def test_allocations_are_counted_in_metrics(http: httpx.Client, namespace: str, etcd: Etcd) -> None:
    def counted() -> dict[str, float]:
        lines = http.get("/metrics").text.splitlines()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines
                if line.startswith(("kube_apiserver_clusterip_allocator_allocation_total",
                                    "kube_apiserver_nodeport_allocator_allocation_total"))}
    before = counted()
    create(http, namespace, service("m", type_="NodePort", cluster_ip=free_ip(etcd)))
    after = counted()
    static_ip = 'kube_apiserver_clusterip_allocator_allocation_total{cidr="10.96.0.0/12",scope="static"}'
    dynamic_port = 'kube_apiserver_nodeport_allocator_allocation_total{scope="dynamic"}'
    assert after[static_ip] == before.get(static_ip, 0) + 1
    assert after[dynamic_port] == before.get(dynamic_port, 0) + 1


async def test_namespace_deletion_releases_its_services_allocations(private_cluster: Any) -> None:
    """The namespace controller deletes Services through the API like any client: they release on the way."""
    etcd_server, api = private_cluster
    async with ApiClient(api.url) as client:
        controller = NamespaceController(client, SharedInformers(client), content_requeue_s=0.5)
        task = asyncio.create_task(controller.run())
        try:
            await client.create(kinds.NAMESPACES, {"metadata": {"name": "doomed"}})
            created = [await client.create(kinds.SERVICES, service(f"s{i}", type_="NodePort"), "doomed")
                       for i in range(3)]
            held = {IP_PREFIX + s["spec"]["clusterIP"] for s in created} | {
                f"{PORT_PREFIX}{p}" for s in created for p in node_ports(s)}
            keys = await asyncio.to_thread(etcd_keys, etcd_server.url, "/registry/ranges/")
            assert held <= keys
            await client.delete(kinds.NAMESPACES, "doomed")

            async def released() -> bool:
                keys = await asyncio.to_thread(etcd_keys, etcd_server.url, "/registry/ranges/")
                return not held & keys
            await until(released, what="the namespace's Services to release their IPs and ports")
            remaining = await asyncio.to_thread(etcd_keys, etcd_server.url, IP_PREFIX)
            assert remaining == {IP_PREFIX + "10.96.0.1"}  # only the kubernetes Service's
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
