"""A kubelet of a test's own against the live apiserver and the real Docker engine, and pod manifests for it."""
from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from common.localcluster import ChildProcess
from conftest import wait_until
from kubelet import images
from kubelet.runtime import LABEL_NODE

BUSYBOX = images.DEFAULT_BUSYBOX_IMAGE
Obj = dict[str, Any]


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    images.ensure_busybox_image(client, BUSYBOX)
    images.ensure_pause_image(client, images.DEFAULT_PAUSE_IMAGE)
    yield client
    client.close()


class Node:
    """A kubelet subprocess for one test-only node; everything it made is removed at the end."""

    def __init__(self, apiserver_url: str, workdir: Path, docker_client: docker.DockerClient,
                 *flags: str, name: str | None = None) -> None:
        self.name = name or f"kl-{uuid.uuid4().hex[:8]}"
        self.api_url, self.workdir, self.docker, self.flags = apiserver_url, workdir, docker_client, flags
        self.process = self._process()

    def _process(self) -> ChildProcess:
        argv = [sys.executable, "-m", "kubelet", "--node-name", self.name, "--server", self.api_url,
                "--root-dir", str(self.workdir / "root"), "--healthz-port", "0", "--port", "0",
                "--sync-frequency", "2s", *self.flags]
        return ChildProcess("kubelet", argv, self.workdir / f"kubelet-{self.name}.log")

    def start(self) -> None:
        self.process.start()
        wait_until(lambda: httpx.get(f"{self.api_url}/api/v1/nodes/{self.name}").status_code == 200,
                   timeout=30, what=f"node {self.name} to register")

    def restart(self, kill: bool = True) -> None:
        if kill and self.process.proc is not None:
            self.process.proc.kill()
            self.process.proc.wait()
        self.process = self._process()
        self.start()

    def containers(self) -> list[Any]:
        return self.docker.containers.list(all=True, filters={"label": f"{LABEL_NODE}={self.name}"})

    def cleanup(self) -> None:
        self.process.stop()
        for _ in range(2):  # a create the kubelet had in flight when stopped lands in Docker a moment later
            for container in self.containers():
                container.remove(force=True)
            time.sleep(0.5)
        httpx.delete(f"{self.api_url}/api/v1/nodes/{self.name}")


@pytest.fixture
def node(apiserver: Any, tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Node]:
    kubelet_node = Node(apiserver.url, tmp_path, docker_client)
    try:
        kubelet_node.start()
        yield kubelet_node
    finally:
        print(kubelet_node.process.log_tail(60))
        kubelet_node.cleanup()


def pod(name: str, node: Node, containers: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node.name, "terminationGracePeriodSeconds": 5, "containers": containers, **spec}}


def sh(name: str, script: str, **fields: Any) -> Obj:
    return {"name": name, "image": BUSYBOX, "command": ["sh", "-c", script], **fields}


def get(http: httpx.Client, namespace: str, name: str) -> Obj:
    return http.get(f"/api/v1/namespaces/{namespace}/pods/{name}").json()


def create(http: httpx.Client, namespace: str, body: Obj) -> Obj:
    resp = http.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def until_pod(http: httpx.Client, namespace: str, name: str, check: Callable[[Obj], bool], timeout: float = 30,
              what: str = "") -> Obj:
    return wait_until(lambda: (p := get(http, namespace, name)) and check(p) and p, timeout=timeout,
                      what=what or f"pod {name}")


def phase(p: Obj) -> str:
    return (p.get("status") or {}).get("phase", "")


def statuses(p: Obj, init: bool = False) -> dict[str, Obj]:
    key = "initContainerStatuses" if init else "containerStatuses"
    return {s["name"]: s for s in (p.get("status") or {}).get(key) or []}


def condition(p: Obj, kind: str) -> str:
    return next((c["status"] for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == kind), "")
