"""The controller-manager as a process on a whole control plane: leader failover between two of them, and a node
whose kubelet dies going Unknown while its pods move elsewhere.

Each test has its own etcd and apiserver and runs the real daemons as subprocesses: hollow nodes
(`python -m kubelet --hollow`, pods on them become Running and Ready), the scheduler and the controller-manager.
"""
from __future__ import annotations

import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ApiServer, Etcd, wait_until

from common.localcluster import ChildProcess

NS = "default"
LEADER_FLAGS = ["--leader-elect", "true", "--leader-elect-lease-duration", "2s",
                "--leader-elect-renew-deadline", "1500ms", "--leader-elect-retry-period", "200ms"]
UNREACHABLE, NOT_READY = "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"


class Plane:
    """etcd + apiserver, and the daemons started on them; everything stopped (logs printed) at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.etcd = Etcd(workdir)
        self.etcd.start()
        self.api = ApiServer(workdir, self.etcd.url, "--watch-bookmark-interval", "1s")
        self.daemons: list[ChildProcess] = []
        try:
            self.api.start()
        except BaseException:
            self.etcd.stop()
            raise
        self.http = httpx.Client(base_url=self.api.url, timeout=30)

    def start(self, name: str, module: str, *flags: str) -> ChildProcess:
        daemon = ChildProcess(name, [sys.executable, "-m", module, "--server", self.api.url, *flags],
                              self.workdir / f"{name}.log")
        self.daemons.append(daemon)
        daemon.start()
        return daemon

    def hollow(self, name: str, prefix: str, count: int, *flags: str) -> ChildProcess:
        return self.start(name, "kubelet", "--hollow", "--count", str(count), "--node-name-prefix", prefix,
                          "--healthz-port", "0", *flags)

    def scheduler(self) -> ChildProcess:
        return self.start("scheduler", "scheduler", "--leader-elect", "false", "--port", "0")

    def controller_manager(self, name: str, *flags: str) -> ChildProcess:
        return self.start(name, "controller_manager", "--port", "0", *flags)

    def stop(self) -> None:
        self.http.close()
        for daemon in self.daemons:
            print(f"--- {daemon.name} ---\n{daemon.log_tail(30)}")
            daemon.stop()
        self.api.stop()
        self.etcd.stop()

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, path: str) -> dict[str, Any]:
        resp = self.http.get(path)
        resp.raise_for_status()
        return resp.json()

    def nodes(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/nodes")["items"]

    def pods(self, app: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3D{app}")["items"]

    def deployment(self, name: str) -> dict[str, Any]:
        return self.get(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")

    def available(self, name: str, replicas: int) -> bool:
        d = self.deployment(name)
        status = d.get("status") or {}
        return (status.get("observedGeneration") == d["metadata"]["generation"]
                and status.get("availableReplicas") == replicas and status.get("updatedReplicas") == replicas
                and status.get("replicas") == replicas)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    p = Plane(tmp_path)
    try:
        yield p
    finally:
        p.stop()


def deployment(name: str, replicas: int, tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "kubelab/busybox:1.35",
                                            "command": ["sleep", "3600"],
                                            "resources": {"requests": {"cpu": "50m"}}}]}
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def create_deployment(plane: Plane, body: dict[str, Any]) -> None:
    resp = plane.http.post(f"/apis/apps/v1/namespaces/{NS}/deployments", json=body)
    assert resp.status_code == 201, resp.text


IDENTITY = re.compile(r"(\S+_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def identity_of(daemon: ChildProcess) -> str:
    """The leader-election identity (hostname_uuid) a controller-manager logs while it waits to lead: the only
    way to tell which process holds the Lease, as both run on one host."""
    for line in daemon.log_path.read_text(errors="replace").splitlines():
        if "waiting to lead" in line and (found := IDENTITY.search(line)):
            return found.group(1)
    return ""


def lease_holder(plane: Plane) -> str:
    resp = plane.http.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager")
    return ((resp.json().get("spec") or {}).get("holderIdentity") or "") if resp.status_code == 200 else ""


def live_pods(plane: Plane, app: str) -> list[dict[str, Any]]:
    return [p for p in plane.pods(app) if not p["metadata"].get("deletionTimestamp")]


def test_the_standby_takes_over_when_the_leader_is_killed(plane: Plane) -> None:
    plane.hollow("hollow", "h-", 3)
    plane.scheduler()
    managers = [plane.controller_manager(f"cm-{i}", *LEADER_FLAGS) for i in range(2)]
    identities = [wait_until(lambda m=m: identity_of(m), timeout=30, what=f"{m.name}'s identity in its log")
                  for m in managers]
    assert identities[0] != identities[1]
    holder = wait_until(lambda: lease_holder(plane) in identities and lease_holder(plane), timeout=30,
                        what="one controller-manager holding the lease")
    wait_until(lambda: len(plane.nodes()) == 3, timeout=30, what="3 hollow nodes")

    create_deployment(plane, deployment("web", 2))
    wait_until(lambda: plane.available("web", 2), timeout=30, what="web available with 2 replicas")
    assert lease_holder(plane) == holder  # one leader throughout: no flapping with a 2 s lease

    leader = managers[identities.index(holder)]
    standby, standby_identity = managers[1 - identities.index(holder)], identities[1 - identities.index(holder)]
    assert "starting controllers" not in standby.log_path.read_text()  # the standby only waits
    assert leader.proc is not None
    leader.proc.send_signal(signal.SIGKILL)  # no release: the standby must wait out the lease
    leader.proc.wait(5)
    resp = plane.http.patch(f"/apis/apps/v1/namespaces/{NS}/deployments/web", json={"spec": {"replicas": 5}},
                            headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text

    wait_until(lambda: lease_holder(plane) == standby_identity, timeout=15, what="the standby taking the lease")
    wait_until(lambda: "starting controllers" in standby.log_path.read_text(), timeout=5,
               what="the standby starting its controllers")
    wait_until(lambda: plane.available("web", 5), timeout=30, what="web available with 5 replicas after failover")
    pods = live_pods(plane, "web")
    assert len(pods) == 5 and all(p["spec"]["nodeName"].startswith("h-") for p in pods)
    assert all(p["status"]["phase"] == "Running" for p in pods)
    lease = plane.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager")
    assert lease["spec"]["leaseTransitions"] >= 1


def node_state(node: dict[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    ready = next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")
    return ready, {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


def test_a_dead_nodes_pods_move_to_the_live_ones(plane: Plane) -> None:
    # Leases renewed every 0.5 s (a quarter of 2 s), well inside the 3 s grace period: only a dead node goes stale.
    hollow_a = plane.hollow("hollow-a", "a-", 2, "--node-lease-duration-seconds", "2")
    plane.hollow("hollow-b", "b-", 2, "--node-lease-duration-seconds", "2")
    plane.scheduler()
    plane.controller_manager("cm", "--leader-elect", "false", "--node-monitor-grace-period", "3s",
                             "--node-monitor-period", "500ms")
    wait_until(lambda: len(plane.nodes()) == 4, timeout=30, what="4 hollow nodes")
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}
                   for key in (UNREACHABLE, NOT_READY)]
    create_deployment(plane, deployment("spread", 4, tolerations))
    wait_until(lambda: plane.available("spread", 4), timeout=30, what="spread available with 4 replicas")
    # LeastAllocated spreads 4 equal pods over 4 equal nodes; at least one must be on an a- node to move.
    before = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in live_pods(plane, "spread")}
    on_a = {name for name, node in before.items() if node.startswith("a-")}
    assert on_a, before

    assert hollow_a.proc is not None
    hollow_a.proc.send_signal(signal.SIGKILL)
    hollow_a.proc.wait(5)

    def a_nodes_unreachable() -> bool:
        states = [node_state(n) for n in plane.nodes() if n["metadata"]["name"].startswith("a-")]
        return len(states) == 2 and all(
            ready == "Unknown" and {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")} <= taints
            for ready, taints in states)

    wait_until(a_nodes_unreachable, timeout=20, what="the a- nodes Unknown with the unreachable taints")
    assert all(node_state(n)[0] == "True" and not node_state(n)[1]
               for n in plane.nodes() if n["metadata"]["name"].startswith("b-"))

    def moved() -> bool:
        pods = plane.pods("spread")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        evicted = {p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp")}
        return (len(live) == 4 and all((p["spec"].get("nodeName") or "").startswith("b-") for p in live)
                and all(name in evicted or name not in {p["metadata"]["name"] for p in pods} for name in on_a)
                and plane.available("spread", 4))

    wait_until(moved, timeout=30, what="4 live spread pods on b- nodes and the deployment available again")
    pods = plane.pods("spread")
    # Nobody completes the deletion of a pod on a dead node (upstream's pod GC would, much later): the evicted
    # pods stay Terminating on their a- node, with a deletionTimestamp, and are no longer counted.
    for pod in pods:
        if pod["metadata"]["name"] in on_a:
            assert pod["metadata"].get("deletionTimestamp") and pod["spec"]["nodeName"].startswith("a-")
    assert all(p["status"]["phase"] == "Running" for p in live_pods(plane, "spread"))
    events = plane.get(f"/api/v1/namespaces/{NS}/events")["items"]
    evicted_events = {e["involvedObject"]["name"] for e in events if e.get("reason") == "TaintManagerEviction"}
    assert on_a <= evicted_events, evicted_events
