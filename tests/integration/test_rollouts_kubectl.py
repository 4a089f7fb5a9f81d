"""Deployments driven by the real kubectl on a whole control plane: etcd, apiserver, scheduler, the
controller-manager and hollow nodes (pods become Running and Ready without Docker).

rollout status / history / undo, scale, set image, rollout restart and `get rs`, with kubectl 1.33 and 1.37.
"""
from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from common import kubeconfig
from common.localcluster import ChildProcess
from conftest import ApiServer, Etcd, wait_until
from kubectl_harness import Kubectl

VERSIONS = ("1.33", "1.37")


class ControlPlane:
    def __init__(self, workdir: Path) -> None:
        self.etcd = Etcd(workdir)
        self.etcd.start()
        self.api = ApiServer(workdir, self.etcd.url, "--watch-bookmark-interval", "1s")
        self.api.start()
        base = [sys.executable, "-m"]
        server = ["--server", self.api.url]
        self.daemons = [
            ChildProcess("hollow", [*base, "kubelet", "--hollow", "--count", "4", "--node-name-prefix", "h-",
                                    *server, "--healthz-port", "0"], workdir / "hollow.log"),
            ChildProcess("scheduler", [*base, "scheduler", *server, "--leader-elect", "false", "--port", "0"],
                         workdir / "scheduler.log"),
            ChildProcess("controller-manager", [*base, "controller_manager", *server, "--leader-elect", "false",
                                                "--port", "0"], workdir / "controller-manager.log"),
        ]
        for daemon in self.daemons:
            daemon.start()

    def stop(self) -> None:
        for daemon in self.daemons:
            print(daemon.log_tail(40))
            daemon.stop()
        self.api.stop()
        self.etcd.stop()


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("rollouts"))
    try:
        wait_until(lambda: len(httpx.get(f"{plane.api.url}/api/v1/nodes").json()["items"]) == 4, timeout=30,
                   what="4 hollow nodes")
        yield plane
    finally:
        plane.stop()


@pytest.fixture(params=VERSIONS, ids=[f"kubectl-{v}" for v in VERSIONS])
def kubectl(request: pytest.FixtureRequest, control_plane: ControlPlane, kubectl_dir: Path,
            tmp_path: Path) -> Kubectl:
    namespace = f"r-{uuid.uuid4().hex[:8]}"
    resp = httpx.post(f"{control_plane.api.url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
    assert resp.status_code == 201, resp.text
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, control_plane.api.url, namespace=namespace)
    return Kubectl(kubectl_dir / f"kubectl-{request.param}", config, tmp_path / "cache", namespace, request.param)


def deployment(name: str, replicas: int = 3, image: str = "kubelab/busybox:1.35") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "app", "image": image, "command": ["sleep", "3600"],
                          "resources": {"requests": {"cpu": "50m"}}}]}}}}


def rollout_done(kubectl: Kubectl, name: str) -> str:
    return kubectl.ok("rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=120)


def test_rollout_status_history_undo(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", input=yaml.safe_dump(deployment("web")))
    assert 'deployment "web" successfully rolled out' in rollout_done(kubectl, "web")

    kubectl.ok("set", "image", "deployment/web", "app=kubelab/busybox:1.36")
    assert "successfully rolled out" in rollout_done(kubectl, "web")
    history = kubectl.ok("rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"], history

    kubectl.ok("rollout", "undo", "deployment/web")
    assert "successfully rolled out" in rollout_done(kubectl, "web")
    image = kubectl.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image == "kubelab/busybox:1.35"
    sets = yaml.safe_load(kubectl.ok("get", "rs", "-l", "app=web", "-o", "yaml"))["items"]
    assert len(sets) == 2  # the undo reused revision 1's ReplicaSet (now revision 3)
    revisions = {rs["spec"]["template"]["spec"]["containers"][0]["image"]:
                 rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in sets}
    assert revisions == {"kubelab/busybox:1.35": "3", "kubelab/busybox:1.36": "2"}


def test_scale_restart_and_get_rs(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", input=yaml.safe_dump(deployment("api", replicas=2)))
    rollout_done(kubectl, "api")
    kubectl.ok("scale", "deployment/api", "--replicas=5")
    rollout_done(kubectl, "api")
    table = kubectl.ok("get", "rs")
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert [row.split()[1:4] for row in rows] == [["5", "5", "5"]], table
    kubectl.ok("rollout", "restart", "deployment/api")
    rollout_done(kubectl, "api")
    pods = yaml.safe_load(kubectl.ok("get", "pods", "-l", "app=api", "-o", "yaml"))["items"]
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(running) == 5 and all(p["status"]["phase"] == "Running" for p in running)
    assert all(p["spec"]["nodeName"].startswith("h-") for p in running)  # placed by the scheduler
