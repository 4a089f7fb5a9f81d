"""common/: the async client, informer and controller base against a live apiserver and etcd."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.controller import Controller
from common.informer import Informer
from helpers import configmap, pod


async def until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_client_crud_and_typed_errors(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        created = await client.create(kinds.CONFIGMAPS, configmap("c1"), namespace)
        assert created["metadata"]["namespace"] == namespace
        with pytest.raises(errors.AlreadyExists):
            await client.create(kinds.CONFIGMAPS, configmap("c1"), namespace)
        got = await client.get(kinds.CONFIGMAPS, "c1", namespace)
        got["data"] = {"k": "2"}
        updated = await client.update(kinds.CONFIGMAPS, got)
        with pytest.raises(errors.Conflict):
            await client.update(kinds.CONFIGMAPS, got)  # got's resourceVersion is now stale
        patched = await client.patch(kinds.CONFIGMAPS, "c1", {"data": {"k": "3"}}, namespace)
        assert patched["data"] == {"k": "3"} and updated["data"] == {"k": "2"}
        with pytest.raises(errors.Invalid) as invalid:
            await client.create(kinds.PODS, pod("Bad_Name"), namespace)
        assert invalid.value.causes and invalid.value.causes[0]["field"] == "metadata.name"
        await client.delete(kinds.CONFIGMAPS, "c1", namespace)
        with pytest.raises(errors.NotFound):
            await client.get(kinds.CONFIGMAPS, "c1", namespace)


async def test_client_list_all_follows_continue(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        for i in range(7):
            await client.create(kinds.CONFIGMAPS, configmap(f"l{i}"), namespace)
        items, rv = await client.list_all(kinds.CONFIGMAPS, namespace, page_size=2)
        assert [i["metadata"]["name"] for i in items] == [f"l{i}" for i in range(7)] and int(rv) > 0


async def test_client_status_update_and_watch(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        created = await client.create(kinds.PODS, pod("w"), namespace)
        seen: list[tuple[str, str]] = []

        async def watch() -> None:
            async for type_, obj in client.watch(kinds.PODS, namespace,
                                                 resource_version=created["metadata"]["resourceVersion"]):
                seen.append((type_, (obj.get("status") or {}).get("phase", "")))
                if type_ == "MODIFIED":
                    return
        task = asyncio.create_task(watch())
        created["status"] = {"phase": "Running"}
        await client.update_status(kinds.PODS, created)
        await asyncio.wait_for(task, 10)
        assert seen == [("MODIFIED", "Running")]


async def test_informer_syncs_follows_changes_and_indexes(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        await client.create(kinds.PODS, pod("before", node="n1"), namespace)
        informer = Informer(client, kinds.PODS, namespace,
                            indexers={"node": lambda p: [p["spec"].get("nodeName") or ""]})
        events: list[tuple[str, str]] = []
        informer.add_handler(on_add=lambda o: events.append(("add", o["metadata"]["name"])),
                             on_update=lambda _o, n: events.append(("update", n["metadata"]["name"])),
                             on_delete=lambda o: events.append(("delete", o["metadata"]["name"])))
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.wait_for_sync(), 10)
            assert [p["metadata"]["name"] for p in informer.by_index("node", "n1")] == ["before"]
            await client.create(kinds.PODS, pod("after", node="n2"), namespace)
            await client.patch(kinds.PODS, "before", {"metadata": {"labels": {"x": "y"}}}, namespace)
            await client.delete(kinds.PODS, "after", namespace, grace_period_seconds=0)
            await until(lambda: ("delete", "after") in events)
            assert events == [("add", "before"), ("add", "after"), ("update", "before"), ("delete", "after")]
            assert informer.by_index("node", "n2") == []
            assert informer.get(f"{namespace}/before")["metadata"]["labels"] == {"x": "y"}
        finally:
            task.cancel()


async def test_informer_survives_apiserver_restart(private_cluster: Any) -> None:
    _etcd, api = private_cluster
    async with ApiClient(api.url) as client:
        informer = Informer(client, kinds.CONFIGMAPS, "default", backoff_initial_s=0.1, backoff_max_s=0.5)
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.wait_for_sync(), 10)
            await client.create(kinds.CONFIGMAPS, configmap("one"), "default")
            await until(lambda: "default/one" in informer)
            await asyncio.to_thread(api.stop)
            await asyncio.to_thread(api.start)
            await client.create(kinds.CONFIGMAPS, configmap("two"), "default")
            await until(lambda: "default/two" in informer, timeout=20)
        finally:
            task.cancel()


class LabelCopier(Controller):
    """A toy controller: mirrors each ConfigMap's data key `copy-me` into a label."""

    def __init__(self, client: ApiClient, namespace: str) -> None:
        super().__init__(client, name="label-copier", base_delay_s=0.01, max_delay_s=0.1)
        self.client = client
        self.configmaps = self.informer(kinds.CONFIGMAPS, namespace)
        self.enqueue_on_events(self.configmaps)

    async def reconcile(self, key: str) -> None:
        cm = self.configmaps.get(key)
        if cm is None:
            return
        wanted = (cm.get("data") or {}).get("copy-me")
        if wanted and (cm["metadata"].get("labels") or {}).get("copied") != wanted:
            await self.client.patch(kinds.CONFIGMAPS, cm["metadata"]["name"],
                                    {"metadata": {"labels": {"copied": wanted}}}, cm["metadata"]["namespace"])


async def test_controller_reconciles_level_triggered(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        await client.create(kinds.CONFIGMAPS, configmap("pre", {"copy-me": "a"}), namespace)
        controller = LabelCopier(client, namespace)
        task = asyncio.create_task(controller.run(workers=2))
        try:
            await client.create(kinds.CONFIGMAPS, configmap("post", {"copy-me": "b"}), namespace)

            async def labels() -> dict[str, str]:
                items, _ = await client.list_all(kinds.CONFIGMAPS, namespace)
                return {i["metadata"]["name"]: (i["metadata"].get("labels") or {}).get("copied", "") for i in items}
            async with asyncio.timeout(10):
                while await labels() != {"pre": "a", "post": "b"}:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
