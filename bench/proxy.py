"""kube-proxy benchmark: a full sync of 1,000 Services x 10 endpoints next to one raw iptables-restore of the same
rule text, and the latency from an Endpoints write to its rule being in the kernel.

    sudo .venv/bin/python bench/proxy.py [--services 1000] [--endpoints 10] [--changes 50]
                                          [--backend legacy|nft|system] [--quick]

Everything happens in a network namespace this script creates (removed on exit, errors and SIGTERM included),
behind a veth whose root end carries the private apiserver it starts (random ports, temp dir):

  full sync    `python -m kube_proxy` runs in the namespace with a short --sync-period; each periodic full sync
               (proxier.build_ruleset of every service, one iptables-restore --noflush of all of it) is timed by
               the daemon itself and read from its log; the median of the steady-state ones is `sync_ms`.  (The
               first sync also reads the kernel with iptables-save; later ones read it back afterwards, off the
               sync's path, and only a drift found there makes the next sync read it first.)
  raw          the daemon stopped, the same rule text (build_ruleset on the same objects: the sync is
               deterministic) handed to the same iptables-restore in the same namespace, minus the cost of
               `ip netns exec` itself; median of as many runs is `raw_restore_ms`.
  programming  the daemon restarted with upstream's defaults (--min-sync-period 1s, --sync-period 30s); each
               change replaces one address of one Service's Endpoints (stamped with upstream's
               endpoints.kubernetes.io/last-change-trigger-time annotation) through the API, and the bench
               tails the daemon's log until the sync carrying it has returned from iptables-restore: the
               write-to-kernel latency as this process sees it (`programming_p50_ms`/`p99`), next to the
               daemon's own kubeproxy_network_programming_duration_seconds samples.

Backends: iptables-nft-restore --noflush is quadratic in the chain count here (iptables 1.8.9: 1,000 x 10 takes
10+ s of CPU, 25-50 s wall on this shared 2-core box, against legacy's 0.3 s of CPU), so the default is
`--backend legacy`; `--backend nft` measures the other one (slowly).  The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from _cluster import Cluster  # noqa: E402
from _loadgen import percentile  # noqa: E402

from common.api import kinds  # noqa: E402
from common.client import ApiClient  # noqa: E402
from common.localcluster import REPO  # noqa: E402
from kube_proxy.iptables import BACKENDS  # noqa: E402
from kube_proxy.main import TRIGGER_TIME_ANNOTATION  # noqa: E402
from kube_proxy.proxier import ProxyConfig, build_ruleset  # noqa: E402

NAMESPACE = "bench"
CLUSTER_CIDR = "10.244.0.0/16"
TARGETS = {"sync_vs_raw": ("≤", 2.0), "sync_ms": ("≤", 1000.0)}
FULL_SYNC = re.compile(r"full sync: (\d+) nat / (\d+) filter rules in ([\d.]+) ms \((.*)\)")
PARTIAL_SYNC = re.compile(r"partial sync: (\d+) nat / (\d+) filter rules in ([\d.]+) ms \((.*)\)")
PROGRAMMED = re.compile(r"^(\S+ \S+) .*network programming latency (\S+): ([\d.]+) ms")


def say(text: str) -> None:
    print(text, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--endpoints", type=int, default=10, help="ready endpoints per service")
    p.add_argument("--changes", type=int, default=50, help="Endpoints changes timed in the programming phase")
    p.add_argument("--spacing", type=float, default=1.2, help="seconds between changes (> min-sync-period)")
    p.add_argument("--full-syncs", type=int, default=5, help="periodic full syncs (and raw restores) timed")
    p.add_argument("--backend", choices=("legacy", "nft", "system"), default="legacy")
    p.add_argument("--quick", action="store_true", help="small counts, for checking the script itself")
    p.add_argument("--keep-log", type=Path, metavar="FILE", help="copy the daemon's log here at the end")
    args = p.parse_args()
    if args.quick:
        args.services, args.changes, args.full_syncs = 100, 8, 2
    return args


# -- the namespace -------------------------------------------------------------------------------------------

class HostNetns:
    """One network namespace with a /30 uplink veth to the root namespace; deleted, processes and all, on close."""

    def __init__(self) -> None:
        self.name = f"kl-bench-{uuid.uuid4().hex[:6]}"
        base = (100 << 24) | (64 << 16) | (random.randrange(1 << 14) << 2)
        self.root_ip, self.ip = (socket.inet_ntoa((base + i).to_bytes(4, "big")) for i in (1, 2))
        link = f"kvb{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            for argv in (["ip", "link", "add", link, "type", "veth", "peer", "name", link + "p", "netns", self.name],
                         ["ip", "addr", "add", f"{self.root_ip}/30", "dev", link],
                         ["ip", "link", "set", link, "up"]):
                subprocess.run(argv, check=True)
            for argv in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{self.ip}/30", "dev", link + "p"],
                         ["ip", "link", "set", link + "p", "up"]):
                self.run(*argv)
        except BaseException:
            self.close()
            raise

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv(*command), input=stdin, capture_output=True, check=True)

    def close(self) -> None:
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Daemon:
    """`python -m kube_proxy` in the namespace, its log in a file the bench tails."""

    def __init__(self, host: HostNetns, api_url: str, log_path: Path, backend: str, *flags: str) -> None:
        argv = host.argv(sys.executable, "-m", "kube_proxy", "--server", api_url, "--node-name", "bench",
                         "--cluster-cidr", CLUSTER_CIDR, "--iptables-backend", backend,
                         "--healthz-port", "0", "--metrics-port", "0", "-v", "1", *flags)
        self.log_path = log_path
        self.partial_ms: list[float] = []
        self.offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def new_lines(self) -> list[str]:
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        lines = data[:cut].decode(errors="replace").splitlines()
        self.partial_ms += [float(m[3]) for line in lines if (m := PARTIAL_SYNC.search(line))]
        return lines

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"kube-proxy exited {self.proc.returncode}; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- objects ---------------------------------------------------------------------------------------------------

def service(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i:04d}", "namespace": NAMESPACE},
            "spec": {"type": "ClusterIP", "clusterIP": f"10.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}


def pod_ip(n: int) -> str:
    return f"10.{244 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}"


def endpoints(i: int, ips: list[str], trigger: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"svc-{i:04d}", "namespace": NAMESPACE}
    if trigger:
        meta["annotations"] = {TRIGGER_TIME_ANNOTATION: trigger}
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
            "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}


async def create_all(client: ApiClient, objects: list[tuple[Any, dict[str, Any]]], concurrency: int = 16) -> None:
    queue = list(reversed(objects))

    async def worker() -> None:
        while queue:
            rt, obj = queue.pop()
            await client.create(rt, obj, NAMESPACE)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# -- phases ------------------------------------------------------------------------------------------------------

def wait_for(daemon: Daemon, pattern: re.Pattern[str], count: int, timeout: float) -> list[re.Match[str]]:
    found: list[re.Match[str]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        daemon.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"saw {len(found)} of {count} {pattern.pattern!r} lines in {timeout:.0f} s")
        found += [m for line in daemon.new_lines() if (m := pattern.search(line))]
        time.sleep(0.02)
    return found


def full_sync_phase(args: argparse.Namespace, host: HostNetns, api_url: str, log: Path) -> dict[str, Any]:
    period = 4.0 if not args.quick else 2.0
    daemon = Daemon(host, api_url, log, args.backend, "--sync-period", f"{period}s")
    try:
        syncs = wait_for(daemon, FULL_SYNC, args.full_syncs + 1, timeout=120 + 60 * args.full_syncs)
    finally:
        daemon.stop()
    first, steady = syncs[0], syncs[1:]
    phases = [dict((k, float(v.split()[0])) for k, v in (p.split(" ", 1) for p in m[4].split(", "))) for m in steady]
    return {"first_sync_ms": float(first[3]), "sync_ms": statistics.median(float(m[3]) for m in steady),
            "sync_runs_ms": [float(m[3]) for m in steady], "nat_rules": int(first[1]),
            **{f"sync_{k}_ms": round(statistics.median(p[k] for p in phases), 1) for k in phases[0]}}


def raw_phase(args: argparse.Namespace, host: HostNetns) -> dict[str, Any]:
    services = [service(i) for i in range(args.services)]
    eps = {f"{NAMESPACE}/svc-{i:04d}": endpoints(i, [pod_ip(i * args.endpoints + j) for j in range(args.endpoints)])
           for i in range(args.services)}
    started = time.perf_counter()
    text = build_ruleset(services, eps, ProxyConfig(CLUSTER_CIDR)).text.encode()
    compute_ms = (time.perf_counter() - started) * 1000
    overhead = statistics.median(_timed(lambda: host.run("true")) for _ in range(5))
    restore = [BACKENDS[args.backend][0], "-w", "5", "--noflush"]
    runs = [_timed(lambda: host.run(*restore, stdin=text)) - overhead for _ in range(args.full_syncs)]
    return {"raw_restore_ms": statistics.median(runs), "raw_runs_ms": runs, "bench_compute_ms": compute_ms,
            "rule_text_bytes": len(text), "netns_exec_overhead_ms": overhead}


def _timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


async def programming_phase(args: argparse.Namespace, host: HostNetns, api_url: str, log: Path) -> dict[str, Any]:
    daemon = Daemon(host, api_url, log, args.backend)  # upstream defaults: --min-sync-period 1s, --sync-period 30s
    client = ApiClient(api_url)
    own: list[float] = []
    reported: list[float] = []
    try:
        await asyncio.to_thread(wait_for, daemon, FULL_SYNC, 1, 120.0)
        next_ip = args.services * args.endpoints
        for n in range(args.changes):
            i = random.randrange(args.services)
            ips = [pod_ip(i * args.endpoints + j) for j in range(1, args.endpoints)] + [pod_ip(next_ip + n)]
            now = datetime.datetime.now(datetime.timezone.utc)
            started = time.time()
            body = endpoints(i, ips, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            await client.patch(kinds.ENDPOINTS, body["metadata"]["name"], {"metadata": body["metadata"],
                                                                           "subsets": body["subsets"]},
                               NAMESPACE, patch_type="merge")
            key = f"{NAMESPACE}/svc-{i:04d}"
            match = await asyncio.to_thread(_wait_programmed, daemon, key)
            own.append((time.time() - started) * 1000)
            reported.append(float(match[3]))
            await asyncio.sleep(max(0.0, args.spacing - (time.time() - started)))
    finally:
        await client.close()
        daemon.stop()
    return {"partial_sync_p50_ms": percentile(daemon.partial_ms, 50),
            "partial_sync_p99_ms": percentile(daemon.partial_ms, 99),
            "programming_p50_ms": percentile(own, 50), "programming_p99_ms": percentile(own, 99),
            "programming_max_ms": max(own), "daemon_reported_p50_ms": percentile(reported, 50),
            "daemon_reported_p99_ms": percentile(reported, 99), "changes": len(own)}


def _wait_programmed(daemon: Daemon, key: str) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        daemon.check_alive()
        for line in daemon.new_lines():
            if (m := PROGRAMMED.search(line)) and m[2] == key:
                return m
        time.sleep(0.002)
    raise TimeoutError(f"change to {key} not programmed within 60 s")


async def populate(args: argparse.Namespace, api_url: str) -> float:
    client = ApiClient(api_url)
    try:
        await client.create(kinds.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": NAMESPACE}})
        started = time.perf_counter()
        objects: list[tuple[Any, dict[str, Any]]] = []
        for i in range(args.services):
            objects.append((kinds.SERVICES, service(i)))
            ips = [pod_ip(i * args.endpoints + j) for j in range(args.endpoints)]
            objects.append((kinds.ENDPOINTS, endpoints(i, ips)))
        await create_all(client, objects)
        return time.perf_counter() - started
    finally:
        await client.close()


def main() -> None:
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/proxy.py needs root (network namespaces, iptables)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    say(f"kube-proxy benchmark: {args.services} services x {args.endpoints} endpoints, backend {args.backend} "
        f"({BACKENDS[args.backend][0]}), load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    host = HostNetns()
    try:
        cluster = Cluster("--bind-address", host.root_ip, "--insecure-allow-remote")
        cluster.api_url = f"http://{host.root_ip}:{cluster.api_port}"
        with cluster:
            log = cluster.workdir / "kube-proxy.log"
            created_s = asyncio.run(populate(args, cluster.api_url))
            say(f"  created {2 * args.services} objects in {created_s:.1f} s")
            sync = full_sync_phase(args, host, cluster.api_url, log)
            say(f"  full sync (daemon)  median {sync['sync_ms']:7.0f} ms over {len(sync['sync_runs_ms'])} periodic "
                f"syncs ({sync['nat_rules']} nat rules; save {sync.get('sync_save_ms', 0):.0f} + compute "
                f"{sync.get('sync_compute_ms', 0):.0f} + restore {sync.get('sync_restore_ms', 0):.0f} ms); "
                f"first sync {sync['first_sync_ms']:.0f} ms")
            raw = raw_phase(args, host)
            say(f"  raw iptables-restore median {raw['raw_restore_ms']:7.0f} ms of the same "
                f"{raw['rule_text_bytes'] / 1e6:.1f} MB text (runs {', '.join(f'{r:.0f}' for r in raw['raw_runs_ms'])}"
                f" ms)  → sync = {sync['sync_ms'] / raw['raw_restore_ms']:.2f} x raw")
            prog = asyncio.run(programming_phase(args, host, cluster.api_url, log))
            say(f"  endpoint change → rule in kernel  p50 {prog['programming_p50_ms']:.0f} ms  "
                f"p99 {prog['programming_p99_ms']:.0f} ms  over {prog['changes']} changes "
                f"(daemon's own network-programming figure: p50 {prog['daemon_reported_p50_ms']:.0f}, "
                f"p99 {prog['daemon_reported_p99_ms']:.0f} ms); the partial syncs carrying them: p50 "
                f"{prog['partial_sync_p50_ms']:.0f} ms, p99 {prog['partial_sync_p99_ms']:.0f} ms")
            if args.keep_log:
                args.keep_log.write_bytes(log.read_bytes())
    finally:
        host.close()
    figures = {"sync_vs_raw": sync["sync_ms"] / raw["raw_restore_ms"], "sync_ms": sync["sync_ms"]}
    met = {k: (figures[k] <= bound) for k, (_, bound) in TARGETS.items()}
    summary = {"services": args.services, "endpoints": args.services * args.endpoints, "backend": args.backend,
               "sync_ms": round(sync["sync_ms"], 1), "raw_restore_ms": round(raw["raw_restore_ms"], 1),
               "sync_vs_raw": round(figures["sync_vs_raw"], 2), "first_sync_ms": round(sync["first_sync_ms"], 1),
               **{k: round(v, 1) for k, v in sync.items() if k.startswith("sync_") and isinstance(v, float)
                  and k != "sync_ms"},
               "programming_p50_ms": round(prog["programming_p50_ms"], 1),
               "programming_p99_ms": round(prog["programming_p99_ms"], 1),
               "daemon_reported_programming_p99_ms": round(prog["daemon_reported_p99_ms"], 1),
               "partial_sync_p50_ms": round(prog["partial_sync_p50_ms"], 1),
               "partial_sync_p99_ms": round(prog["partial_sync_p99_ms"], 1),
               "changes": prog["changes"], "nat_rules": sync["nat_rules"],
               "load_avg": round(os.getloadavg()[0], 1), "targets_met": all(met.values()), "targets": met}
    say(json.dumps(summary))


if __name__ == "__main__":
    main()
