"""kubelet/probes.py: one probe of each kind against loopback servers, and the manager's loops with a fake exec."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from kubelet.probes import (USER_AGENT, ProbeManager, probe_headers, probe_setting, probe_url, resolve_port,
                            run_probe)
from kubelet.runtime import ContainerInfo

UID = "uid-1"


async def no_exec(container_id: str, command: list[str], timeout: float) -> tuple[int, bytes]:
    raise AssertionError("exec was not expected")


async def probe(spec: dict, *, pod_ip: str = "127.0.0.1", exec_run: Any = no_exec,
                ports: dict[str, int] | None = None, env: dict[str, str] | None = None) -> tuple[str, str]:
    return await run_probe(spec, pod_ip=pod_ip, container_id="c1", exec_run=exec_run, port_by_name=ports or {},
                           env=env)


async def closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


# ---------------------------------------------------------------------------
# Defaults and small helpers.


@pytest.mark.parametrize("name, expected", [
    ("initialDelaySeconds", 0), ("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
    ("failureThreshold", 3),
])
def test_upstream_defaults(name: str, expected: int) -> None:
    assert probe_setting({}, name) == expected
    assert probe_setting({name: 0.25}, name) == 0.25


@pytest.mark.parametrize("port, expected", [
    (8080, 8080), ("http", 8081), ("9090", 9090), (0, "invalid port number: 0"), (70000, "invalid port number: 70000"),
    ("nope", 'strconv.Atoi: parsing "nope": invalid syntax'),
])
def test_resolve_port(port: Any, expected: Any) -> None:
    if isinstance(expected, int):
        assert resolve_port(port, {"http": 8081}) == expected
    else:
        with pytest.raises(Exception, match=expected):
            resolve_port(port, {"http": 8081})


@pytest.mark.parametrize("args, expected", [
    (("http", "10.0.0.1", 80, "/healthz"), "http://10.0.0.1:80/healthz"),
    (("http", "10.0.0.1", 80, ""), "http://10.0.0.1:80"),
    (("http", "10.0.0.1", 80, "healthz"), "http://10.0.0.1:80/healthz"),
    (("https", "fd00::1", 443, "/x?y=1"), "https://[fd00::1]:443/x?y=1"),
])
def test_probe_url(args: tuple, expected: str) -> None:
    assert probe_url(*args) == expected


@pytest.mark.parametrize("given, expected", [
    (None, [("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")]),
    ([{"name": "x-custom", "value": "1"}, {"name": "accept", "value": "text/plain"}],
     [("X-Custom", "1"), ("Accept", "text/plain"), ("User-Agent", USER_AGENT), ("Connection", "close")]),
    ([{"name": "Accept", "value": ""}, {"name": "User-Agent", "value": "me"}],
     [("User-Agent", "me"), ("Connection", "close")]),
])
def test_probe_headers(given: Any, expected: list) -> None:
    assert probe_headers(given) == expected


# ---------------------------------------------------------------------------
# exec


def fake_exec(results: dict[str, Any], calls: list | None = None) -> Callable[..., Awaitable[tuple[int, bytes]]]:
    """Answers by the command line; a number is the exit code, an exception is raised, 'hang' never returns."""
    async def exec_run(container_id: str, command: list[str], timeout: float) -> tuple[int, bytes]:
        line = " ".join(command)
        if calls is not None:
            calls.append((time.monotonic(), container_id, line))
        answer = results.get(line, 0)
        if answer == "hang":
            await asyncio.sleep(60)
        if isinstance(answer, Exception):
            raise answer
        return answer, f"{line} said {answer}\n".encode()
    return exec_run


@pytest.mark.parametrize("answer, expected", [
    (0, ("success", "check said 0\n")),
    (1, ("failure", "check said 1\n")),
    ("hang", ("failure", 'command "check" timed out')),
    (RuntimeError("container not running"), ("unknown", "container not running")),
])
async def test_exec_probe(answer: Any, expected: tuple[str, str]) -> None:
    spec = {"exec": {"command": ["check"]}, "timeoutSeconds": 0.2}
    assert await probe(spec, exec_run=fake_exec({"check": answer})) == expected


async def test_exec_probe_expands_static_env() -> None:
    calls: list = []
    spec = {"exec": {"command": ["cat", "$(FILE)", "$(MISSING)", "$$(FILE)"]}}
    await probe(spec, exec_run=fake_exec({}, calls), env={"FILE": "/tmp/ok"})
    assert calls[0][1:] == ("c1", "cat /tmp/ok $(MISSING) $(FILE)")


async def test_exec_output_is_capped_at_10k() -> None:
    async def chatty(container_id: str, command: list[str], timeout: float) -> tuple[int, bytes]:
        return 1, b"x" * 50_000
    result, output = await probe({"exec": {"command": ["x"]}}, exec_run=chatty)
    assert result == "failure" and len(output) == 10 * 1024


# ---------------------------------------------------------------------------
# httpGet, against a minimal HTTP responder on loopback.


class HttpServer:
    """Answers GETs by path; records each request's headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.port = 0
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/ok": (200, {}, b"fine"),
            "/created": (201, {}, b""),
            "/bad": (500, {}, b"boom"),
            "/notfound": (404, {}, b""),
            "/to-ok": (302, {"Location": "/ok"}, b""),
            "/to-bad": (301, {"Location": "/bad"}, b""),
            "/away": (302, {"Location": "http://example.invalid/ok"}, b"moved away"),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/no-location": (302, {}, b"nowhere"),
            "/big": (200, {}, b"y" * 50_000),
        }

    async def __aenter__(self) -> HttpServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            request_line, *header_lines = head.strip().split("\r\n")
            path = request_line.split()[1]
            headers = dict(line.split(": ", 1) for line in header_lines)
            self.requests.append((path, headers))
            if path == "/slow":
                await asyncio.sleep(2)
            status, extra, body = self.routes.get(path, (404, {}, b""))
            lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close",
                     *(f"{k}: {v}" for k, v in extra.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize("path, expected", [
    ("/ok", ("success", "fine")),
    ("/created", ("success", "")),
    ("/bad", ("failure", "HTTP probe failed with statuscode: 500")),
    ("/notfound", ("failure", "HTTP probe failed with statuscode: 404")),
    ("/to-ok", ("success", "fine")),  # a redirect on the same host is followed
    ("/to-bad", ("failure", "HTTP probe failed with statuscode: 500")),
    ("/away", ("success", "Probe terminated redirects, Response body: moved away")),  # not followed: a warning
    ("/no-location", ("success", "Probe terminated redirects, Response body: nowhere")),
])
async def test_http_probe(path: str, expected: tuple[str, str]) -> None:
    async with HttpServer() as server:
        assert await probe({"httpGet": {"path": path, "port": server.port}}) == expected


async def test_http_probe_stops_after_ten_redirects() -> None:
    async with HttpServer() as server:
        result, output = await probe({"httpGet": {"path": "/loop", "port": server.port}})
    assert (result, output) == ("failure", 'Get "/loop": stopped after 10 redirects')
    assert len(server.requests) == 10


async def test_http_probe_sends_upstreams_headers() -> None:
    async with HttpServer() as server:
        spec = {"httpGet": {"path": "/ok", "port": "web", "scheme": "HTTP",
                            "httpHeaders": [{"name": "x-probe", "value": "yes"}, {"name": "Host", "value": "svc"}]}}
        assert (await probe(spec, ports={"web": server.port}))[0] == "success"
    path, headers = server.requests[0]
    assert path == "/ok"
    assert headers["User-Agent"] == USER_AGENT and headers["Accept"] == "*/*"
    assert headers["X-Probe"] == "yes" and headers["Host"] == "svc"
    assert headers["Connection"] == "close" and "Accept-Encoding" not in headers


async def test_http_probe_uses_the_pod_ip_unless_a_host_is_given() -> None:
    async with HttpServer() as server:
        assert (await probe({"httpGet": {"path": "/ok", "port": server.port}}, pod_ip="127.0.0.1"))[0] == "success"
        spec = {"httpGet": {"path": "/ok", "port": server.port, "host": "127.0.0.1"}}
        assert (await probe(spec, pod_ip="192.0.2.1"))[0] == "success"


async def test_http_probe_reads_at_most_10k_of_body() -> None:
    async with HttpServer() as server:
        result, output = await probe({"httpGet": {"path": "/big", "port": server.port}})
    assert result == "success" and len(output) == 10 * 1024


async def test_http_probe_timeout_and_refusal_are_failures() -> None:
    async with HttpServer() as server:
        url = f"http://127.0.0.1:{server.port}/slow"
        spec = {"httpGet": {"path": "/slow", "port": server.port}, "timeoutSeconds": 0.2}
        assert await probe(spec) == ("failure", f'Get "{url}": context deadline exceeded '
                                                "(Client.Timeout exceeded while awaiting headers)")
    port = await closed_port()
    assert await probe({"httpGet": {"path": "/", "port": port}}) == (
        "failure", f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused')


async def test_http_probe_with_an_unknown_port_name_is_unknown() -> None:
    assert await probe({"httpGet": {"path": "/", "port": "nope"}}) == (
        "unknown", 'strconv.Atoi: parsing "nope": invalid syntax')


# ---------------------------------------------------------------------------
# tcpSocket


async def test_tcp_probe() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await probe({"tcpSocket": {"port": port}}) == ("success", "")
        assert await probe({"tcpSocket": {"port": "db"}}, ports={"db": port}) == ("success", "")
        assert await probe({"tcpSocket": {"port": port, "host": "127.0.0.1"}}, pod_ip="192.0.2.1") == ("success", "")
    finally:
        server.close()
        await server.wait_closed()
    port = await closed_port()
    assert await probe({"tcpSocket": {"port": port}}) == (
        "failure", f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_tcp_probe_timeout() -> None:
    # 192.0.2.0/24 is TEST-NET-1: nothing answers, so the connect either hangs or fails at once.
    result, output = await probe({"tcpSocket": {"port": 80}, "timeoutSeconds": 0.1}, pod_ip="192.0.2.1")
    assert result == "failure" and output.startswith("dial tcp 192.0.2.1:80: ")


# ---------------------------------------------------------------------------
# grpc: grpc.health.v1.Health/Check on a loopback server.


async def test_grpc_probe() -> None:
    grpc = pytest.importorskip("grpc")
    answers = {b"": b"\x08\x01", b"\x0a\x03bad": b"\x08\x02"}
    seen: list[bytes] = []

    async def check(request: bytes, context: Any) -> bytes:
        seen.append(request)
        return answers.get(request, b"\x08\x03")

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert await probe({"grpc": {"port": port}}) == ("success", "service healthy")
        assert await probe({"grpc": {"port": port, "service": "bad"}}) == (
            "failure", 'service unhealthy (responded with "NOT_SERVING")')
        assert await probe({"grpc": {"port": port, "service": "other"}}) == (
            "failure", 'service unhealthy (responded with "SERVICE_UNKNOWN")')
    finally:
        await server.stop(None)
    assert seen[:2] == [b"", b"\x0a\x03bad"]


async def test_grpc_probe_against_a_server_without_the_health_service() -> None:
    grpc = pytest.importorskip("grpc")
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        result, output = await probe({"grpc": {"port": port}})
    finally:
        await server.stop(None)
    assert result == "failure"
    assert output.startswith("error: this server does not implement the grpc health protocol (grpc.health.v1.Health)")
    result, output = await probe({"grpc": {"port": await closed_port()}, "timeoutSeconds": 2})
    assert result == "failure" and output.startswith("error: health rpc probe failed: rpc error: code = Unavailable")


async def test_probe_without_a_handler_is_unknown() -> None:
    assert await probe({"periodSeconds": 1}) == ("unknown", "missing probe handler")


# ---------------------------------------------------------------------------
# The manager, with a fake exec and short periods.


def now_rfc3339(offset: float = 0.0) -> str:
    """Docker's way: RFC3339 with nanoseconds."""
    return datetime.fromtimestamp(time.time() + offset, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z"


def container(name: str = "app", *, attempt: int = 0, state: str = "running", kind: str = "app",
              started: str | None = None, code: int | None = None) -> ContainerInfo:
    return ContainerInfo(id=f"{name}-{attempt}", pod_uid=UID, pod_name="web", pod_namespace="default", name=name,
                         type=kind, restart_count=attempt, spec_hash="h", state=state, exit_code=code,
                         started_at=started or now_rfc3339(-5), finished_at=None)


def sandbox() -> ContainerInfo:
    return ContainerInfo(id="pause", pod_uid=UID, pod_name="web", pod_namespace="default", name="POD",
                         type="sandbox", restart_count=0, spec_hash="", state="running", ip="10.244.0.9")


def exec_probe_spec(command: str, **settings: float) -> dict:
    return {"exec": {"command": [command]}, "periodSeconds": 0.03, **settings}


def make_pod(policy: str = "Always", **probes: dict) -> dict:
    return {"metadata": {"name": "web", "namespace": "default", "uid": UID},
            "spec": {"restartPolicy": policy, "containers": [{"name": "app", "image": "img", **probes}]},
            "status": {}}


class Harness:
    """A ProbeManager with a fake exec whose answers tests change, and every callback recorded."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.calls: list[tuple[float, str, str]] = []
        self.changes: list[str] = []
        self.kills: list[tuple[str, str, str]] = []
        self.events: list[tuple[str, str, str, str]] = []
        self.change_calls: list[int] = []  # how many probes had run at each change
        self.manager = ProbeManager(exec_run=fake_exec(self.answers, self.calls), on_change=self.on_change,
                                    on_liveness_failure=self.on_kill, on_event=self.on_event)

    def on_change(self, uid: str) -> None:
        self.changes.append(uid)
        self.change_calls.append(len(self.calls))

    async def on_kill(self, uid: str, name: str, message: str) -> None:
        self.kills.append((uid, name, message))

    def on_event(self, pod: dict, name: str, type_: str, reason: str, message: str) -> None:
        self.events.append((name, type_, reason, message))

    def commands(self) -> list[str]:
        return [line for _, _, line in self.calls]

    async def until(self, predicate: Callable[[], Any], timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.005)


@pytest.fixture
async def harness() -> Any:
    h = Harness()
    yield h
    await h.manager.close()


async def test_no_probes_means_ready_and_started(harness: Harness) -> None:
    harness.manager.update(make_pod(), [sandbox(), container()])
    assert harness.manager.readiness(UID) == {"app": True}
    assert harness.manager.started(UID) == {"app": True}
    assert harness.manager.readiness("other") == {}


async def test_readiness_starts_false_then_follows_the_probe(harness: Harness) -> None:
    harness.answers["ready"] = 1
    harness.manager.update(make_pod(readinessProbe=exec_probe_spec("ready", failureThreshold=1)),
                           [sandbox(), container()])
    assert harness.manager.readiness(UID) == {"app": False}
    await harness.until(lambda: len(harness.calls) >= 2)
    assert harness.manager.readiness(UID) == {"app": False}
    harness.answers["ready"] = 0
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": True})
    assert UID in harness.changes
    harness.answers["ready"] = 1
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": False})
    assert ("app", "Warning", "Unhealthy", "Readiness probe failed: ready said 1\n") in harness.events
    assert harness.calls[0][1] == "app-0"


@pytest.mark.parametrize("threshold_name, first, then", [
    ("successThreshold", 1, 0),
    ("failureThreshold", 0, 1),
])
async def test_a_result_sticks_after_exactly_threshold_runs(harness: Harness, threshold_name: str, first: int,
                                                            then: int) -> None:
    harness.answers["ready"] = first
    harness.manager.update(make_pod(readinessProbe=exec_probe_spec("ready", **{threshold_name: 3})),
                           [sandbox(), container()])
    await harness.until(lambda: len(harness.calls) >= 4)
    changes_before = len(harness.changes)
    harness.answers["ready"] = then
    mark = len(harness.calls)
    await harness.until(lambda: len(harness.changes) > changes_before)
    assert harness.manager.readiness(UID) == {"app": then == 0}
    assert harness.change_calls[-1] - mark == 3


async def test_liveness_failure_kills_once_and_waits_for_a_new_container(harness: Harness) -> None:
    harness.answers["alive"] = 1
    pod = make_pod(livenessProbe=exec_probe_spec("alive", failureThreshold=2))
    harness.manager.update(pod, [sandbox(), container()])
    await harness.until(lambda: harness.kills)
    assert harness.kills == [(UID, "app", "Container app failed liveness probe, will be restarted")]
    assert [e[2:] for e in harness.events[:2]] == [("Unhealthy", "Liveness probe failed: alive said 1\n")] * 2
    probes_before = len(harness.calls)
    await asyncio.sleep(0.15)
    assert len(harness.calls) == probes_before  # on hold until a new container
    assert harness.manager.readiness(UID) == {"app": True}  # liveness doesn't touch readiness
    harness.answers["alive"] = 0
    harness.manager.update(pod, [sandbox(), container(attempt=0, state="exited", code=137), container(attempt=1)])
    await harness.until(lambda: any(cid == "app-1" for _, cid, _ in harness.calls))
    await asyncio.sleep(0.1)
    assert len(harness.kills) == 1


async def test_liveness_failure_without_restart_says_so(harness: Harness) -> None:
    harness.answers["alive"] = 1
    harness.manager.update(make_pod("Never", livenessProbe=exec_probe_spec("alive", failureThreshold=1)),
                           [sandbox(), container()])
    await harness.until(lambda: harness.kills)
    assert harness.kills == [(UID, "app", "Container app failed liveness probe")]


async def test_startup_probe_gates_the_others(harness: Harness) -> None:
    harness.answers.update(boot=1, ready=0, alive=0)
    pod = make_pod(startupProbe=exec_probe_spec("boot", failureThreshold=1000),
                   readinessProbe=exec_probe_spec("ready"), livenessProbe=exec_probe_spec("alive"))
    harness.manager.update(pod, [sandbox(), container()])
    await harness.until(lambda: harness.commands().count("boot") >= 4)
    assert set(harness.commands()) == {"boot"}
    assert harness.manager.started(UID) == {"app": False}
    assert harness.manager.readiness(UID) == {"app": False}
    harness.answers["boot"] = 0
    await harness.until(lambda: harness.manager.started(UID) == {"app": True})
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": True})
    await harness.until(lambda: "alive" in harness.commands())
    boots = harness.commands().count("boot")
    await asyncio.sleep(0.1)
    assert harness.commands().count("boot") == boots  # startup is done for this container


async def test_startup_failure_kills_too(harness: Harness) -> None:
    harness.answers["boot"] = 1
    harness.manager.update(make_pod(startupProbe=exec_probe_spec("boot", failureThreshold=2)),
                           [sandbox(), container()])
    await harness.until(lambda: harness.kills)
    assert harness.kills == [(UID, "app", "Container app failed startup probe, will be restarted")]


async def test_initial_delay_counts_from_container_start(harness: Harness) -> None:
    started = time.time()
    harness.manager.update(make_pod(readinessProbe=exec_probe_spec("ready", initialDelaySeconds=0.3)),
                           [sandbox(), container(started=now_rfc3339())])
    await harness.until(lambda: harness.calls)
    assert harness.calls[0][0] - time.monotonic() + time.time() - started >= 0.28


async def test_a_new_container_starts_from_scratch(harness: Harness) -> None:
    harness.answers["ready"] = 0
    pod = make_pod(readinessProbe=exec_probe_spec("ready", periodSeconds=0.2))
    harness.manager.update(pod, [sandbox(), container()])
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": True})
    harness.manager.update(pod, [sandbox(), container(state="exited", code=1)])
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": False})
    harness.manager.update(pod, [sandbox(), container(state="exited", code=1), container(attempt=1)])
    assert harness.manager.readiness(UID) == {"app": False}  # results belong to the old container
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": True}, timeout=1.0)
    assert harness.calls[-1][1] == "app-1"


async def test_update_runs_an_unready_readiness_probe_at_once(harness: Harness) -> None:
    harness.answers["ready"] = 1
    pod = make_pod(readinessProbe=exec_probe_spec("ready", periodSeconds=30))
    harness.manager.update(pod, [sandbox(), container()])
    await harness.until(lambda: len(harness.calls) == 1)
    harness.answers["ready"] = 0
    harness.manager.update(pod, [sandbox(), container()])
    await harness.until(lambda: harness.manager.readiness(UID) == {"app": True}, timeout=1.0)


async def test_probe_errors_are_retried_and_thrown_away(harness: Harness) -> None:
    harness.answers["ready"] = RuntimeError("exec failed")
    harness.manager.update(make_pod(readinessProbe=exec_probe_spec("ready", periodSeconds=0.5, failureThreshold=1)),
                           [sandbox(), container()])
    await harness.until(lambda: harness.events)
    assert len(harness.calls) == 3
    assert harness.events == [("app", "Warning", "Unhealthy",
                               "Readiness probe errored and resulted in unknown state: exec failed")]
    assert harness.changes == []  # nothing counted: readiness stayed as it started


async def test_terminating_pod_gets_no_liveness_kills(harness: Harness) -> None:
    harness.answers["alive"] = 1
    pod = make_pod(livenessProbe=exec_probe_spec("alive", failureThreshold=1, initialDelaySeconds=0.2))
    pod["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    harness.manager.update(pod, [sandbox(), container(started=now_rfc3339())])
    await asyncio.sleep(0.3)
    assert harness.calls == [] and harness.kills == []


async def test_exited_container_under_restart_policy_never_ends_the_worker(harness: Harness) -> None:
    harness.manager.update(make_pod("Never", readinessProbe=exec_probe_spec("ready")),
                           [sandbox(), container(state="exited", code=0)])
    await harness.until(lambda: not harness.manager._workers)
    assert harness.manager.readiness(UID) == {"app": True}  # no worker any more: nothing holds it back
    assert harness.calls == []


async def test_stop_ends_every_probe(harness: Harness) -> None:
    pod = make_pod(readinessProbe=exec_probe_spec("ready"), livenessProbe=exec_probe_spec("alive"))
    harness.manager.update(pod, [sandbox(), container()])
    await harness.until(lambda: len(harness.calls) >= 4)
    harness.manager.stop(UID)
    await asyncio.sleep(0.05)
    count = len(harness.calls)
    await asyncio.sleep(0.1)
    assert len(harness.calls) == count
    assert harness.manager.readiness(UID) == {}


async def test_probes_use_the_sandbox_ip_and_named_ports(harness: Harness) -> None:
    async with HttpServer() as server:
        pod = make_pod(readinessProbe={"httpGet": {"path": "/ok", "port": "web", "host": "127.0.0.1"},
                                       "periodSeconds": 0.05})
        pod["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": server.port}]
        harness.manager.update(pod, [sandbox(), container()])
        await harness.until(lambda: harness.manager.readiness(UID) == {"app": True})
    assert server.requests[0][0] == "/ok"


async def test_sidecar_probes_run_too(harness: Harness) -> None:
    pod = make_pod()
    pod["spec"]["initContainers"] = [{"name": "proxy", "image": "img", "restartPolicy": "Always",
                                      "readinessProbe": exec_probe_spec("proxy-ready")}]
    harness.manager.update(pod, [sandbox(), container("proxy", kind="init"), container()])
    await harness.until(lambda: harness.manager.readiness(UID) == {"proxy": True, "app": True})
