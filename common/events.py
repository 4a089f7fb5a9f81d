"""Recording core/v1 Events about objects, as client-go's EventRecorder does (with its repeat counting).

Events are best effort: a failure to record one is logged, never raised, so a
daemon never stops doing its job because the API refused an event.  Like
client-go's broadcaster, recording only queues the event; one background task
sends them in order, so a caller (a pod start, a reconcile) never waits on the API.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from . import errors
from .api import kinds
from .client import ApiClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_REPEAT_WINDOW_S = 3600.0  # a repeat within this window bumps count (client-go's correlator)
_MAX_REMEMBERED = 4096
_QUEUE_SIZE = 1000  # client-go's broadcaster channel: beyond it, events are dropped (and logged)
_SPAM_BURST, _SPAM_REFILL_S = 25, 300.0  # client-go's spam filter: 25 events per object, then one per 5 min
_AGGREGATE_AFTER, _AGGREGATE_WINDOW_S = 10, 600.0  # client-go's aggregator: 10 similar in 10 min are combined


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        self._buckets: dict[str, tuple[float, float]] = {}  # object uid -> (tokens, last refill)

    def allow(self, uid: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(uid, (float(_SPAM_BURST), now))
        tokens = min(float(_SPAM_BURST), tokens + (now - last) / _SPAM_REFILL_S)
        if len(self._buckets) > _MAX_REMEMBERED:
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < _SPAM_REFILL_S * _SPAM_BURST}
        self._buckets[uid] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
        return tokens >= 1


class Aggregator:
    """client-go's EventAggregator: once an object has had ten events of one reason with different messages in
    ten minutes, further ones become a single "(combined from similar events)" event whose count grows."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._messages: dict[tuple[str, ...], tuple[set[str], float]] = {}

    def message(self, ref: Obj, type_: str, reason: str, message: str) -> tuple[str, str]:
        """(message to record, the message part of its dedup key)."""
        key = (ref["uid"], ref.get("fieldPath", ""), type_, reason)
        now = self.clock()
        seen, since = self._messages.get(key, (set(), now))
        if now - since > _AGGREGATE_WINDOW_S:
            seen, since = set(), now
        seen.add(message)
        if len(self._messages) > _MAX_REMEMBERED:
            self._messages = {k: v for k, v in self._messages.items() if now - v[1] < _AGGREGATE_WINDOW_S}
        self._messages[key] = (seen, since)
        if len(seen) <= _AGGREGATE_AFTER:
            return message, message
        return f"(combined from similar events): {message}", ""


class EventRecorder:
    """Creates Events; the same (object, reason, message) again within the hour bumps `count` instead,
    similar ones are combined and a chatty object is rate-limited, as client-go's correlator does."""

    def __init__(self, client: ApiClient, component: str, host: str = "") -> None:
        self.client, self.component, self.host = client, component, host
        self._seen: dict[tuple[str, ...], tuple[str, int, float]] = {}  # key -> (event name, count, last seen)
        self._queue: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._sender: asyncio.Task[None] | None = None
        self._spam, self._aggregator = SpamFilter(), Aggregator()

    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        """Queue an Event about obj; it is sent soon, in order with the others (see flush())."""
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
            ref, type_, reason, message = await self._queue.get()
            try:
                await self._send(ref, type_, reason, message)
            except Exception:  # noqa: BLE001 - a bug in one event must not stop the others
                log.exception("could not record event %s %s", type_, reason)
            finally:
                self._queue.task_done()

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
        if len(self._seen) > _MAX_REMEMBERED:
            self._forget_old()
        self._seen[key] = (name, 1, time.monotonic())

    async def _bump(self, namespace: str, key: tuple[str, ...], seen: tuple[str, int, float], message: str) -> None:
        name, count, _ = seen
        patch = {"count": count + 1, "lastTimestamp": _now(), "message": message}  # a combined one shows the latest
        await self.client.patch(kinds.EVENTS, name, patch, namespace)
        self._seen[key] = (name, count + 1, time.monotonic())

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - _REPEAT_WINDOW_S
        self._seen = {k: v for k, v in self._seen.items() if v[2] > cutoff}
