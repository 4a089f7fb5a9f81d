"""The ReplicaSet controller in-process against a live apiserver and etcd: scale, replace, adopt, status, events."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from helpers import pod

from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.replicaset import ReplicaSetController
from conftest import until

Obj = dict[str, Any]



def replicaset(name: str, replicas: int, min_ready: int = 0) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                                           "command": ["sleep", "3600"]}]}}}}


@contextlib.asynccontextmanager
async def running_controller(client: ApiClient) -> AsyncIterator[ReplicaSetController]:
    controller = ReplicaSetController(client, SharedInformers(client))
    task = asyncio.create_task(controller.run(workers=2))
    try:
        yield controller
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await controller.recorder.flush()  # type: ignore[attr-defined]
        sender = getattr(controller.recorder, "_sender", None)
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def live_pods(client: ApiClient, namespace: str, uid: str) -> list[Obj]:
    """Pods controlled by the ReplicaSet with this uid and not being deleted."""
    items = (await client.list(kinds.PODS, namespace))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")
            and any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or [])]


async def mark_ready(client: ApiClient, namespace: str, name: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                                                             "lastTransitionTime": now}]}}
    await client.patch(kinds.PODS, name, status, namespace, subresource="status")


async def test_replicaset_scales_replaces_adopts_and_reports_status(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, running_controller(client):
        orphan = await client.create(kinds.PODS, pod("stray", labels={"app": "web"}), namespace)
        rs = await client.create(kinds.REPLICASETS, replicaset("web", 3), namespace)
        uid = rs["metadata"]["uid"]

        async def has(count: int) -> list[Obj] | None:
            pods = await live_pods(client, namespace, uid)
            current = await client.get(kinds.REPLICASETS, "web", namespace)
            status = current.get("status") or {}
            settled = (len(pods) == count and status.get("replicas") == count
                       and status.get("observedGeneration") == current["metadata"]["generation"])
            return pods if settled else None

        pods = await until(lambda: has(3), what="3 replicas")
        names = {p["metadata"]["name"] for p in pods}
        assert "stray" in names, "the matching orphan is adopted and counted"
        adopted = await client.get(kinds.PODS, "stray", namespace)
        [ref] = adopted["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid,
                       "controller": True, "blockOwnerDeletion": True}
        assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]
        assert all(n == "stray" or n.startswith("web-") for n in names)

        await client.patch(kinds.REPLICASETS, "web", {"spec": {"replicas": 5}}, namespace, subresource="scale")
        pods = await until(lambda: has(5), what="5 replicas")

        victim = next(p["metadata"]["name"] for p in pods if p["metadata"]["name"] != "stray")
        await client.delete(kinds.PODS, victim, namespace)
        pods = await until(lambda: has(5), what="the deleted pod replaced")
        assert victim not in {p["metadata"]["name"] for p in pods}

        keep = sorted(p["metadata"]["name"] for p in pods)[:2]
        for name in keep:
            await mark_ready(client, namespace, name)

        async def ready_counted() -> bool:
            status = (await client.get(kinds.REPLICASETS, "web", namespace)).get("status") or {}
            return status.get("readyReplicas") == 2 and status.get("availableReplicas") == 2

        await until(ready_counted, what="readyReplicas and availableReplicas 2")

        await client.patch(kinds.REPLICASETS, "web", {"spec": {"replicas": 1}}, namespace, subresource="scale")
        pods = await until(lambda: has(1), what="1 replica")
        assert pods[0]["metadata"]["name"] in keep, "not-ready pods are deleted before ready ones"

        async def events() -> set[str]:
            items = (await client.list(kinds.EVENTS, namespace))["items"]
            return {e["reason"] for e in items if e["involvedObject"].get("name") == "web"}

        await until(lambda: _contains(events(), {"SuccessfulCreate", "SuccessfulDelete"}), what="events")


async def _contains(found: Any, wanted: set[str]) -> bool:
    return wanted <= await found


async def test_min_ready_seconds_delays_availability(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, running_controller(client):
        await client.create(kinds.REPLICASETS, replicaset("slow", 1, min_ready=4), namespace)
        rs = await client.get(kinds.REPLICASETS, "slow", namespace)
        [created] = await until(lambda: live_pods(client, namespace, rs["metadata"]["uid"]), what="a pod")
        await mark_ready(client, namespace, created["metadata"]["name"])

        async def status() -> Obj:
            return (await client.get(kinds.REPLICASETS, "slow", namespace)).get("status") or {}

        await until(lambda: _field_is(status(), "readyReplicas", 1), what="readyReplicas 1")
        assert (await status()).get("availableReplicas", 0) == 0
        await until(lambda: _field_is(status(), "availableReplicas", 1), timeout=15, what="availableReplicas 1")


async def _field_is(status: Any, field: str, value: int) -> bool:
    return (await status).get(field) == value
