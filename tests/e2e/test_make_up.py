"""`make up` / `make down` (`kubelab up`/`down`, kubelab/local.py): idempotent, data survives a down/up, kubectl
works with its kubeconfig, the kubelet registers this machine's Node, kube-proxy programs the DNS Service (and down
removes its rules), the scheduler places a pod applied with kubectl and the kubelet runs it, a Deployment rolls
through the controller-manager, `down` leaves no pod running, and `up --fresh` starts empty."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from conftest import REPO, free_port, wait_until
from kubelet.images import DEFAULT_BUSYBOX_IMAGE
from kubelet.runtime import LABEL_NODE

pytestmark = pytest.mark.slow


def run_local(command: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "kubelab.cli", *command.split()], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def nat_rules() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout


def pod_manifest(name: str) -> str:
    """No nodeName: the scheduler places it on the one node."""
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: {DEFAULT_BUSYBOX_IMAGE}
    command: ["sleep", "3600"]
"""


def deployment_manifest(name: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        image: {DEFAULT_BUSYBOX_IMAGE}
        command: ["sleep", "3600"]
"""


def test_up_is_idempotent_and_state_survives_down(tmp_path: Path, kubectl_dir: Path) -> None:
    node = f"e2e-{uuid.uuid4().hex[:8]}"  # never a real developer's node: `down` removes this node's containers
    env = {**os.environ, "KUBELAB_HOME": str(tmp_path / "state"), "KUBELAB_ETCD_PORT": str(free_port()),
           "KUBELAB_ETCD_PEER_PORT": str(free_port()), "KUBELAB_API_PORT": str(free_port()),
           "KUBELAB_KUBELET_HEALTHZ_PORT": str(free_port()), "KUBELAB_KUBELET_PORT": str(free_port()),
           "KUBELAB_SCHEDULER_PORT": str(free_port()), "KUBELAB_CONTROLLER_MANAGER_PORT": str(free_port()),
           "KUBELAB_KUBE_PROXY_HEALTHZ_PORT": str(free_port()), "KUBELAB_KUBE_PROXY_METRICS_PORT": str(free_port()),
           "KUBELAB_DNS_PORT": str(free_port()), "KUBELAB_DNS_HEALTH_PORT": str(free_port()),
           "KUBELAB_NODE_NAME": node}
    engine = docker.from_env()

    def node_containers(status: str | None = None) -> list[str]:
        filters = {"label": f"{LABEL_NODE}={node}", **({"status": status} if status else {})}
        return [c.name for c in engine.containers.list(all=True, filters=filters)]

    kubectl_base = [str(kubectl_dir / "kubectl"), "--kubeconfig", str(tmp_path / "state" / "kubeconfig"),
                    "--cache-dir", str(tmp_path / "cache")]

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*kubectl_base, *args], input=stdin, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    try:
        first = run_local("up", env)
        assert first.count("started") == 7 and "export KUBECONFIG=" in first  # with kube-proxy and dns (root)
        assert first.count("already running") == 0
        assert f"node {node}" in first and "Ready after" in first  # up waits for the node
        second = run_local("up", env)
        assert second.count("already running") == 7 and "started" not in second
        # the DNS server registers kube-dns once it runs, and kube-proxy programs it a moment later
        wait_until(lambda: "kube-system/kube-dns:dns" in nat_rules(), timeout=30,
                   what="kube-proxy's rules for the kube-dns Service")

        kubectl("wait", "--for=condition=Ready", f"node/{node}", "--timeout=60s")
        manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: survivor\ndata:\n  a: b\n"
        kubectl("apply", "-f", "-", stdin=manifest)

        kubectl("apply", "-f", "-", stdin=pod_manifest("sleeper"))
        kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod/sleeper", "--timeout=90s")
        assert kubectl("get", "pod", "sleeper", "-o", "jsonpath={.spec.nodeName}") == node
        assert len(node_containers("running")) == 2  # the sandbox and the sleep
        kubectl("delete", "pod", "sleeper", "--timeout=60s")  # waits until the kubelet has stopped it
        assert "NotFound" in subprocess.run([*kubectl_base, "get", "pod", "sleeper"], capture_output=True,
                                            text=True).stderr
        assert node_containers("running") == []

        kubectl("apply", "-f", "-", stdin=deployment_manifest("web"))
        kubectl("rollout", "status", "deployment/web", "--timeout=120s")
        kubectl("rollout", "restart", "deployment/web")
        kubectl("rollout", "status", "deployment/web", "--timeout=120s")
        assert kubectl("get", "rs", "-l", "app=web", "-o", "name").count("replicaset") == 2  # rolled: a new RS
        kubectl("delete", "deployment", "web")

        kubectl("apply", "-f", "-", stdin=pod_manifest("left-running"))
        kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod/left-running", "--timeout=90s")
        assert node_containers("running")
        stopped = run_local("down", env)
        assert "kubelet" in stopped and "removed" in stopped
        assert node_containers() == []  # not even stopped ones: down leaves nothing of this node behind
        assert "KUBE-" not in nat_rules(), "down left kube-proxy's rules behind"
        assert run_local("down", env) == ""  # a second down has nothing left to stop

        run_local("up", env)
        got = kubectl("get", "configmap", "survivor", "-o", "jsonpath={.data.a}")
        assert got == "b"
        # Its containers come back (the pod's status may still read Ready from before: count the containers).
        wait_until(lambda: len(node_containers("running")) == 2, timeout=90, what="left-running's containers")
        kubectl("wait", "--for=condition=Ready", "pod/left-running", "--timeout=90s")
        status = run_local("status", env)
        assert status.count("running") == 7 and re.search(rf"node {node}\s+Ready", status), status

        fresh = run_local("up --fresh", env)
        assert "from an empty cluster" in fresh and "Ready after" in fresh
        assert "NotFound" in subprocess.run([*kubectl_base, "get", "configmap", "survivor"], capture_output=True,
                                            text=True).stderr
    finally:
        subprocess.run([sys.executable, "-m", "kubelab.cli", "down"], cwd=REPO, env=env, capture_output=True)
        for container in engine.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node}"}):
            container.remove(force=True)  # only if down failed; the assertions above say so
        engine.close()
