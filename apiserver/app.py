"""The apiserver process: watch caches, default namespaces, compaction, and the ASGI app that routes requests."""
from __future__ import annotations

import asyncio
import copy
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response

from common.api import REGISTRY, kinds
from common.errors import AlreadyExists, ApiError, Conflict, InternalError, NotFound

from . import discovery, openapi, requestinfo, servicealloc, storage, validation
from .authn import TokenAuthenticator, User
from .handlers import ApiHandlers, json_response, status_response
from .kubelet_proxy import KubeletClientTLS
from .rest import RestStore, WriteOptions
from .watchcache import WatchCache

log = logging.getLogger(__name__)

REQUESTS = Counter("apiserver_request_total", "API requests by verb, resource and HTTP code",
                   ["verb", "resource", "code"])
LATENCY = Histogram("apiserver_request_duration_seconds", "API request latency by verb and resource",
                    ["verb", "resource"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

# Namespaces that exist in every cluster (upstream's system namespaces controller).
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class Settings:
    etcd_servers: list[str]
    bind_address: str = "127.0.0.1"
    port: int = 8080
    compaction_interval_s: float = 300.0
    watch_cache_size: int = 10_000
    bookmark_interval_s: float = 30.0
    event_ttl_s: float = 3600.0
    etcd_connect_timeout_s: float = 30.0
    reuse_port: bool = False  # one of several --workers processes on one port
    tls_cert_file: str | None = None
    tls_private_key_file: str | None = None
    tokens: dict[str, User] | None = None  # --token-auth-file; None: no authentication (loopback only)
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    advertise_address: str | None = None  # the kubernetes Service's endpoint; None: no Endpoints written
    advertise_port: int | None = None  # the kubernetes Service's targetPort; None: --port
    kubelet_tls: KubeletClientTLS | None = None  # None: kubelets are called over plain HTTP


class ApiServer:
    """Owns etcd, the watch caches and the background loops; the ASGI app serves from it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = storage.Storage(settings.etcd_servers)
        self.caches = {rt: WatchCache(self.storage, rt, capacity=settings.watch_cache_size,
                                      bookmark_interval_s=settings.bookmark_interval_s) for rt in REGISTRY.all()}
        self.rest = RestStore(self.storage, self.caches, ttls={kinds.EVENTS: int(settings.event_ttl_s)})
        self.service_ips = servicealloc.IPRange.parse(settings.service_cluster_ip_range)
        node_ports = servicealloc.PortRange.parse(settings.service_node_port_range)
        validation.NODE_PORT_RANGE = (node_ports.low, node_ports.high)
        self.rest.service_alloc = servicealloc.ServiceAllocator(self.storage, self.service_ips, node_ports)
        self.handlers = ApiHandlers(self.rest, self.caches, settings.kubelet_tls)
        self.ready = False

    async def run(self, tg: asyncio.TaskGroup) -> None:
        """Connect, fill the caches and start the background loops in `tg`."""
        await self.storage.connect(self.settings.etcd_connect_timeout_s)
        for cache in self.caches.values():
            tg.create_task(cache.run())
            tg.create_task(cache.request_bookmarks())
        await asyncio.gather(*(cache.ready.wait() for cache in self.caches.values()))
        await self._ensure_system_namespaces()
        await self.rest.service_alloc.repair(kinds.SERVICES.storage_prefix)  # type: ignore[union-attr]
        await self._ensure_kubernetes_service()
        tg.create_task(self._keep_kubernetes_service())
        if self.settings.compaction_interval_s > 0:
            tg.create_task(self._compact_forever())
        self.ready = True
        log.info("apiserver ready: %d resources cached, etcd revision %d", len(self.caches),
                 await self.storage.current_revision())

    def close_watches(self) -> None:
        for cache in self.caches.values():
            for watcher in list(cache.watchers):
                cache.remove_watcher(watcher)
                watcher.close("the apiserver is shutting down")

    async def _ensure_system_namespaces(self) -> None:
        for name in SYSTEM_NAMESPACES:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            try:
                await self.rest.create(kinds.NAMESPACES, None, ns, WriteOptions())
            except AlreadyExists:
                pass

    async def _ensure_kubernetes_service(self) -> None:
        """default/kubernetes: the API's own Service at the range's first IP, and its Endpoints when
        --advertise-address says where the API is (upstream's controlplane reconciler)."""
        port = self.settings.advertise_port or self.settings.port
        service = servicealloc.kubernetes_service(self.service_ips.first(), port)
        try:
            await self.rest.update(kinds.SERVICES, "default", "kubernetes",
                                   lambda current: servicealloc.with_kubernetes_ports(current, port),
                                   opts=WriteOptions(), create_obj=copy.deepcopy(service))
            if self.settings.advertise_address:
                endpoints = servicealloc.kubernetes_endpoints(self.settings.advertise_address, port)
                await self.rest.update(kinds.ENDPOINTS, "default", "kubernetes", lambda _old: copy.deepcopy(endpoints),
                                       opts=WriteOptions(), create_obj=copy.deepcopy(endpoints))
        except (AlreadyExists, Conflict):
            pass  # another apiserver (--workers) wrote it a moment ago
        except ApiError as exc:  # e.g. its IP taken by a Service created before the range changed
            log.warning("cannot ensure the default/kubernetes Service: %s", exc.message)

    async def _keep_kubernetes_service(self) -> None:
        """Put it back when deleted or changed, every 10s as upstream's bootstrap controller does."""
        while True:
            await asyncio.sleep(10)
            try:
                await self._ensure_kubernetes_service()
            except Exception:  # noqa: BLE001 - a failed pass must not stop the apiserver; the next one retries
                log.exception("ensuring the default/kubernetes Service failed")

    async def _compact_forever(self) -> None:
        """Compact etcd to the revision seen one interval ago, as upstream's apiserver does."""
        previous = None
        while True:
            await asyncio.sleep(self.settings.compaction_interval_s)
            try:
                current = await self.storage.current_revision()
                if previous is not None:
                    await self.storage.compact(previous)
                    log.info("compacted etcd to revision %d", previous)
                previous = current
            except storage.StorageError as exc:
                log.warning("compaction failed: %s", exc)


def create_app(server: ApiServer) -> Any:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    _add_error_handlers(app)
    _add_system_routes(app, server)
    _add_discovery_routes(app)
    routed = MetricsMiddleware(ResourceRouter(app, server.handlers))
    tokens = server.settings.tokens
    return TokenAuthenticator(routed, tokens) if tokens else routed


def _add_system_routes(app: FastAPI, server: ApiServer) -> None:
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    async def readyz() -> Response:
        if not server.ready:
            return PlainTextResponse("[-]watch-caches not ready\nreadyz check failed", status_code=503)
        return PlainTextResponse("ok")

    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def version() -> Response:
        return json_response(discovery.version_info())

    for path, endpoint in (("/healthz", healthz), ("/livez", healthz), ("/readyz", readyz),
                           ("/metrics", metrics), ("/version", version)):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
        app.add_api_route(path + "/", endpoint, methods=["GET"], include_in_schema=False)


def _add_discovery_routes(app: FastAPI) -> None:
    async def api() -> Response:
        return json_response(discovery.api_versions())

    async def apis() -> Response:
        return json_response(discovery.api_group_list())

    async def core_v1() -> Response:
        return json_response(discovery.resource_list("", "v1"))

    async def group(group: str) -> Response:
        if not discovery.has_group(group):
            raise NotFound("the server could not find the requested resource")
        return json_response(discovery.api_group(group))

    async def group_version(group: str, version: str) -> Response:
        document = discovery.resource_list(group, version)
        if document is None:
            raise NotFound("the server could not find the requested resource")
        return json_response(document)

    async def openapi_root() -> Response:
        return json_response(openapi.root())

    async def openapi_group_version(path: str) -> Response:
        document = openapi.document_for_path(path)
        if document is None:
            raise NotFound("the server could not find the requested resource")
        return json_response(document)

    async def openapi_v2() -> Response:
        raise NotFound("the server could not find the requested resource (OpenAPI v2 is not served)")

    routes = (("/api", api), ("/apis", apis), ("/api/v1", core_v1), ("/apis/{group}", group),
              ("/apis/{group}/{version}", group_version), ("/openapi/v3", openapi_root), ("/openapi/v2", openapi_v2))
    for path, endpoint in routes:
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
        app.add_api_route(path + "/", endpoint, methods=["GET"], include_in_schema=False)
    app.add_api_route("/openapi/v3/{path:path}", openapi_group_version, methods=["GET"], include_in_schema=False)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> Response:
        return status_response(err)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> Response:
        if err.status_code == 405:
            return status_response(requestinfo.method_not_allowed())
        return status_response(NotFound("the server could not find the requested resource"))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, err: RequestValidationError) -> Response:
        return status_response(NotFound("the server could not find the requested resource"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> Response:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return status_response(InternalError(f"an error on the server ({type(err).__name__}) has prevented the "
                                             "request from succeeding"))


class ResourceRouter:
    """Resource requests (the hot path) go straight to the handlers; FastAPI serves everything else."""

    def __init__(self, app: Any, handlers: ApiHandlers) -> None:
        self.app, self.handlers = app, handlers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and _is_resource_path(scope["path"]):
            await self.handlers.kubelets.exec_websocket(scope, receive, send)  # the one WebSocket: pods/exec
            return
        if scope["type"] != "http" or not _is_resource_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.handlers.handle(request)
        except Exception:  # noqa: BLE001 - a bug must still answer as a Status, never drop the connection
            log.exception("unexpected error serving %s %s", request.method, scope["path"])
            response = status_response(InternalError("an internal error has prevented the request from succeeding"))
        await response(scope, receive, send)


def _is_resource_path(path: str) -> bool:
    """/api/v1/<resource>... or /apis/<group>/<version>/<resource>... (not discovery documents)."""
    depth = path.rstrip("/").count("/")
    return (path.startswith("/api/") and depth >= 3) or (path.startswith("/apis/") and depth >= 4)


class MetricsMiddleware:
    """Counts and times every request by verb, resource and code (pure ASGI: streaming stays streaming)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, code = time.perf_counter(), [500]

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                code[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            verb, resource = _verb_and_resource(scope)
            _requests(verb, resource, code[0]).inc()
            if verb != "WATCH":
                _latency(verb, resource).observe(time.perf_counter() - start)


# The labelled metrics of each (verb, resource[, code]), looked up once: labels() validates and locks every time.
@functools.lru_cache(maxsize=1024)
def _requests(verb: str, resource: str, code: int) -> Any:
    return REQUESTS.labels(verb, resource, str(code))


@functools.lru_cache(maxsize=1024)
def _latency(verb: str, resource: str) -> Any:
    return LATENCY.labels(verb, resource)


def _verb_and_resource(scope: dict[str, Any]) -> tuple[str, str]:
    parts = [p for p in scope["path"].split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    else:
        return scope["method"], "nonresource"
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    resource = parts[0] if parts else ""
    query = scope.get("query_string", b"")
    verb = "WATCH" if b"watch=true" in query or b"watch=1" in query else scope["method"]
    if verb == "GET" and len(parts) == 1:
        verb = "LIST"
    return verb, resource
