"""The watch cache: one etcd watch per resource, fanned out to every HTTP watcher, and serving LISTs.

Like upstream's cacher: the cache lists the resource once, then follows one
etcd watch stream.  It keeps every object (decoded once, serialised once) and a
window of recent events, so a LIST is a join of cached bytes and a watch from a
recent resourceVersion is a replay of the window.  Freshness for consistent
reads comes from etcd progress notifications: a LIST first learns etcd's
current revision, then waits until the cache has seen everything up to it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from prometheus_client import Counter, Gauge

from common import selectors
from common.api.registry import ResourceType

from . import storage

log = logging.getLogger(__name__)

WATCHERS = Gauge("apiserver_registered_watchers", "HTTP watchers registered per resource", ["resource"])
EVENTS = Counter("apiserver_watch_events_total", "watch events sent to HTTP watchers", ["resource"])
TERMINATED = Counter("apiserver_terminated_watchers_total", "watchers closed for falling too far behind",
                     ["resource"])


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON.  orjson: encoding and decoding are a sixth of the apiserver's CPU with the
    standard library and several times cheaper with it (measured under bench/scheduler.py)."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # an integer beyond 64 bits: only the standard library writes those
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def loads(text: bytes) -> Any:
    """JSON read exactly as json.loads reads it, by orjson where that is the same, at half the cost.

    orjson turns integers beyond 64 bits into floats, so text with 19 digits in a row (rare: a long
    integer or mantissa) goes to the standard library, as does anything orjson refuses (NaN, a BOM, lone
    surrogates, malformed text), which also keeps json.loads' error messages.
    """
    if _NINETEEN_DIGITS not in text.translate(_DIGITS_AS_ZERO):  # a C scan, unlike a regex's per-byte steps
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def decode(value: bytes, revision: int) -> dict[str, Any]:
    """A stored value as an API object: resourceVersion is the etcd revision, never stored."""
    obj = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def with_resource_version(value: bytes, revision: int) -> bytes:
    """The stored bytes as served: resourceVersion spliced into metadata without re-encoding.

    rest.encode writes `metadata` right after apiVersion and kind, so its first
    occurrence is the object's own (a pod template's comes later).
    """
    at = value.find(b'"metadata":{')
    if at < 0:
        return dumps(decode(value, revision))
    at += len(b'"metadata":{')
    rv = b'"resourceVersion":"' + str(revision).encode() + b'"'
    return value[:at] + rv + (b"" if value[at:at + 1] == b"}" else b",") + value[at:]


def selectable_fields(rt: ResourceType) -> tuple[str, ...]:
    return ("metadata.name", "metadata.namespace", *rt.field_selectors)


class CachedObject(NamedTuple):
    """One object as of one revision: its served bytes plus what selectors look at.

    Only strings, bytes and flat str dicts: the cyclic GC stops tracking these
    tuples, so a cache of many objects costs nothing per garbage collection.
    """
    key: str
    revision: int
    json: bytes
    labels: dict[str, str]
    fields: dict[str, str]

    @classmethod
    def from_value(cls, key: str, value: bytes, revision: int, field_paths: tuple[str, ...]) -> "CachedObject":
        obj = orjson.loads(value)  # only labels and selectable fields are kept from it
        labels = (obj.get("metadata") or {}).get("labels") or {}
        fields = {path: selectors.field_value(obj, path) for path in field_paths}
        return cls(key, revision, with_resource_version(value, revision), {**labels}, fields)

    @property
    def obj(self) -> dict[str, Any]:
        """A freshly decoded copy the caller may keep or change."""
        return loads(self.json)


class WatchEvent(NamedTuple):
    """A change as etcd reported it; each watcher sees it as ADDED, MODIFIED or DELETED."""
    type: str
    obj: CachedObject
    prev: CachedObject | None
    revision: int
    lines: dict[str, bytes]  # event lines by type, encoded once for all watchers

    def line(self, type_: str) -> bytes:
        line = self.lines.get(type_)
        if line is None:
            line = b'{"type":"' + type_.encode() + b'","object":' + self.obj.json + b"}\n"
            self.lines[type_] = line
        return line


@dataclass(frozen=True)
class Filter:
    """What one LIST or WATCH selects: a namespace key prefix plus label and field predicates."""
    key_prefix: str
    labels: Callable[[dict[str, str]], bool] = lambda _labels: True
    fields: Callable[[dict[str, str]], bool] = lambda _fields: True  # over CachedObject.fields
    selective: bool = False  # any label/field requirement at all

    def matches(self, cached: CachedObject) -> bool:
        if not cached.key.startswith(self.key_prefix):
            return False
        return not self.selective or (self.labels(cached.labels) and self.fields(cached.fields))


# An item in a watcher's queue: (event type, event) or ("BOOKMARK", revision) or (CLOSE, reason).
CLOSE = "CLOSE"


@dataclass(eq=False)
class Watcher:
    filter: Filter
    min_revision: int  # events at or below this revision were already seen by the client
    bookmarks: bool
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=20_000))

    def offer(self, event: WatchEvent) -> bool:
        """Queue the event as this watcher sees it; False if the watcher has fallen too far behind."""
        if event.revision <= self.min_revision:
            return True
        type_ = _type_for(self.filter, event)
        if type_ is None:
            return True
        try:
            self.queue.put_nowait((type_, event))
        except asyncio.QueueFull:
            return False
        return True

    def close(self, reason: str) -> None:
        # Make room so the close is always delivered, even to a watcher that fell behind.
        while self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait((CLOSE, reason))


def _type_for(flt: Filter, event: WatchEvent) -> str | None:
    """An object entering a watcher's selection is ADDED to it, one leaving is DELETED."""
    if event.type == "DELETED":
        return "DELETED" if flt.matches(event.obj) else None
    now = flt.matches(event.obj)
    before = event.prev is not None and flt.matches(event.prev)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    if before:
        return "DELETED"
    return None


class TooOld(Exception):
    """The requested revision is older than the event window."""


class WatchCache:
    def __init__(self, store: storage.Storage, rt: ResourceType, *, capacity: int = 10_000,
                 bookmark_interval_s: float = 30.0) -> None:
        self.store, self.rt = store, rt
        self.field_paths = selectable_fields(rt)
        self.objects: dict[str, CachedObject] = {}
        self.events: deque[WatchEvent] = deque()
        self.capacity = capacity
        self.revision = 0  # every event up to here has been applied and dispatched
        self.window_start = 0  # every event after this revision is in self.events
        self.watchers: set[Watcher] = set()
        self.ready = asyncio.Event()
        self.bookmark_interval_s = bookmark_interval_s
        self._progress = asyncio.Event()  # replaced after each set: wakes everyone waiting for progress
        self._progress_requested_at = 0.0
        self._stream: storage.WatchStream | None = None

    # -- running -------------------------------------------------------------

    async def run(self) -> None:
        """List, then follow the etcd watch; re-watch on a broken stream, re-list when compacted."""
        backoff = 0.1
        while True:
            try:
                if not self.ready.is_set():
                    await self._relist()
                await self._follow()
            except storage.Compacted:
                log.warning("%s: watch window compacted; re-listing", self.rt.plural)
                self.ready.clear()
            except storage.StorageError as exc:
                log.warning("%s: etcd watch failed (%s); retrying in %.1fs", self.rt.plural, exc, backoff)
                await asyncio.sleep(backoff * (1 + random.random() / 2))
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1

    async def _relist(self) -> None:
        items, revision = await self._list_all()
        self.objects = {kv.key: self._cached(kv.key, kv.value, kv.mod_revision) for kv in items}
        self.events.clear()
        self.revision = self.window_start = revision
        for watcher in list(self.watchers):  # they re-watch and learn what changed (or get 410)
            watcher.close("the watch cache was re-listed")
        self.watchers.clear()
        self.ready.set()

    async def _list_all(self) -> tuple[list[storage.KeyValue], int]:
        items: list[storage.KeyValue] = []
        start, revision = None, 0
        while True:
            page = await self.store.list(self.rt.storage_prefix, start_key=start, limit=5000, revision=revision)
            revision = page.revision
            items.extend(page.items)
            if not page.more:
                return items, revision
            start = page.items[-1].key + "\0"

    async def _follow(self) -> None:
        self._stream = await self.store.watch(self.rt.storage_prefix, self.revision + 1)
        try:
            async for batch in self._stream:
                self._apply(batch)
        finally:
            self._stream.close()
            self._stream = None

    def _apply(self, batch: storage.WatchBatch) -> None:
        for change in batch.events:
            self._dispatch(self._to_event(change))
        if batch.revision > self.revision:
            self.revision = batch.revision
        self._notify_progress()

    def _cached(self, key: str, value: bytes, revision: int) -> CachedObject:
        return CachedObject.from_value(key, value, revision, self.field_paths)

    def _to_event(self, change: storage.Event) -> WatchEvent:
        prev = self.objects.get(change.key)
        if change.type == "DELETE":
            self.objects.pop(change.key, None)
            # A deleted object is served as its last state at the deletion's revision.
            gone = self._cached(change.key, change.value, change.revision)
            return WatchEvent("DELETED", gone, prev, change.revision, {})
        obj = self._cached(change.key, change.value, change.revision)
        self.objects[change.key] = obj
        return WatchEvent("ADDED" if prev is None else "MODIFIED", obj, prev, change.revision, {})

    def _dispatch(self, event: WatchEvent) -> None:
        self.events.append(event)
        if len(self.events) > self.capacity:
            self.window_start = self.events.popleft().revision
        self.revision = event.revision
        for watcher in list(self.watchers):
            if not watcher.offer(event):
                TERMINATED.labels(self.rt.plural).inc()
                self.remove_watcher(watcher)
                watcher.close("the watcher fell too far behind")

    def _notify_progress(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait_fresh(self, revision: int, timeout_s: float = 3.0) -> bool:
        """Wait until the cache has applied everything up to `revision` (a consistent read)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        except TimeoutError:
            return False
        while self.revision < revision:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._request_progress()
            try:
                await asyncio.wait_for(self._progress.wait(), min(0.2, remaining))
            except TimeoutError:
                pass
        return True

    def _request_progress(self) -> None:
        """Ask etcd for a progress notification, at most one outstanding per 50 ms."""
        now = asyncio.get_running_loop().time()
        if self._stream is not None and now - self._progress_requested_at > 0.05:
            self._progress_requested_at = now
            self._stream.request_progress()

    async def request_bookmarks(self) -> None:
        """Periodically tell bookmark-wanting watchers how far they are up to date."""
        while True:
            await asyncio.sleep(self.bookmark_interval_s)
            if self._stream is not None and any(w.bookmarks for w in self.watchers):
                try:
                    await self.wait_fresh(await self.store.current_revision(), timeout_s=1.0)
                except storage.StorageError:
                    continue  # etcd unreachable: no progress to report this time
                for watcher in list(self.watchers):
                    if watcher.bookmarks:
                        self._offer_bookmark(watcher)

    def _offer_bookmark(self, watcher: Watcher) -> None:
        try:
            watcher.queue.put_nowait(("BOOKMARK", self.revision))
        except asyncio.QueueFull:
            pass  # a watcher that far behind needs no bookmark

    # -- reading -------------------------------------------------------------

    def snapshot(self, flt: Filter) -> list[CachedObject]:
        """Matching objects in key order, as of self.revision."""
        return [obj for key, obj in sorted(self.objects.items()) if flt.matches(obj)]

    def get(self, key: str) -> CachedObject | None:
        return self.objects.get(key)

    def add_watcher(self, flt: Filter, *, since: int | None, bookmarks: bool) -> tuple[Watcher, Iterator[WatchEvent]]:
        """Register a watcher; returns it with the buffered events it must see first.

        `since` None means "from now" (the caller sends the initial state itself).
        Raises TooOld when `since` is older than the event window.
        """
        if since is not None and since < self.window_start:
            raise TooOld()
        start = self.revision if since is None else since
        watcher = Watcher(flt, min_revision=max(start, self.revision), bookmarks=bookmarks)
        replay = (e for e in list(self.events) if e.revision > start)
        self.watchers.add(watcher)
        WATCHERS.labels(self.rt.plural).set(len(self.watchers))
        return watcher, replay

    def remove_watcher(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        WATCHERS.labels(self.rt.plural).set(len(self.watchers))
