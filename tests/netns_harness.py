"""Network namespaces for tests: real iptables, routes and links, never the machine's own.

`netns` (a pytest fixture) hands out namespaces that are removed, with every
process still running inside them, when the test ends, pass or fail.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from typing import Callable

import pytest

_veth_ids = itertools.count()


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


class Netns:
    """One named network namespace (`ip netns`), loopback up."""

    def __init__(self, name: str) -> None:
        self.name = name
        ip("netns", "add", name)
        self.run("ip", "link", "set", "lo", "up")

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} in {self.name} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def popen(self, command: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(command), **kwargs)  # type: ignore[call-overload]

    def iptables_save(self, table: str = "nat") -> str:
        return self.run("iptables-save", "-t", table).stdout

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def delete(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def veth(a: Netns | None, a_cidr: str, b: Netns, b_cidr: str) -> tuple[str, str]:
    """A veth pair between a (None: the root namespace) and b, addressed and up; returns the two link names."""
    n = next(_veth_ids)
    tag = uuid.uuid4().hex[:5]
    left, right = f"kva{tag}{n}", f"kvb{tag}{n}"
    ip("link", "add", left, "type", "veth", "peer", "name", right, "netns", b.name)
    if a is not None:
        ip("link", "set", left, "netns", a.name)
    for ns, link, cidr in ((a, left, a_cidr), (b, right, b_cidr)):
        run = ns.run if ns is not None else (lambda *c: subprocess.run(c, check=True, capture_output=True))
        run("ip", "addr", "add", cidr, "dev", link)
        run("ip", "link", "set", link, "up")
    return left, right


@pytest.fixture
def netns() -> Iterator[Callable[[str], Netns]]:
    """netns("web") → a fresh namespace named kl-web-<random>; all of them go when the test ends."""
    made: list[Netns] = []

    def make(label: str) -> Netns:
        ns = Netns(f"kl-{label}-{uuid.uuid4().hex[:6]}")
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in reversed(made):
            ns.delete()
