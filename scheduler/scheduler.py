"""The scheduling loop: pending pods from the queue, a node from the framework, assume, then bind in the background.

Informers feed the cache (nodes, and pods already on nodes) and the queue
(pending pods this scheduler's profiles are responsible for).  One pod at a
time is decided — decisions are fast and in memory — while bindings go to the
apiserver concurrently; the cache counts an assumed pod at once, so the next
decision never overcommits a node a binding has not reached yet.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from prometheus_client import Counter, Histogram

from common import errors
from common.api import kinds
from common.events import EventRecorder
from common.informer import Informer, key_of

from .cache import SchedulerCache
from .framework import Framework, PodInfo, ScheduleResult
from .queue import QueuedPod, SchedulingQueue

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"  # finished pods use no room, as upstream's informer
MAX_BINDS_IN_FLIGHT = 16

ATTEMPTS = Counter("scheduler_schedule_attempts_total", "Scheduling attempts by result", ["result", "profile"])
E2E_SECONDS = Histogram("scheduler_pod_scheduling_duration_seconds",
                        "From first queueing to the binding written", buckets=(.005, .01, .025, .05, .1, .25,
                                                                               .5, 1, 2.5, 5, 10, 30, 60))


class Scheduler:
    def __init__(self, client: Any, profiles: dict[str, Framework], recorder: EventRecorder | None = None) -> None:
        self.client, self.profiles = client, profiles
        self.recorder = recorder or EventRecorder(client, "default-scheduler")
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue()
        self.pods = Informer(client, kinds.PODS, field_selector=NOT_TERMINAL)
        self.nodes = Informer(client, kinds.NODES)
        self._binds = asyncio.Semaphore(MAX_BINDS_IN_FLIGHT)
        self._bind_tasks: set[asyncio.Task[None]] = set()
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)

    async def run(self) -> None:
        """Start the informers, then schedule forever (call only while leading)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.pods.run())
            tg.create_task(self.nodes.run())
            await asyncio.gather(self.pods.wait_for_sync(), self.nodes.wait_for_sync())
            log.info("scheduler caches synced: %d nodes, %d pods pending", len(self.cache.nodes), len(self.queue))
            while True:
                await self.schedule_next()
                await asyncio.sleep(0)  # let bindings and informer events run between decisions

    async def schedule_next(self) -> None:
        queued = await self.queue.pop()
        await self.schedule_one(queued, self.queue.scheduling_cycle)

    async def schedule_one(self, queued: QueuedPod, cycle: int) -> None:
        pod = self.pods.get(queued.key)
        if pod is None or _assigned(pod) or pod["metadata"].get("deletionTimestamp"):
            self.queue.delete(queued.key)
            return
        profile = pod["spec"].get("schedulerName") or "default-scheduler"
        framework = self.profiles[profile]
        try:
            info = PodInfo.of(pod)
        except ValueError as exc:  # the apiserver validates quantities; this is a last line of defence
            log.error("cannot schedule %s: %s", queued.key, exc)
            self.queue.unschedulable(queued, cycle)
            return
        result = framework.schedule(info, self.cache.node_list())
        if result.error:  # a plugin failed, not the pod: retry after the back-off, as upstream
            ATTEMPTS.labels("error", profile).inc()
            log.error("scheduling %s failed: %s", queued.key, result.message)
            self.queue.done(queued.key)
            self.queue.requeue_after_error(queued)
            return
        if result.node is None:
            ATTEMPTS.labels("unschedulable", profile).inc()
            self.queue.unschedulable(queued, cycle)
            await self._record_failure(pod, profile, result)
            return
        ATTEMPTS.labels("scheduled", profile).inc()
        self.cache.assume(info, result.node)
        self.queue.done(queued.key)
        await self._binds.acquire()
        task = asyncio.create_task(self._bind(queued, info, result.node, profile))
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)

    async def wait_for_bindings(self) -> None:
        """For tests and shutdown: every binding started so far has finished."""
        while self._bind_tasks:
            await asyncio.gather(*list(self._bind_tasks), return_exceptions=True)

    # -- binding -------------------------------------------------------------------------------------

    async def _bind(self, queued: QueuedPod, info: PodInfo, node: str, profile: str) -> None:
        meta = info.pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.request("POST", kinds.PODS.path(meta["namespace"], meta["name"], "binding"),
                                      json_body=binding)
        except (errors.ApiError, OSError) as exc:
            self._bind_failed(queued, info, node, exc)
            return
        finally:
            self._binds.release()
        E2E_SECONDS.observe(time.monotonic() - queued.added_at)
        await self.recorder.record(info.pod, "Normal", "Scheduled",
                                   f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}")
        log.debug("bound %s to %s (%s)", info.key, node, profile)

    def _bind_failed(self, queued: QueuedPod, info: PodInfo, node: str, exc: Exception) -> None:
        self.cache.forget(info.key)
        if isinstance(exc, (errors.NotFound, errors.Gone)) or (isinstance(exc, errors.Conflict)
                                                               and "already assigned" in str(exc)):
            log.info("not binding %s: %s", info.key, exc)  # deleted, or bound by someone else: nothing to do
            return
        log.warning("binding %s to %s failed, will retry: %s", info.key, node, exc)
        current = self.pods.get(info.key)
        if current is not None and not _assigned(current):
            queued.pod = current
            self.queue.requeue_after_error(queued)

    # -- failures ------------------------------------------------------------------------------------

    async def _record_failure(self, pod: Obj, profile: str, result: ScheduleResult) -> None:
        """PodScheduled=False/Unschedulable with the reasons, and a FailedScheduling event, as upstream."""
        message = result.message
        await self.recorder.record(pod, "Warning", "FailedScheduling", message)
        current = _condition(pod, "PodScheduled")
        if current and current.get("status") == "False" and current.get("message") == message:
            return  # nothing new to say: don't rewrite the status
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None, "lastTransitionTime": _now()}
        try:
            await self.client.patch(kinds.PODS, pod["metadata"]["name"], {"status": {"conditions": [condition]}},
                                    pod["metadata"]["namespace"], patch_type="strategic", subresource="status")
        except (errors.ApiError, OSError) as exc:
            log.info("could not update the status of %s: %s", key_of(pod), exc)

    # -- informer events -----------------------------------------------------------------------------

    def _responsible(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("schedulerName", "default-scheduler") in self.profiles

    def _pod_added(self, pod: Obj) -> None:
        if _assigned(pod):
            self.cache.set_pod(pod)
        elif self._responsible(pod) and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(pod, key_of(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = key_of(new)
        if _assigned(new):
            self.queue.delete(key)
            if not _assigned(old) or self.cache.node_of(key) != new["spec"]["nodeName"] or _resized(old, new):
                self.cache.set_pod(new)
        elif new["metadata"].get("deletionTimestamp"):
            self.queue.delete(key)
        elif self._responsible(new):
            self.queue.update(new, key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = key_of(pod)
        self.queue.delete(key)
        if self.cache.node_of(key) is not None:
            self.cache.remove_pod(key)
            self.queue.move_all_to_active_or_backoff()  # its room may fit someone waiting

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all_to_active_or_backoff()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        if _schedulable_view(old) != _schedulable_view(new):
            self.queue.move_all_to_active_or_backoff()

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])


def _assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _resized(old: Obj, new: Obj) -> bool:
    containers: Callable[[Obj], Any] = lambda p: [c.get("resources") for c in p["spec"].get("containers") or []]
    return bool(containers(old) != containers(new))


def _schedulable_view(node: Obj) -> tuple[Any, ...]:
    """What a node update must change to possibly help a pending pod (not heartbeats)."""
    status = node.get("status") or {}
    ready = [(c.get("type"), c.get("status")) for c in status.get("conditions") or []]
    return (node["metadata"].get("labels"), node.get("spec"), status.get("allocatable"), ready,
            [i.get("names") for i in status.get("images") or []])


def _condition(pod: Obj, kind: str) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
