"""The scheduler as a process against a live etcd and apiserver: placement, reasons, retries, no overcommit, failover.

Each test has a cluster of its own (nodes are cluster-wide) with Node objects
that no kubelet runs — the scheduler only needs their allocatable and labels.
"""
from __future__ import annotations

import concurrent.futures
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from common.localcluster import ChildProcess
from conftest import ApiServer, Etcd, wait_until

Obj = dict[str, Any]


class Cluster:
    def __init__(self, api: ApiServer, workdir: Path) -> None:
        self.api, self.workdir = api, workdir
        self.http = httpx.Client(base_url=api.url, timeout=30)
        self.schedulers: list[ChildProcess] = []

    def scheduler(self, config: Obj | None = None, name: str = "") -> ChildProcess:
        """Start `python -m scheduler`; the config defaults to upstream's without leader election."""
        config = config or {"leaderElection": {"leaderElect": False}}
        path = self.workdir / f"scheduler-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "kubescheduler.config.k8s.io/v1",
                                        "kind": "KubeSchedulerConfiguration", **config}))
        argv = [sys.executable, "-m", "scheduler", "--server", self.api.url, "--config", str(path), "--port", "0"]
        process = ChildProcess(f"scheduler{name}", argv, self.workdir / f"scheduler{name}-{path.stem}.log")
        process.start()
        self.schedulers.append(process)
        return process

    def node(self, name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
             labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> None:
        resources = {"cpu": cpu, "memory": memory, "pods": str(pods)}
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                "spec": {"taints": taints or []},
                "status": {"capacity": resources, "allocatable": resources,
                           "conditions": [{"type": "Ready", "status": "True"}]}}
        resp = self.http.post("/api/v1/nodes", json=body)
        assert resp.status_code == 201, resp.text
        status = self.http.patch(f"/api/v1/nodes/{name}/status", json={"status": body["status"]},
                                 headers={"Content-Type": "application/merge-patch+json"})
        assert status.status_code == 200, status.text

    def pod(self, name: str, cpu: str = "100m", memory: str = "64Mi", **spec: Any) -> None:
        container = {"name": "app", "image": "kubelab/busybox:1.35",
                     "resources": {"requests": {"cpu": cpu, "memory": memory}}}
        container.update(spec.pop("container", {}))
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [container], **spec}}
        resp = self.http.post("/api/v1/namespaces/default/pods", json=body)
        assert resp.status_code == 201, resp.text

    def get(self, name: str) -> Obj:
        return self.http.get(f"/api/v1/namespaces/default/pods/{name}").json()

    def node_of(self, name: str, timeout: float = 15) -> str:
        return wait_until(lambda: self.get(name)["spec"].get("nodeName"), timeout=timeout,
                          what=f"pod {name} to be bound")

    def unschedulable_message(self, name: str) -> str:
        def message() -> str | None:
            for condition in self.get(name).get("status", {}).get("conditions") or []:
                if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable":
                    return str(condition["message"])
            return None
        return wait_until(message, timeout=15, what=f"pod {name} to be marked unschedulable")

    def events(self, name: str, reason: str) -> list[Obj]:
        items = self.http.get("/api/v1/namespaces/default/events",
                              params={"fieldSelector": f"involvedObject.name={name}"}).json()["items"]
        return [e for e in items if e["reason"] == reason]

    def close(self) -> None:
        for process in self.schedulers:
            print(process.log_tail(30))
            process.stop()
        self.http.close()


@pytest.fixture
def cluster(private_cluster: tuple[Etcd, ApiServer], tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(private_cluster[1], tmp_path)
    try:
        yield c
    finally:
        c.close()


def test_requests_must_fit_and_the_reasons_say_why_not(cluster: Cluster) -> None:
    cluster.node("small", cpu="2")
    cluster.node("large", cpu="4")
    cluster.scheduler()
    cluster.pod("needs-three", cpu="3")
    assert cluster.node_of("needs-three") == "large"
    cluster.pod("needs-five", cpu="5")
    assert cluster.unschedulable_message("needs-five") == "0/2 nodes are available: 2 Insufficient cpu."
    [event] = wait_until(lambda: cluster.events("needs-five", "FailedScheduling"), what="the FailedScheduling event")
    assert event["type"] == "Warning" and event["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    assert wait_until(lambda: cluster.events("needs-three", "Scheduled"), what="the Scheduled event")[0][
        "message"] == "Successfully assigned default/needs-three to large"


def test_node_selector_and_required_affinity(cluster: Cluster) -> None:
    cluster.node("hdd", labels={"disk": "hdd", "zone": "a"})
    cluster.node("ssd", labels={"disk": "ssd", "zone": "b"})
    cluster.scheduler()
    cluster.pod("wants-ssd", nodeSelector={"disk": "ssd"})
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}]}}}
    cluster.pod("not-zone-b", affinity=affinity)
    cluster.pod("wants-nvme", nodeSelector={"disk": "nvme"})
    assert cluster.node_of("wants-ssd") == "ssd"
    assert cluster.node_of("not-zone-b") == "hdd"
    assert cluster.unschedulable_message("wants-nvme") == \
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


def test_taints_and_tolerations(cluster: Cluster) -> None:
    cluster.node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    cluster.node("drained", taints=[{"key": "maintenance", "effect": "NoExecute"}])
    cluster.scheduler()
    cluster.pod("plain")
    assert cluster.unschedulable_message("plain") == ("0/2 nodes are available: 1 node(s) had untolerated taint "
                                                      "{dedicated: gpu}, 1 node(s) had untolerated taint "
                                                      "{maintenance: }.")
    cluster.pod("tolerant", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                          "effect": "NoSchedule"}])
    assert cluster.node_of("tolerant") == "gpu"


def test_host_ports_do_not_conflict(cluster: Cluster) -> None:
    cluster.node("one")
    cluster.node("two")
    cluster.scheduler()
    port = {"ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]}
    for name in ("web-a", "web-b", "web-c"):
        cluster.pod(name, container=port)
    placed = {cluster.node_of("web-a"), cluster.node_of("web-b")}
    assert placed == {"one", "two"}
    assert cluster.unschedulable_message("web-c") == \
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."


@pytest.mark.parametrize("strategy, expected", [("LeastAllocated", "empty"), ("MostAllocated", "busy")])
def test_scoring_strategy_decides_between_fitting_nodes(cluster: Cluster, strategy: str, expected: str) -> None:
    cluster.node("busy", cpu="4", memory="8Gi")
    cluster.node("empty", cpu="4", memory="8Gi")
    cluster.pod("already-there", cpu="2", memory="4Gi", nodeName="busy")
    profile = {"schedulerName": "default-scheduler", "pluginConfig": [{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"type": strategy, "resources": [{"name": "cpu", "weight": 1},
                                                            {"name": "memory", "weight": 1}]}}}]}
    cluster.scheduler({"leaderElection": {"leaderElect": False}, "profiles": [profile]})
    cluster.pod("newcomer", cpu="500m", memory="512Mi")
    assert cluster.node_of("newcomer") == expected


def test_an_unschedulable_pod_is_placed_as_soon_as_a_node_fits(cluster: Cluster) -> None:
    cluster.node("small", cpu="1")
    cluster.scheduler()
    cluster.pod("big", cpu="8")
    cluster.unschedulable_message("big")
    cluster.node("huge", cpu="16")
    assert cluster.node_of("big", timeout=3) == "huge"  # a node event, not the five-minute retry


def test_no_overcommit_when_200_pods_arrive_at_once(cluster: Cluster) -> None:
    for i in range(5):
        cluster.node(f"tight-{i}", cpu="1", memory="8Gi")
    cluster.scheduler()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: cluster.pod(f"burst-{i}", cpu="100m"), range(200)))

    def placements() -> Counter[str]:
        pods = cluster.http.get("/api/v1/namespaces/default/pods").json()["items"]
        return Counter(p["spec"].get("nodeName") for p in pods)
    wait_until(lambda: sum(n for node, n in placements().items() if node) >= 50, timeout=30,
               what="50 pods bound (10 of 100m on each 1-cpu node)")
    unbound = [f"burst-{j}" for j in range(200) if not cluster.get(f"burst-{j}")["spec"].get("nodeName")]
    for name in unbound[:3]:
        assert "Insufficient cpu" in cluster.unschedulable_message(name)
    time.sleep(1)  # any late binding past a node's room would show now
    counts = placements()
    assert {counts[f"tight-{i}"] for i in range(5)} == {10} and counts[None] == 150, counts


def test_leader_failover(cluster: Cluster) -> None:
    cluster.node("only")
    election = {"leaderElect": True, "leaseDuration": "2s", "renewDeadline": "1500ms", "retryPeriod": "200ms"}
    first = cluster.scheduler({"leaderElection": election}, name="-a")
    cluster.pod("before")
    assert cluster.node_of("before") == "only"
    holder = cluster.http.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler").json()
    second = cluster.scheduler({"leaderElection": election}, name="-b")
    assert first.proc is not None
    first.proc.kill()  # no release: the standby must wait out the lease
    first.proc.wait()
    cluster.pod("after")
    assert cluster.node_of("after", timeout=15) == "only"
    lease = cluster.http.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler").json()
    assert lease["spec"]["holderIdentity"] != holder["spec"]["holderIdentity"]
    assert second.proc is not None and second.proc.poll() is None
