"""`python -m kubelet --hollow` on the live apiserver: 50 Ready nodes, renewing Leases, pods Running, deletions done."""
from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.localcluster import ChildProcess, free_port
from conftest import wait_until

COUNT = 50
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
Obj = dict[str, Any]


class Hollow:
    """A hollow kubelet subprocess with nodes of its own prefix; its Nodes and Leases are deleted at the end."""

    def __init__(self, api_url: str, workdir: Path, count: int, *flags: str) -> None:
        self.prefix = f"h{uuid.uuid4().hex[:6]}-"
        self.count, self.api_url = count, api_url
        self.healthz = f"http://127.0.0.1:{free_port()}"
        argv = [sys.executable, "-m", "kubelet", "--hollow", "--count", str(count), "--node-name-prefix",
                self.prefix, "--server", api_url, "--healthz-port", self.healthz.rsplit(":", 1)[1],
                "--node-lease-duration-seconds", "8", *flags]  # renewals every 2 s keep the test short
        self.process = ChildProcess("hollow", argv, workdir / f"hollow-{self.prefix}.log")

    def log(self) -> str:
        return self.process.log_path.read_text()

    def names(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(self.count)]

    def cleanup(self, http: httpx.Client) -> None:
        self.process.stop()
        for name in self.names():
            http.delete(f"/api/v1/nodes/{name}")
            http.delete(f"{LEASES}/{name}")


@pytest.fixture
def hollow(apiserver: Any, http: httpx.Client, tmp_path: Path) -> Iterator[Hollow]:
    yield from _running(Hollow(apiserver.url, tmp_path, COUNT), http)


@pytest.fixture
def statusless(apiserver: Any, http: httpx.Client, tmp_path: Path) -> Iterator[Hollow]:
    yield from _running(Hollow(apiserver.url, tmp_path, 2, "--no-pod-status"), http)


@pytest.fixture
def statusful_pair(apiserver: Any, http: httpx.Client, tmp_path: Path) -> Iterator[Hollow]:
    yield from _running(Hollow(apiserver.url, tmp_path, 2), http)


def _running(nodes: Hollow, http: httpx.Client) -> Iterator[Hollow]:
    try:
        nodes.process.start()
        nodes.process.wait_ready(f"{nodes.healthz}/healthz", timeout=20)
        wait_until(lambda: "caches synced" in nodes.log(), timeout=15, what="nodes registered, pods informer synced")
        yield nodes
    finally:
        print(nodes.process.log_tail(30))
        nodes.cleanup(http)


def our_nodes(http: httpx.Client, nodes: Hollow) -> list[Obj]:
    items = http.get("/api/v1/nodes", params={"labelSelector": "kubelab.io/hollow=true"}).json()["items"]
    return [n for n in items if n["metadata"]["name"].startswith(nodes.prefix)]


def ready(node: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or [])


def renew_times(http: httpx.Client, nodes: Hollow) -> dict[str, str]:
    items = http.get(LEASES).json()["items"]
    return {lease["metadata"]["name"]: lease["spec"]["renewTime"] for lease in items
            if lease["metadata"]["name"].startswith(nodes.prefix)}


def pod(name: str, node: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx:1.27"},
                                                      {"name": "log", "image": "busybox"}]}}


def create(http: httpx.Client, namespace: str, body: Obj) -> Obj:
    resp = http.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def get(http: httpx.Client, namespace: str, name: str) -> Obj:
    return http.get(f"/api/v1/namespaces/{namespace}/pods/{name}").json()


# -- nodes and leases -----------------------------------------------------------------------------------------------

def test_nodes_register_ready_and_leases_renew(hollow: Hollow, http: httpx.Client) -> None:
    nodes = wait_until(lambda: len(found := our_nodes(http, hollow)) == COUNT and all(map(ready, found)) and found,
                       timeout=15, what=f"{COUNT} Ready hollow nodes")
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(hollow.names())
    node = next(n for n in nodes if n["metadata"]["name"] == f"{hollow.prefix}7")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == f"{hollow.prefix}7"
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.64.0.8"}
    assert node["status"]["capacity"] == {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "100Gi", "pods": "110"}
    assert len({n["status"]["addresses"][0]["address"] for n in nodes}) == COUNT

    leases = http.get(LEASES).json()["items"]
    lease = next(item for item in leases if item["metadata"]["name"] == f"{hollow.prefix}7")
    assert lease["spec"]["holderIdentity"] == f"{hollow.prefix}7" and lease["spec"]["leaseDurationSeconds"] == 8
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    first = renew_times(http, hollow)
    assert len(first) == COUNT
    wait_until(lambda: all(t > first[name] for name, t in renew_times(http, hollow).items()), timeout=6,
               interval=0.2, what="every lease renewed again")

    assert httpx.get(f"{hollow.healthz}/healthz").text == "ok"
    assert f"kubelab_hollow_nodes {COUNT}.0" in httpx.get(f"{hollow.healthz}/metrics").text


def test_sigterm_stops_it_cleanly(hollow: Hollow) -> None:
    process = hollow.process.proc
    assert process is not None
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert "hollow kubelet stopped" in hollow.process.log_tail(5)


# -- pods -----------------------------------------------------------------------------------------------------------

def test_pod_runs_and_its_deletion_completes(hollow: Hollow, http: httpx.Client, namespace: str) -> None:
    stranger = create(http, namespace, pod("stranger", f"{hollow.prefix}{COUNT}"))  # a node it does not run
    created = create(http, namespace, pod("web", f"{hollow.prefix}7"))
    uid = created["metadata"]["uid"]
    running = wait_until(lambda: (p := get(http, namespace, "web"))["status"].get("phase") == "Running" and p,
                         timeout=10, what="pod web Running")
    status = running["status"]
    assert status["podIP"] == "10.128.7.1" and status["hostIP"] == "10.64.0.8"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True",
        "PodScheduled": "True"}
    assert [(s["name"], s["ready"], s["restartCount"], s["containerID"], "running" in s["state"])
            for s in status["containerStatuses"]] == [
        ("web", True, 0, f"hollow://{uid}-web", True), ("log", True, 0, f"hollow://{uid}-log", True)]
    assert status["containerStatuses"][0]["image"] == "nginx:1.27" and status["startTime"]

    second = create(http, namespace, pod("web2", f"{hollow.prefix}7"))
    wait_until(lambda: get(http, namespace, "web2")["status"].get("podIP") == "10.128.7.2", timeout=10,
               what="a second address on the node")
    # Events come in order and two pods have been handled since: the one on a node it does not run was left alone.
    assert get(http, namespace, "stranger")["status"]["phase"] == "Pending"

    resp = http.delete(f"/api/v1/namespaces/{namespace}/pods/web")  # graceful: 30 s unless the kubelet finishes
    assert resp.status_code in (200, 202) and resp.json()["metadata"]["deletionTimestamp"]
    wait_until(lambda: http.get(f"/api/v1/namespaces/{namespace}/pods/web").status_code == 404, timeout=10,
               what="pod web deleted")
    for gone in (second, stranger):
        http.delete(f"/api/v1/namespaces/{namespace}/pods/{gone['metadata']['name']}",
                    params={"gracePeriodSeconds": "0"})


def test_no_pod_status_leaves_pods_pending_but_finishes_deletions(statusless: Hollow, http: httpx.Client,
                                                                  namespace: str) -> None:
    create(http, namespace, pod("quiet", f"{statusless.prefix}1"))
    create(http, namespace, pod("marker", f"{statusless.prefix}0"))
    http.delete(f"/api/v1/namespaces/{namespace}/pods/marker")
    wait_until(lambda: http.get(f"/api/v1/namespaces/{namespace}/pods/marker").status_code == 404, timeout=10,
               what="pod marker deleted")
    assert get(http, namespace, "quiet")["status"]["phase"] == "Pending"  # seen before the marker, not touched
    http.delete(f"/api/v1/namespaces/{namespace}/pods/quiet")
    wait_until(lambda: http.get(f"/api/v1/namespaces/{namespace}/pods/quiet").status_code == 404, timeout=10,
               what="pod quiet deleted")


def test_a_restart_adopts_its_nodes_leases_and_pod_addresses(statusful_pair: Hollow, http: httpx.Client,
                                                              namespace: str) -> None:
    nodes = statusful_pair
    node = f"{nodes.prefix}1"
    create(http, namespace, pod("before", node))
    wait_until(lambda: get(http, namespace, "before")["status"].get("podIP") == "10.128.1.1", timeout=10,
               what="pod before Running")
    uid = http.get(f"/api/v1/nodes/{node}").json()["metadata"]["uid"]
    nodes.process.stop()
    renewed = renew_times(http, nodes)[node]

    nodes.process.start()
    wait_until(lambda: nodes.log().count("caches synced") == 2, timeout=15, what="the restarted hollow kubelet")
    assert "; 2 existed)" in nodes.log()
    assert http.get(f"/api/v1/nodes/{node}").json()["metadata"]["uid"] == uid  # the same Node, not a new one
    wait_until(lambda: renew_times(http, nodes)[node] > renewed, timeout=6, what="the lease renewed again")
    create(http, namespace, pod("after", node))
    after = wait_until(lambda: (p := get(http, namespace, "after"))["status"].get("podIP") and p, timeout=10,
                       what="pod after Running")
    assert after["status"]["podIP"] == "10.128.1.2"  # .1 still belongs to the pod from before the restart
    for name in ("before", "after"):
        http.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", params={"gracePeriodSeconds": "0"})


def test_a_deleted_node_stops_heartbeating(statusless: Hollow, http: httpx.Client) -> None:
    node = f"{statusless.prefix}1"
    assert http.delete(f"/api/v1/nodes/{node}").status_code == 200
    assert http.delete(f"{LEASES}/{node}").status_code == 200
    wait_until(lambda: f"node {node} was deleted" in statusless.log(), timeout=6, what="the deletion noticed")
    wait_until(lambda: http.get(f"{LEASES}/{node}").status_code == 404, timeout=3, what="the lease PUT undone")
    other = f"{statusless.prefix}0"
    for _ in range(2):  # two more rounds of renewals: node 1's turns came and went
        last = renew_times(http, statusless)[other]
        wait_until(lambda last=last: renew_times(http, statusless)[other] > last, timeout=6, interval=0.2,
                   what=f"lease {other} renewed")
    assert http.get(f"{LEASES}/{node}").status_code == 404  # no more heartbeats, no re-registration
    assert http.get(f"/api/v1/nodes/{node}").status_code == 404
    assert "kubelab_hollow_nodes 1.0" in httpx.get(f"{statusless.healthz}/metrics").text


# -- errors ---------------------------------------------------------------------------------------------------------

def test_a_bad_kubeconfig_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "kubelet", "--hollow", "--count", "2", "--kubeconfig",
                             str(tmp_path / "missing"), "--healthz-port", "0"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hollow kubelet stopped:" in lines[0] and "missing" in lines[0], result.stderr
