"""Logs and exec end to end: the real kubectl and the official Python client → apiserver → kubelet → Docker."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import stream as k8s_stream
from websockets.sync.client import connect

from common import kubeconfig
from kubectl_harness import Kubectl, Stream
from kubelet_harness import (Node, create, docker_client, node, pod, sh, statuses,  # noqa: F401 - fixtures
                               until_pod)

VERSIONS = ("1.33", "1.37")
Obj = dict[str, Any]


@pytest.fixture(params=VERSIONS, ids=[f"kubectl-{v}" for v in VERSIONS])
def kubectl(request: pytest.FixtureRequest, kubectl_dir: Path, apiserver: Any, namespace: str,
            tmp_path: Path) -> Kubectl:
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, apiserver.url, namespace=namespace)
    return Kubectl(kubectl_dir / f"kubectl-{request.param}", config, tmp_path / "cache", namespace, request.param)


def running(http: httpx.Client, namespace: str, node: Node, name: str, *containers: Obj, **spec: Any) -> Obj:
    create(http, namespace, pod(name, node, list(containers), **spec))
    return until_pod(http, namespace, name, lambda p: all(s.get("state", {}).get("running")
                                                          for s in statuses(p).values())
                     and len(statuses(p)) == len(containers), what=f"pod {name} running")


def test_kubectl_logs_options(http: httpx.Client, namespace: str, node: Node, kubectl: Kubectl) -> None:
    running(http, namespace, node, "talker", sh("app", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; sleep 3600"))
    until_pod(http, namespace, "talker", lambda _: "three" in kubectl.ok("logs", "talker"), what="logs")
    assert kubectl.ok("logs", "talker").splitlines() == ["one", "two", "three"]
    assert kubectl.ok("logs", "talker", "--tail=1") == "three\n"
    assert kubectl.ok("logs", "talker", "--limit-bytes=3") == "one"
    stamped = kubectl.ok("logs", "talker", "--timestamps").splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (one|two|three)$", line) for line in stamped), stamped
    assert kubectl.ok("logs", "talker", "--since=1h").splitlines() == ["one", "two", "three"]
    assert "container nope is not valid for pod talker" in kubectl.fails("logs", "talker", "-c", "nope")


def test_kubectl_logs_follow_streams_until_the_container_ends(http: httpx.Client, namespace: str, node: Node,
                                                              kubectl: Kubectl) -> None:
    running(http, namespace, node, "ticker", sh("app", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.5; done"),
            restartPolicy="Never")
    follow: Stream = kubectl.start("logs", "-f", "ticker")
    try:
        assert follow.next_line(timeout=20) == "tick 1"  # arrives while the container is still writing
        assert follow.wait(timeout=30) == 0, follow.stderr()
        follow.remaining()
        assert follow.seen == [f"tick {i}" for i in range(1, 7)]
    finally:
        follow.stop()


def test_kubectl_exec(http: httpx.Client, namespace: str, node: Node, kubectl: Kubectl) -> None:
    running(http, namespace, node, "shell", sh("main", "sleep 3600"), sh("side", "sleep 3600"))
    assert kubectl.ok("exec", "shell", "-c", "main", "--", "echo", "hello from", "exec") == "hello from exec\n"
    failed = kubectl.run("exec", "shell", "-c", "side", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (failed.returncode, failed.stdout) == (3, "out\n") and "err" in failed.stderr, failed
    assert kubectl.ok("exec", "-i", "shell", "-c", "main", "--", "cat", input="via stdin\n") == "via stdin\n"
    assert kubectl.ok("exec", "shell", "-c", "main", "--", "hostname") == "shell\n"
    missing = kubectl.fails("exec", "shell", "-c", "nope", "--", "true")
    assert "container nope is not valid for pod shell" in missing


def test_kubectl_describe_pod(http: httpx.Client, namespace: str, node: Node, kubectl: Kubectl) -> None:
    running(http, namespace, node, "described", sh("app", "sleep 3600", env=[{"name": "MODE", "value": "lab"}]))
    text = kubectl.ok("describe", "pod", "described")
    assert re.search(r"^Node:\s+" + re.escape(node.name), text, re.M), text
    assert re.search(r"^Status:\s+Running", text, re.M), text
    assert re.search(r"^IP:\s+\d+\.\d+\.\d+\.\d+", text, re.M), text
    assert re.search(r"State:\s+Running", text) and re.search(r"Ready:\s+True", text), text
    assert re.search(r"MODE:\s+lab", text), text
    for reason in ("Pulled", "Created", "Started"):
        assert re.search(rf"Normal\s+{reason}\s+.*kubelet", text), (reason, text)


def test_python_client_exec_and_logs(http: httpx.Client, namespace: str, node: Node, apiserver: Any,
                                     tmp_path: Path) -> None:
    running(http, namespace, node, "pyclient", sh("app", "echo ready; sleep 3600"))
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, apiserver.url, namespace=namespace)
    api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(config)))
    out = k8s_stream(api.connect_get_namespaced_pod_exec, "pyclient", namespace,
                     command=["sh", "-c", "echo $((6*7))"], stdout=True, stderr=True, stdin=False, tty=False)
    assert out == "42\n"
    until_pod(http, namespace, "pyclient", lambda _: api.read_namespaced_pod_log("pyclient", namespace) == "ready\n",
              what="the log through the Python client")


def test_exec_with_a_tty_and_resize(http: httpx.Client, namespace: str, node: Node, apiserver: Any) -> None:
    running(http, namespace, node, "tty", sh("app", "sleep 3600"))
    url = (f"{apiserver.url.replace('http://', 'ws://')}/api/v1/namespaces/{namespace}/pods/tty/exec"
           "?command=sh&command=-c&command=sleep+0.5%3B+stty+size&stdin=true&stdout=true&tty=true")
    with connect(url, subprotocols=["v5.channel.k8s.io"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v5.channel.k8s.io"
        ws.send(bytes([4]) + json.dumps({"Width": 123, "Height": 45}).encode())
        output, status = b"", None
        for frame in ws:
            assert isinstance(frame, bytes)
            if frame[0] == 1:
                output += frame[1:]
            elif frame[0] == 3:
                status = json.loads(frame[1:])
    assert output == b"45 123\r\n" and status == {"metadata": {}, "status": "Success"}, (output, status)


def test_log_and_exec_errors_are_status_objects(http: httpx.Client, namespace: str, node: Node) -> None:
    create(http, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unplaced"},
                             "spec": {"containers": [sh("a", "sleep 1"), sh("b", "sleep 1")]}})
    base = f"/api/v1/namespaces/{namespace}/pods"
    many = http.get(f"{base}/unplaced/log")
    assert many.status_code == 400 and many.json()["message"] == \
        "a container name must be specified for pod unplaced, choose one of: [a b]"
    assert http.get(f"{base}/unplaced/log", params={"container": "a"}).text == ""  # no node yet: no logs yet
    assert http.get(f"{base}/unplaced/exec", params={"container": "a", "command": "ls"}).json()["message"] == \
        "pod unplaced does not have a host assigned"
    assert http.get(f"{base}/ghost/log").status_code == 404
    running(http, namespace, node, "fine", sh("app", "sleep 3600"))
    bad = http.get(f"{base}/fine/log", params={"tailLines": "-1"})
    assert bad.status_code == 422 and bad.json()["details"]["causes"][0]["field"] == "tailLines", bad.text
    plain = http.get(f"{base}/fine/exec", params={"command": "ls"})
    assert plain.status_code == 400 and "Upgrade request required" in plain.json()["message"]
    spdy = http.post(f"{base}/fine/exec", params={"command": "ls"})
    assert spdy.status_code == 400 and spdy.json()["kind"] == "Status"


def test_kubelet_serves_resource_usage_per_pod_and_container(http: httpx.Client, namespace: str,
                                                             node: Node) -> None:
    busy = running(http, namespace, node, "busy", sh("app", "while true; do :; done"))
    status = http.get(f"/api/v1/nodes/{node.name}").json()["status"]
    address = next(a["address"] for a in status["addresses"] if a["type"] == "InternalIP")
    port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    summary = httpx.get(f"http://{address}:{port}/stats/summary", timeout=30).json()
    assert summary["node"]["nodeName"] == node.name
    mine = next(p for p in summary["pods"] if p["podRef"]["uid"] == busy["metadata"]["uid"])
    [container] = mine["containers"]
    assert container["name"] == "app" and container["memory"]["workingSetBytes"] > 0
    assert container["cpu"]["usageCoreNanoSeconds"] > 0 and mine["cpu"]["usageCoreNanoSeconds"] > 0
    again = httpx.get(f"http://{address}:{port}/stats/summary", timeout=30).json()
    rate = next(p for p in again["pods"] if p["podRef"]["name"] == "busy")["containers"][0]["cpu"]["usageNanoCores"]
    assert rate > 100_000_000, rate  # a busy loop uses a good part of a core; the rate needs two samples
