"""NodeLifecycleController on a live apiserver: a node whose lease stops goes Unknown, is tainted, loses its pods."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.nodelifecycle import TAINT_UNREACHABLE, NodeLifecycleController
from conftest import until


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seconds_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def post_ready(client: ApiClient, name: str) -> None:
    stamp = seconds_now()
    conditions = [{"type": t, "status": s, "reason": "KubeletReady" if t == "Ready" else "KubeletHasNoPressure",
                   "message": "ok", "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
                  for t, s in (("Ready", "True"), ("MemoryPressure", "False"), ("DiskPressure", "False"),
                               ("PIDPressure", "False"))]
    await client.patch(kinds.NODES, name, {"status": {"conditions": conditions}}, subresource="status",
                       patch_type="strategic")


async def renew(client: ApiClient, name: str) -> None:
    await client.patch(kinds.LEASES, name, {"spec": {"renewTime": now()}}, "kube-node-lease")


def pod(name: str, node: str, toleration_seconds: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
    if toleration_seconds is not None:
        spec["tolerations"] = [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": toleration_seconds}]
    return {"metadata": {"name": name}, "spec": spec}



async def test_silent_node_goes_unknown_tainted_and_its_pods_are_evicted(apiserver: Any, namespace: str) -> None:
    name = f"node-{uuid.uuid4().hex[:8]}"
    async with ApiClient(apiserver.url) as client:
        with contextlib.suppress(errors.AlreadyExists):
            await client.create(kinds.NAMESPACES, {"metadata": {"name": "kube-node-lease"}})
        await client.create(kinds.NODES, {"metadata": {"name": name}})
        await post_ready(client, name)
        await client.create(kinds.LEASES, {"metadata": {"name": name},
                                           "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                                    "renewTime": now()}}, "kube-node-lease")
        await client.create(kinds.PODS, pod("short", name, 1), namespace)
        await client.create(kinds.PODS, pod("default", name, None), namespace)  # the apiserver's 300 s
        controller = NodeLifecycleController(client, SharedInformers(client), node_monitor_period_s=0.5,
                                             node_monitor_grace_period_s=2)
        task = asyncio.create_task(controller.run())
        try:
            for _ in range(6):  # a live kubelet: three seconds of renewals, the node stays healthy
                await renew(client, name)
                await asyncio.sleep(0.5)
            node = await client.get(kinds.NODES, name)
            assert node["status"]["conditions"][0]["status"] == "True" and not (node.get("spec") or {}).get("taints")

            async def unknown_and_tainted() -> dict[str, Any] | None:
                node = await client.get(kinds.NODES, name)
                statuses = {c["type"]: c["status"] for c in node["status"]["conditions"]}
                taints = {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}
                if set(statuses.values()) == {"Unknown"} and (TAINT_UNREACHABLE, "NoExecute") in taints:
                    return node
                return None
            node = await until(unknown_and_tainted)
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert ready["reason"] == "NodeStatusUnknown" and ready["message"] == "Kubelet stopped posting node status."
            assert (TAINT_UNREACHABLE, "NoSchedule") in {(t["key"], t["effect"]) for t in node["spec"]["taints"]}

            async def short_evicted() -> bool:
                return bool((await client.get(kinds.PODS, "short", namespace))["metadata"].get("deletionTimestamp"))
            await until(short_evicted, timeout=5)  # deleted gracefully: no kubelet here to finish it
            assert not (await client.get(kinds.PODS, "default", namespace))["metadata"].get("deletionTimestamp")
            events = await client.list(kinds.EVENTS, namespace)
            assert any(e["reason"] == "TaintManagerEviction" and e["involvedObject"]["name"] == "short"
                       for e in events["items"])

            await post_ready(client, name)  # the kubelet is back
            await renew(client, name)

            async def untainted() -> bool:
                return not ((await client.get(kinds.NODES, name)).get("spec") or {}).get("taints")
            await until(untainted, timeout=5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.delete(kinds.NODES, name)
