"""Kubelet benchmark: pod create → Running, next to Docker creating and starting the same pause+app pair itself.

    .venv/bin/python bench/pod_startup.py [--pods 30] [--concurrency 1] [--kubelet-v 1 --kubelet-log FILE]
                                          [--profile DIR]

Starts its own etcd and apiserver (bench/_cluster.py) and one kubelet for a throwaway node `bench-<hex>`,
makes sure the local pause and busybox images exist (nothing is pulled), then runs batches of --concurrency,
raw and pod in turn (raw first in even batches, pod first in odd ones, so drift on a shared machine evens out):

  raw   the Docker SDK directly: create+start a pause container (Docker's init, bridge network, shareable IPC, as
        the kubelet's sandbox), then create+start a busybox `sh -c 'sleep 3600'` in its network and IPC
        namespaces; timed from the first create until both started, then removed
  pod   POST a pod with that one container and spec.nodeName set (there is no scheduler); timed from the POST to
        the watch event (fieldSelector spec.nodeName) showing phase Running with every container running; then
        deleted, and its DELETED event awaited (the kubelet completes the deletion once its containers are gone)

Both are also split with Docker's own timestamps (Created, State.StartedAt) of the two containers, so a reader
sees which step the kubelet adds to: before the pause create, between the containers, or after the app started.
Docker stamps Created as it begins a create, so "created → started" holds the rest of the create (the container's
layer) and the start.  Each step's median is its own: they need not add up to the total's.
A warm-up of each comes first and is not counted.  Targets: pod p50 ≤ 1.5 × raw p50, pod p99 ≤ 1 s.

Human-readable lines first; the last line is one JSON object (pod_p50_ms, pod_p99_ms, raw_pod_p50_ms, the ratio,
the step medians, kubelet CPU per pod, targets_met).  `--profile DIR` samples the kubelet with py-spy during the
whole run (not a dependency: .venv/bin/pip install py-spy) and prints its top functions.  Everything is removed
at the end, on errors, Ctrl-C and SIGTERM too: the node's containers, the Node, the processes and the temp dir.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import shutil
import signal
import statistics
import sys
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import httpx

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from _cluster import Cluster, cpu_seconds  # noqa: E402
from common.localcluster import ChildProcess  # noqa: E402
from kubelet import images  # noqa: E402
from kubelet.runtime import LABEL_CONTAINER_TYPE, LABEL_NODE, LABEL_POD_UID, LOG_CONFIG  # noqa: E402

NAMESPACE = "bench-pods"
BUSYBOX, PAUSE = images.DEFAULT_BUSYBOX_IMAGE, images.DEFAULT_PAUSE_IMAGE
COMMAND = ["sh", "-c", "sleep 3600"]
LABEL_RAW = "kubelab.io/bench-raw"  # the raw pairs' label: with LABEL_NODE the kubelet would remove them as orphans
STEPS = ("POST/start → pause created", "pause created → started", "pause started → app created",
         "app created → started", "app started → seen running")
TARGET_RATIO, TARGET_P99_MS = 1.5, 1000.0
TIMEOUT_S = 60.0
Obj = dict[str, Any]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=30, help="pods measured (and as many raw pairs)")
    p.add_argument("--concurrency", type=int, default=1, help="pods (and raw pairs) started at once")
    p.add_argument("--warmup", type=int, default=1, help="uncounted pods and raw pairs first")
    p.add_argument("--kubelet-v", type=int, default=0, help="kubelet --v (1: debug logs)")
    p.add_argument("--kubelet-log", type=Path, metavar="FILE", help="keep a copy of the kubelet's log")
    p.add_argument("--profile", type=Path, metavar="DIR", help="sample the kubelet with py-spy, summary into DIR")
    return p.parse_args()


def say(text: str) -> None:
    print(text, flush=True)


# -- figures -------------------------------------------------------------------------------

@dataclass
class Startup:
    """One pod or raw pair, in wall-clock seconds (to line up with Docker's timestamps)."""
    began: float  # just before the POST, or the first create
    done: float = 0.0  # when the bench saw both containers running
    posted: float = 0.0  # pods: when the POST was answered
    marks: list[float] = field(default_factory=list)  # pause created, pause started, app created, app started

    @property
    def total_ms(self) -> float:
        return (self.done - self.began) * 1000

    def steps_ms(self) -> list[float]:
        points = [self.began, *self.marks, self.done]
        return [(b - a) * 1000 for a, b in itertools.pairwise(points)]


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: with 20 values p99 is the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def docker_time(text: str) -> float:
    """Docker's RFC3339 with nanoseconds ("2024-05-01T10:00:00.123456789Z") as UNIX time."""
    head, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{frac or 0}")


def docker_marks(api: docker.APIClient, pause_id: str, app_id: str) -> list[float]:
    marks: list[float] = []
    for container_id in (pause_id, app_id):
        data = api.inspect_container(container_id)
        marks += [docker_time(data["Created"]), docker_time(data["State"]["StartedAt"])]
    return marks


# -- raw: the pair through the Docker SDK ----------------------------------------------------

class RawDocker:
    """The kubelet's pause+app pair made directly, with the host config the kubelet gives them."""

    def __init__(self, client: docker.DockerClient, node: str) -> None:
        self.api, self.node = client.api, node
        self.count = 0

    def start_pair(self) -> tuple[Startup, list[str]]:
        self.count += 1
        name, labels = f"{self.node}-raw-{self.count}", {LABEL_RAW: self.node}
        s = Startup(time.time())
        pause = self.api.create_container(PAUSE, name=f"{name}-pause", hostname=name, labels=labels,
                                          host_config=self._host_config("bridge", "shareable"))["Id"]
        self.api.start(pause)
        shared = f"container:{pause}"
        app = self.api.create_container(BUSYBOX, name=f"{name}-app", entrypoint=COMMAND, labels=labels,
                                        host_config=self._host_config(shared, shared))["Id"]
        self.api.start(app)
        s.done = time.time()
        s.marks = docker_marks(self.api, pause, app)
        return s, [app, pause]

    def _host_config(self, network_mode: str, ipc_mode: str) -> Obj:
        return self.api.create_host_config(init=True, network_mode=network_mode, ipc_mode=ipc_mode,
                                           log_config=LOG_CONFIG)

    def remove(self, ids: list[str]) -> None:
        for container_id in ids:  # the app first, then its pause
            self.api.remove_container(container_id, v=True, force=True)

    async def batch(self, size: int) -> list[Startup]:
        started = await asyncio.gather(*(asyncio.to_thread(self.start_pair) for _ in range(size)))
        await asyncio.gather(*(asyncio.to_thread(self.remove, ids) for _, ids in started))
        return [s for s, _ in started]


# -- pods: through the API and the kubelet -------------------------------------------------------

def all_running(pod: Obj) -> bool:
    status = pod.get("status") or {}
    running = [s for s in status.get("containerStatuses") or [] if "running" in (s.get("state") or {})]
    return status.get("phase") == "Running" and len(running) == len(pod["spec"]["containers"])


class PodWatch:
    """One watch on the node's pods: for each expected pod, when it was first seen running and when it was gone."""

    def __init__(self, http: httpx.AsyncClient, node: str) -> None:
        self.http, self.node = http, node
        self.running: dict[str, asyncio.Future[float]] = {}
        self.deleted: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listed = await self.http.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={self.node}"})
        listed.raise_for_status()
        self._task = asyncio.create_task(self._follow(listed.json()["metadata"]["resourceVersion"]))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def expect(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        self.running[name], self.deleted[name] = loop.create_future(), loop.create_future()

    async def _follow(self, rv: str) -> None:
        params = {"watch": "true", "fieldSelector": f"spec.nodeName={self.node}", "allowWatchBookmarks": "true"}
        try:
            while True:  # the server may end a watch: resume from the last revision seen
                async with self.http.stream("GET", "/api/v1/pods", params={**params, "resourceVersion": rv},
                                            timeout=httpx.Timeout(None, connect=10)) as resp:
                    resp.raise_for_status()
                    async for line in resp.aiter_lines():
                        if line:
                            rv = self._on_event(json.loads(line), time.time()) or rv
        except Exception as exc:  # fail every waiter at once rather than at its timeout
            waiters: list[asyncio.Future[Any]] = [*self.running.values(), *self.deleted.values()]
            for future in waiters:
                if not future.done():
                    future.set_exception(exc)
            raise

    def _on_event(self, event: Obj, seen: float) -> str | None:
        if event["type"] == "ERROR":
            raise RuntimeError(f"watch failed: {event['object'].get('message')}")
        pod = event["object"]
        name = pod["metadata"].get("name", "")
        if event["type"] == "DELETED":
            _resolve(self.deleted.get(name), None)
        elif event["type"] != "BOOKMARK" and all_running(pod):
            _resolve(self.running.get(name), seen)
        return pod["metadata"].get("resourceVersion")


def _resolve(future: asyncio.Future[Any] | None, value: Any) -> None:
    if future is not None and not future.done():
        future.set_result(value)


class Pods:
    """Creates the bench's pods on its node, waits for them to run, then deletes them and waits until gone."""

    def __init__(self, http: httpx.AsyncClient, watch: PodWatch, client: docker.DockerClient, node: str) -> None:
        self.http, self.watch, self.api, self.node = http, watch, client.api, node
        self.count = 0

    def body(self, name: str) -> Obj:
        container = {"name": "app", "image": BUSYBOX, "command": COMMAND}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"nodeName": self.node, "terminationGracePeriodSeconds": 1, "containers": [container]}}

    async def start(self, name: str) -> tuple[Startup, str]:
        self.watch.expect(name)
        s = Startup(time.time())
        resp = await self.http.post(f"/api/v1/namespaces/{NAMESPACE}/pods", json=self.body(name))
        if resp.status_code != 201:
            raise RuntimeError(f"create of pod {name} answered {resp.status_code}: {resp.text}")
        s.posted = time.time()
        s.done = await asyncio.wait_for(self.watch.running[name], TIMEOUT_S)
        return s, resp.json()["metadata"]["uid"]

    def marks(self, uid: str) -> list[float]:
        listed = self.api.containers(all=True, filters={"label": f"{LABEL_POD_UID}={uid}"})
        kinds = {c["Labels"].get(LABEL_CONTAINER_TYPE): c["Id"] for c in listed}
        return docker_marks(self.api, kinds["sandbox"], kinds["app"])

    async def delete(self, name: str) -> None:
        resp = await self.http.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
        if resp.status_code not in (200, 202):
            raise RuntimeError(f"delete of pod {name} answered {resp.status_code}: {resp.text}")
        await asyncio.wait_for(self.watch.deleted[name], TIMEOUT_S)

    async def batch(self, size: int) -> list[Startup]:
        names = [f"p{self.count + i}" for i in range(size)]
        self.count += size
        started = await asyncio.gather(*(self.start(name) for name in names))
        for s, uid in started:  # after the whole batch runs, so inspecting does not slow its neighbours
            s.marks = await asyncio.to_thread(self.marks, uid)
        await asyncio.gather(*(self.delete(name) for name in names))
        await self._containers_gone()
        return [s for s, _ in started]

    async def _containers_gone(self) -> None:
        """The DELETED event comes after the kubelet removed the containers; make sure, for the next batch."""
        deadline = time.monotonic() + TIMEOUT_S
        while self.api.containers(all=True, filters={"label": f"{LABEL_NODE}={self.node}"}):
            if time.monotonic() > deadline:
                raise RuntimeError(f"containers of node {self.node} still there {TIMEOUT_S:.0f} s after deletion")
            await asyncio.sleep(0.05)


# -- the run -------------------------------------------------------------------------------------

async def measure(cluster: Cluster, client: docker.DockerClient, node: str, kubelet_pid: int,
                  args: argparse.Namespace) -> Obj:
    async with httpx.AsyncClient(base_url=cluster.api_url, timeout=30) as http:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        (await http.post("/api/v1/namespaces", json=ns)).raise_for_status()
        watch = PodWatch(http, node)
        await watch.start()
        try:
            return await _batches(RawDocker(client, node), Pods(http, watch, client, node), kubelet_pid, args)
        finally:
            await watch.stop()


async def _batches(raw: RawDocker, pods: Pods, kubelet_pid: int, args: argparse.Namespace) -> Obj:
    for _ in range(args.warmup):
        await raw.batch(1)
        await pods.batch(1)
    raws: list[Startup] = []
    starts: list[Startup] = []
    kubelet_cpu = 0.0
    sizes = [min(args.concurrency, args.pods - i) for i in range(0, args.pods, args.concurrency)]
    for i, size in enumerate(sizes):
        for kind in ("raw", "pod") if i % 2 == 0 else ("pod", "raw"):
            if kind == "raw":
                raws += await raw.batch(size)
            else:
                cpu0 = cpu_seconds(kubelet_pid)
                starts += await pods.batch(size)
                kubelet_cpu += cpu_seconds(kubelet_pid) - cpu0
        say(f"  batch {i + 1}/{len(sizes)}: raw {_ms(s.total_ms for s in raws[-size:])}, "
            f"pod {_ms(s.total_ms for s in starts[-size:])}")
    return summarise(raws, starts, kubelet_cpu, args)


def _ms(values: Any) -> str:
    return " ".join(f"{v:4.0f}" for v in values) + " ms"


def summarise(raws: list[Startup], starts: list[Startup], kubelet_cpu: float, args: argparse.Namespace) -> Obj:
    raw_ms, pod_ms = [s.total_ms for s in raws], [s.total_ms for s in starts]
    raw_steps = [round(statistics.median(step), 1) for step in zip(*(s.steps_ms() for s in raws))]
    pod_steps = [round(statistics.median(step), 1) for step in zip(*(s.steps_ms() for s in starts))]
    r: Obj = {
        "pod_p50_ms": round(percentile(pod_ms, 0.5), 1), "pod_p99_ms": round(percentile(pod_ms, 0.99), 1),
        "raw_pod_p50_ms": round(percentile(raw_ms, 0.5), 1), "raw_pod_p99_ms": round(percentile(raw_ms, 0.99), 1),
        "pod_post_p50_ms": round(statistics.median((s.posted - s.began) * 1000 for s in starts), 1),
        "steps": list(STEPS), "raw_steps_p50_ms": raw_steps, "pod_steps_p50_ms": pod_steps,
        "kubelet_cpu_ms_per_pod": round(kubelet_cpu / len(starts) * 1000, 1),
        "pods": len(starts), "concurrency": args.concurrency,
    }
    r["pod_vs_raw_p50"] = round(r["pod_p50_ms"] / r["raw_pod_p50_ms"], 2)
    r["targets_met"] = {"pod_vs_raw_p50": r["pod_vs_raw_p50"] <= TARGET_RATIO,
                        "pod_p99_ms": r["pod_p99_ms"] <= TARGET_P99_MS}
    return r


def report(r: Obj) -> None:
    say(f"{'':22}{'p50':>8}{'p99':>8}   ({r['pods']} each, {r['concurrency']} at a time)")
    say(f"{'raw Docker pair':22}{r['raw_pod_p50_ms']:8.0f}{r['raw_pod_p99_ms']:8.0f} ms")
    say(f"{'pod create → Running':22}{r['pod_p50_ms']:8.0f}{r['pod_p99_ms']:8.0f} ms   "
        f"= {r['pod_vs_raw_p50']:.2f}x raw at p50   [target ≤ {TARGET_RATIO}x, p99 ≤ {TARGET_P99_MS:.0f} ms]")
    say(f"steps, median ms (from Docker's Created/StartedAt){'raw':>10}{'pod':>8}")
    for name, raw, pod in zip(STEPS, r["raw_steps_p50_ms"], r["pod_steps_p50_ms"]):
        say(f"  {name:48}{raw:10.0f}{pod:8.0f}")
    say(f"the pod POST was answered in {r['pod_post_p50_ms']:.0f} ms (p50); kubelet CPU "
        f"{r['kubelet_cpu_ms_per_pod']:.0f} ms per pod (start and deletion)")


# -- processes and cleanup ---------------------------------------------------------------------

def kubelet_process(cluster: Cluster, node: str, verbosity: int) -> ChildProcess:
    argv = [sys.executable, "-m", "kubelet", "--node-name", node, "--server", cluster.api_url,
            "--root-dir", str(cluster.workdir / "kubelet-root"), "--healthz-port", "0", "--port", "0",
            "--v", str(verbosity)]  # --port 0: no clash with a kubelet already running here
    return ChildProcess("kubelet", argv, cluster.workdir / "kubelet.log")


def start_kubelet(kubelet: ChildProcess, api_url: str, node: str) -> None:
    kubelet.start()
    deadline = time.monotonic() + TIMEOUT_S
    while httpx.get(f"{api_url}/api/v1/nodes/{node}").status_code != 200:
        exited = kubelet.proc is not None and kubelet.proc.poll() is not None
        if exited or time.monotonic() > deadline:
            raise RuntimeError(f"the kubelet did not register node {node}:\n{kubelet.log_tail()}")
        time.sleep(0.1)


def remove_containers(client: docker.DockerClient, node: str) -> int:
    """Every container the kubelet made for the node and every raw pair left over."""
    found = [c for label in (LABEL_NODE, LABEL_RAW)
             for c in client.containers.list(all=True, filters={"label": f"{label}={node}"})]
    for container in found:
        container.remove(force=True, v=True)
    return len(found)


def stop_all(cluster: Cluster, kubelet: ChildProcess, client: docker.DockerClient, node: str,
             log_copy: Path | None) -> None:
    kubelet.stop()  # first, so it creates nothing more
    left = remove_containers(client, node)
    if left:
        say(f"removed {left} containers left on node {node}")
    try:
        httpx.delete(f"{cluster.api_url}/api/v1/nodes/{node}")
    except httpx.HTTPError as err:
        say(f"could not delete Node {node}: {err}")
    if log_copy is not None:
        shutil.copyfile(kubelet.log_path, log_copy)


def profiler(pid: int, out_dir: Path | None) -> AbstractContextManager[Any]:
    if out_dir is None:
        return nullcontext()
    from _profile import Recorder
    out_dir.mkdir(parents=True, exist_ok=True)
    return Recorder(pid, out_dir / "kubelet.collapsed")


# py-spy counts these as busy, yet they wait: a pool thread for work, the event loop in select, a Docker reply
IDLE_LEAVES = re.compile(r"(_worker \(.*concurrent/futures/thread\.py|EpollSelector\.select \(.*selectors\.py"
                         r"|SocketIO\.readinto \(.*socket\.py):\d+\)$")


def print_profile(out_dir: Path) -> None:
    from _profile import summarise as summarise_stacks
    collapsed, busy = out_dir / "kubelet.collapsed", out_dir / "kubelet-busy.collapsed"
    stacks = collapsed.read_text(errors="replace").splitlines()
    busy.write_text("".join(f"{line}\n" for line in stacks if not IDLE_LEAVES.search(line.rpartition(" ")[0])))
    total, own, inclusive = summarise_stacks(busy)
    say(f"profile: {total} busy samples of the kubelet (waits left out) -> {busy}")
    for title, rows in (("own time", own[:15]), ("inclusive time", inclusive[:30])):
        say(f"  {title}:")
        for name, count in rows:
            say(f"    {count / total:6.1%}  {name}")


def _loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so everything is removed
    t0, load_start = time.monotonic(), _loadavg()
    client = docker.from_env()
    images.ensure_pause_image(client, PAUSE)
    images.ensure_busybox_image(client, BUSYBOX)
    node = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        with Cluster() as cluster:
            kubelet = kubelet_process(cluster, node, args.kubelet_v)
            try:
                start_kubelet(kubelet, cluster.api_url, node)
                say(f"node {node}: kubelet pid {kubelet.pid}, apiserver {cluster.api_url}, "
                    f"workdir {cluster.workdir}")
                with profiler(kubelet.pid, args.profile):
                    r = asyncio.run(measure(cluster, client, node, kubelet.pid, args))
            except Exception:
                say(f"kubelet log tail:\n{kubelet.log_tail()}")
                raise
            finally:
                stop_all(cluster, kubelet, client, node, args.kubelet_log)
    finally:
        remove_containers(client, node)  # again: a create may have landed while the kubelet stopped
        client.close()
    report(r)
    if args.profile:
        print_profile(args.profile)
    r["loadavg_1m_start_end"] = [load_start, _loadavg()]
    r["bench_seconds"] = round(time.monotonic() - t0, 1)
    missed = [k for k, ok in r["targets_met"].items() if not ok]
    say(f"targets: {'all met' if not missed else 'missed ' + ', '.join(missed)}; {r['bench_seconds']:.0f} s, "
        f"machine load {load_start:.1f} -> {r['loadavg_1m_start_end'][1]:.1f} on {os.cpu_count()} cores")
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
