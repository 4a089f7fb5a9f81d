"""ServiceLBController against a live apiserver: LoadBalancer ingress follows the Ready, schedulable nodes.

Nodes are cluster-wide, so this runs on a private etcd and apiserver where the only nodes are its own.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from conftest import until
from controller_manager.servicelb import ServiceLBController


@pytest.fixture
async def client(private_cluster: Any) -> AsyncIterator[ApiClient]:
    _, api_server = private_cluster
    async with ApiClient(api_server.url) as api:
        controller = ServiceLBController(api, SharedInformers(api))
        task = asyncio.create_task(controller.run())
        yield api
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def add_node(client: ApiClient, name: str, ip: str, ready: bool = True) -> None:
    await client.create(kinds.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    await set_ready(client, name, ip, ready)


async def set_ready(client: ApiClient, name: str, ip: str, ready: bool) -> None:
    status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"}],
              "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}
    await client.patch(kinds.NODES, name, {"status": status}, subresource="status")


def load_balancer(name: str, type_: str = "LoadBalancer") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": type_, "selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}}


async def ingress_is(client: ApiClient, name: str, ips: list[str]) -> bool:
    service = await client.get(kinds.SERVICES, name, "default")
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress == [{"ip": ip, "ipMode": "VIP"} for ip in ips]


async def test_ingress_follows_ready_schedulable_nodes(client: ApiClient) -> None:
    await add_node(client, "n1", "192.0.2.11")
    await add_node(client, "n2", "192.0.2.12")
    await add_node(client, "n3", "192.0.2.13", ready=False)
    created = await client.create(kinds.SERVICES, load_balancer("web"), "default")
    assert created["spec"]["ports"][0]["nodePort"]  # the apiserver gave it a node port to balance onto
    await until(lambda: ingress_is(client, "web", ["192.0.2.11", "192.0.2.12"]), what="two nodes in the ingress")
    await client.patch(kinds.NODES, "n2", {"spec": {"unschedulable": True}})
    await until(lambda: ingress_is(client, "web", ["192.0.2.11"]), what="the cordoned node to leave")
    await set_ready(client, "n3", "192.0.2.13", True)
    await until(lambda: ingress_is(client, "web", ["192.0.2.11", "192.0.2.13"]), what="the node that became Ready")
    await client.delete(kinds.NODES, "n1")
    await until(lambda: ingress_is(client, "web", ["192.0.2.13"]), what="the deleted node to leave")


async def test_only_load_balancers_get_an_ingress_and_lose_it_with_the_type(client: ApiClient) -> None:
    await add_node(client, "n1", "192.0.2.21")
    await client.create(kinds.SERVICES, load_balancer("plain", "ClusterIP"), "default")
    await client.create(kinds.SERVICES, load_balancer("lb"), "default")
    await until(lambda: ingress_is(client, "lb", ["192.0.2.21"]), what="the load balancer's ingress")
    assert await ingress_is(client, "plain", [])
    changed = await client.patch(kinds.SERVICES, "lb", {"spec": {"type": "NodePort"}}, "default")
    assert (changed.get("status") or {}).get("loadBalancer") in (None, {})
    await asyncio.sleep(0.5)  # the controller must not put it back
    assert await ingress_is(client, "lb", [])
    # Back to LoadBalancer: the ingress returns.
    await client.patch(kinds.SERVICES, "lb", {"spec": {"type": "LoadBalancer"}}, "default")
    await until(lambda: ingress_is(client, "lb", ["192.0.2.21"]), what="the ingress to return")
