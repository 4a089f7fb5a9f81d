"""Async Kubernetes API client on aiohttp: CRUD, subresources, patches and watch streams.

Every failure answered by the server comes back as the matching `common.errors`
exception, built from the server's Status object; a connection that fails or
breaks is `errors.TransportError` (an OSError).  aiohttp, not httpx: measured
here, a request costs 0.25–0.3 ms of client CPU against httpx's 1.1–2.1 ms, and
every daemon's throughput is bounded by it.  One client (one connection pool)
per process, created lazily inside the running event loop.
"""
from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from . import errors, kubeconfig
from .api.registry import ResourceType

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiClient:
    def __init__(self, server: str, *, token: str | None = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None, insecure: bool = False,
                 timeout: float = 30.0, user_agent: str = "kubelab") -> None:
        self.server = server.rstrip("/")
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._ssl: ssl.SSLContext | bool = not insecure  # False: no verification; True: the system's CAs
        if ca_file or cert_file:
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if insecure:
                self._ssl.check_hostname, self._ssl.verify_mode = False, ssl.CERT_NONE
            if cert_file:
                self._ssl.load_cert_chain(cert_file, key_file)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=200, ssl=self._ssl)
            self._session = aiohttp.ClientSession(headers=self._headers, connector=connector, timeout=self._timeout)
        return self._session

    @classmethod
    def from_kubeconfig(cls, path: str, context: str | None = None, **kwargs: Any) -> "ApiClient":
        conn = kubeconfig.load(path, context)
        return cls(conn.server, token=conn.token, ca_file=conn.ca_file, cert_file=conn.cert_file,
                   key_file=conn.key_file, insecure=conn.insecure_skip_tls_verify, **kwargs)

    @classmethod
    def from_flags(cls, server: str | None = None, kubeconfig_path: str | None = None, **kwargs: Any) -> "ApiClient":
        """`--server` wins, then `--kubeconfig`, then $KUBECONFIG, then the local lab default."""
        if server:
            return cls(server, **kwargs)
        path = kubeconfig_path or os.environ.get("KUBECONFIG")
        if path:
            return cls.from_kubeconfig(path, **kwargs)
        return cls("http://127.0.0.1:8080", **kwargs)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plain verbs ---------------------------------------------------------

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None,
                  subresource: str | None = None) -> dict[str, Any]:
        return await self.request("GET", rt.path(_ns(rt, namespace), name, subresource))

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> dict[str, Any]:
        params = _params(labelSelector=label_selector, fieldSelector=field_selector, limit=limit,
                         resourceVersion=resource_version, **{"continue": continue_})
        return await self.request("GET", rt.path(namespace if rt.namespaced else None), params=params)

    async def list_all(self, rt: ResourceType, namespace: str | None = None, *, page_size: int = 500,
                       **selectors: str | None) -> tuple[list[dict[str, Any]], str]:
        """Every matching object, following continue tokens; returns (items, list resourceVersion)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = await self.list(rt, namespace, limit=page_size, continue_=token, **selectors)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items, page["metadata"].get("resourceVersion", "")

    async def create(self, rt: ResourceType, obj: dict[str, Any], namespace: str | None = None,
                     **params: Any) -> dict[str, Any]:
        ns = _ns(rt, namespace or obj.get("metadata", {}).get("namespace"))
        return await self.request("POST", rt.path(ns), json_body=_with_type(rt, obj), params=params)

    async def update(self, rt: ResourceType, obj: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        meta = obj["metadata"]
        path = rt.path(_ns(rt, meta.get("namespace")), meta["name"], subresource)
        return await self.request("PUT", path, json_body=_with_type(rt, obj))

    async def update_status(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.update(rt, obj, subresource="status")

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str | None = None, *,
                    patch_type: str = "merge", subresource: str | None = None, **params: Any) -> dict[str, Any]:
        headers = {"Content-Type": PATCH_TYPES[patch_type]}
        return await self.request("PATCH", rt.path(_ns(rt, namespace), name, subresource),
                                  content=json.dumps(patch).encode(), headers=headers, params=params)

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        return await self.request("DELETE", rt.path(_ns(rt, namespace), name), json_body=body)

    # -- watch ---------------------------------------------------------------

    async def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    timeout_seconds: int | None = None, allow_bookmarks: bool = True,
                    send_initial_events: bool = False) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) until the server ends the stream.  ERROR events raise."""
        params = _params(watch="true", resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, timeoutSeconds=timeout_seconds,
                         allowWatchBookmarks="true" if allow_bookmarks else None)
        if send_initial_events:
            params.update(sendInitialEvents="true", resourceVersionMatch="NotOlderThan")
        path = rt.path(namespace if rt.namespaced else None)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)  # a watch lasts as long as the server wants
        try:
            async with self._http().get(self.server + path, params=params, timeout=timeout) as resp:
                if resp.status >= 400:
                    raise _error(resp.status, await resp.read())
                async for line in _lines(resp.content):
                    event = orjson.loads(line)  # a sixth of a daemon's CPU went to json.loads here
                    if event["type"] == "ERROR":
                        raise errors.from_status(event["object"], event["object"].get("code", 500))
                    yield event["type"], event["object"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise errors.TransportError(f"watch {path}: {exc or type(exc).__name__}") from exc

    # -- raw -----------------------------------------------------------------

    async def request(self, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
                      params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        if json_body is not None:
            content = orjson.dumps(json_body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            async with self._http().request(method, self.server + path, data=content,
                                            params=_params(**params) if params else None, headers=headers) as resp:
                status, content_type, body = resp.status, resp.content_type, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise errors.TransportError(f"{method} {path}: {exc or type(exc).__name__}") from exc
        if status >= 400:
            raise _error(status, body)
        if content_type == "application/json":
            return orjson.loads(body)
        return body.decode(errors="replace")


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Newline-delimited watch events of any length (aiohttp's own line reader caps a line at 64 KiB)."""
    pending = b""
    async for chunk in stream.iter_any():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _ns(rt: ResourceType, namespace: str | None) -> str | None:
    if not rt.namespaced:
        return None
    return namespace or "default"


def _params(**values: Any) -> dict[str, str]:
    """Query parameters as text (booleans as Kubernetes spells them), leaving out the unset ones."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in values.items()
            if v is not None}


def _with_type(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("apiVersion") and obj.get("kind"):
        return obj
    return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}


def _error(status: int, body: bytes) -> errors.ApiError:
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        decoded = {"message": body.decode(errors="replace") or f"HTTP {status}"}
    if not isinstance(decoded, dict):
        decoded = {"message": str(decoded)}
    return errors.from_status(decoded, status)
