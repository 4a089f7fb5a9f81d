"""Container probes: running one probe (exec, httpGet, tcpSocket, grpc) and the manager that runs them per container.

Mirrors upstream pkg/probe/{exec,http,tcp,grpc} for one probe and
pkg/kubelet/prober (worker.go, prober.go, prober_manager.go) for the loops: one
asyncio task per (pod uid, container, probe type) that probes every periodSeconds
after initialDelaySeconds, counts successThreshold/failureThreshold runs, keeps
liveness and readiness quiet until the startup probe passes, and starts afresh
for every new container ID.  Results are what the pod worker reads for `ready`
and `started`; a liveness (or startup) failure is handed to the worker to kill.
"""
from __future__ import annotations

import asyncio
import errno
import inspect
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .env import expand, mapping_for
from .runtime import ContainerInfo
from .status import is_sidecar, runtime_state

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ExecRun = Callable[[str, list[str], float], Awaitable[tuple[int, bytes]]]

SUCCESS, FAILURE, UNKNOWN = "success", "failure", "unknown"
_WARNING = "warning"  # an HTTP redirect the prober did not follow: counts as success, but says so in an event
LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
_PROBE_FIELDS = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
# Before a probe has a say: readiness starts failed, liveness passed, startup unknown (upstream initialValue).
_INITIAL_RESULT = {READINESS: FAILURE, LIVENESS: SUCCESS, STARTUP: UNKNOWN}

PROBE_DEFAULTS = {"initialDelaySeconds": 0, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                  "failureThreshold": 3}
MAX_OUTPUT = 10 * 1024  # exec output and HTTP bodies are read up to 10 KiB, as upstream
MAX_PROBE_RETRIES = 3  # a probe that errors (not fails) is tried again this many times in all
USER_AGENT = "kube-probe/1.35"
_HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class ProbeError(Exception):
    """The probe could not be run at all (bad port, missing handler): its result is unknown."""


def probe_setting(probe: Obj, name: str) -> float:
    """A probe's timing or threshold field, or upstream's default; fractions are accepted (tests use them)."""
    value = probe.get(name)
    return PROBE_DEFAULTS[name] if value is None or isinstance(value, bool) else value


# ---------------------------------------------------------------------------
# One probe.


async def run_probe(probe: Obj, *, pod_ip: str, container_id: str, exec_run: ExecRun,
                    port_by_name: dict[str, int], env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run `probe` once: ("success" | "failure" | "unknown", output).

    "unknown" means the probe could not be run (an error, not a verdict); the
    manager throws such results away, as upstream does.  `env` expands `$(VAR)`
    in exec commands from the container's static env, as upstream.
    """
    result, output = await _probe_once(probe, pod_ip=pod_ip, container_id=container_id, exec_run=exec_run,
                                       port_by_name=port_by_name, env=env or {})
    return (SUCCESS if result == _WARNING else result), output


async def _probe_once(probe: Obj, *, pod_ip: str, container_id: str, exec_run: ExecRun,
                      port_by_name: dict[str, int], env: dict[str, str]) -> tuple[str, str]:
    timeout = float(probe_setting(probe, "timeoutSeconds"))
    try:
        if isinstance(probe.get("exec"), dict):
            command = [expand(str(arg), mapping_for(env)) for arg in probe["exec"].get("command") or []]
            return await exec_probe(command, container_id, exec_run, timeout)
        if isinstance(probe.get("httpGet"), dict):
            return await http_probe(probe["httpGet"], pod_ip, port_by_name, timeout)
        if isinstance(probe.get("tcpSocket"), dict):
            spec = probe["tcpSocket"]
            return await tcp_probe(spec.get("host") or pod_ip, resolve_port(spec.get("port"), port_by_name), timeout)
        if isinstance(probe.get("grpc"), dict):
            spec = probe["grpc"]
            return await grpc_probe(pod_ip, int(spec.get("port") or 0), spec.get("service") or "", timeout)
        raise ProbeError("missing probe handler")
    except ProbeError as err:
        return UNKNOWN, str(err)


def resolve_port(port: Any, port_by_name: dict[str, int]) -> int:
    """An int, a container port's name, or a number written as a string; 1-65535 (upstream ResolveContainerPort)."""
    if isinstance(port, int) and not isinstance(port, bool):
        number = port
    elif isinstance(port, str) and port in port_by_name:
        number = port_by_name[port]
    elif isinstance(port, str) and port.strip().lstrip("+-").isdigit():
        number = int(port)
    elif isinstance(port, str):
        raise ProbeError(f'strconv.Atoi: parsing "{port}": invalid syntax')
    else:
        raise ProbeError(f"intOrString had no kind: {port!r}")
    if not 0 < number < 65536:
        raise ProbeError(f"invalid port number: {number}")
    return number


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _go_quote(text: str) -> str:
    """Close enough to Go's %q for command lines and URLs."""
    return json.dumps(text, ensure_ascii=False)


def _go_duration(seconds: float) -> str:
    """time.Duration's String() for the timeouts probes use."""
    if seconds >= 60:
        return f"{int(seconds // 60)}m{seconds % 60:g}s"
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


# -- exec ---------------------------------------------------------------------


async def exec_probe(command: list[str], container_id: str, exec_run: ExecRun, timeout: float) -> tuple[str, str]:
    """Exit code 0 passes; the command's output (up to 10 KiB) is the probe's output."""
    try:
        async with asyncio.timeout(timeout):
            exit_code, output = await exec_run(container_id, command, timeout)
    except TimeoutError:
        return FAILURE, f"command {_go_quote(' '.join(command))} timed out"
    except Exception as err:  # noqa: BLE001 - any runtime error makes the result unknown, never a crash
        return UNKNOWN, str(err) or type(err).__name__
    text = output[:MAX_OUTPUT].decode("utf-8", errors="replace")
    return (SUCCESS if exit_code == 0 else FAILURE), text


# -- tcpSocket ----------------------------------------------------------------


async def tcp_probe(host: str, port: int, timeout: float) -> tuple[str, str]:
    """Passes when a TCP connection opens within the timeout; Go's dial error is the output otherwise."""
    address = join_host_port(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return FAILURE, f"dial tcp {address}: i/o timeout"
    except OSError as err:
        return FAILURE, f"dial tcp {address}: {_dial_error(err)}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # closing is not part of the verdict
    return SUCCESS, ""


def _dial_error(err: BaseException) -> str:
    cause: BaseException | None = err
    while cause is not None:
        code = getattr(cause, "errno", None)
        if code == errno.ECONNREFUSED or "refused" in str(cause).lower():
            return "connect: connection refused"
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "connect: no route to host" if code == errno.EHOSTUNREACH else "connect: network is unreachable"
        cause = cause.__cause__ or cause.__context__
    return str(err) or type(err).__name__


# -- httpGet ------------------------------------------------------------------


def probe_url(scheme: str, host: str, port: int, path: str) -> str:
    """upstream formatURL: the path may carry a query; the scheme and host:port come from the probe."""
    parts = urlsplit(path or "")
    url_path = parts.path if not parts.path or parts.path.startswith("/") else "/" + parts.path
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{join_host_port(host, port)}{url_path}{query}"


def probe_headers(http_headers: Any) -> list[tuple[str, str]]:
    """httpHeaders in order (names canonicalized as Go's http.Header.Add does), plus upstream's defaults."""
    headers = [(_canonical_header(str(h.get("name", ""))), str(h.get("value", "")))
               for h in http_headers or [] if isinstance(h, dict)]
    names = {name for name, _ in headers}
    if "User-Agent" not in names:
        headers.append(("User-Agent", USER_AGENT))
    if "Accept" not in names:
        headers.append(("Accept", "*/*"))
    elif next(value for name, value in headers if name == "Accept") == "":
        headers = [(name, value) for name, value in headers if name != "Accept"]  # an empty Accept means none
    return headers + [("Connection", "close")]  # upstream's prober disables keep-alives


def _canonical_header(name: str) -> str:
    if not name or any(c in name for c in " \t\r\n:"):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


_INSECURE_TLS: ssl.SSLContext | None = None


def _insecure_tls() -> ssl.SSLContext:
    """Probes skip certificate checks, as upstream (InsecureSkipVerify); one context serves them all."""
    global _INSECURE_TLS
    if _INSECURE_TLS is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _INSECURE_TLS = context
    return _INSECURE_TLS


async def http_probe(spec: Obj, pod_ip: str, port_by_name: dict[str, int], timeout: float) -> tuple[str, str]:
    """GET the probe's URL: 200-399 passes; redirects to the same host are followed, others end the probe."""
    scheme = str(spec.get("scheme") or "HTTP").lower()
    url = probe_url(scheme, spec.get("host") or pod_ip, resolve_port(spec.get("port"), port_by_name),
                    str(spec.get("path") or ""))
    headers = probe_headers(spec.get("httpHeaders"))
    tracker = {"url": url}
    async with httpx.AsyncClient(verify=_insecure_tls() if scheme == "https" else False, trust_env=False,
                                 follow_redirects=False, timeout=timeout) as client:
        client.headers.clear()  # only the prober's own headers, as Go's transport sends them
        try:
            async with asyncio.timeout(timeout):
                return await _get_following_local_redirects(client, url, headers, tracker)
        except (TimeoutError, httpx.TimeoutException):
            return FAILURE, (f"Get {_go_quote(tracker['url'])}: context deadline exceeded "
                             "(Client.Timeout exceeded while awaiting headers)")
        except httpx.HTTPError as err:
            return FAILURE, f"Get {_go_quote(tracker['url'])}: {_http_error(err, tracker['url'])}"


async def _get_following_local_redirects(client: httpx.AsyncClient, url: str, headers: list[tuple[str, str]],
                                         tracker: dict[str, str]) -> tuple[str, str]:
    first_host = urlsplit(url).hostname
    requests_made = 0
    current_headers = headers
    while True:
        tracker["url"] = url
        status, location, body = await _get(client, url, current_headers)
        requests_made += 1
        if status not in (301, 302, 303, 307, 308) or not location:
            return _http_verdict(status, body)
        next_url = urljoin(url, location)
        if urlsplit(next_url).hostname != first_host:
            return _http_verdict(status, body)  # upstream stops at a redirect to another host
        if requests_made >= 10:
            return FAILURE, f"Get {_go_quote(location)}: stopped after 10 redirects"
        current_headers = [h for h in headers if h[0] != "Referer"] + [("Referer", url)]
        url = next_url


async def _get(client: httpx.AsyncClient, url: str, headers: list[tuple[str, str]]) -> tuple[int, str, str]:
    """(status code, Location, first 10 KiB of the body)."""
    async with client.stream("GET", url, headers=headers) as response:
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) >= MAX_OUTPUT:
                break
        return response.status_code, response.headers.get("location", ""), \
            bytes(body[:MAX_OUTPUT]).decode("utf-8", errors="replace")


def _http_verdict(status: int, body: str) -> tuple[str, str]:
    if 200 <= status < 400:
        if status >= 300:
            return _WARNING, f"Probe terminated redirects, Response body: {body}"
        return SUCCESS, body
    return FAILURE, f"HTTP probe failed with statuscode: {status}"  # upstream keeps this wording fixed


def _http_error(err: httpx.HTTPError, url: str) -> str:
    if isinstance(err, httpx.ConnectError):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"dial tcp {join_host_port(parts.hostname or '', port)}: {_dial_error(err)}"
    return str(err) or type(err).__name__


# -- grpc ---------------------------------------------------------------------


def _health_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service}, protobuf-encoded by hand (one string field)."""
    data = service.encode()
    return b"" if not data else b"\x0a" + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _health_status(response: bytes) -> int:
    """HealthCheckResponse.status (field 1, an enum); 0 (UNKNOWN) when absent."""
    index, status = 0, 0
    while index < len(response):
        tag, index = _read_varint(response, index)
        if tag & 7 == 0:
            value, index = _read_varint(response, index)
            if tag >> 3 == 1:
                status = value
        elif tag & 7 == 2:
            length, index = _read_varint(response, index)
            index += length
        else:
            break  # fixed-width fields never appear in this message
    return status


def _read_varint(data: bytes, index: int) -> tuple[int, int]:
    value = shift = 0
    while index < len(data):
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, index


def _grpc_code_name(code: Any) -> str:
    """Go's codes.Code String(): DEADLINE_EXCEEDED → DeadlineExceeded."""
    name = getattr(code, "name", str(code))
    return "".join(part.capitalize() for part in name.split("_"))


async def grpc_probe(host: str, port: int, service: str, timeout: float) -> tuple[str, str]:
    """grpc.health.v1.Health/Check over plaintext; SERVING passes (upstream pkg/probe/grpc)."""
    import grpc  # imported here: heavy, and only pods with gRPC probes need it

    address = join_host_port(host, port)
    options = [("grpc.primary_user_agent", USER_AGENT)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            async with asyncio.timeout(timeout + 1):  # the RPC's own deadline should answer first
                response = await check(_health_request(service), timeout=timeout)
        except TimeoutError:
            return FAILURE, f"timeout: health rpc did not complete within {_go_duration(timeout)}"
        except grpc.aio.AioRpcError as err:
            return FAILURE, _grpc_failure(err, timeout)
    status = _health_status(response)
    if status != 1:
        return FAILURE, f"service unhealthy (responded with {_go_quote(_HEALTH_STATUS.get(status, str(status)))})"
    return SUCCESS, "service healthy"


def _grpc_failure(err: Any, timeout: float) -> str:
    import grpc

    code = err.code()
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
                f"{err.details()}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timeout: health rpc did not complete within {_go_duration(timeout)}"
    return f"error: health rpc probe failed: rpc error: code = {_grpc_code_name(code)} desc = {err.details()}"


# ---------------------------------------------------------------------------
# The manager: one task per (pod uid, container, probe type).


Callback = Callable[..., Any]


@dataclass
class _PodView:
    """What the manager knows of a pod from the worker's last update()."""
    pod: Obj
    latest: dict[str, ContainerInfo] = field(default_factory=dict)  # container name → its latest attempt
    pod_ip: str = ""


@dataclass
class _Worker:
    pod_uid: str
    container: Obj
    probe_type: str
    probe: Obj
    task: asyncio.Task | None = None
    trigger: asyncio.Event = field(default_factory=asyncio.Event)
    container_id: str = ""
    result: str = UNKNOWN
    last_result: str | None = None
    result_run: int = 0
    on_hold: bool = False


class ProbeManager:
    """Runs liveness, readiness and startup probes for the pods the worker hands it.

    `on_change(pod_uid)` is called when a readiness or startup result changes (the
    pod's status must be recomputed); `on_liveness_failure(pod_uid, container_name,
    message)` when a liveness or startup probe has failed failureThreshold times in
    a row — `message` is upstream's Killing event text ("Container x failed liveness
    probe, will be restarted"); `on_event(pod, container_name, type, reason, message)`
    (optional) records the prober's own events: Unhealthy for each failed or errored
    probe ("Liveness probe failed: ..."), ProbeWarning for an unfollowed redirect.
    Callbacks may be plain functions or coroutines.
    """

    def __init__(self, *, exec_run: ExecRun, on_change: Callback, on_liveness_failure: Callback,
                 on_event: Callback | None = None, clock: Callable[[], float] = time.time) -> None:
        self.exec_run, self.clock = exec_run, clock
        self.on_change, self.on_liveness_failure, self.on_event = on_change, on_liveness_failure, on_event
        self._pods: dict[str, _PodView] = {}
        self._workers: dict[tuple[str, str, str], _Worker] = {}
        self._stopping: set[asyncio.Task] = set()

    # -- what the pod worker calls ------------------------------------------------

    def update(self, pod: Obj, containers: list[ContainerInfo]) -> None:
        """Take the pod's current spec and containers; start workers for probes not yet running."""
        uid = pod["metadata"]["uid"]
        self._pods[uid] = _PodView(pod=pod, latest=_latest_attempts(containers),
                                   pod_ip=_pod_ip(pod, containers))
        existing = {key for key in self._workers if key[0] == uid}
        wanted = set()
        for container in probed_containers(pod):
            for probe_type, field_name in _PROBE_FIELDS.items():
                if isinstance(container.get(field_name), dict):
                    wanted.add((uid, container["name"], probe_type))
                    self._ensure_worker(uid, container, probe_type)
        for key in existing - wanted:
            self._stop_worker(key)
        self._trigger_unready(existing & wanted)  # new workers probe as they start anyway

    def readiness(self, pod_uid: str) -> dict[str, bool]:
        """Container name → ready as far as probes go (True without a readiness probe)."""
        return self._results(pod_uid, READINESS, SUCCESS)

    def started(self, pod_uid: str) -> dict[str, bool]:
        """Container name → started as far as probes go (True without a startup probe)."""
        return self._results(pod_uid, STARTUP, SUCCESS)

    def stop(self, pod_uid: str) -> None:
        """Stop every probe of the pod and forget its results."""
        for key in [k for k in self._workers if k[0] == pod_uid]:
            self._stop_worker(key)
        self._pods.pop(pod_uid, None)

    async def close(self) -> None:
        """Stop everything and wait until every task has ended."""
        for uid in {key[0] for key in self._workers}:
            self.stop(uid)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    # -- results --------------------------------------------------------------------

    def _results(self, pod_uid: str, probe_type: str, passing: str) -> dict[str, bool]:
        view = self._pods.get(pod_uid)
        if view is None:
            return {}
        return {container["name"]: self._passes(pod_uid, container["name"], probe_type, passing)
                for container in probed_containers(view.pod)}

    def _passes(self, pod_uid: str, name: str, probe_type: str, passing: str) -> bool:
        """No worker: no probe, so it passes; else the result must be for the container running now."""
        worker = self._workers.get((pod_uid, name, probe_type))
        if worker is None:
            return True
        return worker.container_id == self._current_id(pod_uid, name) and worker.result == passing

    def _current_id(self, pod_uid: str, name: str) -> str:
        view = self._pods.get(pod_uid)
        info = view.latest.get(name) if view else None
        return info.id if info else ""

    # -- workers --------------------------------------------------------------------

    def _ensure_worker(self, uid: str, container: Obj, probe_type: str) -> None:
        key = (uid, container["name"], probe_type)
        if key in self._workers:
            return
        probe = container[_PROBE_FIELDS[probe_type]]
        worker = _Worker(uid, container, probe_type, probe, result=_INITIAL_RESULT[probe_type])
        worker.task = asyncio.get_running_loop().create_task(self._run(worker), name=f"probe {'/'.join(key)}")
        self._workers[key] = worker

    def _stop_worker(self, key: tuple[str, str, str]) -> None:
        worker = self._workers.pop(key, None)
        if worker is not None and worker.task is not None and not worker.task.done():
            worker.task.cancel()
            self._stopping.add(worker.task)
            worker.task.add_done_callback(self._stopping.discard)

    def _trigger_unready(self, keys: set[tuple[str, str, str]]) -> None:
        """As upstream's UpdatePodStatus: a readiness probe that hasn't passed yet runs now, not a period later."""
        for uid, name, probe_type in keys:
            if probe_type == READINESS and not self._passes(uid, name, READINESS, SUCCESS):
                self._workers[(uid, name, probe_type)].trigger.set()

    async def _run(self, worker: _Worker) -> None:
        period = float(probe_setting(worker.probe, "periodSeconds"))
        next_tick = time.monotonic() + period
        try:
            while self._is_current(worker) and await self._do_probe(worker):
                next_tick = await _wait_for_tick(worker.trigger, next_tick, period)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a probe loop must never take the kubelet down
            log.exception("probe worker %s/%s/%s crashed", worker.pod_uid, worker.container["name"],
                          worker.probe_type)
        finally:
            key = (worker.pod_uid, worker.container["name"], worker.probe_type)
            if self._workers.get(key) is worker:
                del self._workers[key]

    def _is_current(self, worker: _Worker) -> bool:
        return self._workers.get((worker.pod_uid, worker.container["name"], worker.probe_type)) is worker

    async def _do_probe(self, worker: _Worker) -> bool:
        """One round of upstream's doProbe; False ends the worker."""
        view = self._pods.get(worker.pod_uid)
        info = view.latest.get(worker.container["name"]) if view else None
        if view is None or info is None or not info.id:
            return True  # not created yet: wait for more information
        if info.id != worker.container_id:
            worker.container_id, worker.on_hold = info.id, False
            await self._set(worker, _INITIAL_RESULT[worker.probe_type])
        if worker.on_hold:
            return True  # a liveness failure waits for the next container
        if runtime_state(info) != "running":
            await self._set(worker, FAILURE)
            return runtime_state(info) != "exited" or _restarts(view.pod, worker.container)
        if view.pod["metadata"].get("deletionTimestamp") and worker.probe_type in (LIVENESS, STARTUP):
            await self._set(worker, SUCCESS)  # a quiet shutdown: no kills while terminating
            return False
        if self._in_initial_delay(worker, info):
            return True
        started = self._passes(worker.pod_uid, worker.container["name"], STARTUP, SUCCESS)
        if started == (worker.probe_type == STARTUP):
            return True  # startup is done once passed; the others wait for it
        result, output = await self._probe_with_retries(worker, view, info)
        if result != UNKNOWN:
            await self._count(worker, result, output)
        return True

    def _in_initial_delay(self, worker: _Worker, info: ContainerInfo) -> bool:
        started_at = _epoch(info.started_at)
        delay = float(probe_setting(worker.probe, "initialDelaySeconds"))
        return started_at is not None and self.clock() - started_at < delay

    async def _probe_with_retries(self, worker: _Worker, view: _PodView, info: ContainerInfo) -> tuple[str, str]:
        """upstream prober.probe: errors are retried, then reported and thrown away; warnings count as success."""
        container = worker.container
        result, output = UNKNOWN, ""
        for _ in range(MAX_PROBE_RETRIES):
            result, output = await _probe_once(worker.probe, pod_ip=view.pod_ip, container_id=info.id,
                                               exec_run=self.exec_run, port_by_name=_ports(container),
                                               env=_static_env(container))
            if result != UNKNOWN:
                break
        title = worker.probe_type.capitalize()
        if result == UNKNOWN:
            await self._event(view.pod, container, "Unhealthy",
                              f"{title} probe errored and resulted in unknown state: {output}")
        elif result == FAILURE:
            await self._event(view.pod, container, "Unhealthy", f"{title} probe failed: {output}")
        elif result == _WARNING:
            await self._event(view.pod, container, "ProbeWarning", f"{title} probe warning: {output}")
            result = SUCCESS
        return result, output

    async def _count(self, worker: _Worker, result: str, output: str) -> None:
        """Thresholds: a result only sticks after successThreshold/failureThreshold identical runs."""
        if worker.last_result == result:
            worker.result_run += 1
        else:
            worker.last_result, worker.result_run = result, 1
        threshold = "failureThreshold" if result == FAILURE else "successThreshold"
        if worker.result_run < probe_setting(worker.probe, threshold):
            return
        await self._set(worker, result)
        if worker.probe_type in (LIVENESS, STARTUP) and result == FAILURE:
            worker.on_hold, worker.result_run = True, 0  # no more probing until a new container
            await self._liveness_failed(worker)

    async def _set(self, worker: _Worker, result: str) -> None:
        changed = worker.result != result
        worker.result = result
        if changed and worker.probe_type in (READINESS, STARTUP):
            await _call(self.on_change, worker.pod_uid)

    async def _liveness_failed(self, worker: _Worker) -> None:
        view = self._pods.get(worker.pod_uid)
        name = worker.container["name"]
        message = f"Container {name} failed {worker.probe_type} probe"
        if view is None or _restarts(view.pod, worker.container, exit_code=137):
            message += ", will be restarted"
        await _call(self.on_liveness_failure, worker.pod_uid, name, message)

    async def _event(self, pod: Obj, container: Obj, reason: str, message: str) -> None:
        if self.on_event is not None:
            await _call(self.on_event, pod, container["name"], "Warning", reason, message)


async def _wait_for_tick(trigger: asyncio.Event, next_tick: float, period: float) -> float:
    """Sleep until the next period tick or a manual trigger; returns the tick after that (missed ticks are dropped)."""
    try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
        async with asyncio.timeout(max(next_tick - time.monotonic(), 0)):
            await trigger.wait()
    except TimeoutError:
        pass
    trigger.clear()
    now = time.monotonic()
    while next_tick <= now:
        next_tick += period
    return next_tick


async def _call(callback: Callback, *args: Any) -> None:
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:  # noqa: BLE001 - a failing callback must not stop probing
        log.exception("probe callback %r failed", callback)


def probed_containers(pod: Obj) -> list[Obj]:
    """The containers that may have probes: app containers and sidecars (restartable init containers)."""
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if isinstance(c, dict) and is_sidecar(c)]
    return [*sidecars, *(c for c in spec.get("containers") or [] if isinstance(c, dict))]


def _latest_attempts(containers: list[ContainerInfo]) -> dict[str, ContainerInfo]:
    latest: dict[str, ContainerInfo] = {}
    for info in containers:
        if info.type == "sandbox":
            continue
        if info.name not in latest or info.restart_count > latest[info.name].restart_count:
            latest[info.name] = info
    return latest


def _pod_ip(pod: Obj, containers: list[ContainerInfo]) -> str:
    for info in containers:
        if info.type == "sandbox" and info.state == "running" and info.ip:
            return info.ip
    return str((pod.get("status") or {}).get("podIP") or "")


def _restarts(pod: Obj, container: Obj, exit_code: int = 1) -> bool:
    """Will this container be started again after it exits (with this code)?"""
    if is_sidecar(container):
        return True
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _ports(container: Obj) -> dict[str, int]:
    return {p["name"]: int(p.get("containerPort") or 0) for p in container.get("ports") or []
            if isinstance(p, dict) and p.get("name")}


def _static_env(container: Obj) -> dict[str, str]:
    """upstream expands exec probe commands with the container's env values only (no valueFrom)."""
    return {e["name"]: str(e.get("value") or "") for e in container.get("env") or []
            if isinstance(e, dict) and e.get("name")}


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp or timestamp.startswith("0001-01-01"):
        return None
    text = timestamp.replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds; Docker gives nanoseconds
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:min(digits, 6)]}{tail[digits:]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
