"""pods/log and pods/exec: find the pod's node, then proxy to that node's kubelet, as upstream's apiserver does.

The kubelet's address is the Node's InternalIP (else Hostname) and the port in
`status.daemonEndpoints.kubeletEndpoint`.  Logs stream through as text/plain;
exec is a WebSocket (`v5.channel.k8s.io`) relayed frame by frame.  The pod and
container are checked here first, so a typo gets upstream's 400 or 404 before
any kubelet is asked.  A plain GET or a SPDY POST to exec (kubectl's fallback
when the WebSocket upgrade was refused) answers the same checks' error, or 400.

With KubeletClientTLS (--kubelet-client-certificate/-key, --kubelet-certificate-authority)
kubelets are called over HTTPS with the apiserver's client certificate, as upstream
always does; without it over plain HTTP, for kubelets serving no TLS.
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from common.api import kinds
from common.errors import ApiError, BadRequest, ServiceUnavailable, from_status

from . import requestinfo
from .rest import Obj, RestStore

log = logging.getLogger(__name__)

LOG_OPTIONS = ("follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes")
EXEC_OPTIONS = ("command", "stdin", "stdout", "stderr", "tty")
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class KubeletClientTLS:
    """How the apiserver calls kubelets over HTTPS: its client certificate, and the CA kubelets' serving
    certificates must chain to (None: not checked, as upstream without --kubelet-certificate-authority)."""
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.ca_file is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


class KubeletProxy:
    def __init__(self, rest: RestStore, tls: KubeletClientTLS | None = None) -> None:
        self.rest = rest
        self.ssl = tls.context() if tls is not None else None
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=None), verify=self.ssl or True)

    # -- pods/log ------------------------------------------------------------------------------------

    async def logs(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        pod = await self._pod(info)
        container = choose_container(pod, request.query_params.get("container"))
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return Response(b"", media_type="text/plain")  # upstream: no host yet, so no logs yet
        url = await self._kubelet_url(node, "containerLogs", pod, container, request.query_params, LOG_OPTIONS)
        try:
            upstream = await self.http.send(self.http.build_request("GET", url), stream=True)
        except httpx.HTTPError as err:
            raise _unreachable(node, err) from None
        if upstream.status_code != 200:
            body = await upstream.aread()
            await upstream.aclose()
            raise _kubelet_error(upstream.status_code, body)
        return StreamingResponse(_relay(upstream), media_type="text/plain")

    # -- pods/exec -----------------------------------------------------------------------------------

    async def exec_without_upgrade(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        """GET without an upgrade, or kubectl's SPDY fallback: the request's own error, else 400."""
        pod = await self._pod(info)
        choose_container(pod, request.query_params.get("container"))
        _assigned_node(pod)
        raise BadRequest("Upgrade request required: this apiserver serves pods/exec over WebSocket "
                         "(v5.channel.k8s.io or v4.channel.k8s.io) only")

    async def exec_websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        try:
            upstream = await self._open_exec(websocket)
        except ApiError as err:
            await websocket.send_denial_response(_status_response(err))
            return
        async with upstream:
            await websocket.accept(subprotocol=upstream.subprotocol)
            await _pipe(websocket, upstream)

    async def _open_exec(self, websocket: WebSocket) -> ClientConnection:
        info = requestinfo.parse(websocket.scope["path"])
        if info.rt is not kinds.PODS or info.subresource != "exec" or info.name is None:
            raise BadRequest("WebSocket is served only for pods/exec")
        pod = await self._pod(info)
        container = choose_container(pod, websocket.query_params.get("container"))
        node = _assigned_node(pod)
        url = await self._kubelet_url(node, "exec", pod, container, websocket.query_params, EXEC_OPTIONS)
        offered = [Subprotocol(p.strip()) for p in websocket.scope.get("subprotocols") or []]
        try:
            return await connect(url.replace("http", "ws", 1), subprotocols=offered or None, ssl=self.ssl,
                                 open_timeout=CONNECT_TIMEOUT_S, ping_interval=None, max_size=None)
        except InvalidStatus as err:
            raise _kubelet_error(err.response.status_code, err.response.body or b"") from None
        except (OSError, TimeoutError, InvalidHandshake) as err:
            raise _unreachable(node, err) from None

    # -- helpers -------------------------------------------------------------------------------------

    async def _pod(self, info: requestinfo.RequestInfo) -> Obj:
        return await self.rest.get(kinds.PODS, info.namespace, info.name or "")

    async def _kubelet_url(self, node: str, path: str, pod: Obj, container: str, query: Any,
                           options: tuple[str, ...]) -> str:
        host, port = kubelet_address(await self.rest.get(kinds.NODES, None, node))
        meta = pod["metadata"]
        params = [(k, v) for k, v in query.multi_items() if k in options]
        segments = "/".join(quote(s, safe="") for s in (meta["namespace"], meta["name"], container))
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{host}:{port}/{path}/{segments}" + (f"?{urlencode(params)}" if params else "")


def choose_container(pod: Obj, name: str | None) -> str:
    """The container a log or exec request means, with upstream's errors when it cannot tell."""
    spec = pod.get("spec") or {}
    containers = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    pod_name = pod["metadata"]["name"]
    if not name:
        if len(containers) == 1:
            return containers[0]
        message = f"a container name must be specified for pod {pod_name}"
        if containers:
            message += f", choose one of: [{' '.join(containers)}]"
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise BadRequest(message)
    if name not in containers and name not in init:
        raise BadRequest(f"container {name} is not valid for pod {pod_name}")
    return name


def kubelet_address(node: Obj) -> tuple[str, int]:
    """Where a node's kubelet listens: InternalIP first (our kubelets bind there), then Hostname."""
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname") or addresses.get("ExternalIP")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not host or not port:
        raise ServiceUnavailable(f'node "{node["metadata"]["name"]}" reports no kubelet address yet')
    return host, int(port)


def _assigned_node(pod: Obj) -> str:
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        raise BadRequest(f"pod {pod['metadata']['name']} does not have a host assigned")
    return node


def _unreachable(node: str, err: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(f'the kubelet of node "{node}" cannot be reached: {err or type(err).__name__}')


def _kubelet_error(code: int, body: bytes) -> ApiError:
    """The kubelet's Status, as the apiserver's own error (its message when it sent plain text)."""
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = body.decode(errors="replace").strip() or f"HTTP {code}"
        status = {"message": f"the kubelet answered {code}: {text}", "code": 503 if code >= 500 else code}
    return from_status(status, code)


def _status_response(err: ApiError) -> Response:
    return Response(json.dumps(err.to_status()).encode(), status_code=err.code, media_type="application/json")


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as err:  # the kubelet went away mid-stream: end the stream, as upstream does
        log.info("log stream from the kubelet ended: %s", err)
    finally:
        await upstream.aclose()


async def _pipe(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Frames both ways until either side closes; the kubelet's close code reaches the client."""
    async def to_kubelet() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                payload = message.get("bytes")
                await upstream.send(payload if payload is not None else message.get("text") or "")
        except (WebSocketDisconnect, ConnectionClosed, RuntimeError):
            return

    async def to_client() -> None:
        try:
            async for frame in upstream:
                if isinstance(frame, bytes):
                    await websocket.send_bytes(frame)
                else:
                    await websocket.send_text(frame)
            await websocket.close(upstream.close_code or 1000)
        except (WebSocketDisconnect, ConnectionClosed, RuntimeError, OSError):
            return

    tasks = [asyncio.create_task(to_kubelet()), asyncio.create_task(to_client())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
