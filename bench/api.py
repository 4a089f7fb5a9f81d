"""API server benchmark: pod create throughput/latency, watch delivery and LIST, each next to raw etcd.

    .venv/bin/python bench/api.py [--quick] [--profile DIR]      (also: make bench)

Starts its own etcd and apiserver (random ports, temp dir, stopped on exit,
errors and SIGTERM included), then measures, in one run:

  raw etcd put rate    Storage.put_unconditionally (the apiserver's aetcd client) with --concurrency (32)
                       in flight and values the size of the stored benchmark pod; also Storage.create,
                       the compare-and-create transaction a pod create costs etcd
  create throughput    POST /api/v1/namespaces/<ns>/pods, the same 32 in flight (closed loop); rounds of
                       raw puts and creates alternate and the ratio is the median round's, because
                       neighbours on a shared machine come and go
  create latency       POSTs on a fixed 200/s open-loop timetable for 10 s; latency from the scheduled time
  watch delivery       100 HTTP watchers (?watch=true&resourceVersion=<rv>); per watcher×event, the time
                       from the create's send to the event's arrival (also given from the create's response)
  LIST 10k pods        GET the namespace's pods (full JSON, read fully), median of 5, vs Storage.list of
                       the same 10k keys

HTTP load comes from bench/_loadgen.py in its own process (raw HTTP/1.1 on
keep-alive sockets; httpx would cost more CPU than the server work), and every
phase reports the CPU the generator, the apiserver and etcd used, so a reader
can see which one was the bottleneck.  The machine is small and shared:
compare the ratios from one run, not absolute figures across runs.

Human-readable lines first; the last line is one JSON object with every figure
(create_p50_ms, create_p99_ms, create_per_s, raw_put_per_s, watch_p99_ms,
list10k_ms, raw_range10k_ms, their ratios, CPU per create, targets_met).
`--profile DIR` adds a create phase sampled by py-spy (not a dependency:
pip install py-spy) and prints the apiserver's top functions.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # this process forks load generators; quiet gRPC's notes
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from _cluster import Cluster, cpu_seconds  # noqa: E402
from common.localcluster import ChildProcess, free_port  # noqa: E402
from _loadgen import USER_AGENT, pod_body  # noqa: E402

TARGETS = {"create_vs_raw_put": ("≥", 0.40), "create_p99_ms": ("≤", 25.0), "watch_p99_ms": ("≤", 50.0),
           "list_vs_raw_range": ("≤", 5.0)}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight for raw puts and creates")
    p.add_argument("--creates", type=int, default=10_000, help="pods created in the throughput phase (= LIST size)")
    p.add_argument("--raw-puts", type=int, default=10_000, help="etcd puts (and create txns) in the raw phase")
    p.add_argument("--rounds", type=int, default=5, help="alternating raw/create rounds the throughput is split in")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop create rate for the latency phase")
    p.add_argument("--rate-seconds", type=float, default=10.0)
    p.add_argument("--watchers", type=int, default=100)
    p.add_argument("--watch-rate", type=float, default=20.0, help="creates/s while watchers listen")
    p.add_argument("--watch-seconds", type=float, default=10.0)
    p.add_argument("--list-runs", type=int, default=5)
    p.add_argument("--workers", type=int, default=1,
                   help="apiserver --workers; on 2 cores one does best, since every worker also follows every "
                        "watch event")
    p.add_argument("--quick", action="store_true", help="small counts, for checking the script itself")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="also run a py-spy-sampled create phase and write/summarise its stacks in DIR")
    args = p.parse_args()
    if args.quick:
        args.creates, args.raw_puts, args.rate_seconds, args.watch_seconds, args.list_runs = 2000, 2000, 3, 3, 3
        args.rounds = 2
    return args


def say(text: str) -> None:
    print(text, flush=True)


# -- HTTP setup (urllib: a handful of requests, no client library) --------------------------

def post(url: str, body: bytes) -> dict[str, Any]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def make_namespace(cluster: Cluster, name: str) -> None:
    post(f"{cluster.api_url}/api/v1/namespaces",
         json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).encode())


def stored_pod_value(cluster: Cluster, namespace: str) -> bytes:
    """What the apiserver stores for the benchmark's pod (defaults applied): the raw phase puts values this size."""
    pod = post(f"{cluster.api_url}/api/v1/namespaces/{namespace}/pods", pod_body("sample"))
    pod["metadata"].pop("resourceVersion", None)
    return json.dumps(pod, separators=(",", ":")).encode()


# -- phases ------------------------------------------------------------------------------

class CpuMeter:
    """CPU seconds each named process used inside the `with` block."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}

    def __enter__(self) -> "CpuMeter":
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._t0
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}

    def busy(self, name: str) -> float:
        """Share of one core the process used."""
        return self.used[name] / self.elapsed


def run_async(coro: Any) -> Any:
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)  # as the apiserver runs
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(coro)


async def loadgen(phase: str, **kwargs: Any) -> dict[str, Any]:
    argv = [sys.executable, str(BENCH / "_loadgen.py"), json.dumps({"phase": phase, **kwargs})]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 600)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator phase {phase} failed:\n{stderr.decode(errors='replace')[-3000:]}")
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def raw_burst(op: Any, tag: str, value: bytes, count: int, concurrency: int) -> dict[str, float]:
    """`count` calls of op(key, value) with `concurrency` in flight: rate and this process's CPU per call."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            await op(f"/bench/{tag}/{i:07d}", value)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"per_s": count / elapsed, "elapsed_s": elapsed, "client_cpu_ms": cpu / count * 1000}


async def raw_range(store: Any, prefix: str, runs: int) -> dict[str, Any]:
    times, items = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await store.list(prefix)
        times.append(time.perf_counter() - t0)
        items = len(result.items)
    return {"times_ms": [round(t * 1000, 1) for t in times], "items": items}


# -- the benchmark -----------------------------------------------------------------------

async def run(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    from apiserver.storage import Storage  # the apiserver's own etcd client, for the raw figures
    store = Storage([cluster.etcd_url])
    await store.connect()
    try:
        return await _run(cluster, args, store)
    finally:
        await store.close()


async def _run(cluster: Cluster, args: argparse.Namespace, store: Any) -> dict[str, Any]:
    port, c = cluster.api_port, args.concurrency
    pids = {"apiserver": cluster.apiserver.pid, "etcd": cluster.etcd.pid}
    for ns in ("bench-warm", "bench-tput", "bench-lat", "bench-watch", "bench-prof"):
        make_namespace(cluster, ns)
    value = stored_pod_value(cluster, "bench-warm")
    r: dict[str, Any] = {"concurrency": c, "pod_bytes": len(value)}
    await _throughput(cluster, args, store, value, r)
    await _list(cluster, args, store, r)

    with CpuMeter(pids) as cpu:
        lat = await loadgen("rate", port=port, namespace="bench-lat", prefix="l", per_s=args.rate,
                            duration_s=args.rate_seconds, pool=16)
    _check_codes("latency", lat["codes"])
    r["create_p50_ms"] = lat["latency_ms"]["p50"]
    r["create_p99_ms"] = lat["latency_ms"]["p99"]
    r["create_max_ms"] = lat["latency_ms"]["max"]
    r["create_rate_achieved_per_s"] = round(lat["achieved_per_s"], 1)
    r["create_send_lateness_p99_ms"] = lat["send_lateness_ms"]["p99"]
    say(f"create latency      p50 {lat['latency_ms']['p50']:.1f} ms  p99 {lat['latency_ms']['p99']:.1f} ms  "
        f"max {lat['latency_ms']['max']:.1f} ms   [target p99 ≤ 25 ms]")
    say(f"    open loop at {args.rate:.0f}/s for {args.rate_seconds:.0f} s (achieved {lat['achieved_per_s']:.1f}/s), "
        f"from the scheduled time; generator send lateness p99 {lat['send_lateness_ms']['p99']:.1f} ms, "
        f"CPU: apiserver {cpu.busy('apiserver'):.0%} of a core, etcd {cpu.busy('etcd'):.0%}, "
        f"generator {lat['gen_cpu_s'] / cpu.elapsed:.0%}")

    count = int(args.watch_rate * args.watch_seconds)
    with CpuMeter(pids) as cpu:
        watch = await loadgen("watch", port=port, namespace="bench-watch", prefix="e", watchers=args.watchers,
                              per_s=args.watch_rate, count=count)
    _check_codes("watch", watch["codes"])
    r["watch_p50_ms"] = watch["from_send_ms"]["p50"]
    r["watch_p99_ms"] = watch["from_send_ms"]["p99"]
    r["watch_p99_from_response_ms"] = watch["from_response_ms"]["p99"]
    r["watch_missing"] = watch["missing"]
    r["watch_pairs"] = watch["pairs"]
    say(f"watch delivery      p50 {r['watch_p50_ms']:.1f} ms  p99 {r['watch_p99_ms']:.1f} ms from the create's send "
        f"(p50 {watch['from_response_ms']['p50']:.1f} / p99 {r['watch_p99_from_response_ms']:.1f} ms from its "
        f"response)   [target p99 ≤ 50 ms]")
    say(f"    {args.watchers} watchers × {count} creates at {args.watch_rate:.0f}/s = {watch['pairs']} deliveries, "
        f"{watch['missing']} missing; CPU: apiserver {cpu.busy('apiserver'):.0%}, "
        f"generator {watch['gen_cpu_s'] / cpu.elapsed:.0%}")

    if args.profile:
        await profile_creates(cluster, args, r)
    return r


async def _throughput(cluster: Cluster, args: argparse.Namespace, store: Any, value: bytes,
                      r: dict[str, Any]) -> None:
    """Raw puts, raw create transactions and pod creates in alternating rounds: a ratio per round.

    The machine is shared, so neighbours come and go; pairing each create round with
    raw rounds a few seconds apart keeps the ratio honest where one long phase of each
    would compare different moments.
    """
    c, rounds = args.concurrency, args.rounds
    per_round = args.creates // rounds
    await raw_burst(store.put_unconditionally, "warm", value, 1000, c)
    await loadgen("creates", port=cluster.api_port, namespace="bench-warm", prefix="w", count=1000, concurrency=c)
    puts, txns, creates, ratios = [], [], [], []
    cpu_used = {"apiserver": 0.0, "etcd": 0.0}
    raw_etcd_cpu, create_elapsed = 0.0, 0.0
    for i in range(rounds):
        with CpuMeter({"etcd": cluster.etcd.pid}) as raw_cpu:
            put = await raw_burst(store.put_unconditionally, f"put/{i}", value, args.raw_puts // rounds, c)
            txn = await raw_burst(store.create, f"txn/{i}", value, args.raw_puts // rounds, c)
        raw_etcd_cpu += raw_cpu.used["etcd"]
        with CpuMeter({"apiserver": cluster.apiserver.pid, "etcd": cluster.etcd.pid}) as cpu:
            tput = await loadgen("creates", port=cluster.api_port, namespace="bench-tput", prefix=f"p{i}-",
                                 count=per_round, concurrency=c)
        _check_codes("throughput", tput["codes"])
        for name in cpu_used:
            cpu_used[name] += cpu.used[name]
        create_elapsed += tput["elapsed_s"]
        puts.append(put)
        txns.append(txn)
        creates.append(tput)
        ratios.append(tput["per_s"] / put["per_s"])
        say(f"  round {i + 1}/{rounds}: raw put {put['per_s']:6.0f}/s, raw txn {txn['per_s']:6.0f}/s, "
            f"pod create {tput['per_s']:5.0f}/s = {ratios[-1]:.0%} of raw put "
            f"(apiserver {cpu.busy('apiserver'):.0%} of a core, etcd {cpu.busy('etcd'):.0%})")

    n_raw = (args.raw_puts // rounds) * rounds
    n = per_round * rounds
    raw_put = n_raw / sum(p["elapsed_s"] for p in puts)
    raw_txn = n_raw / sum(t["elapsed_s"] for t in txns)
    create = n / create_elapsed
    r["raw_put_per_s"] = round(raw_put, 1)
    r["raw_txn_create_per_s"] = round(raw_txn, 1)
    r["raw_client_cpu_ms_per_put"] = round(statistics.mean(p["client_cpu_ms"] for p in puts), 3)
    r["raw_etcd_cpu_ms_per_write"] = round(raw_etcd_cpu / (2 * n_raw) * 1000, 3)
    r["create_per_s"] = round(create, 1)
    r["create_vs_raw_put"] = round(statistics.median(ratios), 3)
    r["create_vs_raw_put_rounds"] = [round(x, 3) for x in ratios]
    r["create_vs_raw_txn"] = round(statistics.median(t["per_s"] / x["per_s"] for t, x in zip(creates, txns)), 3)
    r["create_closed_loop_p50_ms"] = round(statistics.median(t["latency_ms"]["p50"] for t in creates), 2)
    r["create_closed_loop_p99_ms"] = round(statistics.median(t["latency_ms"]["p99"] for t in creates), 2)
    r["gen_cpu_ms_per_create"] = round(sum(t["gen_cpu_s"] for t in creates) / n * 1000, 3)
    r["apiserver_cpu_ms_per_create"] = round(cpu_used["apiserver"] / n * 1000, 3)
    r["etcd_cpu_ms_per_create"] = round(cpu_used["etcd"] / n * 1000, 3)
    r["apiserver_busy_during_creates"] = round(cpu_used["apiserver"] / create_elapsed, 2)
    say(f"raw etcd put        {raw_put:8.0f}/s   ({c} in flight, {len(value)} B values; aetcd client "
        f"{r['raw_client_cpu_ms_per_put']:.3f} ms CPU/put, etcd {r['raw_etcd_cpu_ms_per_write']:.3f} ms CPU/write)")
    say(f"raw etcd txn create {raw_txn:8.0f}/s   (the compare-create transaction a pod create does)")
    say(f"pod create          {create:8.0f}/s   ({c} connections, {n} pods in {rounds} rounds) = "
        f"{r['create_vs_raw_put']:.0%} of raw put (median round), {r['create_vs_raw_txn']:.0%} of raw txn   "
        f"[target ≥ 40% of raw put]")
    await _floor(cluster, args, store, value, r)
    say(f"    CPU per create: apiserver {r['apiserver_cpu_ms_per_create']:.2f} ms "
        f"(busy {r['apiserver_busy_during_creates']:.0%} of a core), etcd {r['etcd_cpu_ms_per_create']:.2f} ms, "
        f"load generator {r['gen_cpu_ms_per_create']:.3f} ms; closed-loop latency p50 "
        f"{r['create_closed_loop_p50_ms']:.1f} p99 {r['create_closed_loop_p99_ms']:.1f} ms")


async def _floor(cluster: Cluster, args: argparse.Namespace, store: Any, value: bytes, r: dict[str, Any]) -> None:
    """The same creates against bench/_floor.py: HTTP + one etcd txn and nothing else, as a ceiling."""
    port = free_port()
    floor = ChildProcess("floor", [sys.executable, str(BENCH / "_floor.py"), "--etcd-servers", cluster.etcd_url,
                                   "--port", str(port), "--workers", str(args.workers)], cluster.workdir / "floor.log")
    floor.start()
    try:
        floor.wait_ready(f"http://127.0.0.1:{port}/", 30)
        count = args.creates // args.rounds
        put = await raw_burst(store.put_unconditionally, "floor-put", value, args.raw_puts // args.rounds,
                              args.concurrency)
        run = await loadgen("creates", port=port, namespace="floor", prefix="f", count=count,
                            concurrency=args.concurrency)
    finally:
        floor.stop()
    _check_codes("floor", run["codes"])
    r["floor_create_per_s"] = round(run["per_s"], 1)
    r["floor_vs_raw_put"] = round(run["per_s"] / put["per_s"], 3)
    r["create_vs_floor"] = round(r["create_per_s"] / run["per_s"], 3)
    say(f"floor               {run['per_s']:8.0f}/s   (HTTP + one etcd txn, no apiserver work, same stack and "
        f"workers) = {r['floor_vs_raw_put']:.0%} of raw put {put['per_s']:.0f}/s; the apiserver reaches "
        f"{r['create_vs_floor']:.0%} of it")


async def _list(cluster: Cluster, args: argparse.Namespace, store: Any, r: dict[str, Any]) -> None:
    ranged = await raw_range(store, "/registry/pods/bench-tput/", args.list_runs)
    listed = await loadgen("list", port=cluster.api_port, namespace="bench-tput", runs=args.list_runs + 1)
    if listed["items"] != ranged["items"]:
        raise RuntimeError(f"LIST returned {listed['items']} pods, etcd holds {ranged['items']}")
    r["list_items"] = listed["items"]
    r["list_bytes"] = listed["bytes"]
    r["list10k_first_ms"] = listed["times_ms"][0]
    r["list10k_ms"] = round(statistics.median(listed["times_ms"][1:]), 1)
    r["raw_range10k_ms"] = round(statistics.median(ranged["times_ms"]), 1)
    r["list_vs_raw_range"] = round(r["list10k_ms"] / r["raw_range10k_ms"], 2)
    say(f"LIST {listed['items']} pods     {r['list10k_ms']:8.1f} ms  (median of {args.list_runs}, "
        f"{listed['bytes'] / 1e6:.1f} MB; the first LIST, which serialises each cached pod once, "
        f"{r['list10k_first_ms']:.0f} ms) vs raw etcd range {r['raw_range10k_ms']:.1f} ms = "
        f"{r['list_vs_raw_range']:.1f}x   [target ≤ 5x]")


async def profile_creates(cluster: Cluster, args: argparse.Namespace, r: dict[str, Any]) -> None:
    """The throughput phase again, under py-spy, with the top functions by own and inclusive samples."""
    from _profile import Recorder, summarise
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / "apiserver-creates.collapsed"
    with Recorder(cluster.apiserver.pid, out):
        prof = await loadgen("creates", port=cluster.api_port, namespace="bench-prof", prefix="q",
                             count=min(args.creates, 5000), concurrency=args.concurrency)
    r["profiled_create_per_s"] = round(prof["per_s"], 1)
    total, own, inclusive = summarise(out)
    say(f"profile: {total} samples of the apiserver at {prof['per_s']:.0f} creates/s under py-spy -> {out}")
    say("  own time (function itself):")
    for name, count in own:
        say(f"    {count / total:6.1%}  {name}")
    say("  inclusive time (function and callees):")
    for name, count in inclusive:
        say(f"    {count / total:6.1%}  {name}")


def _check_codes(phase: str, codes: dict[str, int]) -> None:
    bad = {code: n for code, n in codes.items() if not str(code).startswith("2")}
    if bad:
        raise RuntimeError(f"{phase}: the apiserver answered non-2xx: {bad}")


def verdicts(r: dict[str, Any]) -> dict[str, bool]:
    out = {}
    for key, (op, limit) in TARGETS.items():
        out[key] = r[key] >= limit if op == "≥" else r[key] <= limit
    return out


def _loadavg() -> float:
    """The machine's 1-minute load: on 2 cores, anything above ~2 means neighbours were competing."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the cluster is stopped
    t0, load_start = time.monotonic(), _loadavg()
    with Cluster("--workers", str(args.workers)) as cluster:
        say(f"etcd {cluster.etcd_url}, apiserver {cluster.api_url} (pid {cluster.apiserver.pid}, "
            f"{args.workers} worker process(es)), workdir {cluster.workdir}")
        try:
            r = run_async(run(cluster, args))
        except BaseException:
            say(f"apiserver log tail:\n{cluster.apiserver.log_tail()}")
            raise
    r["apiserver_workers"] = args.workers
    r["loadavg_1m_start_end"] = [load_start, _loadavg()]
    r["targets_met"] = verdicts(r)
    missed = [k for k, ok in r["targets_met"].items() if not ok]
    r["bench_seconds"] = round(time.monotonic() - t0, 1)
    say(f"targets: {'all met' if not missed else 'missed ' + ', '.join(missed)}; {r['bench_seconds']:.0f} s, "
        f"machine load {load_start:.1f} -> {r['loadavg_1m_start_end'][1]:.1f} on {os.cpu_count()} cores")
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
