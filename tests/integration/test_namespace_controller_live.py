"""NamespaceController against a live apiserver: deleting a namespace removes its content, then the namespace."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.namespace import NamespaceController
from conftest import until


async def exists(client: ApiClient, rt: Any, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(rt, name, namespace)
    except errors.NotFound:
        return False
    return True



async def test_deleting_a_namespace_removes_its_content_then_itself(private_cluster: Any) -> None:
    # A cluster of its own: the shared one holds every other test's Terminating namespace, which this
    # controller would otherwise work through first.
    _, apiserver = private_cluster
    name = f"t-ns-{uuid.uuid4().hex[:8]}"
    async with ApiClient(apiserver.url) as client:
        controller = NamespaceController(client, SharedInformers(client), content_requeue_s=0.5)
        task = asyncio.create_task(controller.run())
        try:
            await client.create(kinds.NAMESPACES, {"metadata": {"name": name}})
            await client.create(kinds.CONFIGMAPS, {"metadata": {"name": "cm"}, "data": {"a": "b"}}, name)
            await client.create(kinds.CONFIGMAPS, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}},
                                name)
            pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            await client.create(kinds.PODS, pod, name)
            deployment = {"metadata": {"name": "d"}, "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
            await client.create(kinds.DEPLOYMENTS, deployment, name)

            await client.delete(kinds.NAMESPACES, name)

            async def content_gone() -> bool:
                return not any([await exists(client, kinds.CONFIGMAPS, "cm", name),
                                await exists(client, kinds.PODS, "p", name),
                                await exists(client, kinds.DEPLOYMENTS, "d", name)])
            await until(content_gone)
            ns = await client.get(kinds.NAMESPACES, name)
            assert ns["status"]["phase"] == "Terminating"  # the held configmap keeps it
            await until(lambda: _has_remaining_condition(client, name))

            await client.patch(kinds.CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, name)

            async def namespace_gone() -> bool:
                return not await exists(client, kinds.NAMESPACES, name)
            await until(namespace_gone)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _has_remaining_condition(client: ApiClient, name: str) -> bool:
    ns = await client.get(kinds.NAMESPACES, name)
    for condition in (ns.get("status") or {}).get("conditions") or []:
        if condition["type"] == "NamespaceContentRemaining" and condition["status"] == "True":
            return "configmaps has 1 resource instances" in condition["message"]
    return False
