"""A daemon started in the background with a pid file and a log beside it, found again and stopped through the pid
file by a later command (`kubelab down` after `kubelab up`, `lab down` after a crash): the one place `kubelab`
and the lab start, find and stop their processes."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    """The pid in the file if that process is alive, else None."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def send_signal(pid: int, sig: int, group: bool) -> None:
    """Signal the process (or its whole process group); one already gone is fine."""
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_pid_file(pid_file: Path, grace_s: float = 10, group: bool = True) -> bool:
    """SIGTERM (the process group when `group`), SIGKILL after the grace period; the pid file goes.
    True when there was a live process to stop."""
    pid = read_pid(pid_file)
    if pid is not None:
        send_signal(pid, signal.SIGTERM, group)
        deadline = time.monotonic() + grace_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            send_signal(pid, signal.SIGKILL, group)
    pid_file.unlink(missing_ok=True)
    return pid is not None


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1,
             error: type[Exception] = TimeoutError) -> Any:
    """predicate()'s first truthy result; `error` once `timeout` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise error(f"timed out after {timeout:.0f}s waiting for {what}")


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """argv run inside network namespace `netns` (None: this one)."""
    return list(argv) if netns is None else ["ip", "netns", "exec", netns, *argv]


def env_without_proxies() -> dict[str, str]:
    """This environment minus HTTP proxies: the daemons talk to this machine and its private networks only."""
    return {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


@dataclass(frozen=True)
class Daemon:
    """`name`.pid and `name`.log live in `directory`; `netns` None runs it in this network namespace."""
    name: str
    argv: Sequence[str]
    directory: Path
    netns: str | None = None
    env: dict[str, str] | None = None
    cwd: Path = REPO

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """Its pid while it runs, else None."""
        return read_pid(self.pid_file)

    def start(self) -> int:
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(in_netns(self.netns, self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.cwd, env={**env_without_proxies(), **(self.env or {})},
                                    start_new_session=True)  # its own group: stopped as one, spared our ^C
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, grace_s: float = 10, group: bool = True) -> bool:
        return stop_pid_file(self.pid_file, grace_s, group)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
