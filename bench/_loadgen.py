"""A lean HTTP/1.1 load generator for the apiserver, run as its own process by bench/api.py.

httpx costs ~1.6 ms CPU per request (DESIGN.md), more than the server work being
measured, so this client writes pre-built request bytes on keep-alive asyncio
connections and reads Content-Length (or chunked, for watches) responses by hand.
Each phase prints one JSON object with its figures and the CPU time this
process used, so a reader can tell whether the generator was the bottleneck.

    python bench/_loadgen.py '{"phase": "creates", "port": 8080, ...}'
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any

POD_TEMPLATE = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "\0", "labels": {"app": "bench", "tier": "web", "run": "bench-api"},
                 "annotations": {"kubelab.io/bench": "api"}},
    "spec": {
        "containers": [{
            "name": "web", "image": "nginx:1.27-alpine", "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "bench"}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "initialDelaySeconds": 3},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
    },
}
USER_AGENT = "kubelab-bench/0.1"  # the field manager name the apiserver records
_HEAD, _TAIL = (part.encode() for part in json.dumps(POD_TEMPLATE, separators=(",", ":")).split("\\u0000"))


def pod_body(name: str) -> bytes:
    return _HEAD + name.encode() + _TAIL


def create_request(namespace: str, name: str) -> bytes:
    body = pod_body(name)
    return (f"POST /api/v1/namespaces/{namespace}/pods HTTP/1.1\r\nHost: bench\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def bind_request(namespace: str, name: str, node: str) -> bytes:
    body = json.dumps({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": node}}).encode()
    return (f"POST /api/v1/namespaces/{namespace}/pods/{name}/binding HTTP/1.1\r\nHost: bench\r\n"
            f"User-Agent: {USER_AGENT}\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def get_request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Accept: application/json\r\n\r\n").encode()


class Conn:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Conn":
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        status, headers = await self.head()
        length = headers.get(b"content-length")
        if length is None:
            raise RuntimeError(f"response {status} without Content-Length: {headers}")
        return status, await self.reader.readexactly(int(length))

    async def head(self) -> tuple[int, dict[bytes, bytes]]:
        block = await self.reader.readuntil(b"\r\n\r\n")
        lines = block.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def chunks(self):  # type: ignore[no-untyped-def]
        """The chunks of a chunked response body, as they arrive."""
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            if size == 0:
                return
            data = await self.reader.readexactly(size + 2)
            yield data[:-2]

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values_s, q) * 1000, 2) for q in (50, 90, 99)} | \
        {"max": round(max(values_s) * 1000, 2) if values_s else float("nan"), "n": len(values_s)}


# -- phases ------------------------------------------------------------------------

async def creates(port: int, namespace: str, prefix: str, count: int, concurrency: int) -> dict[str, Any]:
    """Closed loop: `concurrency` connections each POSTing pods back to back until `count` are done."""
    conns = [await Conn.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    codes: dict[int, int] = {}
    next_index = 0

    async def worker(conn: Conn) -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            raw = create_request(namespace, f"{prefix}{i:06d}")
            start = time.perf_counter()
            status, _ = await conn.request(raw)
            latencies.append(time.perf_counter() - start)
            codes[status] = codes.get(status, 0) + 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for c in conns:
        c.close()
    return {"count": count, "elapsed_s": elapsed, "per_s": count / elapsed, "codes": codes,
            "latency_ms": summary_ms(latencies), "gen_cpu_s": cpu, "gen_cpu_ms_per_req": cpu / count * 1000}


async def binds(port: int, namespace: str, prefix: str, count: int, concurrency: int,
                nodes: list[str]) -> dict[str, Any]:
    """Closed loop: bind pods {prefix}{i} round-robin to `nodes`, as fast as `concurrency` connections allow."""
    conns = [await Conn.open(port) for _ in range(concurrency)]
    codes: dict[int, int] = {}
    next_index = 0

    async def worker(conn: Conn) -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            status, _ = await conn.request(bind_request(namespace, f"{prefix}{i:06d}", nodes[i % len(nodes)]))
            codes[status] = codes.get(status, 0) + 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for c in conns:
        c.close()
    return {"count": count, "elapsed_s": elapsed, "per_s": count / elapsed, "codes": codes, "gen_cpu_s": cpu}


async def rate(port: int, namespace: str, prefix: str, per_s: float, duration_s: float, pool: int) -> dict[str, Any]:
    """Open loop: send creates on a fixed timetable; latency counts from the scheduled time."""
    idle = [await Conn.open(port) for _ in range(pool)]
    n = int(per_s * duration_s)
    from_schedule: list[float] = []
    from_send: list[float] = []
    lateness: list[float] = []
    codes: dict[int, int] = {}
    extra_conns = 0

    async def one(i: int, scheduled: float) -> None:
        nonlocal extra_conns
        raw = create_request(namespace, f"{prefix}{i:06d}")
        if idle:
            conn = idle.pop()
        else:
            extra_conns += 1
            conn = await Conn.open(port)
        sent = time.perf_counter()
        lateness.append(sent - scheduled)
        status, _ = await conn.request(raw)
        done = time.perf_counter()
        idle.append(conn)
        from_schedule.append(done - scheduled)
        from_send.append(done - sent)
        codes[status] = codes.get(status, 0) + 1

    tasks = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.05
    for i in range(n):
        scheduled = t0 + i / per_s
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for c in idle:
        c.close()
    return {"count": n, "target_per_s": per_s, "achieved_per_s": n / elapsed, "codes": codes,
            "latency_ms": summary_ms(from_schedule), "latency_from_send_ms": summary_ms(from_send),
            "send_lateness_ms": summary_ms(lateness), "extra_connections": extra_conns,
            "gen_cpu_s": cpu, "gen_cpu_ms_per_req": cpu / n * 1000}


_EVENT = re.compile(rb'^\{"type":"(\w+)","object":\{.*?"name":"([^"]+)"')


async def watch(port: int, namespace: str, prefix: str, watchers: int, per_s: float, count: int) -> dict[str, Any]:
    """`watchers` HTTP watches from one resourceVersion; creates at `per_s`; per watcher×event delivery time."""
    loop = asyncio.get_running_loop()
    control = await Conn.open(port)
    status, body = await control.request(get_request(f"/api/v1/namespaces/{namespace}/pods?limit=1"))
    rv = json.loads(body)["metadata"]["resourceVersion"]
    arrivals: list[dict[str, float]] = [{} for _ in range(watchers)]
    all_seen = asyncio.Event()
    done_watchers = 0

    async def follow(index: int, conn: Conn, ready: asyncio.Future[None]) -> None:
        nonlocal done_watchers
        conn.writer.write(get_request(f"/api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion={rv}"))
        status, headers = await conn.head()
        if status != 200 or headers.get(b"transfer-encoding") != b"chunked":
            ready.set_exception(RuntimeError(f"watch answered {status} {headers}"))
            return
        ready.set_result(None)
        seen, pending = arrivals[index], b""
        async for chunk in conn.chunks():
            now = time.perf_counter()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                m = _EVENT.match(line)
                if m and m.group(1) == b"ADDED":
                    seen[m.group(2).decode()] = now
            if len(seen) >= count:
                done_watchers += 1
                if done_watchers == watchers:
                    all_seen.set()
                return

    conns = [await Conn.open(port) for _ in range(watchers)]
    readies = [loop.create_future() for _ in range(watchers)]
    cpu0 = time.process_time()
    followers = [asyncio.create_task(follow(i, c, r)) for i, (c, r) in enumerate(zip(conns, readies))]
    await asyncio.gather(*readies)
    await asyncio.sleep(0.2)  # every watcher registered (a missed event would be replayed anyway)

    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    codes: dict[int, int] = {}
    writers = [await Conn.open(port) for _ in range(4)]

    async def create(i: int) -> None:
        name = f"{prefix}{i:06d}"
        conn = writers.pop() if writers else await Conn.open(port)
        sent[name] = time.perf_counter()
        status, _ = await conn.request(create_request(namespace, name))
        answered[name] = time.perf_counter()
        writers.append(conn)
        codes[status] = codes.get(status, 0) + 1

    t0 = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = t0 + i / per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(create(i)))
    await asyncio.gather(*tasks)
    try:
        await asyncio.wait_for(all_seen.wait(), 15)
    except TimeoutError:
        pass
    cpu = time.process_time() - cpu0
    for task in followers:
        task.cancel()
    for c in (*conns, *writers, control):
        c.close()
    from_send, from_response, missing = [], [], 0
    for seen in arrivals:
        for name, t_send in sent.items():
            arrived = seen.get(name)
            if arrived is None:
                missing += 1
                continue
            from_send.append(arrived - t_send)
            from_response.append(arrived - answered[name])
    pairs = watchers * count
    return {"watchers": watchers, "events": count, "per_s": per_s, "codes": codes, "pairs": pairs,
            "missing": missing, "from_send_ms": summary_ms(from_send),
            "from_response_ms": summary_ms(from_response), "gen_cpu_s": cpu}


async def list_pods(port: int, namespace: str, runs: int) -> dict[str, Any]:
    """GET the full pod list `runs` times on one connection, reading every byte."""
    conn = await Conn.open(port)
    times, sizes, items = [], [], 0
    for i in range(runs):
        start = time.perf_counter()
        status, body = await conn.request(get_request(f"/api/v1/namespaces/{namespace}/pods"))
        times.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"LIST answered {status}: {body[:300]!r}")
        sizes.append(len(body))
        if i == 0:
            items = len(json.loads(body)["items"])
    conn.close()
    return {"times_ms": [round(t * 1000, 1) for t in times], "bytes": sizes[-1], "items": items}


PHASES = {"creates": creates, "binds": binds, "rate": rate, "watch": watch, "list": list_pods}


def main() -> None:
    args = json.loads(sys.argv[1])
    phase = PHASES[args.pop("phase")]
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        result = runner.run(phase(**args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
