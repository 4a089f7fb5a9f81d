"""The generic REST store: create, read, update, patch and delete any registered kind against etcd.

Upstream's genericregistry.Store in one place: system metadata, defaulting and
validation, compare-and-swap updates with retry, the status/spec split of
subresources, generation, graceful deletion and finalizers.  Objects are plain
dicts; HTTP concerns live in handlers.py.
"""
from __future__ import annotations

import copy
import functools
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from common.api import kinds
from common.api.registry import ResourceType
from common.errors import (AlreadyExists, ApiError, BadRequest, Conflict, Forbidden, Gone, NotFound, ServiceUnavailable,
                           field_cause, invalid)

from . import defaults, storage, validation
from .apply import record_write
from .watchcache import WatchCache, decode, dumps, with_resource_version

if TYPE_CHECKING:
    from .servicealloc import ServiceAllocator

Obj = dict[str, Any]
Transform = Callable[[Obj], Obj]

# Names generated from generateName: five characters from upstream's alphabet (no vowels, no confusables).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def now_rfc3339(offset_s: float = 0) -> str:
    return _rfc3339(int(time.time() + offset_s))


@functools.lru_cache(maxsize=8)
def _rfc3339(epoch_s: int) -> str:
    """Formatting once per second: every write stamps a time."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(obj: Obj) -> bytes:
    """The stored form: apiVersion, kind, metadata first (see watchcache.with_resource_version), and no
    resourceVersion, which is etcd's revision."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    ordered = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta}
    ordered.update((k, v) for k, v in obj.items() if k not in ordered)
    return dumps(ordered)


class Written(NamedTuple):
    """A write's result: the object, and its JSON as stored and served when the write produced it."""
    obj: Obj
    json: bytes | None = None


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Warn"  # Ignore | Warn | Strict: what unknown fields in the body cost
    field_manager: str | None = None  # who gets the fields this write changes (managedFields); None: not recorded
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Orphan, Background, Foreground
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


class RestStore:
    """CRUD for every kind, over one Storage and the watch caches (for namespace lookups)."""

    def __init__(self, store: storage.Storage, caches: dict[ResourceType, WatchCache],
                 ttls: dict[ResourceType, int] | None = None) -> None:
        self.storage = store
        self.caches = caches
        self.ttls = ttls or {}  # kinds whose objects expire (events: --event-ttl)
        # Revisions of this apiserver's own namespace writes: the cache is trusted only once it has them.
        self._namespace_writes: dict[str, int] = {}
        # Services' cluster IPs and node ports, claimed in the same etcd transaction as the Service (app.py).
        self.service_alloc: ServiceAllocator | None = None

    # -- reads -------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        kv = await self._etcd(self.storage.get(rt.storage_key(namespace, name)))
        if kv is None:
            raise not_found(rt, name)
        return decode(kv.value, kv.mod_revision)

    async def _get_kv(self, rt: ResourceType, namespace: str | None, name: str) -> storage.KeyValue:
        kv = await self._etcd(self.storage.get(rt.storage_key(namespace, name)))
        if kv is None:
            raise not_found(rt, name)
        return kv

    # -- create ------------------------------------------------------------

    async def create(self, rt: ResourceType, namespace: str | None, obj: Obj, opts: WriteOptions) -> Written:
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise BadRequest("resourceVersion should not be set on objects to be created")
        if rt.namespaced:
            meta["namespace"] = namespace
            await self.require_active_namespace(namespace or "")
        else:
            meta.pop("namespace", None)
        generate = not meta.get("name") and bool(meta.get("generateName"))
        if generate:
            meta["name"] = generated_name(meta["generateName"])
        self._prepare_create(rt, obj)
        record_write(rt, None, obj, opts.field_manager)  # managedFields: the creator owns what it set
        if opts.dry_run:
            await self._allocate_dry_run(rt, obj, None)
            return Written(obj)
        for _attempt in range(8 if generate else 1):
            try:
                key = rt.storage_key(namespace, meta["name"])
                value, revision = await self._etcd(self._store_new(rt, key, obj))
                meta["resourceVersion"] = str(revision)
                self._note_namespace_write(rt, meta["name"], revision)
                return Written(obj, with_resource_version(value, revision))
            except storage.KeyExists:
                if generate:
                    meta["name"] = generated_name(meta["generateName"])
        raise AlreadyExists(f'{qualified(rt)} "{meta["name"]}" already exists', kind=rt.plural,
                            name=meta["name"], group=rt.group)

    async def _store_new(self, rt: ResourceType, key: str, obj: Obj) -> tuple[bytes, int]:
        if rt is kinds.SERVICES and self.service_alloc is not None:
            return await self.service_alloc.create(key, obj, encode)
        value = encode(obj)
        return value, await self.storage.create(key, value, self.ttls.get(rt, 0))

    async def _store_changed(self, rt: ResourceType, key: str, new: Obj, old: Obj | None,
                             mod_revision: int) -> tuple[bytes, int]:
        if rt is kinds.SERVICES and self.service_alloc is not None and old is not None:
            return await self.service_alloc.update(key, new, old, mod_revision, encode)
        value = encode(new)
        return value, await self.storage.update(key, value, mod_revision, self.ttls.get(rt, 0))

    async def _remove(self, rt: ResourceType, key: str, old: Obj, mod_revision: int) -> int:
        if rt is kinds.SERVICES and self.service_alloc is not None:
            return await self.service_alloc.delete(key, old, mod_revision)  # releases its IP and node ports
        return await self.storage.delete(key, mod_revision)

    async def _allocate_dry_run(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt is kinds.SERVICES and self.service_alloc is not None:
            await self._etcd(self.service_alloc.dry_run(obj, old))

    def _prepare_create(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        for dropped in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generation"):
            meta.pop(dropped, None)
        if rt.tracks_generation:
            meta["generation"] = 1
        if rt.has_status:
            status = defaults.initial_status(rt, obj)
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status
        defaults.apply_defaults(rt, obj)
        check_valid(rt, obj)

    async def require_active_namespace(self, name: str) -> None:
        """Namespaced objects need their namespace to exist and not be terminating (NamespaceLifecycle)."""
        cache = self.caches.get(kinds.NAMESPACES)
        cached = cache.get(kinds.NAMESPACES.storage_key(None, name)) if cache else None
        fresh = cached is not None and cached.revision >= self._namespace_writes.get(name, 0)
        ns = cached.obj if fresh and cached else None
        if ns is None:  # the cache may lag a namespace write made a moment ago: ask etcd
            kv = await self._etcd(self.storage.get(kinds.NAMESPACES.storage_key(None, name)))
            ns = decode(kv.value, kv.mod_revision) if kv else None
        if ns is None:
            raise not_found(kinds.NAMESPACES, name)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise Forbidden(f"unable to create new content in namespace {name} because it is being terminated",
                            kind="namespaces", name=name,
                            causes=[{"reason": "NamespaceTerminating", "message": f"namespace {name} is being "
                                     "terminated", "field": "metadata.namespace"}])

    # -- update ------------------------------------------------------------

    async def update(self, rt: ResourceType, namespace: str | None, name: str, transform: Transform, *,
                     precondition_rv: str | None = None, subresource: str | None = None,
                     opts: WriteOptions, create_obj: Obj | None = None) -> tuple[Written, bool]:
        """Read-transform-write with compare-and-swap, retrying lost races unless the caller pinned a version.

        `transform` gets a private copy of the current object and returns the desired one.
        Returns (object, created).  `create_obj` is created when the object is missing
        and the kind allows create-on-update.
        """
        key = rt.storage_key(namespace, name)
        # Upstream's cacher starts from the watch cache's copy and re-reads etcd only when that guess
        # proves stale: a lost compare-and-swap, or a no-op, error or dry run computed from it.
        kv, fresh = self._cached_kv(rt, key), False
        while True:
            if kv is None and not fresh:
                kv, fresh = await self._etcd(self.storage.get(key)), True
            if kv is None:
                if create_obj is not None and rt.allow_create_on_update and subresource is None:
                    return await self.create(rt, namespace, create_obj, opts), True
                raise not_found(rt, name)
            try:
                current = decode(kv.value, kv.mod_revision)
                if precondition_rv and precondition_rv != str(kv.mod_revision):
                    raise conflict(rt, name)
                desired = transform(decode(kv.value, kv.mod_revision))  # a second decode: cheaper than deepcopy
                new = self.prepare_update(rt, desired, current, subresource)
                record_write(rt, current, new, opts.field_manager, subresource)  # managedFields: writer owns changes
            except ApiError:
                if fresh:
                    raise
                kv = None
                continue
            if _same(new, current) or opts.dry_run:
                if not fresh:
                    kv = None
                    continue
                if not _same(new, current):
                    await self._allocate_dry_run(rt, new, current)
                return Written(current if _same(new, current) else new), False
            try:
                return await self._write_update(rt, key, new, kv.mod_revision, current), False
            except storage.RevisionMismatch as lost:
                if precondition_rv:
                    raise conflict(rt, name) from None
                kv, fresh = lost.current, True  # the failed transaction read the current value: no second get

    def _cached_kv(self, rt: ResourceType, key: str) -> storage.KeyValue | None:
        cache = self.caches.get(rt)
        cached = cache.get(key) if cache is not None else None
        if cached is None:
            return None
        return storage.KeyValue(key, cached.json, cached.revision, 0)

    async def _write_update(self, rt: ResourceType, key: str, new: Obj, mod_revision: int,
                            old: Obj | None = None) -> Written:
        meta = new["metadata"]
        served = None
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and self._deletion_complete(rt, new):
            revision = await self._etcd_mismatch(self._remove(rt, key, old or new, mod_revision))
        else:
            value, revision = await self._etcd_mismatch(self._store_changed(rt, key, new, old, mod_revision))
            served = with_resource_version(value, revision)
        meta["resourceVersion"] = str(revision)
        self._note_namespace_write(rt, meta["name"], revision)
        return Written(new, served)

    def _note_namespace_write(self, rt: ResourceType, name: str, revision: int) -> None:
        if rt is kinds.NAMESPACES:
            self._namespace_writes[name] = revision

    @staticmethod
    def _deletion_complete(rt: ResourceType, obj: Obj) -> bool:
        """With finalizers gone, an object marked for deletion is removed — unless a pod is still terminating."""
        if rt is kinds.PODS:
            return obj["metadata"].get("deletionGracePeriodSeconds") == 0
        if rt is kinds.NAMESPACES:
            return not (obj.get("spec") or {}).get("finalizers")
        return True

    def prepare_update(self, rt: ResourceType, desired: Obj, current: Obj, subresource: str | None) -> Obj:
        meta, old_meta = desired.setdefault("metadata", {}), current["metadata"]
        for name in ("name", "namespace", *_SYSTEM_FIELDS):
            if name in old_meta:
                meta[name] = old_meta[name]
            else:
                meta.pop(name, None)
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        if subresource == "binding":
            # Upstream's binding writes nodeName, annotations and PodScheduled straight to storage:
            # no defaulting, no pod validation, no generation bump — the stored pod passed them already.
            return desired
        if subresource == "status" and rt in _STATUS_WRITES_METADATA:
            desired["spec"] = copy.deepcopy(current.get("spec"))  # upstream: only spec is reset
            if rt is kinds.PODS:  # old kubelets corrupted owner references through pods/status
                _copy_key(current["metadata"], meta, "ownerReferences")
        elif subresource == "status":
            status, managed = desired.get("status"), meta.get("managedFields")
            desired = copy.deepcopy(current)  # upstream's ResetObjectMetaForStatus: metadata stays as it was
            desired.pop("status", None)
            if status is not None:
                desired["status"] = status
            if managed is not None:  # what an apply to status wrote (apply.py); record_write redoes any other's
                desired["metadata"]["managedFields"] = managed
        elif rt.has_status and subresource != "finalize":
            if "status" in current:
                desired["status"] = current["status"]
            else:
                desired.pop("status", None)
        if rt is kinds.SERVICES and subresource is None:
            defaults.preserve_service_allocations(desired, current)
        defaults.apply_defaults(rt, desired)
        if rt.tracks_generation:
            generation = old_meta.get("generation") or 1
            desired["metadata"]["generation"] = generation + (desired.get("spec") != current.get("spec"))
        _check_finalizers(rt, desired, current)
        check_valid(rt, desired, current)
        return desired

    # -- delete ------------------------------------------------------------

    async def delete(self, rt: ResourceType, namespace: str | None, name: str,
                     opts: DeleteOptions) -> tuple[Obj, bool]:
        """Returns (object, deleted now).  Graceful deletion and finalizers leave the object in place."""
        key = rt.storage_key(namespace, name)
        while True:
            kv = await self._get_kv(rt, namespace, name)
            current = decode(kv.value, kv.mod_revision)
            _check_preconditions(rt, current, opts)
            marked = self._mark_for_deletion(rt, current, opts)
            try:
                if marked is not None:
                    if marked == current or opts.dry_run:
                        return marked, False
                    return (await self._write_update(rt, key, marked, kv.mod_revision, current)).obj, False
                if opts.dry_run:
                    return current, True
                revision = await self._etcd_mismatch(self._remove(rt, key, current, kv.mod_revision))
            except storage.RevisionMismatch:
                continue
            current["metadata"]["resourceVersion"] = str(revision)
            self._note_namespace_write(rt, name, revision)
            return current, True

    def _mark_for_deletion(self, rt: ResourceType, obj: Obj, opts: DeleteOptions) -> Obj | None:
        """The object with deletionTimestamp set, or None when it can be removed at once."""
        new = copy.deepcopy(obj)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        gc_finalizer = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(opts.propagation_policy or "")
        if gc_finalizer and gc_finalizer not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(gc_finalizer)
        grace = self._grace_period(rt, obj, opts)
        if rt is kinds.NAMESPACES:
            if not finalizers and not (obj.get("spec") or {}).get("finalizers"):
                return None
            new.setdefault("status", {})["phase"] = "Terminating"
        elif not finalizers and grace == 0:
            return None
        if finalizers:
            meta["finalizers"] = finalizers
        previous_grace = meta.get("deletionGracePeriodSeconds")
        if not meta.get("deletionTimestamp") or (previous_grace is not None and grace < previous_grace):
            meta["deletionTimestamp"] = now_rfc3339(grace)
            meta["deletionGracePeriodSeconds"] = grace
            if rt.tracks_generation and not obj["metadata"].get("deletionTimestamp"):
                meta["generation"] = (meta.get("generation") or 1) + 1
        return new

    @staticmethod
    def _grace_period(rt: ResourceType, obj: Obj, opts: DeleteOptions) -> int:
        """Only pods terminate gracefully; unscheduled or finished pods go at once (upstream pod strategy)."""
        if rt is not kinds.PODS:
            return 0
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if opts.grace_period_seconds is not None:
            return max(opts.grace_period_seconds, 0)
        return int(spec.get("terminationGracePeriodSeconds", 30) or 0)

    # -- etcd error mapping ------------------------------------------------

    @staticmethod
    async def _etcd(call: Any) -> Any:
        try:
            return await call
        except storage.Compacted as exc:
            raise Gone(f"too old resource version: {exc}") from exc
        except storage.Unavailable as exc:
            raise ServiceUnavailable(f"storage is unavailable: {exc}") from exc

    async def _etcd_mismatch(self, call: Any) -> Any:
        """Like _etcd, but lets RevisionMismatch through for the caller's retry loop."""
        try:
            return await self._etcd(call)
        except storage.KeyNotFound:
            raise storage.RevisionMismatch(None) from None


# -- helpers shared with handlers ----------------------------------------------

def qualified(rt: ResourceType) -> str:
    """`pods`, `deployments.apps`: how upstream names a resource in messages."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt: ResourceType, name: str) -> NotFound:
    return NotFound(f'{qualified(rt)} "{name}" not found', kind=rt.plural, name=name, group=rt.group)


def conflict(rt: ResourceType, name: str) -> Conflict:
    return Conflict(f'Operation cannot be fulfilled on {qualified(rt)} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    kind=rt.plural, name=name, group=rt.group)


def generated_name(prefix: str) -> str:
    return prefix + "".join(random.choice(_NAME_ALPHABET) for _ in range(5))


def check_valid(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    causes = validation.validate(rt, obj, old)
    if causes:
        raise invalid(rt.kind, (obj.get("metadata") or {}).get("name", ""), causes, rt.group)


# Kinds whose status strategy resets only spec, so a status write may also change labels and annotations
# (the kubelet relies on it for its Node); every other kind keeps metadata as it was.
_STATUS_WRITES_METADATA = {kinds.PODS, kinds.NODES, kinds.NAMESPACES, kinds.SERVICES}


def _copy_key(source: Obj, target: Obj, key: str) -> None:
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _same(new: Obj, current: Obj) -> bool:
    """An update that changes nothing is not written (resourceVersion stays), as upstream."""
    return new == current


def _check_finalizers(rt: ResourceType, new: Obj, old: Obj) -> None:
    if not old["metadata"].get("deletionTimestamp"):
        return
    added = set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
    if added:
        raise invalid(rt.kind, old["metadata"]["name"], [field_cause(
            "metadata.finalizers", f"Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers {json.dumps(sorted(added))}", "FieldValueForbidden")], rt.group)


def _check_preconditions(rt: ResourceType, obj: Obj, opts: DeleteOptions) -> None:
    meta = obj["metadata"]
    if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
        raise Conflict(f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                       f"UID in object meta: {meta.get('uid')}", kind=rt.plural, name=meta["name"])
    if opts.precondition_rv and opts.precondition_rv != meta.get("resourceVersion"):
        raise Conflict(f"Precondition failed: ResourceVersion in precondition: {opts.precondition_rv}, "
                       f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
                       kind=rt.plural, name=meta["name"])

