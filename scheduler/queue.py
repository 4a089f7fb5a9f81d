"""The scheduling queue, as upstream's PriorityQueue: active, backoff and unschedulable pods.

- active: what to schedule next, highest `spec.priority` first, then oldest.
- backoff: pods that failed recently wait 1 s, doubling per attempt to 10 s.
- unschedulable: pods no node fits wait here until the cluster changes in a way
  that may help (a node added or changed, a pod deleted) — never by polling —
  or, as a safety net, for at most five minutes.

A pod that fails while such a change happened during its own attempt goes to
backoff instead of unschedulable, so the change is not missed.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
MAX_UNSCHEDULABLE_S = 300.0  # podMaxInUnschedulablePodsDuration


@dataclass
class QueuedPod:
    pod: Obj
    key: str
    attempts: int = 0
    added_at: float = field(default_factory=time.monotonic)  # first enqueued: the age the active queue sorts on
    failed_at: float = 0.0  # the end of the last failed attempt
    unschedulable_since: float = 0.0

    @property
    def priority(self) -> int:
        return int((self.pod.get("spec") or {}).get("priority") or 0)

    def backoff_s(self) -> float:
        return min(INITIAL_BACKOFF_S * 2 ** max(self.attempts - 1, 0), MAX_BACKOFF_S)

    def backoff_until(self) -> float:
        return self.failed_at + self.backoff_s()


class SchedulingQueue:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._active: list[tuple[int, float, int, str]] = []  # (-priority, added_at, seq, key)
        self._backoff: list[tuple[float, int, str]] = []  # (ready at, seq, key)
        self._pods: dict[str, QueuedPod] = {}  # every pod the queue holds, wherever it is
        self._where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable" | "in-flight"
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._last_sweep = 0.0

    # -- informer events -----------------------------------------------------------------------------

    def add(self, pod: Obj, key: str) -> None:
        """A new pending pod, or one whose spec changed: schedule it soon."""
        queued = self._pods.get(key)
        if queued is None:
            self._pods[key] = queued = QueuedPod(pod, key)
        else:
            queued.pod = pod
            if self._where.get(key) in ("active", "backoff", "in-flight"):
                return  # already on its way; the newest object is used when popped
        self._push_active(queued)

    def update(self, pod: Obj, key: str) -> None:
        queued = self._pods.get(key)
        if queued is None:
            self.add(pod, key)
            return
        changed = _scheduling_relevant(queued.pod) != _scheduling_relevant(pod)
        queued.pod = pod
        if changed and self._where.get(key) == "unschedulable":
            self._push_backoff_or_active(queued)

    def delete(self, key: str) -> None:
        """Gone, bound or being deleted: lazily dropped from the heaps when reached."""
        self._pods.pop(key, None)
        self._where.pop(key, None)

    def move_all_to_active_or_backoff(self) -> None:
        """The cluster changed in a way that may make unschedulable pods fit: try them again."""
        self._move_request_cycle = self.scheduling_cycle
        for key, where in list(self._where.items()):
            if where == "unschedulable":
                self._push_backoff_or_active(self._pods[key])

    # -- the scheduling loop -------------------------------------------------------------------------

    async def pop(self) -> QueuedPod:
        """The next pod to schedule (waits for one)."""
        while True:
            self._flush()
            while self._active:
                _, _, _, key = heapq.heappop(self._active)
                if self._where.get(key) == "active":
                    self._where[key] = "in-flight"
                    self.scheduling_cycle += 1
                    queued = self._pods[key]
                    queued.attempts += 1
                    return queued
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._next_timer())
            except TimeoutError:
                pass

    def done(self, key: str) -> None:
        """Scheduled (assumed): the queue forgets the pod; a failed bind calls requeue_after_error."""
        if self._where.get(key) == "in-flight":
            self.delete(key)

    def unschedulable(self, queued: QueuedPod, cycle: int) -> None:
        """No node fits: park it until the cluster changes (or back off, if it already changed meanwhile)."""
        if self._where.get(queued.key) != "in-flight":
            return  # deleted or updated while it was being scheduled
        queued.failed_at = self.clock()
        if self._move_request_cycle >= cycle:
            self._push_backoff(queued)
        else:
            queued.unschedulable_since = queued.failed_at
            self._where[queued.key] = "unschedulable"

    def requeue_after_error(self, queued: QueuedPod) -> None:
        """An error (a failed bind, an API error): retry after the back-off."""
        self._pods.setdefault(queued.key, queued)
        queued.failed_at = self.clock()
        self._push_backoff(queued)

    def counts(self) -> dict[str, int]:
        totals = {"active": 0, "backoff": 0, "unschedulable": 0, "in-flight": 0}
        for where in self._where.values():
            totals[where] += 1
        return totals

    def __len__(self) -> int:
        return len(self._where)

    # -- internals -----------------------------------------------------------------------------------

    def _push_active(self, queued: QueuedPod) -> None:
        self._where[queued.key] = "active"
        heapq.heappush(self._active, (-queued.priority, queued.added_at, next(self._seq), queued.key))
        self._wake.set()

    def _push_backoff(self, queued: QueuedPod) -> None:
        self._where[queued.key] = "backoff"
        heapq.heappush(self._backoff, (queued.backoff_until(), next(self._seq), queued.key))
        self._wake.set()

    def _push_backoff_or_active(self, queued: QueuedPod) -> None:
        if queued.failed_at and queued.backoff_until() > self.clock():
            self._push_backoff(queued)
        else:
            self._push_active(queued)

    def _flush(self) -> None:
        """Backoff pods whose time has come, and pods unschedulable for too long, become active."""
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) == "backoff":
                self._push_active(self._pods[key])
        if now - self._last_sweep < 1.0:  # the five-minute limit needs no finer sweep than once a second
            return
        self._last_sweep = now
        for key, where in list(self._where.items()):
            if where == "unschedulable" and now - self._pods[key].unschedulable_since > MAX_UNSCHEDULABLE_S:
                self._push_active(self._pods[key])

    def _next_timer(self) -> float:
        """How long pop() may sleep: until the next backoff expiry, or a while for the unschedulable sweep."""
        wait = 30.0
        if self._backoff:
            wait = min(wait, max(self._backoff[0][0] - self.clock(), 0.0))
        return wait


def _scheduling_relevant(pod: Obj) -> tuple[Any, ...]:
    """The parts of a pod an update must change to be worth another attempt (not status or resourceVersion)."""
    meta = pod.get("metadata") or {}
    return (meta.get("labels"), meta.get("annotations"), pod.get("spec"))
