"""The list-then-watch cache of one resource, with indexes and event handlers: a daemon's only watch consumer.

Follows client-go's reflector + shared informer + indexer:

- `run()` lists (paginated, following `continue`), replaces the cache, then
  watches from the list's resourceVersion with bookmarks.  When a stream ends
  or breaks it resumes from the last resourceVersion seen; a 410 Gone means
  that version is compacted away, so it relists and, like client-go's
  Replace, tells handlers about everything that changed meanwhile (objects
  missing from the new list get a delete notification with their last known
  state).
- Connection and server errors back off exponentially with jitter
  (0.8 s doubling to 30 s by default); a healthy watch resets the backoff.
- The cache is updated before handlers run, so a handler (or the worker it
  wakes) reads the new state.  Handlers are sync callables run in
  registration order; one that raises is logged and the informer carries on.

Objects handed out by `get`, `list`, `by_index` and handlers are the cache's
own: never mutate them — `deep_copy()` first.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from .api.registry import ResourceType

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]
AddHandler = Callable[[Obj], None]
UpdateHandler = Callable[[Obj, Obj], None]
DeleteHandler = Callable[[Obj], None]

NAMESPACE_INDEX = "namespace"


class ListWatchClient(Protocol):
    """The part of `common.client.ApiClient` an informer uses."""

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj: ...

    def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_seconds: int | None = None, allow_bookmarks: bool = True) -> Any: ...


def key_of(obj: Obj) -> str:
    """The cache key: `namespace/name`, or `name` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else meta["name"]


def split_key(key: str) -> tuple[str | None, str]:
    """(namespace, name) from a cache key; namespace is None for cluster-scoped keys."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def deep_copy(obj: Obj) -> Obj:
    """A private copy of a cached object, safe to mutate and send back to the server."""
    return copy.deepcopy(obj)


def index_by_namespace(obj: Obj) -> list[str]:
    """client-go's MetaNamespaceIndexFunc."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def resource_version_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


@dataclass
class Backoff:
    """Jittered exponential backoff: each delay is base·2ⁿ plus up to `jitter` of itself, capped."""
    initial_s: float = 0.8
    max_s: float = 30.0
    jitter: float = 1.0
    _attempts: int = 0

    def next_delay(self) -> float:
        base = min(self.initial_s * 2 ** min(self._attempts, 64), self.max_s)
        self._attempts += 1
        return min(base * (1 + self.jitter * random.random()), self.max_s)

    def reset(self) -> None:
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Failures since the last reset."""
        return self._attempts


@dataclass(frozen=True)
class _Handler:
    on_add: AddHandler | None
    on_update: UpdateHandler | None
    on_delete: DeleteHandler | None


class _VeryShortWatch(Exception):
    """A stream that closed at once with nothing in it: back off rather than spin (as client-go does)."""


class Informer:
    def __init__(self, client: ListWatchClient, rt: ResourceType, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 indexers: dict[str, IndexFunc] | None = None, resync_period_s: float | None = None, *,
                 page_size: int = 500, backoff_initial_s: float = 0.8, backoff_max_s: float = 30.0,
                 min_watch_s: float = 1.0, watch_timeout_s: tuple[int, int] = (300, 600)) -> None:
        self.client = client
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period_s = resync_period_s
        self.page_size = page_size
        self.min_watch_s = min_watch_s
        # Random per-watch server timeout (client-go: 5–10 min) so watches of many daemons don't expire together.
        self.watch_timeout_s = watch_timeout_s
        self.backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._items: dict[str, Obj] = {}
        # Every informer can answer "objects in namespace X" (client-go's NamespaceIndex).
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        self._handlers: list[_Handler] = []
        self._synced = asyncio.Event()
        self._last_rv = ""
        self._running = False
        self._watch_had_events = False

    # -- cache API -------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        """The cached object (do not mutate), or None."""
        return self._items.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        """Every cached object (do not mutate), or those of one namespace."""
        if namespace is not None:
            return self.by_index(NAMESPACE_INDEX, namespace)
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def by_index(self, index_name: str, value: str) -> list[Obj]:
        """Cached objects whose index function returned `value`; KeyError for an unknown index."""
        keys = self._indices[index_name].get(value, ())
        return [self._items[k] for k in sorted(keys)]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        return sorted(self._indices[index_name].get(value, ()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    @property
    def has_synced(self) -> bool:
        """True once the first full list is in the cache and handlers have seen it."""
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    @property
    def last_resource_version(self) -> str:
        """The resourceVersion the next watch resumes from."""
        return self._last_rv

    # -- handlers ----------------------------------------------------------------

    def add_handler(self, on_add: AddHandler | None = None, on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> None:
        """Register handlers; a late registration first gets an add for everything already cached."""
        handler = _Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        for obj in self.list():
            self._call(handler.on_add, obj)

    # -- running -----------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch forever (until cancelled), resuming, relisting and backing off as needed.

        A second `run()` while one is active (an informer shared by several
        controllers) opens no second watch: it just waits until cancelled.
        """
        if self._running:
            await asyncio.get_running_loop().create_future()
        self._running = True
        try:
            async with asyncio.TaskGroup() as tasks:
                if self.resync_period_s:
                    tasks.create_task(self._resync_forever(self.resync_period_s))
                await self._list_and_watch_forever()
        finally:
            self._running = False

    async def _list_and_watch_forever(self) -> None:
        must_list = True
        while True:
            try:
                if must_list:
                    await self._list_and_replace()
                    must_list = False
                await self._watch_once()
            except errors.Gone as err:
                # Relist at once after a working watch; back off if lists or empty watches keep hitting 410.
                if must_list or not self._watch_had_events:
                    await self._back_off("list" if must_list else "watch", err)
                log.info("%s: resourceVersion %s expired (%s); relisting", self._name, self._last_rv, err.message)
                must_list = True
            except Exception as err:  # noqa: BLE001 - the informer outlives every failure
                await self._back_off("list" if must_list else "watch", err)

    async def _back_off(self, what: str, err: Exception) -> None:
        delay = self.backoff.next_delay()
        log.warning("%s: %s failed: %r; retrying in %.2fs", self._name, what, err, delay)
        await asyncio.sleep(delay)

    async def _list_and_replace(self) -> None:
        items, resource_version = await self._list_all()
        self._replace(items, resource_version)
        self._synced.set()

    async def _list_all(self) -> tuple[list[Obj], str]:
        """Page through the collection; if a continue token expires mid-way, fall back to one unpaged list."""
        try:
            return await self._list_pages(self.page_size)
        except errors.Gone:
            log.info("%s: continue token expired during list; listing without pagination", self._name)
            return await self._list_pages(None)

    async def _list_pages(self, limit: int | None) -> tuple[list[Obj], str]:
        items: list[Obj] = []
        token: str | None = None
        while True:
            page = await self.client.list(self.rt, self.namespace, label_selector=self.label_selector,
                                          field_selector=self.field_selector, limit=limit, continue_=token)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, meta.get("resourceVersion", "")

    async def _watch_once(self) -> None:
        """One watch stream from the last resourceVersion, applied to the cache until it ends."""
        started = time.monotonic()
        self._watch_had_events = False
        stream = self.client.watch(self.rt, self.namespace, resource_version=self._last_rv,
                                   label_selector=self.label_selector, field_selector=self.field_selector,
                                   timeout_seconds=random.randint(*self.watch_timeout_s), allow_bookmarks=True)
        async with contextlib.aclosing(stream):
            async for event_type, obj in stream:
                if not self._watch_had_events:
                    self._watch_had_events = True
                    self.backoff.reset()  # data flows again: the next failure starts from the initial delay
                self._apply_event(event_type, obj)
        if not self._watch_had_events:
            if time.monotonic() - started < self.min_watch_s:
                raise _VeryShortWatch("watch closed at once with no events")
            self.backoff.reset()

    async def _resync_forever(self, period_s: float) -> None:
        """Periodically replay every cached object as an update, so controllers re-check it."""
        while True:
            await asyncio.sleep(period_s)
            for obj in self.list():
                self._notify_update(obj, obj)

    # -- applying changes --------------------------------------------------------

    def _apply_event(self, event_type: str, obj: Obj) -> None:
        if event_type == "BOOKMARK":
            pass  # only moves the resourceVersion on
        elif event_type in ("ADDED", "MODIFIED"):
            self._upsert(obj)
        elif event_type == "DELETED":
            self._remove(key_of(obj), obj)
        else:
            log.warning("%s: ignoring watch event of unknown type %r", self._name, event_type)
            return
        rv = resource_version_of(obj)
        if rv:
            self._last_rv = rv

    def _upsert(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self._items.get(key)
        self._store(key, obj)
        if old is None:
            self._notify_add(obj)
        else:
            self._notify_update(old, obj)

    def _remove(self, key: str, final_state: Obj) -> None:
        """Drop `key`; handlers get the final state the server sent, or the last one cached."""
        old = self._items.pop(key, None)
        if old is None:
            return  # never knew it: nothing to tell (client-go drops unknown deletes too)
        self._unindex(key, old)
        self._notify_delete(final_state)

    def _replace(self, items: Iterable[Obj], resource_version: str) -> None:
        """Make the cache equal a fresh list, notifying what changed since the cache was last right."""
        fresh = {key_of(obj): obj for obj in items}
        for key, obj in fresh.items():
            old = self._items.get(key)
            if old is not None and resource_version_of(old) == resource_version_of(obj):
                continue  # unchanged while we were away
            self._upsert(obj)
        for key in [k for k in self._items if k not in fresh]:
            self._remove(key, self._items[key])
        self._last_rv = resource_version

    def _store(self, key: str, obj: Obj) -> None:
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, index_func in self._indexers.items():
            for value in self._index_values(name, index_func, obj):
                self._indices[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, index_func in self._indexers.items():
            index = self._indices[name]
            for value in self._index_values(name, index_func, obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index_values(self, name: str, index_func: IndexFunc, obj: Obj) -> list[str]:
        try:
            return list(index_func(obj))
        except Exception:  # noqa: BLE001 - a bad index function must not break the cache
            log.exception("%s: index function %r failed on %s", self._name, name, key_of(obj))
            return []

    # -- notifying -----------------------------------------------------------------

    def _notify_add(self, obj: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_update, old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_delete, obj)

    def _call(self, callback: Callable[..., None] | None, *args: Obj) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - handlers must not be able to kill the informer
            log.exception("%s: event handler %r failed", self._name, callback)

    @property
    def _name(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"informer {self.rt.plural}{where}"


class SharedInformers:
    """One informer per (resource, selectors) for a whole process, as client-go's SharedInformerFactory:
    controllers that watch the same kind share one list+watch and one cache."""

    def __init__(self, client: ListWatchClient) -> None:
        self.client = client
        self._informers: dict[tuple[Any, ...], Informer] = {}

    def get(self, rt: ResourceType, namespace: str | None = None, **kwargs: Any) -> Informer:
        key = (rt.group, rt.plural, namespace, tuple(sorted(kwargs.items())))
        if key not in self._informers:
            self._informers[key] = Informer(self.client, rt, namespace, **kwargs)
        return self._informers[key]
