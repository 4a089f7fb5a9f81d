"""The base every controller builds on: informers feed a work queue of keys, workers run `reconcile(key)`.

A subclass creates its informers in `__init__` (`self.informer(rt, ...)`),
wires their events to the queue (`self.enqueue_on_events(informer)` for the
controller's own kind, `self.enqueue_owner_on_events(informer, "Kind")` for
objects it owns) and implements `async reconcile(key)`: read the caches,
compare with the desired state, act.  Handlers only ever enqueue keys, so
reconciling is level-triggered and idempotent.

A reconcile that returns forgets the key's backoff; one that raises is
logged and retried with per-key exponential backoff (a 409 Conflict quietly:
the cache was stale); `NotFound` counts as done (the object went away).  Tests drive it one key at a time with
`process_next()`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from . import errors
from .api import REGISTRY
from .api.registry import ResourceType
from .informer import Informer, ListWatchClient, Obj, key_of
from .workqueue import DEFAULT_BASE_DELAY_S, DEFAULT_MAX_DELAY_S, ShutDown, WorkQueue

log = logging.getLogger(__name__)


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference marked `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_key(obj: Obj, ref: dict[str, Any]) -> str:
    """The owner's cache key: owners live in the dependent's namespace unless their kind is cluster-scoped."""
    rt = REGISTRY.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
    namespace = (obj.get("metadata") or {}).get("namespace")
    if namespace and (rt is None or rt.namespaced):
        return f"{namespace}/{ref['name']}"
    return ref["name"]


class Controller:
    name = "controller"

    def __init__(self, client: ListWatchClient, *, name: str | None = None,
                 base_delay_s: float = DEFAULT_BASE_DELAY_S, max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        self.client = client
        if name:
            self.name = name
        self.queue = WorkQueue(self.name, base_delay_s=base_delay_s, max_delay_s=max_delay_s)
        self.informers: list[Informer] = []

    # -- wiring ------------------------------------------------------------------

    def informer(self, rt: ResourceType, namespace: str | None = None, **kwargs: Any) -> Informer:
        """Create an informer on this controller's client and have `run()` start it."""
        return self.add_informer(Informer(self.client, rt, namespace, **kwargs))

    def add_informer(self, informer: Informer) -> Informer:
        """Use an existing (possibly shared) informer; `run()` starts it and waits for its sync."""
        self.informers.append(informer)
        return informer

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def enqueue_after(self, obj: Obj, delay_s: float) -> None:
        self.queue.add_after(key_of(obj), delay_s)

    def enqueue_owner(self, obj: Obj, owner_kind: str) -> None:
        """Enqueue the owner of `obj` if its controller reference is of `owner_kind`."""
        ref = controller_ref(obj)
        if ref is not None and ref.get("kind") == owner_kind:
            self.queue.add(owner_key(obj, ref))

    def enqueue_on_events(self, informer: Informer) -> None:
        """Every add, update and delete of the informer's objects enqueues the object's own key."""
        informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)

    def enqueue_owner_on_events(self, informer: Informer, owner_kind: str) -> None:
        """Changes to owned objects enqueue their owner; a change of owner enqueues the old one too."""
        def on_update(old: Obj, new: Obj) -> None:
            if controller_ref(old) != controller_ref(new):
                self.enqueue_owner(old, owner_kind)
            self.enqueue_owner(new, owner_kind)

        def on_event(obj: Obj) -> None:
            self.enqueue_owner(obj, owner_kind)

        informer.add_handler(on_event, on_update, on_event)

    # -- the work --------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        """Bring the object named by `key` to its desired state.  Raise to retry with backoff."""
        raise NotImplementedError

    async def run(self, workers: int = 1) -> None:
        """Start the informers, wait for their caches, then reconcile with `workers` workers until cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                for informer in self.informers:
                    tasks.create_task(informer.run(), name=f"{self.name}: {informer.rt.plural} informer")
                await self.wait_for_sync()
                log.info("%s: caches synced; starting %d workers", self.name, workers)
                for number in range(workers):
                    tasks.create_task(self._work(), name=f"{self.name}: worker {number}")
        finally:
            self.queue.shutdown()

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(informer.wait_for_sync() for informer in self.informers))

    async def process_next(self) -> bool:
        """Take one key, reconcile it and settle its backoff; False once the queue is shut down and drained."""
        try:
            key = await self.queue.get()
        except ShutDown:
            return False
        try:
            await self.reconcile(key)
        except errors.NotFound:
            self.queue.forget(key)
        except errors.Conflict as exc:  # a stale cache lost a compare-and-swap: expected, retry without a traceback
            log.info("%s: %s changed meanwhile, retrying: %s", self.name, key, exc.message)
            self.queue.add_rate_limited(key)
        except Exception:  # noqa: BLE001 - one bad key must not stop the workers
            log.exception("%s: reconciling %s failed (retry %d)", self.name, key, self.queue.num_requeues(key) + 1)
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
        finally:
            self.queue.done(key)
        return True

    async def _work(self) -> None:
        while await self.process_next():
            pass
