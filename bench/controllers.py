"""Deployment create → available and a rolling update at 1,000 replicas, next to the raw create+bind+Running floor.

A fresh etcd and apiserver, 100 hollow nodes (`python -m kubelet --hollow`, pod status ON: a bound pod is
reported Running and Ready), the scheduler and the controller-manager (`--leader-elect false`).  Measured:

  create → available   POST of a Deployment of N replicas → status.availableReplicas == N, seen on a watch
                       (Deployment → ReplicaSet → N pod creates → N bindings → N Running/Ready → RS and
                       Deployment status)
  rollout              PATCH of the pod template (an annotation) → the rollout complete, seen on a watch:
                       observedGeneration caught up, updatedReplicas == availableReplicas == replicas == N,
                       and the old ReplicaSet at 0 (spec and status)
  raw                  before any controller or scheduler runs: the same N pods POSTed directly and each bound
                       directly to a hollow node (32 in flight), until the hollow nodes have reported all N
                       Ready — what the apiserver and the hollow nodes alone take, the floor under the controllers.
                       After an untimed warm-up of 50 such pods; all are deleted (and gone) before the
                       controllers start.

Each phase also reports the CPU seconds every process used in it.  The last line is one JSON object.

    .venv/bin/python bench/controllers.py [--nodes 100] [--replicas 1000] [--logs DIR]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _cluster import Cluster, cpu_seconds
from _loadgen import percentile
from api import run_async

from common import errors
from common.api import kinds
from common.api.kinds import ResourceType
from common.client import ApiClient
from common.localcluster import ChildProcess

Obj = dict[str, Any]
PHASE_TIMEOUT_S = 900.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=100, help="hollow nodes")
    p.add_argument("--replicas", type=int, default=1000, help="Deployment replicas (and raw pods)")
    p.add_argument("--raw-concurrency", type=int, default=32, help="raw create+bind requests in flight")
    p.add_argument("--apiserver-flags", nargs="*", default=[], help="e.g. --apiserver-flags=--workers=2")
    p.add_argument("--logs", type=Path, help="copy the daemons' logs into this directory at the end")
    return p.parse_args()


def say(text: str) -> None:
    print(text, flush=True)


def template(app: str) -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": "kubelab/pause:3.9",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                     "terminationGracePeriodSeconds": 30}}


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class Follower:
    """Watches of some kinds in one namespace into one cache; waiters are predicates over it, timed on the
    event that first made them true."""

    def __init__(self, client: ApiClient, namespace: str, *rts: ResourceType) -> None:
        self.client, self.namespace, self.rts = client, namespace, rts
        self.objects: dict[str, dict[str, Obj]] = {rt.plural: {} for rt in rts}
        self.first_seen: dict[str, float] = {}  # pods: name → first event
        self.bound_at: dict[str, float] = {}  # pods: name → first event showing spec.nodeName
        self.ready_at: dict[str, float] = {}  # pods: name → first event showing Ready
        self._waiters: list[tuple[Callable[[Follower], bool], asyncio.Future[float]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for rt in self.rts:
            listed = await self.client.list(rt, self.namespace)
            for obj in listed.get("items") or []:
                self.objects[rt.plural][obj["metadata"]["name"]] = obj
            self._tasks.append(asyncio.create_task(self._follow(rt, listed["metadata"]["resourceVersion"])))

    async def _follow(self, rt: ResourceType, rv: str) -> None:
        cache = self.objects[rt.plural]
        while True:
            try:
                async for kind, obj in self.client.watch(rt, self.namespace, resource_version=rv):
                    now = time.perf_counter()
                    rv = obj["metadata"].get("resourceVersion") or rv
                    if kind == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if kind == "DELETED":
                        cache.pop(name, None)
                    else:
                        cache[name] = obj
                        if rt is kinds.PODS:
                            self.first_seen.setdefault(name, now)
                            if name not in self.bound_at and (obj.get("spec") or {}).get("nodeName"):
                                self.bound_at[name] = now
                            if name not in self.ready_at and pod_ready(obj):
                                self.ready_at[name] = now
                    self._check(now)
            except errors.TransportError:
                await asyncio.sleep(0.1)  # the server ended the stream: resume from the last revision

    def _check(self, now: float) -> None:
        for predicate, fut in self._waiters:
            if not fut.done() and predicate(self):
                fut.set_result(now)
        self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    async def wait(self, predicate: Callable[[Follower], bool], what: str,
                   timeout_s: float = PHASE_TIMEOUT_S) -> float:
        """perf_counter() of the event that made predicate true (now, if it already is)."""
        if predicate(self):
            return time.perf_counter()
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise RuntimeError(f"timed out after {timeout_s:.0f}s waiting for {what}") from None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def pods(self) -> dict[str, Obj]:
        return self.objects["pods"]

    def deployment(self, name: str) -> Obj:
        return self.objects["deployments"].get(name) or {"metadata": {}, "status": {}}


class Processes:
    """CPU seconds of each process over a phase."""

    def __init__(self, procs: dict[str, ChildProcess]) -> None:
        self.procs = procs
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        out = {"bench (its watches)": time.process_time()}
        for name, proc in self.procs.items():
            if proc.proc is not None and proc.proc.poll() is None:
                out[name] = cpu_seconds(proc.pid)
        return out

    def begin(self) -> None:
        self._start = self._now()

    def end(self) -> dict[str, float]:
        now = self._now()
        return {name: round(now[name] - self._start[name], 1) for name in now if name in self._start}


# -- phases ---------------------------------------------------------------------------------------------------

async def make_namespace(client: ApiClient, name: str) -> None:
    await client.create(kinds.NAMESPACES, {"metadata": {"name": name}})


async def wait_nodes_ready(client: ApiClient, count: int, timeout_s: float = 180) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        nodes, _ = await client.list_all(kinds.NODES)
        ready = [n for n in nodes if any(c.get("type") == "Ready" and c.get("status") == "True"
                                         for c in (n.get("status") or {}).get("conditions") or [])]
        if len(ready) >= count:
            return time.perf_counter() - start
        await asyncio.sleep(0.5)
    raise RuntimeError(f"fewer than {count} hollow nodes Ready within {timeout_s:.0f}s")


async def raw_run(client: ApiClient, args: argparse.Namespace, cpu: Processes) -> dict[str, Any]:
    """N pods created and bound straight to the hollow nodes, until all are reported Ready; then deleted."""
    await make_namespace(client, "raw")
    async with Follower(client, "raw", kinds.PODS) as follower:
        return await _raw(client, args, cpu, follower)


async def _raw(client: ApiClient, args: argparse.Namespace, cpu: Processes, follower: Follower) -> dict[str, Any]:
    ns, n = "raw", args.replicas
    body = {"metadata": {"labels": {"app": "raw"}}, "spec": template("raw")["spec"]}

    async def worker(pending: Iterator[int], prefix: str) -> None:
        for i in pending:  # shared by the workers: each index taken once
            name = f"{prefix}{i}"
            await client.create(kinds.PODS, {**body, "metadata": {**body["metadata"], "name": name}}, ns)
            await client.request("POST", kinds.PODS.path(ns, name, "binding"), json_body={
                "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": f"hollow-{i % args.nodes}"}})

    # Warm-up (every code path of apiserver and hollow nodes run once), not timed: 50 pods, Ready, deleted.
    warm = 50
    pending = iter(range(warm))
    await asyncio.gather(*(worker(pending, "warm-") for _ in range(args.raw_concurrency)))
    await follower.wait(lambda f: len(f.ready_at) >= warm, "the warm-up pods Ready")
    await delete_all(client, follower, args.raw_concurrency)
    follower.ready_at.clear()
    follower.first_seen.clear()
    pending = iter(range(n))
    cpu.begin()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(pending, "raw-") for _ in range(args.raw_concurrency)))
    posted = time.perf_counter()
    done = await follower.wait(lambda f: len(f.ready_at) >= n, f"{n} raw pods Ready")
    used = cpu.end()
    latencies = [follower.ready_at[k] - follower.first_seen[k] for k in follower.ready_at]
    await delete_all(client, follower, args.raw_concurrency)  # gone before the controllers start
    return {"raw_s": done - t0, "raw_posted_s": posted - t0, "raw_pods_per_s": n / (done - t0),
            "raw_ready_p50_ms": percentile(latencies, 50) * 1000,
            "raw_ready_p99_ms": percentile(latencies, 99) * 1000, "raw_cpu_s": used}


async def delete_all(client: ApiClient, follower: Follower, concurrency: int) -> None:
    """Delete the followed pods and wait until they are gone (the hollow nodes complete each deletion)."""
    sem = asyncio.Semaphore(concurrency)

    async def delete(name: str) -> None:
        async with sem:
            try:
                await client.delete(kinds.PODS, name, follower.namespace)
            except errors.NotFound:
                pass

    await asyncio.gather(*(delete(name) for name in list(follower.pods())))
    await follower.wait(lambda f: not f.pods(), "the raw pods gone")


def available(name: str, n: int) -> Callable[[Follower], bool]:
    def check(f: Follower) -> bool:
        return (f.deployment(name).get("status") or {}).get("availableReplicas") == n
    return check


def rollout_complete(name: str, n: int, old_rs: str) -> Callable[[Follower], bool]:
    def check(f: Follower) -> bool:
        d = f.deployment(name)
        status = d.get("status") or {}
        if (status.get("observedGeneration") or 0) < (d["metadata"].get("generation") or 0):
            return False
        if not status.get("updatedReplicas") == status.get("availableReplicas") == status.get("replicas") == n:
            return False
        old = f.objects["replicasets"].get(old_rs)
        return old is None or ((old.get("spec") or {}).get("replicas") == 0
                               and not (old.get("status") or {}).get("replicas"))
    return check


async def controller_run(client: ApiClient, args: argparse.Namespace, cpu: Processes) -> dict[str, Any]:
    await make_namespace(client, "bench")
    async with Follower(client, "bench", kinds.DEPLOYMENTS, kinds.REPLICASETS, kinds.PODS) as follower:
        return await _controllers(client, args, cpu, follower)


async def _controllers(client: ApiClient, args: argparse.Namespace, cpu: Processes,
                       follower: Follower) -> dict[str, Any]:
    ns, n, name = "bench", args.replicas, "web"
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                  "spec": {"replicas": n, "selector": {"matchLabels": {"app": name}}, "template": template(name)}}

    cpu.begin()
    t0 = time.perf_counter()
    await client.create(kinds.DEPLOYMENTS, deployment, ns)
    done = await follower.wait(available(name, n), f"{n} available replicas")
    create_cpu = cpu.end()
    pods = follower.pods()
    ready_latencies = [follower.ready_at[k] - follower.first_seen[k] for k in follower.ready_at if k in pods]
    bind_latencies = [follower.bound_at[k] - follower.first_seen[k] for k in follower.bound_at if k in pods]
    status_latencies = [follower.ready_at[k] - follower.bound_at[k] for k in follower.ready_at
                        if k in pods and k in follower.bound_at]
    first_pod = min(follower.first_seen.values())
    last_ready = max(follower.ready_at.values())
    created: dict[str, Any] = {"create_to_available_s": done - t0, "first_pod_s": first_pod - t0,
                               "last_pod_ready_s": last_ready - t0,
                               "pod_ready_p50_ms": percentile(ready_latencies, 50) * 1000,
                               "pod_ready_p99_ms": percentile(ready_latencies, 99) * 1000,
                               "pod_bound_p50_ms": percentile(bind_latencies, 50) * 1000,
                               "pod_bound_to_ready_p50_ms": percentile(status_latencies, 50) * 1000,
                               "create_cpu_s": create_cpu}
    say(f"  deployment available after {done - t0:.1f} s; rolling out a template change")

    old_rs = next(iter(follower.objects["replicasets"]))
    before = set(follower.ready_at)
    cpu.begin()
    t1 = time.perf_counter()
    await client.patch(kinds.DEPLOYMENTS, name, {"spec": {"template": {"metadata": {"annotations": {
        "kubelab.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}}}}, ns)
    rolled = await follower.wait(rollout_complete(name, n, old_rs), "the rollout to complete")
    rollout_cpu = cpu.end()
    new_ready = [follower.ready_at[k] for k in follower.ready_at if k not in before]
    events, _ = await client.list_all(kinds.EVENTS, ns)  # each one was an API write besides the real work
    return {**created, "rollout_s": rolled - t1, "rollout_new_pods_ready": len(new_ready),
            "rollout_last_new_ready_s": (max(new_ready) - t1) if new_ready else None, "rollout_cpu_s": rollout_cpu,
            "events_stored": len(events), "event_count_sum": sum(int(e.get("count") or 1) for e in events)}


# -- the run ---------------------------------------------------------------------------------------------------

def daemon(cluster: Cluster, name: str, module: str, *flags: str) -> ChildProcess:
    argv = [sys.executable, "-m", module, "--server", cluster.api_url, *flags]
    return ChildProcess(name, argv, cluster.workdir / f"{name}.log")


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM, like Ctrl-C, cancels the run so the finally blocks stop every daemon and remove the temp dir.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    with Cluster(*args.apiserver_flags) as cluster:
        etcd_proc = cluster.etcd
        hollow = daemon(cluster, "hollow", "kubelet", "--hollow", "--count", str(args.nodes), "--node-name-prefix",
                        "hollow-", "--healthz-port", "0")
        sched = daemon(cluster, "scheduler", "scheduler", "--leader-elect", "false", "--port", "0")
        cm = daemon(cluster, "controller-manager", "controller_manager", "--leader-elect", "false", "--port", "0")
        daemons = [hollow, sched, cm]
        cpu = Processes({"etcd": etcd_proc, "apiserver": cluster.apiserver, "hollow": hollow, "scheduler": sched,
                         "controller-manager": cm})
        try:
            async with ApiClient(cluster.api_url) as client:
                hollow.start()
                registered_s = await wait_nodes_ready(client, args.nodes)
                say(f"  {args.nodes} hollow nodes Ready in {registered_s:.1f} s; raw floor: {args.replicas} pods "
                    "created + bound directly")
                result: dict[str, Any] = {"nodes": args.nodes, "replicas": args.replicas,
                                          "hollow_ready_s": registered_s}
                result.update(await raw_run(client, args, cpu))
                say(f"  raw: {args.replicas} pods Ready after {result['raw_s']:.1f} s; starting the scheduler and "
                    "the controller-manager")
                sched.start()
                cm.start()
                await asyncio.sleep(3)  # both list-and-watch before the clock starts
                for d in (sched, cm):
                    if d.proc is not None and d.proc.poll() is not None:
                        raise RuntimeError(f"{d.name} exited:\n{d.log_tail(20)}")
                result.update(await controller_run(client, args, cpu))
                return result
        except BaseException:
            for d in daemons:
                if d.proc is not None:
                    say(f"--- {d.name} log tail ---\n{d.log_tail(15)}")
            raise
        finally:
            for d in daemons:
                d.stop()
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in cluster.workdir.glob("*.log"):
                    shutil.copy(log, args.logs / log.name)


def _cpu_text(used: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1]))


def report(r: dict[str, Any]) -> None:
    n = r["replicas"]
    say(f"{n}-replica Deployment on {r['nodes']} hollow nodes (pods reported Running/Ready), scheduler + "
        "controller-manager:")
    say(f"  create → available  {r['create_to_available_s']:7.1f} s  ({n / r['create_to_available_s']:.0f} pods/s; "
        f"first pod at {r['first_pod_s']:.2f} s, last Ready at {r['last_pod_ready_s']:.1f} s; "
        f"pod created→Ready p50 {r['pod_ready_p50_ms']:.0f} ms p99 {r['pod_ready_p99_ms']:.0f} ms, of which "
        f"created→bound p50 {r['pod_bound_p50_ms']:.0f} ms, bound→Ready p50 {r['pod_bound_to_ready_p50_ms']:.0f} ms)")
    say(f"      CPU s: {_cpu_text(r['create_cpu_s'])}")
    say(f"  rollout (template)  {r['rollout_s']:7.1f} s  ({n} pods replaced, maxSurge/maxUnavailable 25%)")
    say(f"      CPU s: {_cpu_text(r['rollout_cpu_s'])}")
    say(f"  events stored in the namespace afterwards: {r['events_stored']} (count total {r['event_count_sum']}), "
        "each an API write besides the real work (mostly the scheduler's one Scheduled event per pod)")
    say(f"  raw create+bind     {r['raw_s']:7.1f} s  ({r['raw_pods_per_s']:.0f} pods/s to Ready; requests done at "
        f"{r['raw_posted_s']:.1f} s; created→Ready p50 {r['raw_ready_p50_ms']:.0f} ms p99 "
        f"{r['raw_ready_p99_ms']:.0f} ms; no scheduler, no controllers)")
    say(f"      CPU s: {_cpu_text(r['raw_cpu_s'])}")
    say(f"  → create→available is {r['create_to_available_s'] / r['raw_s']:.1f}× the raw floor; a rollout (N "
        f"creates + N deletes) is {r['rollout_s'] / r['raw_s']:.1f}× it")


def main() -> None:
    args = parse_args()
    say(f"controllers benchmark: a {args.replicas}-replica Deployment on {args.nodes} hollow nodes, 2-core box load "
        f"{os.getloadavg()[0]:.1f}")
    try:
        r = run_async(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; everything stopped")
        sys.exit(130)
    report(r)
    summary = {"replicas": r["replicas"], "nodes": r["nodes"],
               "create_to_available_s": round(r["create_to_available_s"], 2), "rollout_s": round(r["rollout_s"], 2),
               "raw_create_bind_ready_s": round(r["raw_s"], 2), "raw_pods_per_s": round(r["raw_pods_per_s"], 1),
               "available_vs_raw": round(r["create_to_available_s"] / r["raw_s"], 2),
               "rollout_vs_raw": round(r["rollout_s"] / r["raw_s"], 2),
               "details": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}}
    say(json.dumps(summary))


if __name__ == "__main__":
    main()
