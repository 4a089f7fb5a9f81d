"""A throwaway etcd and apiserver for benchmarks: random ports, a temp dir, both stopped for sure on exit.

Built on common.localcluster like the test fixtures; it also reads a process's
CPU time from /proc so a benchmark can say which process was busy.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from common.localcluster import ChildProcess, apiserver_argv, etcd_argv, free_port

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User+system CPU time a process and its live descendants have used so far (Linux /proc).

    Descendants count because `apiserver --workers N` serves from child processes.
    """
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / _TICKS
    return own + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


class Cluster:
    """`with Cluster() as c:` — etcd then an apiserver on it; c.etcd_url, c.api_port, c.apiserver.pid."""

    def __init__(self, *apiserver_flags: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="kubelab-bench-"))
        client = free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self.etcd = ChildProcess("etcd", etcd_argv("bench", self.workdir / "etcd-data", client, free_port()),
                                 self.workdir / "etcd.log")
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.apiserver = ChildProcess("apiserver", apiserver_argv(self.etcd_url, self.api_port, *apiserver_flags),
                                      self.workdir / "apiserver.log")

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
