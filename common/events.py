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


class EventRecorder:
    """Creates Events; the same (object, reason, message) again within the hour bumps `count` instead."""

    def __init__(self, client: ApiClient, component: str, host: str = "") -> None:
        self.client, self.component, self.host = client, component, host
        self._seen: dict[tuple[str, ...], tuple[str, int, float]] = {}  # key -> (event name, count, last seen)
        self._queue: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._sender: asyncio.Task[None] | None = None

    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        """Queue an Event about obj; it is sent soon, in order with the others (see flush())."""
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever())
        try:
            self._queue.put_nowait((reference(obj, field_path), type_, reason, message))
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
        key = (ref["uid"], ref.get("fieldPath", ""), type_, reason, message)
        try:
            seen = self._seen.get(key)
            if seen and time.monotonic() - seen[2] < _REPEAT_WINDOW_S:
                try:
                    await self._bump(namespace, key, seen)
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

    async def _bump(self, namespace: str, key: tuple[str, ...], seen: tuple[str, int, float]) -> None:
        name, count, _ = seen
        await self.client.patch(kinds.EVENTS, name, {"count": count + 1, "lastTimestamp": _now()}, namespace)
        self._seen[key] = (name, count + 1, time.monotonic())

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - _REPEAT_WINDOW_S
        self._seen = {k: v for k, v in self._seen.items() if v[2] > cutoff}
