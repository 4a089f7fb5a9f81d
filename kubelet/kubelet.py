"""The kubelet's wiring: this node's pods from the API, one worker task per pod, a container relist, status writes.

Upstream's shape in small: an informer on `spec.nodeName=<node>` feeds pod
workers; a relister (upstream's PLEG) lists the node's containers every second
and pokes the worker of any pod whose containers changed state; each worker
runs level-triggered sync passes (podworker.py) and writes the status they
compute through the status subresource — the only writer of pod status.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.informer import Informer

from .podworker import PodSyncer
from .runtime import ContainerInfo, DockerRuntime
from .volumes import has_written_volumes

log = logging.getLogger(__name__)

Obj = dict[str, Any]
UID_INDEX = "uid"


@dataclass
class Timings:
    relist_s: float = 1.0  # upstream PLEG relist period
    resync_s: float = 10.0  # a pod's periodic pass even when nothing changed
    housekeeping_s: float = 30.0  # orphan containers and volume dirs
    volume_refresh_s: float = 10.0  # configMap/secret/downwardAPI/projected files follow their objects


class StatusWriter:
    """Writes a pod's status only when it changed, as a JSON merge patch of the status subresource."""

    def __init__(self, client: ApiClient, changed: Any) -> None:
        self.client, self.changed = client, changed
        self._written: dict[str, Obj] = {}  # uid -> last status we wrote (the informer may lag our writes)

    async def write(self, pod: Obj, status: Obj) -> None:
        meta = pod["metadata"]
        before = self._written.get(meta["uid"]) or pod.get("status") or {}
        if not self.changed(before, status):
            return
        patch = {"status": {**{key: None for key in before if key not in status}, **status}}
        try:
            await self.client.patch(kinds.PODS, meta["name"], patch, meta["namespace"], subresource="status")
            self._written[meta["uid"]] = status
        except errors.NotFound:
            self._written.pop(meta["uid"], None)

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)


class Kubelet:
    def __init__(self, client: ApiClient, runtime: DockerRuntime, syncer: PodSyncer, statuses: StatusWriter,
                 node_name: str, timings: Timings | None = None) -> None:
        self.client, self.runtime, self.syncer, self.statuses = client, runtime, syncer, statuses
        self.node_name = node_name
        self.timings = timings or Timings()
        self.pods = Informer(client, kinds.PODS, field_selector=f"spec.nodeName={node_name}",
                             indexers={UID_INDEX: lambda pod: [pod["metadata"]["uid"]]})
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _old, new: self._pod_changed(new),
                              on_delete=self._pod_changed)
        self.workers: dict[str, asyncio.Event] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._container_states: dict[str, tuple[str, str]] = {}  # container id -> (pod uid, state)
        self._volumes_refreshed: dict[str, float] = {}  # pod uid -> monotonic time its volumes were last current

    async def run(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg
        tg.create_task(self.pods.run())
        await self.pods.wait_for_sync()
        for pod in self.pods.list():
            self._pod_changed(pod)
        tg.create_task(self._relist_forever())
        tg.create_task(self._housekeeping_forever())

    def pod(self, uid: str) -> Obj | None:
        found = self.pods.by_index(UID_INDEX, uid)
        return found[0] if found else None

    def poke(self, uid: str) -> None:
        """Ask the pod's worker for a pass soon (starting a worker if there is none)."""
        if uid in self.workers:
            self.workers[uid].set()
        elif self._tg is not None:
            self.workers[uid] = wake = asyncio.Event()
            wake.set()
            self._tg.create_task(self._work(uid, wake))

    def _pod_changed(self, pod: Obj) -> None:
        self.poke(pod["metadata"]["uid"])

    # -- one task per pod --------------------------------------------------

    async def _work(self, uid: str, wake: asyncio.Event) -> None:
        try:
            retry_in: float | None = None
            while True:
                try:
                    await asyncio.wait_for(wake.wait(), self._next_pass(uid, retry_in))
                except TimeoutError:
                    pass
                wake.clear()
                done, retry_in = await self._pass(uid)
                if done:
                    return
        finally:
            self.workers.pop(uid, None)
            self.statuses.forget(uid)
            self._volumes_refreshed.pop(uid, None)

    def _next_pass(self, uid: str, retry_in: float | None) -> float:
        wait = self.timings.resync_s if retry_in is None else min(max(retry_in, 0.0), self.timings.resync_s)
        if uid in self._volumes_refreshed:  # wake up for the volume refresh even when nothing else is due
            due = self._volumes_refreshed[uid] + self.timings.volume_refresh_s - time.monotonic()
            wait = min(wait, max(due, 0.0))
        return wait

    async def _pass(self, uid: str) -> tuple[bool, float | None]:
        """One sync pass; never raises (a bad pod must not take the kubelet down)."""
        pod = self.pod(uid)
        try:
            containers = await self._containers(uid)
            if pod is None:
                await self.syncer.cleanup(uid, containers)
                return True, None
            await self._refresh_volumes(pod)
            result = await self.syncer.sync(pod, containers)
            if result.status is not None:
                await self.statuses.write(pod, result.status)
            if result.finished:
                await self._finish_deletion(pod)
                return True, None
            return False, result.retry_in_s
        except Exception:  # noqa: BLE001 - log and retry: the pod's spec or Docker may have been at fault
            log.exception("sync of pod %s failed; retrying", _describe(pod, uid))
            return False, 5.0

    async def _refresh_volumes(self, pod: Obj) -> None:
        """Rewrite volumes whose ConfigMap, Secret or pod fields changed, at most every volume_refresh_s.

        Upstream remounts these volumes on its periodic pod sync (--sync-frequency); the atomic
        writer swaps `..data` so a container sees the old files or the new ones, never a mix.
        """
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") or _finished(pod) or not has_written_volumes(pod):
            self._volumes_refreshed.pop(meta["uid"], None)
            return
        now = time.monotonic()
        last = self._volumes_refreshed.setdefault(meta["uid"], now)  # a first pass sets them up fresh
        if now - last < self.timings.volume_refresh_s:
            return
        self._volumes_refreshed[meta["uid"]] = now
        if await self.syncer.volumes.refresh(pod):
            log.info("updated volumes of pod %s", _describe(pod, meta["uid"]))

    async def _containers(self, uid: str) -> list[ContainerInfo]:
        return await self.runtime.list_pod_containers(uid)

    async def _finish_deletion(self, pod: Obj) -> None:
        """Containers and volumes are gone: complete the graceful deletion (grace period 0, same UID)."""
        meta = pod["metadata"]
        try:
            await self.client.delete(kinds.PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": meta["uid"]})
        except (errors.NotFound, errors.Conflict):
            pass

    # -- relist (upstream's PLEG) and housekeeping ---------------------------

    async def _relist_forever(self) -> None:
        while True:
            try:
                self._relist(await self.runtime.list_pod_containers())
            except Exception:  # noqa: BLE001 - Docker hiccups must not stop the relist
                log.exception("container relist failed")
            await asyncio.sleep(self.timings.relist_s)

    def _relist(self, containers: list[ContainerInfo]) -> None:
        now = {c.id: (c.pod_uid, c.state) for c in containers}
        changed = {uid for cid, (uid, state) in now.items() if self._container_states.get(cid) != (uid, state)}
        changed |= {uid for cid, (uid, _state) in self._container_states.items() if cid not in now}
        self._container_states = now
        for uid in changed:
            self.poke(uid)

    async def _housekeeping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timings.housekeeping_s)
            try:
                await self._remove_orphans()
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")

    async def _remove_orphans(self) -> None:
        """Containers and volume dirs of pods this node no longer has (e.g. deleted while the kubelet was down)."""
        known = {pod["metadata"]["uid"] for pod in self.pods.list()}
        orphans = {c.pod_uid for c in await self.runtime.list_pod_containers()} | set(self.syncer.volumes.pod_dirs())
        for uid in orphans - known - set(self.workers):
            log.info("removing orphaned pod %s", uid)
            self.poke(uid)


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _describe(pod: Obj | None, uid: str) -> str:
    if pod is None:
        return uid
    return f"{pod['metadata'].get('namespace')}/{pod['metadata'].get('name')} ({uid})"
