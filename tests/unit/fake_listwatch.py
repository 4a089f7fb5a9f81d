"""A fake of `common.client.ApiClient`'s list()/watch() for informer and controller unit tests.

It behaves like the real client: `list()` pages with limit/continue and
reports the store's resourceVersion; `watch()` is an async generator that
blocks until the test feeds its stream, raises what the test injects, and
ends when the test ends it.  Every call is recorded for assertions.
"""
from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from common import errors
from common.api.registry import ResourceType

Obj = dict[str, Any]
_END = object()


def make_obj(name: str, namespace: str | None = "default", rv: int | str = 1, **spec: Any) -> Obj:
    meta: dict[str, Any] = {"name": name, "resourceVersion": str(rv)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": dict(spec)}


class FakeStream:
    """One open watch: the test sends events, errors or the end into it."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self._steps: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def send(self, event_type: str, obj: Obj) -> None:
        self._steps.put_nowait((event_type, copy.deepcopy(obj)))

    def fail(self, exc: BaseException) -> None:
        self._steps.put_nowait(exc)

    def end(self) -> None:
        self._steps.put_nowait(_END)

    async def events(self) -> AsyncIterator[tuple[str, Obj]]:
        try:
            while True:
                step = await self._steps.get()
                if step is _END:
                    return
                if isinstance(step, BaseException):
                    raise step
                yield step
        finally:
            self.closed = True


class FakeListWatch:
    def __init__(self, objects: list[Obj] | None = None, resource_version: int = 10) -> None:
        self.objects: dict[str, Obj] = {}
        for obj in objects or []:
            self.objects[_key(obj)] = obj
        self.resource_version = resource_version
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.list_errors: list[BaseException] = []   # raised, in order, by the next list() calls
        self.watch_errors: list[BaseException] = []  # raised, in order, when the next watches open
        self.expire_continue_tokens = False          # 410 on any continue token, as after compaction
        self.list_delays: dict[str, float] = {}      # plural -> seconds each list() of it takes
        self.streams: list[FakeStream] = []
        self._new_stream = asyncio.Condition()

    # -- the client surface ------------------------------------------------------

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj:
        self.list_calls.append({"namespace": namespace, "label_selector": label_selector,
                                "field_selector": field_selector, "limit": limit, "continue_": continue_})
        await asyncio.sleep(self.list_delays.get(rt.plural, 0))
        if self.list_errors:
            raise self.list_errors.pop(0)
        if continue_ and self.expire_continue_tokens:
            raise errors.Gone("The provided continue parameter is too old")
        items = [copy.deepcopy(obj) for _, obj in sorted(self.objects.items())]
        start = int(continue_ or 0)
        end = start + limit if limit else len(items)
        meta: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if end < len(items):
            meta["continue"] = str(end)
        return {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items[start:end]}

    async def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncIterator[tuple[str, Obj]]:
        params = {"namespace": namespace, "resource_version": resource_version, "label_selector": label_selector,
                  "field_selector": field_selector, "timeout_seconds": timeout_seconds,
                  "allow_bookmarks": allow_bookmarks}
        self.watch_calls.append(params)
        if self.watch_errors:
            raise self.watch_errors.pop(0)
        stream = FakeStream(params)
        async with self._new_stream:
            self.streams.append(stream)
            self._new_stream.notify_all()
        async for event in stream.events():
            yield event

    # -- test helpers ------------------------------------------------------------

    def put(self, obj: Obj) -> Obj:
        """Store `obj` at a new resourceVersion (what the server would do) and return the stored copy."""
        self.resource_version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.resource_version)
        self.objects[_key(stored)] = stored
        return stored

    def remove(self, key: str) -> Obj:
        self.resource_version += 1
        gone = self.objects.pop(key)
        gone["metadata"]["resourceVersion"] = str(self.resource_version)
        return gone

    async def stream(self, number: int, timeout: float = 2.0) -> FakeStream:
        """The `number`-th watch stream opened (0-based), waiting for it to open."""
        async with self._new_stream:
            await asyncio.wait_for(self._new_stream.wait_for(lambda: len(self.streams) > number), timeout)
        return self.streams[number]


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


async def eventually(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait until `predicate()` holds, failing the test after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)
