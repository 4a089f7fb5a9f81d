"""HTTP verbs for every registered resource: decoding, content negotiation, LIST/WATCH, subresources.

The REST semantics live in rest.py; this module turns requests into calls on
it and answers in the shape the client asked for (JSON object, List, Table,
PartialObjectMetadata, watch stream, Status).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common import selectors
from common.api import kinds, schema
from common.api.registry import ResourceType
from common.errors import (ApiError, BadRequest, Conflict, Gone, Invalid, NotFound,
                           RequestEntityTooLarge, ServiceUnavailable, UnsupportedMediaType, field_cause, invalid)

from . import apply as fieldmanager
from . import patch as patches
from . import protobuf, requestinfo, storage, tables, validation
from .kubelet_proxy import KubeletClientTLS, KubeletProxy
from .rest import DeleteOptions, Obj, RestStore, WriteOptions, conflict, now_rfc3339
from .watchcache import (CLOSE, CachedObject, Filter, TooOld, WatchCache, WatchEvent, _type_for, dumps, loads,
                         selectable_fields)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # upstream's request body limit
JSON = "application/json"
PATCH_CONTENT_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply-cbor",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = body if isinstance(body, bytes) else dumps(body)
    return Response(payload, status_code=status, media_type=JSON, headers=headers)


def status_response(err: ApiError) -> Response:
    return json_response(err.to_status(), err.code)


def success_status(rt: ResourceType, obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": meta.get("name", ""), "group": rt.group, "kind": rt.plural,
                        "uid": meta.get("uid", "")}}


class ApiHandlers:
    def __init__(self, rest: RestStore, caches: dict[ResourceType, WatchCache],
                 kubelet_tls: KubeletClientTLS | None = None) -> None:
        self.rest = rest
        self.caches = caches
        self.kubelets = KubeletProxy(rest, kubelet_tls)

    async def handle(self, request: Request) -> Response:
        try:
            info = requestinfo.parse(request.scope["path"])
            requestinfo.allowed(info, request.method)
            return await self._dispatch(request, info)
        except ApiError as err:
            return status_response(err)

    async def _dispatch(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        method, q = request.method, request.query_params
        if method == "GET":
            if info.name is None:
                if info.legacy_watch or q.get("watch") in ("true", "1"):
                    return await self.watch(request, info)
                return await self.list(request, info)
            return await self.get(request, info)
        if method == "POST":
            if info.subresource:
                return await self.post_subresource(request, info)
            return await self.create(request, info)
        if method == "PUT":
            return await self.update(request, info)
        if method == "PATCH":
            return await self.patch(request, info)
        if method == "DELETE":
            if info.name is None:
                return await self.delete_collection(request, info)
            return await self.delete(request, info)
        raise requestinfo.method_not_allowed()

    # -- GET ---------------------------------------------------------------

    async def get(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt, sub = info.rt, info.subresource
        if sub == "log":
            return await self.kubelets.logs(request, info)
        if sub == "exec":
            return await self.kubelets.exec_without_upgrade(request, info)
        if sub not in (None, "status", "scale"):
            raise requestinfo.method_not_allowed()
        obj = await self.rest.get(rt, info.namespace, info.name or "")
        if sub == "scale":
            return json_response(scale_of(rt, obj))
        return self._render_one(request, rt, obj)

    def _render_one(self, request: Request, rt: ResourceType, obj: Obj, status: int = 200,
                    served: bytes | None = None) -> Response:
        """The object as the client asked for it; `served` is its JSON when a write already encoded it."""
        accept = request.headers.get("accept", "")
        if "as=Table" in accept:
            return json_response(tables.to_table(rt, [obj], resource_version=obj["metadata"].get("resourceVersion", ""),
                                                 include_object=_include_object(request)), status)
        if "as=PartialObjectMetadata" in accept:
            return json_response(_partial(obj), status)
        return json_response(served or obj, status)

    async def list(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt, q = info.rt, request.query_params
        flt = make_filter(rt, info.namespace, q)
        limit = _int_param(q, "limit", 0)
        objects, revision, token, remaining = await self._list_objects(rt, info.namespace, flt, q, limit)
        return self._render_list(request, rt, objects, revision, token, None if flt.selective else remaining)

    async def _list_objects(self, rt: ResourceType, namespace: str | None, flt: Filter, q: Any,
                            limit: int) -> tuple[list[CachedObject], int, str | None, int]:
        rv, match, cont = q.get("resourceVersion"), q.get("resourceVersionMatch"), q.get("continue")
        if cont:
            if rv:
                raise BadRequest("specifying resource version is not allowed when using continue")
            revision, start = decode_continue(cont, rt.namespace_prefix(namespace))
            return await self._list_etcd(rt, namespace, flt, limit, revision, start)
        if match == "Exact":
            return await self._list_etcd(rt, namespace, flt, limit, _revision(rv), None)
        if match not in (None, "", "NotOlderThan"):
            raise BadRequest(f"unsupported resourceVersionMatch {match!r}: must be Exact or NotOlderThan")
        cache = self.caches[rt]
        if rv == "0" or await cache.wait_fresh(await self._min_revision(rv)):
            return _page(cache.snapshot(flt), cache.revision, limit)
        return await self._list_etcd(rt, namespace, flt, limit, 0, None)  # cache lagging: read etcd directly

    async def _min_revision(self, rv: str | None) -> int:
        """A consistent read must see at least etcd's current revision; a given rv is a lower bound."""
        if rv:
            return _revision(rv)
        return await self.rest._etcd(self.rest.storage.current_revision())

    async def _list_etcd(self, rt: ResourceType, namespace: str | None, flt: Filter, limit: int, revision: int,
                         start: str | None) -> tuple[list[CachedObject], int, str | None, int]:
        """Paginate etcd at one revision, filtering as we go, until `limit` matches or the end."""
        prefix = rt.namespace_prefix(namespace)
        field_paths = selectable_fields(rt)
        found: list[CachedObject] = []
        while True:
            try:
                page = await self.rest.storage.list(prefix, start_key=start, limit=max(limit - len(found), 0) * 2,
                                                    revision=revision)
            except storage.Compacted as exc:
                raise Gone("The provided continue parameter is too old to display a consistent list result. You "
                           "can start a new list without the continue parameter.") from exc
            except storage.Unavailable as exc:
                raise ServiceUnavailable(f"storage is unavailable: {exc}") from exc
            revision = page.revision
            for i, kv in enumerate(page.items):
                obj = CachedObject.from_value(kv.key, kv.value, kv.mod_revision, field_paths)
                if flt.matches(obj):
                    found.append(obj)
                if limit and len(found) >= limit:
                    more = i + 1 < len(page.items) or page.more
                    left = page.remaining + len(page.items) - i - 1
                    return found, revision, encode_continue(revision, kv.key + "\0") if more else None, left
            if not page.more:
                return found, revision, None, 0
            start = page.items[-1].key + "\0"

    def _render_list(self, request: Request, rt: ResourceType, objects: list[CachedObject], revision: int,
                     token: str | None, remaining: int | None) -> Response:
        accept = request.headers.get("accept", "")
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if token:
            meta["continue"] = token
            if remaining:
                meta["remainingItemCount"] = remaining
        if "as=Table" in accept:
            return json_response(tables.to_table(rt, [o.obj for o in objects], resource_version=str(revision),
                                                 continue_token=token, include_object=_include_object(request)))
        if "as=PartialObjectMetadataList" in accept:
            return json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": meta, "items": [_partial(o.obj) for o in objects]})
        head = dumps({"kind": rt.list_kind_name, "apiVersion": rt.api_version, "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(o.json for o in objects) + b"]}"
        return json_response(body)

    # -- WATCH -------------------------------------------------------------

    async def watch(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt, q = info.rt, request.query_params
        flt = make_filter(rt, info.namespace, q)
        rv = q.get("resourceVersion") or None
        send_initial = q.get("sendInitialEvents") == "true"
        bookmarks = q.get("allowWatchBookmarks") == "true"
        _check_watch_params(q, send_initial, bookmarks)
        timeout = _int_param(q, "timeoutSeconds", 0) or random.randint(1800, 3600)
        cache = self.caches[rt]
        table = "as=Table" in request.headers.get("accept", "")
        initial: list[CachedObject] = []
        if send_initial or rv in (None, "0"):
            # Upstream: no rv (or rv=0) starts with the current state as ADDED events.
            if rv != "0" and not await cache.wait_fresh(await self._min_revision(rv)):
                raise ServiceUnavailable("the watch cache is not fresh enough to serve a consistent watch")
            initial = cache.snapshot(flt)
            watcher, replay = cache.add_watcher(flt, since=None, bookmarks=bookmarks)
            start_revision = cache.revision
        else:
            try:
                watcher, replay = cache.add_watcher(flt, since=_revision(rv), bookmarks=bookmarks)
            except TooOld:
                return self._etcd_watch(rt, flt, _revision(rv), timeout, table)
            start_revision = _revision(rv)
        encoder = _EventEncoder(rt, table, request)

        async def stream() -> AsyncIterator[bytes]:
            try:
                for obj in initial:
                    yield encoder.object_line("ADDED", obj)
                if send_initial:
                    yield encoder.bookmark(start_revision, initial_events_end=True)
                for event in replay:
                    if (type_ := _type_for(flt, event)) is not None:
                        yield encoder.event_line(type_, event)
                async for line in _live_events(watcher, encoder, timeout):
                    yield line
            finally:
                cache.remove_watcher(watcher)

        return WatchResponse(stream(), media_type=JSON)

    def _etcd_watch(self, rt: ResourceType, flt: Filter, since: int, timeout: int, table: bool) -> Response:
        """A watch from before the cache's window: follow etcd's own history for this client."""
        encoder = _EventEncoder(rt, table, None)

        async def stream() -> AsyncIterator[bytes]:
            known: dict[str, CachedObject] = {}
            field_paths = selectable_fields(rt)
            watch = None
            try:
                watch = await self.rest.storage.watch(rt.storage_prefix, since + 1)
                async with asyncio.timeout(timeout):
                    async for batch in watch:
                        for change in batch.events:
                            event = _event_from_change(change, known, field_paths)
                            if (type_ := _type_for(flt, event)) is not None:
                                yield encoder.event_line(type_, event)
            except TimeoutError:
                return
            except storage.Compacted as exc:
                yield _error_line(Gone(f"too old resource version: {since} ({exc.compact_revision})"))
            except storage.StorageError as exc:
                yield _error_line(ServiceUnavailable(f"storage watch failed: {exc}"))
            finally:
                if watch is not None:
                    watch.close()

        return WatchResponse(stream(), media_type=JSON)

    # -- writes ------------------------------------------------------------

    async def create(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt = info.rt
        if info.name is not None:
            raise requestinfo.method_not_allowed()
        opts = _write_options(request)
        obj = await read_object(request, rt, opts)
        _check_body_namespace(rt, info.namespace, obj)
        created = await self.rest.create(rt, info.namespace, obj, opts)
        return _with_warnings(self._render_one(request, rt, created.obj, 201, created.json), opts)

    async def update(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt, sub, name = info.rt, info.subresource, info.name or ""
        opts = _write_options(request)
        if sub == "scale":
            scale = await read_object(request, _SCALE_TYPE, opts, expected=("autoscaling/v1", "Scale"))
            written, _ = await self.rest.update(rt, info.namespace, name, _set_replicas(rt, scale),
                                                precondition_rv=scale["metadata"].get("resourceVersion"),
                                                subresource="scale", opts=opts)
            return json_response(scale_of(rt, written.obj))
        if sub not in (None, "status", "finalize"):
            raise requestinfo.method_not_allowed()
        obj = await read_object(request, rt, opts)
        _check_body_namespace(rt, info.namespace, obj)
        meta = obj["metadata"]
        if meta.get("name") != name:
            raise BadRequest(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        # A fresh copy per attempt: a retried write must not see the last attempt's managedFields (as upstream).
        transform = _finalize_transform(obj) if sub == "finalize" else (lambda _current: copy.deepcopy(obj))
        create_copy = copy.deepcopy(obj) if rt.allow_create_on_update else None
        if create_copy is not None:
            create_copy["metadata"].pop("resourceVersion", None)
        written, created = await self.rest.update(rt, info.namespace, name, transform,
                                                  precondition_rv=meta.get("resourceVersion") or None,
                                                  subresource=sub, opts=opts, create_obj=create_copy)
        return _with_warnings(self._render_one(request, rt, written.obj, 201 if created else 200, written.json), opts)

    async def patch(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt, sub, name = info.rt, info.subresource, info.name or ""
        if sub not in (None, "status", "scale"):
            raise requestinfo.method_not_allowed()
        opts = _write_options(request)
        patch_type = _patch_type(request)
        body = await _read_body(request)
        if patch_type == "apply":
            return await self._apply(request, info, body, opts)
        document = _parse_patch(body, patch_type)
        view_type = _SCALE_TYPE if sub == "scale" else rt
        
        def transform(current: Obj) -> Obj:
            view = scale_of(rt, current) if sub == "scale" else current
            patched = apply_patch(view_type, view, document, patch_type)
            _check_patched(view_type, view, patched, opts)
            rv = (patched.get("metadata") or {}).get("resourceVersion")
            if rv and rv != view["metadata"].get("resourceVersion"):
                raise _PinnedVersion()
            return _set_replicas(rt, patched)(current) if sub == "scale" else patched

        try:
            written, _ = await self.rest.update(rt, info.namespace, name, transform, subresource=sub, opts=opts)
        except _PinnedVersion:
            raise conflict(rt, name) from None
        if sub == "scale":
            return json_response(scale_of(rt, written.obj))
        return _with_warnings(self._render_one(request, rt, written.obj, 200, written.json), opts)

    async def _apply(self, request: Request, info: requestinfo.RequestInfo, body: bytes,
                     opts: WriteOptions) -> Response:
        """Server-side apply (apply.py): create if missing, else merge, prune and check field ownership."""
        rt, sub, name = info.rt, info.subresource, info.name or ""
        manager = request.query_params.get("fieldManager")
        if not manager:
            raise invalid("PatchOptions", "", [field_cause("fieldManager", "Required value: is required for apply "
                                                           "patch", "FieldValueRequired")], "meta.k8s.io")
        force = _bool_param(request.query_params, "force")
        applied = _load_yaml_object(body)
        if not request.query_params.get("fieldValidation"):
            opts.field_validation = "Strict"
        obj = _decoded_object(rt, applied, opts)
        _check_body_namespace(rt, info.namespace, obj)
        if obj["metadata"].get("name") not in (None, name):
            raise BadRequest(f"the name of the object ({obj['metadata'].get('name')}) does not match the name on "
                             f"the URL ({name})")
        obj["metadata"]["name"] = name
        opts.field_manager = None  # apply writes its own Apply entry
        node, ignored = schema.schema_for(rt.api_version, rt.kind), fieldmanager.reset_fields(rt, sub)

        def applied_to(current: Obj | None) -> Obj:
            return fieldmanager.apply(current, obj, manager, force=force, schema=node, api_version=rt.api_version,
                                      now=now_rfc3339(), subresource=sub or "", ignored=ignored)
        try:
            written, _ = await self.rest.update(rt, info.namespace, name, applied_to, subresource=sub, opts=opts)
        except NotFound:
            if sub:
                raise
            created = await self.rest.create(rt, info.namespace, applied_to(None), opts)
            return _with_warnings(self._render_one(request, rt, created.obj, 201, created.json), opts)
        return _with_warnings(self._render_one(request, rt, written.obj, 200, written.json), opts)

    async def delete(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt = info.rt
        if info.subresource:
            raise requestinfo.method_not_allowed()
        opts = await _delete_options(request)
        obj, deleted_now = await self.rest.delete(rt, info.namespace, info.name or "", opts)
        code = 200 if deleted_now else 202
        if rt.returns_deleted_object or not deleted_now:
            return json_response(obj, code)
        return json_response(success_status(rt, obj), code)

    async def delete_collection(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        rt = info.rt
        opts = await _delete_options(request)
        flt = make_filter(rt, info.namespace, request.query_params)
        cache = self.caches[rt]
        await cache.wait_fresh(await self._min_revision(None))
        deleted = []
        for cached in cache.snapshot(flt):
            fields = cached.fields
            try:
                obj, _ = await self.rest.delete(rt, fields["metadata.namespace"] or None, fields["metadata.name"], opts)
                deleted.append(obj)
            except NotFound:
                continue
        return json_response({"kind": rt.list_kind_name, "apiVersion": rt.api_version,
                              "metadata": {"resourceVersion": str(cache.revision)}, "items": deleted})

    # -- subresources --------------------------------------------------------

    async def post_subresource(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        if info.subresource == "binding":
            return await self._bind(request, info)
        if info.subresource == "eviction":
            return await self._evict(request, info)
        if info.subresource == "exec":
            return await self.kubelets.exec_without_upgrade(request, info)
        raise requestinfo.method_not_allowed()

    async def _bind(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        """pods/binding: the scheduler's one write — set spec.nodeName once, mark PodScheduled."""
        opts = _write_options(request)
        binding = await read_object(request, _BINDING_TYPE, opts, expected=("v1", "Binding"))
        name = info.name or ""
        causes = validation.validate_binding(binding)
        if causes:
            raise invalid("Binding", binding["metadata"].get("name") or name, causes)
        target = binding["target"]["name"]

        def bind(pod: Obj) -> Obj:
            spec = pod.setdefault("spec", {})
            if pod["metadata"].get("deletionTimestamp"):
                raise Gone(f"pod {name} is being deleted, cannot be assigned to a host")
            if spec.get("nodeName"):
                raise _already_bound(name, spec["nodeName"])
            spec["nodeName"] = target
            for key in ("annotations", "labels"):
                pod["metadata"].setdefault(key, {}).update((binding.get("metadata") or {}).get(key) or {})
            _set_condition(pod, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                 "lastTransitionTime": now_rfc3339()})
            return pod

        await self.rest.update(kinds.PODS, info.namespace, name, bind,
                               subresource="binding", opts=opts)
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "code": 201}, 201)

    async def _evict(self, request: Request, info: requestinfo.RequestInfo) -> Response:
        """pods/eviction without PodDisruptionBudgets: a delete with the eviction's options."""
        opts = _write_options(request)
        eviction = await read_object(request, _EVICTION_TYPE, opts, expected=("policy/v1", "Eviction"))
        delete_opts = _parse_delete_options(eviction.get("deleteOptions") or {}, opts.dry_run)
        await self.rest.delete(kinds.PODS, info.namespace, info.name or "", delete_opts)
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "code": 201}, 201)


# -- request decoding -------------------------------------------------------------

class _PinnedVersion(Exception):
    """A patch that names a resourceVersion other than the current one."""


_SCALE_TYPE = ResourceType("autoscaling", "v1", "Scale", "scale", namespaced=True, tracks_generation=False)
_BINDING_TYPE = ResourceType("", "v1", "Binding", "bindings", namespaced=True, tracks_generation=False)
_EVICTION_TYPE = ResourceType("policy", "v1", "Eviction", "evictions", namespaced=True, tracks_generation=False)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge("the request body is larger than the 3 MiB limit")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge("the request body is larger than the 3 MiB limit")
    return body


async def read_object(request: Request, rt: ResourceType, opts: WriteOptions,
                      expected: tuple[str, str] | None = None) -> Obj:
    """Decode a JSON, YAML or Kubernetes-protobuf request body into a checked object of kind rt."""
    body = await _read_body(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    nulls_possible = True
    if content_type in ("", JSON, "*/*", "text/plain"):
        data = _load_json(body, strict=opts.field_validation == "Strict", rt=rt)
        nulls_possible = b"null" in body  # most bodies have none: skip the walk
    elif content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
        data = _load_yaml_object(body)
    elif content_type == protobuf.MEDIA_TYPE:
        data = protobuf.decode_body(body, expected or (rt.api_version, rt.kind))
    else:
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                   f"include: application/json, application/yaml, "
                                   f"application/vnd.kubernetes.protobuf; got {content_type!r}")
    return _decoded_object(rt, data, opts, expected, nulls_possible)


def _decoded_object(rt: ResourceType, data: Any, opts: WriteOptions,
                    expected: tuple[str, str] | None = None, nulls_possible: bool = True) -> Obj:
    if not isinstance(data, dict):
        raise BadRequest(f"the object provided is unrecognized (must be of type {rt.kind}): expected a JSON object")
    api_version, kind = expected or (rt.api_version, rt.kind)
    if data.get("apiVersion") not in (None, "", api_version):
        raise BadRequest(f"the API version in the data ({data['apiVersion']}) does not match the expected API "
                         f"version ({api_version})")
    if data.get("kind") not in (None, "", kind):
        raise BadRequest(f"the kind in the data ({data['kind']}) does not match the expected kind ({kind})")
    data["apiVersion"], data["kind"] = api_version, kind
    if not isinstance(data.get("metadata", {}), dict):
        raise BadRequest(f'{kind} in version "{rt.version}" cannot be handled as a {kind}: metadata must be an object')
    data.setdefault("metadata", {})
    _check_schema(rt, data, opts, api_version, kind)
    return drop_nulls(data) if nulls_possible else data


def drop_nulls(value: Any) -> Any:
    """`null` means unset: upstream's typed decoding never stores it, so neither do we."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for item in value.values():
            drop_nulls(item)
    elif isinstance(value, list):
        for item in value:
            drop_nulls(item)
    return value


def _check_schema(rt: ResourceType, data: Obj, opts: WriteOptions, api_version: str, kind: str) -> None:
    """Wrong JSON types are always a 400; unknown fields are dropped, warned about or refused per fieldValidation."""
    unknown, type_errors = schema.check(api_version, kind, data)
    prefix = f'{kind} in version "{api_version.split("/")[-1]}" cannot be handled as a {kind}: '
    if type_errors:
        causes = [field_cause(path, message, "FieldValueTypeInvalid") for path, message in type_errors]
        raise BadRequest(prefix + type_errors[0][1], kind=rt.plural, name=data["metadata"].get("name", ""),
                         causes=causes)
    if not unknown:
        return
    if opts.field_validation == "Strict":
        detail = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise BadRequest(prefix + "strict decoding error: " + detail, kind=rt.plural,
                         name=data["metadata"].get("name", ""),
                         causes=[field_cause(p, f'unknown field "{p}"', "FieldValueUnknown") for p in unknown])
    if opts.field_validation == "Warn":
        opts.warnings.extend(f'unknown field "{path}"' for path in unknown)
    for path in unknown:
        _drop_path(data, path)


def _drop_path(obj: Any, path: str) -> None:
    """Remove one field named by a schema path such as `spec.containers[0].foo`."""
    steps = [s for s in path.replace("]", "").replace("[", ".").split(".") if s]
    for step in steps[:-1]:
        if isinstance(obj, list) and step.isdigit() and int(step) < len(obj):
            obj = obj[int(step)]
        elif isinstance(obj, dict) and step in obj:
            obj = obj[step]
        else:
            return
    if isinstance(obj, dict):
        obj.pop(steps[-1], None)


def _load_json(body: bytes, *, strict: bool, rt: ResourceType) -> Any:
    _check_flow_nesting(body)
    try:
        if strict:
            return json.loads(body, object_pairs_hook=_no_duplicates)
        return loads(body)
    except _DuplicateField as dup:
        raise BadRequest(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding '
                         f'error: json: duplicate field "{dup.field}"') from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                         f"version/kind; json parse error: {exc}") from None


class _DuplicateField(ValueError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateField(key)
        result[key] = value
    return result


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_NESTING = 100  # far beyond any manifest; libyaml crashes on deep flow nesting, so refuse it first
_MAX_NODES = 1_000_000  # bounds alias expansion ("billion laughs")


def _load_yaml_object(body: bytes) -> Any:
    _check_flow_nesting(body)
    try:
        data = yaml.load(body, Loader=_YAML_LOADER) if body.strip() else None  # noqa: S506 - a safe loader
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise BadRequest(f"error converting YAML to JSON: {exc}") from None
    _check_expanded_size(data)
    return data


def _check_flow_nesting(body: bytes) -> None:
    if body.count(b"[") + body.count(b"{") < _MAX_NESTING:
        return
    depth = 0
    for char in body.translate(None, _NOT_BRACKETS):
        depth += 1 if char in b"[{" else -1
        if depth > _MAX_NESTING:
            raise BadRequest(f"the request body nests deeper than {_MAX_NESTING} levels")


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _check_expanded_size(data: Any) -> None:
    budget, stack = _MAX_NODES, [data]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            raise BadRequest("error converting YAML to JSON: the document expands to too many values "
                             "(excessive aliasing)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _patch_type(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    patch_type = PATCH_CONTENT_TYPES.get(content_type)
    if patch_type is None or patch_type == "apply-cbor":
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                   f"include: {', '.join(t for t in PATCH_CONTENT_TYPES if 'cbor' not in t)}")
    return patch_type


def _parse_patch(body: bytes, patch_type: str) -> Any:
    _check_flow_nesting(body)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"error decoding patch: {exc}") from None
    if patch_type == "json" and not isinstance(document, list):
        raise BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if patch_type in ("merge", "strategic") and not isinstance(document, dict):
        raise BadRequest("error decoding patch: the patch must be a JSON object")
    return document


def apply_patch(rt: ResourceType, current: Obj, document: Any, patch_type: str) -> Obj:
    if patch_type == "json":
        return patches.json_patch(current, document)
    if patch_type == "merge":
        return patches.merge_patch(current, document)
    return patches.strategic_merge_patch(current, document, schema.schema_for(rt.api_version, rt.kind))


def _check_patched(rt: ResourceType, before: Obj, patched: Any, opts: WriteOptions) -> None:
    """A patch result is decoded like a request body: a JSON object of the same kind, schema-checked."""
    if not isinstance(patched, dict) or not isinstance(patched.get("metadata", {}), dict):
        raise BadRequest(f"the patched object is not a valid {rt.kind}")
    if patched.get("kind") != before.get("kind") or patched.get("apiVersion") != before.get("apiVersion"):
        raise Invalid(f"the patch changed apiVersion/kind of {rt.kind} {before['metadata'].get('name', '')!r}")
    _check_schema(rt, patched, opts, rt.api_version, rt.kind)
    drop_nulls(patched)


def _write_options(request: Request) -> WriteOptions:
    dry_run = request.query_params.getlist("dryRun")
    if any(value != "All" for value in dry_run):
        raise BadRequest(f"dryRun: Unsupported value: {dry_run!r}: supported values: \"All\"")
    validation = request.query_params.get("fieldValidation")
    if validation not in (None, "", "Ignore", "Warn", "Strict"):
        raise BadRequest(f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", '
                         '"Strict", "Warn"')
    manager = fieldmanager.manager_name(request.query_params.get("fieldManager"), request.headers.get("user-agent"))
    return WriteOptions(dry_run=bool(dry_run), field_validation=validation or "Warn", field_manager=manager)


def _bool_param(q: Any, name: str) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it; anything else is a 400."""
    value = q.get(name)
    if value in (None, "", "0", "f", "F", "false", "FALSE", "False"):
        return False
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    raise BadRequest(f'{name}: invalid value "{value}": must be a boolean')


async def _delete_options(request: Request) -> DeleteOptions:
    q = request.query_params
    body = await _read_body(request)
    data: dict[str, Any] = {}
    if body.strip():
        data = _load_json(body, strict=False, rt=_DELETE_OPTIONS_TYPE)
        if not isinstance(data, dict):
            raise BadRequest("DeleteOptions must be a JSON object")
    for key in ("gracePeriodSeconds", "propagationPolicy"):
        if key in q:
            data[key] = int(q[key]) if key == "gracePeriodSeconds" and _is_int(q[key]) else q[key]
    if q.get("orphanDependents") in ("true", "false"):
        data["orphanDependents"] = q["orphanDependents"] == "true"
    return _parse_delete_options(data, bool(q.getlist("dryRun")) or bool(data.get("dryRun")))


_DELETE_OPTIONS_TYPE = ResourceType("meta.k8s.io", "v1", "DeleteOptions", "deleteoptions", namespaced=False)


def _parse_delete_options(data: dict[str, Any], dry_run: bool) -> DeleteOptions:
    grace = data.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise BadRequest(f"gracePeriodSeconds must be an integer, got {grace!r}")
    policy = data.get("propagationPolicy")
    if policy is None and data.get("orphanDependents") is not None:
        policy = "Orphan" if data["orphanDependents"] else "Background"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise invalid("DeleteOptions", "", [field_cause("propagationPolicy", f'Unsupported value: "{policy}": '
                      'supported values: "Foreground", "Background", "Orphan", "nil"', "FieldValueNotSupported")])
    pre = data.get("preconditions") or {}
    return DeleteOptions(grace_period_seconds=grace, propagation_policy=policy, precondition_uid=pre.get("uid"),
                         precondition_rv=pre.get("resourceVersion"), dry_run=dry_run)


def _check_body_namespace(rt: ResourceType, namespace: str | None, obj: Obj) -> None:
    body_ns = obj["metadata"].get("namespace")
    if rt.namespaced and body_ns and namespace and body_ns != namespace:
        raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
    if rt.namespaced and namespace is None:
        raise NotFound("the server could not find the requested resource")


def _with_warnings(response: Response, opts: WriteOptions) -> Response:
    """One `Warning: 299 - "text"` header per warning, as upstream sends them."""
    for warning in opts.warnings:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.append("Warning", f'299 - "{escaped}"')
    return response


def make_filter(rt: ResourceType, namespace: str | None, q: Any) -> Filter:
    labels = selectors.parse_label_selector(q.get("labelSelector"))
    supported = {"metadata.name", "metadata.namespace", *rt.field_selectors}
    fields = selectors.parse_field_selector(q.get("fieldSelector"), lambda f: f in supported)
    prefix = rt.namespace_prefix(namespace)
    name = fields.exact("metadata.name")
    if name is not None and not fields.requirements[1:] and not rt.namespaced:
        prefix = rt.storage_key(None, name)
    return Filter(prefix, labels.matches, fields.matches_values, selective=not (labels.empty and fields.empty))


def _check_watch_params(q: Any, send_initial: bool, bookmarks: bool) -> None:
    match = q.get("resourceVersionMatch")
    if send_initial:
        causes = []
        if not bookmarks:
            causes.append(field_cause("allowWatchBookmarks", "Forbidden: sendInitialEvents requires setting "
                                      "allowWatchBookmarks to true", "FieldValueForbidden"))
        if match != "NotOlderThan":
            causes.append(field_cause("resourceVersionMatch", "Forbidden: sendInitialEvents requires setting "
                                      "resourceVersionMatch to NotOlderThan", "FieldValueForbidden"))
        if causes:
            raise invalid("ListOptions", "", causes, "meta.k8s.io")
    elif match:
        raise invalid("ListOptions", "", [field_cause("resourceVersionMatch", "Forbidden: resourceVersionMatch is "
                      "forbidden for watch unless sendInitialEvents is provided", "FieldValueForbidden")],
                      "meta.k8s.io")


def _int_param(q: Any, name: str, default: int) -> int:
    value = q.get(name)
    if value in (None, ""):
        return default
    if not _is_int(value) or int(value) < 0:
        raise BadRequest(f"{name}: Invalid value: {value!r}: must be a non-negative integer")
    return int(value)


def _is_int(value: str) -> bool:
    return value.lstrip("-").isdigit()


def _revision(rv: str | None) -> int:
    if rv is None or not rv.isdigit():
        raise BadRequest(f'invalid resource version "{rv}"', causes=[field_cause("resourceVersion",
                                                                                   f'Invalid value: "{rv}"')])
    return int(rv)


def _include_object(request: Request) -> str:
    value = request.query_params.get("includeObject") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise BadRequest(f'includeObject: Unsupported value: "{value}"')
    return value


def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def _page(objects: list[CachedObject], revision: int, limit: int) -> tuple[list[CachedObject], int, str | None, int]:
    if not limit or len(objects) <= limit:
        return objects, revision, None, 0
    page = objects[:limit]
    return page, revision, encode_continue(revision, page[-1].key + "\0"), len(objects) - limit


def encode_continue(revision: int, start_key: str) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": revision, "start": start_key}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        revision, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest("continue key is not valid: the continue token could not be decoded") from None
    if data.get("v") != "meta.k8s.io/v1" or not start.startswith(prefix) or revision <= 0:
        raise BadRequest("continue key is not valid: the continue token does not belong to this list")
    return revision, start


# -- scale, binding, finalize -------------------------------------------------------

def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a Deployment/ReplicaSet/StatefulSet/ReplicationController."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector")
    if rt is kinds.REPLICATION_CONTROLLERS:  # core/v1 keeps a plain label map (upstream SelectorFromSet)
        selector = {"matchLabels": selector if isinstance(selector, dict) else {}}
    scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                  if k in meta}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": scale_meta,
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0),
                       "selector": selectors.selector_to_string(selector)}}


def _set_replicas(rt: ResourceType, scale: Obj) -> Any:
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid("Scale", scale["metadata"].get("name", ""), [field_cause(
            "spec.replicas", f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0")],
            "autoscaling")

    def transform(current: Obj) -> Obj:
        current.setdefault("spec", {})["replicas"] = replicas
        return current
    return transform


def _finalize_transform(body: Obj) -> Any:
    def transform(current: Obj) -> Obj:
        current.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
        return current
    return transform


def _already_bound(name: str, node: str) -> ApiError:
    return Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to '
                    f'node "{node}"', kind="pods/binding", name=name)


def _set_condition(obj: Obj, condition: dict[str, Any]) -> None:
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for i, existing in enumerate(conditions):
        if existing.get("type") == condition["type"]:
            conditions[i] = condition
            return
    conditions.append(condition)


# -- watch plumbing ----------------------------------------------------------------

class WatchResponse(StreamingResponse):
    """A streaming response that notices a client hanging up even while no event is due."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        streaming = asyncio.ensure_future(self.stream_response(send))
        listening = asyncio.ensure_future(self.listen_for_disconnect(receive))
        done, pending = await asyncio.wait({streaming, listening}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if streaming in done and not streaming.cancelled() and isinstance(streaming.exception(), Exception):
            exc = streaming.exception()
            if not isinstance(exc, OSError):
                log.warning("watch stream failed: %r", exc)


class _EventEncoder:
    """Watch event lines as JSON, or as one-row Tables for `kubectl get -w`."""

    def __init__(self, rt: ResourceType, table: bool, request: Request | None) -> None:
        self.rt, self.table = rt, table
        self.include_object = _include_object(request) if request is not None and table else "Metadata"
        self.headers_sent = False

    def object_line(self, type_: str, obj: CachedObject) -> bytes:
        if self.table:
            return self._table_line(type_, obj.obj)
        return b'{"type":"' + type_.encode() + b'","object":' + obj.json + b"}\n"

    def event_line(self, type_: str, event: WatchEvent) -> bytes:
        if self.table:
            return self._table_line(type_, event.obj.obj)
        return event.line(type_)

    def _table_line(self, type_: str, obj: Obj) -> bytes:
        table = tables.to_table(self.rt, [obj], resource_version=obj["metadata"].get("resourceVersion", ""),
                                include_object=self.include_object, include_headers=not self.headers_sent)
        self.headers_sent = True
        return dumps({"type": type_, "object": table}) + b"\n"

    def bookmark(self, revision: int, initial_events_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": meta}
        return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


_WATCH_BATCH = 64  # events already queued go out in one write: one send and one syscall, not one per event


async def _live_events(watcher: Any, encoder: _EventEncoder, timeout: int) -> AsyncIterator[bytes]:
    try:
        async with asyncio.timeout(timeout):
            while True:
                kind, item = await watcher.queue.get()
                lines: list[bytes] = []
                while kind != CLOSE:
                    lines.append(encoder.bookmark(item) if kind == "BOOKMARK" else encoder.event_line(kind, item))
                    if len(lines) == _WATCH_BATCH or watcher.queue.empty():
                        break
                    kind, item = watcher.queue.get_nowait()
                if lines:
                    yield b"".join(lines)
                if kind == CLOSE:
                    return
    except TimeoutError:
        return


def _error_line(err: ApiError) -> bytes:
    return dumps({"type": "ERROR", "object": err.to_status()}) + b"\n"


def _event_from_change(change: storage.Event, known: dict[str, CachedObject],
                       field_paths: tuple[str, ...]) -> WatchEvent:
    def cached(value: bytes) -> CachedObject:
        return CachedObject.from_value(change.key, value, change.revision, field_paths)
    if change.type == "DELETE":
        known.pop(change.key, None)
        return WatchEvent("DELETED", cached(change.value), None, change.revision, {})
    obj = cached(change.value)
    prev = cached(change.prev_value) if change.prev_value else None
    known[change.key] = obj
    return WatchEvent("ADDED" if change.created else "MODIFIED", obj, prev, change.revision, {})
