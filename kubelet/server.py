"""The kubelet's own API (upstream's port 10250): container logs, exec, resource usage, its pods.

The apiserver proxies `pods/<name>/log` to /containerLogs and `pods/<name>/exec`
to /exec, so `kubectl logs` and `kubectl exec` reach Docker through here.  Exec
speaks the `v5.channel.k8s.io` WebSocket protocol (v4 too): every binary frame
starts with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the final Status,
4 terminal resize, and (v5) 255 "close this channel".

Errors found before a stream starts are Kubernetes Status objects with their
HTTP code (also as the WebSocket denial), so the apiserver can relay them as is.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from common.errors import ApiError, BadRequest, NotFound, field_cause, invalid

from .runtime import ContainerInfo, DockerRuntime, ExecSession, RuntimeError_

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PodLookup = Callable[[str, str], Obj | None]  # (namespace, name) -> the pod as this kubelet knows it

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


class KubeletServer:
    def __init__(self, runtime: DockerRuntime, pods: PodLookup, running_pods: Callable[[], list[Obj]]) -> None:
        self.runtime, self.pods, self.running_pods = runtime, pods, running_pods

    def app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.add_api_route("/containerLogs/{namespace}/{pod}/{container}", self.container_logs, methods=["GET"])
        app.add_api_websocket_route("/exec/{namespace}/{pod}/{container}", self.exec)
        app.add_api_websocket_route("/exec/{namespace}/{pod}/{uid}/{container}", self.exec)
        app.add_api_route("/stats/summary", self.stats_summary, methods=["GET"])
        app.add_api_route("/pods", self.pod_list, methods=["GET"])
        app.add_api_route("/healthz", lambda: Response("ok", media_type="text/plain"), methods=["GET"])
        app.add_exception_handler(ApiError, lambda _request, err: status_response(err))  # type: ignore[arg-type]
        return app

    # -- logs ----------------------------------------------------------------------------------------

    async def container_logs(self, request: Request, namespace: str, pod: str, container: str) -> Response:
        options = LogOptions.parse(request.query_params, pod)
        known = self._pod(namespace, pod)
        target = log_target(known, await self.runtime.list_pod_containers(known["metadata"]["uid"]),
                            container, options.previous)
        chunks = self.runtime.logs(target.id, follow=options.follow, tail=options.tail_lines,
                                   since=options.since, timestamps=options.timestamps,
                                   limit_bytes=options.limit_bytes)
        return StreamingResponse(_safe(chunks, target.name), media_type="text/plain")

    # -- exec ----------------------------------------------------------------------------------------

    async def exec(self, websocket: WebSocket, namespace: str, pod: str, container: str, uid: str = "") -> None:
        try:
            protocol, request = _exec_request(websocket)
            target = await self._running(self._pod(namespace, pod), container)
            session = await self.runtime.exec_stream(target.id, request.command, stdin=request.stdin,
                                                     tty=request.tty)
        except (ApiError, RuntimeError_) as err:
            error = err if isinstance(err, ApiError) else BadRequest(err.message)
            await websocket.send_denial_response(status_response(error))
            return
        await websocket.accept(subprotocol=protocol)
        try:
            await ExecBridge(websocket, session, request).run()
        finally:
            await session.close()

    async def _running(self, pod: Obj, name: str) -> ContainerInfo:
        for info in await self.runtime.list_pod_containers(pod["metadata"]["uid"]):
            if info.name == name and info.type != "sandbox" and info.state == "running":
                return info
        raise BadRequest(f'container {name} is not running in pod {pod["metadata"]["name"]}: '
                         f'unable to upgrade connection: container not found ("{name}")')

    def _pod(self, namespace: str, name: str) -> Obj:
        pod = self.pods(namespace, name)
        if pod is None:
            raise NotFound(f'pod "{name}" not found on this node', kind="pods", name=name)
        return pod

    # -- stats and pods ------------------------------------------------------------------------------

    async def stats_summary(self) -> Response:
        """The summary API's shape (pods → containers → cpu/memory) from Docker's stats, one sample each:
        one container list for the node, every container sampled at once."""
        running = [c for c in await self.runtime.list_pod_containers() if c.type == "app" and c.state == "running"]
        samples = await asyncio.gather(*(self.runtime.stats(c.id) for c in running))
        by_pod: dict[str, list[Obj]] = {}
        for info, sample in zip(running, samples):
            if sample is not None:
                by_pod.setdefault(info.pod_uid, []).append({"name": info.name, "startTime": info.started_at,
                                                            **sample})
        pods = []
        for pod in self.running_pods():
            meta = pod["metadata"]
            containers = by_pod.get(meta["uid"], [])
            pods.append({"podRef": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
                         "startTime": (pod.get("status") or {}).get("startTime"),
                         "containers": containers, **_pod_totals(containers)})
        return JSONResponse({"node": {"nodeName": self.runtime.node_name}, "pods": pods})

    async def pod_list(self) -> Response:
        return JSONResponse({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.running_pods()})


def status_response(err: ApiError) -> Response:
    return JSONResponse(err.to_status(), status_code=err.code)


# -- logs ------------------------------------------------------------------------------------------------

class LogOptions:
    """PodLogOptions from a query string, validated as upstream does (422 Invalid naming the field)."""

    def __init__(self, follow: bool, previous: bool, timestamps: bool, tail_lines: int | None,
                 since: float | None, limit_bytes: int | None) -> None:
        self.follow, self.previous, self.timestamps = follow, previous, timestamps
        self.tail_lines, self.since, self.limit_bytes = tail_lines, since, limit_bytes

    @classmethod
    def parse(cls, query: Any, pod: str) -> LogOptions:
        since_seconds = _int_option(query, "sinceSeconds")
        tail_lines, limit_bytes = _int_option(query, "tailLines"), _int_option(query, "limitBytes")
        since_time = _time_option(query, "sinceTime")
        causes = []
        if tail_lines is not None and tail_lines < 0:
            causes.append(field_cause("tailLines", f"Invalid value: {tail_lines}: must be greater than or equal to 0"))
        if limit_bytes is not None and limit_bytes < 1:
            causes.append(field_cause("limitBytes", f"Invalid value: {limit_bytes}: must be greater than 0"))
        if since_seconds is not None and since_seconds < 1:
            causes.append(field_cause("sinceSeconds", f"Invalid value: {since_seconds}: must be greater than 0"))
        if since_seconds is not None and since_time is not None:
            causes.append(field_cause("", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
                                      "FieldValueForbidden"))
        if causes:
            raise invalid("PodLogOptions", pod, causes)
        since = time.time() - since_seconds if since_seconds is not None else since_time
        return cls(_bool_option(query, "follow"), _bool_option(query, "previous"),
                   _bool_option(query, "timestamps"), tail_lines, since, limit_bytes)


def log_target(pod: Obj, containers: list[ContainerInfo], name: str, previous: bool) -> ContainerInfo:
    """The Docker container whose log `kubectl logs [--previous]` means, or the upstream error saying why none."""
    pod_name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    attempts = sorted((c for c in containers if c.pod_uid == uid and c.name == name and c.type != "sandbox"),
                      key=lambda c: c.restart_count, reverse=True)
    if previous:
        finished = [c for c in attempts[1:] if c.state in ("exited", "dead")]
        if not finished:
            raise BadRequest(f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return finished[0]
    if attempts and attempts[0].started_at is not None:
        return attempts[0]
    if len(attempts) > 1:  # the newest never started (e.g. back-off): show the last one that ran
        return attempts[1]
    raise BadRequest(f'container "{name}" in pod "{pod_name}" is waiting to start: {_waiting_reason(pod, name)}')


def _waiting_reason(pod: Obj, name: str) -> str:
    status = pod.get("status") or {}
    for entry in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if entry.get("name") == name:
            reason = ((entry.get("state") or {}).get("waiting") or {}).get("reason", "")
            if reason == "ErrImagePull":
                return "image can't be pulled"
            if reason == "ImagePullBackOff":
                return "trying and failing to pull image"
            if reason:
                return reason
    return "ContainerCreating"


async def _safe(chunks: AsyncIterator[bytes], name: str) -> AsyncIterator[bytes]:
    """A log stream that ends cleanly if the container goes away midway (the headers are already sent)."""
    try:
        async for chunk in chunks:
            yield chunk
    except RuntimeError_ as err:
        log.info("log stream of %s ended: %s", name, err.message)


def _int_option(query: Any, name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f'{name}: invalid value "{value}": must be an integer') from None


def _bool_option(query: Any, name: str) -> bool:
    return query.get(name, "false").lower() in ("true", "1")


def _time_option(query: Any, name: str) -> float | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BadRequest(f'{name}: invalid value "{value}": must be an RFC3339 time') from None


# -- exec ------------------------------------------------------------------------------------------------

class ExecRequest:
    def __init__(self, command: list[str], stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
        self.command, self.stdin, self.stdout, self.stderr, self.tty = command, stdin, stdout, stderr, tty


def _exec_request(websocket: WebSocket) -> tuple[str, ExecRequest]:
    """The subprotocol to answer with and what to run, or a 400 Status saying what is wrong."""
    offered = [p.strip() for p in websocket.scope.get("subprotocols") or []]
    protocol = next((p for p in offered if p in EXEC_PROTOCOLS), None)
    if protocol is None:
        raise BadRequest(f"unable to upgrade connection: none of the offered subprotocols {offered} is supported; "
                         f"use one of {list(EXEC_PROTOCOLS)}")
    query = websocket.query_params
    command = query.getlist("command")
    if not command:
        raise BadRequest("you must specify at least 1 command")
    request = ExecRequest(command, *(_bool_option(query, k) for k in ("stdin", "stdout", "stderr", "tty")))
    if not (request.stdin or request.stdout or request.stderr):
        raise BadRequest("you must specify at least one of stdin, stdout, stderr")
    if request.tty and request.stderr:
        request.stderr = False  # a terminal has one output stream, as upstream's kubelet decides
    return protocol, request


class ExecBridge:
    """Copies one exec session to and from a channel.k8s.io WebSocket, then sends the exit Status."""

    def __init__(self, websocket: WebSocket, session: ExecSession, request: ExecRequest) -> None:
        self.websocket, self.session, self.request = websocket, session, request

    async def run(self) -> None:
        reading = asyncio.create_task(self._client_frames())
        try:
            await self._output()
            code = await self.session.wait()
            await self._send(ERROR, json.dumps(exit_status(code, self.request.command)).encode())
            await self.websocket.close(1000)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client hung up: the process is left to finish, as with upstream's Docker runtime
        finally:
            reading.cancel()

    async def _output(self) -> None:
        while (chunk := await self.session.read()) is not None:
            channel, data = chunk
            wanted = self.request.stdout if channel == STDOUT else self.request.stderr
            if wanted and data:
                await self._send(channel, data)

    async def _client_frames(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or (message.get("text") or "").encode()
                if data:
                    await self._client_frame(data[0], data[1:])
        except (WebSocketDisconnect, OSError, RuntimeError):
            return

    async def _client_frame(self, channel: int, data: bytes) -> None:
        if channel == STDIN and self.request.stdin and data:
            await self.session.write(data)
        elif channel == RESIZE and data:
            size = json.loads(data)
            await self.session.resize(int(size.get("Height", 0)), int(size.get("Width", 0)))
        elif channel == CLOSE and data[:1] == bytes([STDIN]):
            await self.session.close_stdin()

    async def _send(self, channel: int, data: bytes) -> None:
        await self.websocket.send_bytes(bytes([channel]) + data)


def exit_status(code: int, command: list[str]) -> Obj:
    """Channel 3's last word: Success, or NonZeroExitCode carrying the code (kubectl exits with it)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {command}, "
                       f"exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _pod_totals(containers: list[Obj]) -> Obj:
    if not containers:
        return {}
    nano_cores = [c["cpu"]["usageNanoCores"] for c in containers]
    return {"cpu": {"usageCoreNanoSeconds": sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers),
                    "usageNanoCores": None if None in nano_cores else sum(nano_cores)},
            "memory": {"usageBytes": sum(c["memory"]["usageBytes"] for c in containers),
                       "workingSetBytes": sum(c["memory"]["workingSetBytes"] for c in containers)}}
