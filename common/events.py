"""Recording core/v1 Events about objects, as client-go's EventRecorder does (with its repeat counting).

Events are best effort: a failure to record one is logged, never raised, so a
daemon never stops doing its job because the API refused an event.  Like
client-go's broadcaster, recording only queues the event; a background task
sends them, so a caller (a pod start, a reconcile) never waits on the API.
Events about one object are sent in order; those about different objects go
a few at a time, or a busy apiserver would leave the queue full and events
dropped (half the Scheduled events of bench/scheduler.py were, one at a time).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from . import errors
from .api import kinds
from .client import ApiClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_REPEAT_WINDOW_S = 3600.0  # a repeat within this window bumps count (client-go's correlator)
_MAX_REMEMBERED = 4096  # client-go's LRU caches (spam filter, aggregator, repeat counting) hold this many
_QUEUE_SIZE = 1000  # client-go's broadcaster channel: beyond it, events are dropped (and logged)
_IN_FLIGHT = 8  # events sent at once (about different objects)
_SPAM_BURST, _SPAM_REFILL_S = 25, 300.0  # client-go's spam filter: 25 events per object, then one per 5 min
_AGGREGATE_AFTER, _AGGREGATE_WINDOW_S = 10, 600.0  # client-go's aggregator: 10 similar in 10 min are combined


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Store as the most recently used entry, forgetting the least recently used beyond _MAX_REMEMBERED:
    client-go's LRU, not a sweep by age, which kept every entry of a busy hour and so re-ran on every event
    once a scheduler had bound 4,096 pods (3.7 ms an event)."""
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > _MAX_REMEMBERED:
        cache.popitem(last=False)


def reference(obj: Obj, field_path: str = "") -> Obj:
    """An ObjectReference to obj (the event's involvedObject)."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": meta.get("name", ""),
           "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class SpamFilter:
    """A token bucket per involved object, as client-go's EventSourceObjectSpamFilter: a controller creating
    a thousand pods for one ReplicaSet writes 25 events about it, not a thousand."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # object uid -> (tokens, last refill)

    def allow(self, uid: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(uid, (float(_SPAM_BURST), now))
        tokens = min(float(_SPAM_BURST), tokens + (now - last) / _SPAM_REFILL_S)
        _remember(self._buckets, uid, (tokens - 1, now) if tokens >= 1 else (tokens, now))
        return tokens >= 1


class Aggregator:
    """client-go's EventAggregator: once an object has had ten events of one reason with different messages in
    ten minutes, further ones become a single "(combined from similar events)" event whose count grows."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._messages: OrderedDict[tuple[str, ...], tuple[set[str], float]] = OrderedDict()

    def message(self, ref: Obj, type_: str, reason: str, message: str) -> tuple[str, str]:
        """(message to record, the message part of its dedup key)."""
        key = (ref["uid"], ref.get("fieldPath", ""), type_, reason)
        now = self.clock()
        seen, since = self._messages.get(key, (set(), now))
        if now - since > _AGGREGATE_WINDOW_S:
            seen, since = set(), now
        seen.add(message)
        _remember(self._messages, key, (seen, since))
        if len(seen) <= _AGGREGATE_AFTER:
            return message, message
        return f"(combined from similar events): {message}", ""


class EventRecorder:
    """Creates Events; the same (object, reason, message) again within the hour bumps `count` instead,
    similar ones are combined and a chatty object is rate-limited, as client-go's correlator does."""

    def __init__(self, client: ApiClient, component: str, host: str = "") -> None:
        self.client, self.component, self.host = client, component, host
        self._seen: OrderedDict[tuple[str, ...], tuple[str, int, float]] = OrderedDict()  # -> (name, count, last seen)
        self._queue: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._sender: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(_IN_FLIGHT)
        self._last_send: dict[str, asyncio.Task[None]] = {}  # object uid -> its latest event's send
        self._spam, self._aggregator = SpamFilter(), Aggregator()

    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        """Queue an Event about obj; it is sent soon, after the earlier ones about obj (see flush())."""
        ref = reference(obj, field_path)
        if not self._spam.allow(ref["uid"]):
            log.debug("event %s %s on %s dropped by the spam filter", type_, reason, ref["name"])
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever())
        try:
            self._queue.put_nowait((ref, type_, reason, message))
        except asyncio.QueueFull:
            log.warning("event queue full; dropped %s %s on %s", type_, reason, obj["metadata"].get("name"))

    async def flush(self) -> None:
        """Wait until every queued event has been sent (or has failed)."""
        await self._queue.join()

    async def _send_forever(self) -> None:
        while True:
            item = await self._queue.get()
            await self._slots.acquire()
            uid = item[0]["uid"]
            task = asyncio.create_task(self._send_after(self._last_send.get(uid), *item))
            self._last_send[uid] = task
            task.add_done_callback(lambda done, uid=uid: self._sent(uid, done))

    async def _send_after(self, previous: asyncio.Task[None] | None, ref: Obj, type_: str, reason: str,
                          message: str) -> None:
        """Send one event once the object's previous one is out (counts and dedup stay in order)."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await self._send(ref, type_, reason, message)
        except Exception:  # noqa: BLE001 - a bug in one event must not stop the others
            log.exception("could not record event %s %s", type_, reason)
        finally:
            self._slots.release()
            self._queue.task_done()

    def _sent(self, uid: str, task: asyncio.Task[None]) -> None:
        if self._last_send.get(uid) is task:
            del self._last_send[uid]

    async def _send(self, ref: Obj, type_: str, reason: str, message: str) -> None:
        namespace = ref["namespace"] or "default"
        message, dedup = self._aggregator.message(ref, type_, reason, message)
        key = (ref["uid"], ref.get("fieldPath", ""), type_, reason, dedup)
        try:
            seen = self._seen.get(key)
            if seen and time.monotonic() - seen[2] < _REPEAT_WINDOW_S:
                try:
                    await self._bump(namespace, key, seen, message)
                    return
                except errors.NotFound:  # expired (--event-ttl) meanwhile: start a new one
                    pass
            await self._create(namespace, key, ref, type_, reason, message)
        except (errors.ApiError, OSError) as exc:
            log.warning("could not record event %s %s on %s/%s: %s", type_, reason, namespace, ref["name"], exc)

    async def _create(self, namespace: str, key: tuple[str, ...], ref: Obj, type_: str, reason: str,
                      message: str) -> None:
        now = _now()
        name = f"{ref['name']}.{time.time_ns():x}"
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                 "involvedObject": ref, "reason": reason, "message": message, "type": type_, "source": source,
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                 "reportingComponent": self.component, "reportingInstance": self.host}
        await self.client.create(kinds.EVENTS, event, namespace)
        _remember(self._seen, key, (name, 1, time.monotonic()))

    async def _bump(self, namespace: str, key: tuple[str, ...], seen: tuple[str, int, float], message: str) -> None:
        name, count, _ = seen
        patch = {"count": count + 1, "lastTimestamp": _now(), "message": message}  # a combined one shows the latest
        await self.client.patch(kinds.EVENTS, name, patch, namespace)
        _remember(self._seen, key, (name, count + 1, time.monotonic()))
