"""The garbage collector in-process with the real ReplicaSet controller against a live apiserver and etcd."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.garbagecollector import GarbageCollectorController
from controller_manager.replicaset import ReplicaSetController
from conftest import until

Obj = dict[str, Any]



def replicaset(name: str, replicas: int) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                                           "command": ["sleep", "3600"]}]}}}}


@contextlib.asynccontextmanager
async def controllers(client: ApiClient) -> AsyncIterator[GarbageCollectorController]:
    """The GC and the ReplicaSet controller sharing informers, as in the controller-manager."""
    informers = SharedInformers(client)
    rs_controller = ReplicaSetController(client, informers)
    gc = GarbageCollectorController(client, informers)
    tasks = [asyncio.create_task(rs_controller.run(workers=2)), asyncio.create_task(gc.run(workers=2))]
    try:
        await gc.wait_for_sync()
        yield gc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sender = getattr(rs_controller.recorder, "_sender", None)
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def pods_of(client: ApiClient, namespace: str, app: str) -> list[Obj]:
    return (await client.list(kinds.PODS, namespace, label_selector=f"app={app}"))["items"]


async def scaled_rs(client: ApiClient, namespace: str, name: str, replicas: int = 3) -> tuple[Obj, list[Obj]]:
    rs = await client.create(kinds.REPLICASETS, replicaset(name, replicas), namespace)

    async def all_there() -> list[Obj]:
        pods = await pods_of(client, namespace, name)
        return pods if len(pods) == replicas else []

    return rs, await until(all_there, what=f"{replicas} pods of {name}")


async def gone(client: ApiClient, rt: Any, name: str, namespace: str) -> bool:
    try:
        await client.get(rt, name, namespace)
    except errors.NotFound:
        return True
    return False


async def test_background_delete_of_a_replicaset_deletes_its_pods(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, controllers(client):
        await scaled_rs(client, namespace, "bg")
        await client.delete(kinds.REPLICASETS, "bg", namespace, propagation_policy="Background")
        assert await gone(client, kinds.REPLICASETS, "bg", namespace), "Background: the owner goes at once"
        await until(lambda: _empty(pods_of(client, namespace, "bg")), what="pods garbage-collected")


async def test_orphan_delete_keeps_pods_without_owner_references(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, controllers(client):
        _, pods = await scaled_rs(client, namespace, "orph")
        await client.delete(kinds.REPLICASETS, "orph", namespace, propagation_policy="Orphan")
        await until(lambda: gone(client, kinds.REPLICASETS, "orph", namespace), what="the RS after orphaning")
        left = await pods_of(client, namespace, "orph")
        assert {p["metadata"]["uid"] for p in left} == {p["metadata"]["uid"] for p in pods}
        assert all(not p["metadata"].get("ownerReferences") for p in left)
        await asyncio.sleep(0.5)  # nothing comes for them later either
        assert len(await pods_of(client, namespace, "orph")) == 3


async def test_foreground_delete_removes_pods_before_the_replicaset(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, controllers(client):
        await scaled_rs(client, namespace, "fg")
        marked = await client.delete(kinds.REPLICASETS, "fg", namespace, propagation_policy="Foreground")
        assert marked["metadata"].get("deletionTimestamp") and "foregroundDeletion" in marked["metadata"]["finalizers"]

        async def rs_gone() -> bool:
            if await gone(client, kinds.REPLICASETS, "fg", namespace):
                # Listed after the owner vanished: the pods must have gone first.
                assert await pods_of(client, namespace, "fg") == []
                return True
            return False

        await until(rs_gone, what="the RS after its pods")


async def test_a_configmap_owned_by_another_configmap_goes_with_it(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, controllers(client):
        parent = await client.create(kinds.CONFIGMAPS, {"metadata": {"name": "parent"}, "data": {"a": "1"}},
                                     namespace)
        owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"]}
        await client.create(kinds.CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": [owner]}}, namespace)
        await client.create(kinds.CONFIGMAPS, {"metadata": {"name": "bystander"}}, namespace)
        await asyncio.sleep(0.3)
        assert not await gone(client, kinds.CONFIGMAPS, "child", namespace), "a live owner keeps its dependent"
        await client.delete(kinds.CONFIGMAPS, "parent", namespace)
        await until(lambda: gone(client, kinds.CONFIGMAPS, "child", namespace), what="the child configmap")
        assert not await gone(client, kinds.CONFIGMAPS, "bystander", namespace)


async def test_a_dependent_created_after_its_owner_is_gone_is_collected(apiserver: Any, namespace: str) -> None:
    """No delete event ever names this owner: the GC must find the dangling reference and confirm it live."""
    async with ApiClient(apiserver.url) as client, controllers(client):
        ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "never", "uid": "00000000-0000-0000-0000-0000000000aa"}
        await client.create(kinds.SECRETS, {"metadata": {"name": "stray", "ownerReferences": [ghost]}}, namespace)
        await until(lambda: gone(client, kinds.SECRETS, "stray", namespace), what="the secret with a dead owner")


async def _empty(pods: Any) -> bool:
    return not await pods
