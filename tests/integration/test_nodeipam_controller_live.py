"""NodeIpamController against a live apiserver: new nodes get distinct pod CIDRs; existing ones are respected."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.nodeipam import NodeIpamController


async def test_nodes_get_distinct_pod_cidrs(apiserver: Any) -> None:
    prefix = f"ipam-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(3)]
    cluster_cidr = "10.77.0.0/16"  # other tests' nodes (if any) carry no CIDR of this range
    async with ApiClient(apiserver.url) as client:
        await client.create(kinds.NODES, {"metadata": {"name": names[0]},
                                          "spec": {"podCIDR": "10.77.0.0/24", "podCIDRs": ["10.77.0.0/24"]}})
        controller = NodeIpamController(client, SharedInformers(client), cluster_cidr=cluster_cidr)
        task = asyncio.create_task(controller.run())
        try:
            for name in names[1:]:
                await client.create(kinds.NODES, {"metadata": {"name": name}})

            async def cidrs() -> dict[str, str]:
                found = {}
                for name in names:
                    spec = (await client.get(kinds.NODES, name)).get("spec") or {}
                    if spec.get("podCIDR"):
                        assert spec["podCIDRs"] == [spec["podCIDR"]]
                        found[name] = spec["podCIDR"]
                return found
            async with asyncio.timeout(10):
                while len(found := await cidrs()) < 3:
                    await asyncio.sleep(0.1)
            assert found[names[0]] == "10.77.0.0/24"
            assert len(set(found.values())) == 3
            assert all(c.startswith("10.77.") and c.endswith("/24") for c in found.values())
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for name in names:
                await client.delete(kinds.NODES, name)
