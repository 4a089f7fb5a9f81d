"""Scheduler throughput on hollow nodes, next to the apiserver's raw create+bind rate from the same run.

For each node count (default 100 and 1,000): a fresh etcd and apiserver, hollow
nodes (`python -m kubelet --hollow --no-pod-status`: registered, Ready, leases
renewed, pods left Pending once bound — as upstream's scheduler_perf), the
scheduler, then N pods created as fast as the load generator can.  Measured:

  pods_per_s     N / (first create sent → last binding seen on a watch)
  bind p50/p99   a pod's ADDED event → its bound MODIFIED event, both on one watch
  raw            N bindings posted directly (no scheduler) while N more pods are
                 created, same apiserver: the create+bind floor the scheduler stands on

The last line is one JSON object with the figures of the largest node count.

    .venv/bin/python bench/scheduler.py [--nodes 100 1000] [--pods 3000] [--profile DIR]

`--profile DIR` samples the apiserver and the scheduler with py-spy during the
scheduled run (py-spy slows both, so the figures of a profiled run are lower).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _cluster import Cluster, cpu_seconds  # noqa: E402
from _loadgen import percentile  # noqa: E402
from api import loadgen, run_async  # noqa: E402

from common.localcluster import ChildProcess  # noqa: E402

TARGET_PODS_PER_S = 300.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, nargs="+", default=[100, 1000], help="hollow node counts, one run each")
    p.add_argument("--pods", type=int, default=3000, help="pods created per run")
    p.add_argument("--concurrency", type=int, default=16, help="creates in flight")
    p.add_argument("--apiserver-flags", nargs="*", default=[], help="e.g. --apiserver-flags=--workers=2")
    p.add_argument("--keep-heartbeats", action="store_true",
                   help="keep the hollow kubelets renewing leases during the run (default: stop them once the nodes "
                        "are registered, as scheduler_perf's nodes have no kubelet)")
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the apiserver and scheduler (see above)")
    return p.parse_args()


def say(text: str) -> None:
    print(text, flush=True)


class Watcher:
    """One watch on the bench namespace: when each pod first appeared and when it was seen bound."""

    def __init__(self, api_url: str, namespace: str) -> None:
        self.url = f"{api_url}/api/v1/namespaces/{namespace}/pods"
        self.added: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        async with httpx.AsyncClient(timeout=None) as client:
            params = {"watch": "true", "allowWatchBookmarks": "false", "resourceVersion": "0"}
            async with client.stream("GET", self.url, params=params) as stream:
                self.ready.set()
                async for line in stream.aiter_lines():
                    self._event(orjson.loads(line), time.perf_counter())

    def _event(self, event: dict[str, Any], now: float) -> None:
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name")
        if name is None:
            return
        self.added.setdefault(name, now)
        if (obj.get("spec") or {}).get("nodeName") and name not in self.bound:
            self.bound[name] = now

    async def wait_bound(self, count: int, timeout_s: float) -> bool:
        deadline = time.perf_counter() + timeout_s
        while len(self.bound) < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        return len(self.bound) >= count

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def hollow_nodes(cluster: Cluster, count: int) -> ChildProcess:
    argv = [sys.executable, "-m", "kubelet", "--hollow", "--count", str(count), "--node-name-prefix", "hollow-",
            "--server", cluster.api_url, "--no-pod-status", "--healthz-port", "0"]
    return ChildProcess("hollow", argv, cluster.workdir / "hollow.log")


def scheduler(cluster: Cluster) -> ChildProcess:
    argv = [sys.executable, "-m", "scheduler", "--server", cluster.api_url, "--leader-elect", "false", "--port", "0"]
    return ChildProcess("scheduler", argv, cluster.workdir / "scheduler.log")


def make_namespace(cluster: Cluster, name: str) -> None:
    resp = httpx.post(f"{cluster.api_url}/api/v1/namespaces", json={"metadata": {"name": name}})
    resp.raise_for_status()


async def wait_nodes(cluster: Cluster, count: int, timeout_s: float = 180) -> float:
    """Seconds until `count` nodes are registered."""
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=cluster.api_url, timeout=30) as client:
        while time.perf_counter() - start < timeout_s:
            nodes = (await client.get("/api/v1/nodes", params={"limit": 1})).json()
            if (nodes["metadata"].get("remainingItemCount") or 0) + len(nodes["items"]) >= count:
                return time.perf_counter() - start
            await asyncio.sleep(0.5)
    raise RuntimeError(f"only some of {count} hollow nodes registered within {timeout_s:.0f}s")


async def scheduled_run(cluster: Cluster, args: argparse.Namespace, nodes: int) -> dict[str, Any]:
    make_namespace(cluster, "sched")
    watcher = Watcher(cluster.api_url, "sched")
    watcher.start()
    await watcher.ready.wait()
    warm = await loadgen("creates", port=cluster.api_port, namespace="sched", prefix="warm-", count=50,
                         concurrency=4)
    if not await watcher.wait_bound(50, 60):
        raise RuntimeError(f"the scheduler bound only {len(watcher.bound)} of 50 warm-up pods; see its log")
    watcher.added.clear()
    watcher.bound.clear()
    processes = {"scheduler": _pid("scheduler"), "apiserver": cluster.apiserver.pid, "etcd": cluster.etcd.pid,
                 "bench": os.getpid()}
    cpu0 = {name: cpu_seconds(pid) for name, pid in processes.items()}
    with profiled(args.profile, nodes, apiserver=cluster.apiserver.pid, scheduler=_pid("scheduler")):
        t0 = time.perf_counter()
        created = await loadgen("creates", port=cluster.api_port, namespace="sched", prefix="p-", count=args.pods,
                                concurrency=args.concurrency)
        complete = await watcher.wait_bound(args.pods, 600)
    watcher.stop()
    if not complete:
        raise RuntimeError(f"only {len(watcher.bound)} of {args.pods} pods were bound within 10 minutes")
    last = max(watcher.bound.values())
    latencies = [watcher.bound[n] - watcher.added[n] for n in watcher.bound if n in watcher.added]
    return {"nodes": nodes, "pods": args.pods, "elapsed_s": last - t0, "pods_per_s": args.pods / (last - t0),
            "create_per_s": created["per_s"], "warmup_codes": warm["codes"],
            "bind_p50_ms": percentile(latencies, 50) * 1000, "bind_p99_ms": percentile(latencies, 99) * 1000,
            **cpu_per_pod(processes, cpu0, args.pods)}


def cpu_per_pod(processes: dict[str, int], before: dict[str, float], pods: int) -> dict[str, float]:
    """ms of CPU per pod for each process; "bench" counts its children too, so the load generator and
    watcher are what remains of it once the others are taken off."""
    spent = {name: (cpu_seconds(pid) - before[name]) / pods * 1000 for name, pid in processes.items()}
    spent["total_cpu_ms_per_pod"] = spent.pop("bench")
    spent["loadgen"] = spent["total_cpu_ms_per_pod"] - sum(v for k, v in spent.items() if k != "total_cpu_ms_per_pod")
    return {k if k.endswith("_per_pod") else f"{k}_cpu_ms_per_pod": v for k, v in spent.items()}


@contextlib.contextmanager
def profiled(directory: Path | None, nodes: int, **pids: int) -> Iterator[None]:
    """py-spy each named process while the block runs, then print where its CPU went."""
    if directory is None:
        yield
        return
    from _profile import Recorder, summarise
    directory.mkdir(parents=True, exist_ok=True)
    outs = {name: directory / f"{name}-{nodes}nodes.collapsed" for name in pids}
    with contextlib.ExitStack() as stack:
        for name, pid in pids.items():
            stack.enter_context(Recorder(pid, outs[name]))
        yield
    for name, out in outs.items():
        total, own, inclusive = summarise(out, top=15)
        say(f"profile of the {name}: {total} samples -> {out}")
        for label, rows in (("own", own), ("inclusive", inclusive[:30])):
            say(f"  {label} time:")
            for func, count in rows:
                say(f"    {count / max(total, 1):6.1%}  {func}")


async def raw_run(cluster: Cluster, args: argparse.Namespace, nodes: int) -> dict[str, Any]:
    """No scheduler: the load generator binds pods straight to the hollow nodes while creating as many more,
    so creates and bindings overlap as they do in the scheduled run; pods/s = N / that overlapped time."""
    make_namespace(cluster, "raw")
    names = [f"hollow-{i}" for i in range(nodes)]
    await loadgen("creates", port=cluster.api_port, namespace="raw", prefix="r-", count=args.pods,
                  concurrency=args.concurrency)
    t0 = time.perf_counter()
    created, bound = await asyncio.gather(
        loadgen("creates", port=cluster.api_port, namespace="raw", prefix="s-", count=args.pods,
                concurrency=args.concurrency),
        loadgen("binds", port=cluster.api_port, namespace="raw", prefix="r-", count=args.pods,
                concurrency=args.concurrency, nodes=names))
    elapsed = time.perf_counter() - t0
    if set(bound["codes"]) != {"201"}:
        raise RuntimeError(f"raw bindings answered {bound['codes']}")
    return {"raw_create_per_s": created["per_s"], "raw_bind_per_s": bound["per_s"],
            "raw_pods_per_s": args.pods / elapsed}


_PIDS: dict[str, int] = {}


def _pid(name: str) -> int:
    return _PIDS[name]


async def one_size(args: argparse.Namespace, nodes: int) -> dict[str, Any]:
    with Cluster(*args.apiserver_flags) as cluster:
        hollow, sched = hollow_nodes(cluster, nodes), scheduler(cluster)
        try:
            hollow.start()
            registered_s = await wait_nodes(cluster, nodes)
            if not args.keep_heartbeats:
                hollow.stop()  # the Nodes stay, Ready as registered: nothing here marks them stale
            sched.start()
            assert sched.proc is not None
            _PIDS["scheduler"] = sched.proc.pid
            result = await scheduled_run(cluster, args, nodes)
            sched.stop()
            result.update(await raw_run(cluster, args, nodes))
            result["hollow_register_s"] = registered_s
            result["heartbeats"] = args.keep_heartbeats
            return result
        except BaseException:
            say(sched.log_tail(20))
            raise
        finally:
            sched.stop()
            hollow.stop()


def report(r: dict[str, Any]) -> None:
    beats = "leases renewed (100 writes/s per 1,000 nodes)" if r["heartbeats"] else "then stopped"
    say(f"{r['nodes']} hollow nodes (registered in {r['hollow_register_s']:.1f} s, {beats}; pod status not "
        f"updated, as scheduler_perf), {r['pods']} pods:")
    say(f"  scheduled          {r['pods_per_s']:7.0f} pods/s   (first create → last binding, {r['elapsed_s']:.1f} s)")
    say(f"  create → bound     p50 {r['bind_p50_ms']:6.0f} ms   p99 {r['bind_p99_ms']:6.0f} ms")
    say("  CPU per pod        " + ", ".join(f"{name} {r[f'{name}_cpu_ms_per_pod']:.2f}" for name in
                                             ("scheduler", "apiserver", "etcd", "loadgen")) +
        f" = {r['total_cpu_ms_per_pod']:.2f} ms of the {2000 / r['pods_per_s']:.2f} ms two cores give a pod at "
        "this rate")
    say(f"  raw create+bind    {r['raw_pods_per_s']:7.0f} pods/s   (overlapped: creates {r['raw_create_per_s']:.0f}/s, "
        f"bindings {r['raw_bind_per_s']:.0f}/s, no scheduler)  → scheduled = "
        f"{r['pods_per_s'] / r['raw_pods_per_s']:.0%} of raw")


def main() -> None:
    args = parse_args()
    say(f"scheduler benchmark: {args.pods} pods on {args.nodes} hollow nodes, 2-core box load "
        f"{os.getloadavg()[0]:.1f}")
    results = []
    for nodes in args.nodes:
        result = run_async(one_size(args, nodes))
        report(result)
        results.append(result)
    final = max(results, key=lambda r: r["nodes"])
    summary = {"nodes": final["nodes"], "pods": final["pods"], "pods_per_s": round(final["pods_per_s"], 1),
               "bind_p99_ms": round(final["bind_p99_ms"], 1), "bind_p50_ms": round(final["bind_p50_ms"], 1),
               "raw_pods_per_s": round(final["raw_pods_per_s"], 1), "pod_status_updates": False,
               "heartbeats": final["heartbeats"],
               "target_pods_per_s": TARGET_PODS_PER_S, "target_met": final["pods_per_s"] >= TARGET_PODS_PER_S,
               "runs": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in results]}
    say(json.dumps(summary))


if __name__ == "__main__":
    main()
