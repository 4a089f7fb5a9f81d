"""EndpointsController against a live apiserver: endpoints follow pod readiness, IPs and labels; go with the Service."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.endpoints import EndpointsController


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll an async predicate until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                result = await predicate()
            except errors.NotFound:
                result = None
            if result:
                return result
            await asyncio.sleep(0.05)


@pytest.fixture
async def client(apiserver: Any) -> AsyncIterator[ApiClient]:
    async with ApiClient(apiserver.url) as api:
        controller = EndpointsController(api, SharedInformers(api))
        task = asyncio.create_task(controller.run())
        yield api
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def web_pod(name: str, port_name: str = "http", port: int = 8080) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [
                {"name": port_name, "containerPort": port}]}]}}


async def set_status(client: ApiClient, namespace: str, name: str, ip: str, ready: bool) -> None:
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.patch(kinds.PODS, name, {"status": status}, namespace, subresource="status")


def addresses(endpoints: dict[str, Any], field: str = "addresses") -> list[str]:
    return sorted(a["ip"] for s in endpoints.get("subsets") or [] for a in s.get(field) or [])


async def test_endpoints_follow_readiness_and_go_with_the_service(client: ApiClient, namespace: str) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    await client.create(kinds.SERVICES, service, namespace)
    for name in ("a", "b"):
        await client.create(kinds.PODS, web_pod(name), namespace)

    async def endpoints() -> dict[str, Any]:
        return await client.get(kinds.ENDPOINTS, "web", namespace)

    empty = await until(endpoints)
    assert not empty.get("subsets")
    await set_status(client, namespace, "a", "10.9.0.1", ready=True)
    await set_status(client, namespace, "b", "10.9.0.2", ready=False)

    async def split() -> bool:
        ep = await endpoints()
        return addresses(ep) == ["10.9.0.1"] and addresses(ep, "notReadyAddresses") == ["10.9.0.2"]
    await until(split)
    ep = await endpoints()
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    ref = ep["subsets"][0]["addresses"][0]["targetRef"]
    assert ref["kind"] == "Pod" and ref["name"] == "a" and ref["namespace"] == namespace and ref["uid"]

    await set_status(client, namespace, "b", "10.9.0.2", ready=True)
    await set_status(client, namespace, "a", "10.9.0.1", ready=False)

    async def swapped() -> bool:
        ep = await endpoints()
        return addresses(ep) == ["10.9.0.2"] and addresses(ep, "notReadyAddresses") == ["10.9.0.1"]
    await until(swapped)

    await client.patch(kinds.PODS, "b", {"metadata": {"labels": {"app": "other"}}}, namespace)

    async def relabelled() -> bool:
        ep = await endpoints()
        return addresses(ep) == [] and addresses(ep, "notReadyAddresses") == ["10.9.0.1"]
    await until(relabelled)

    rv = (await endpoints())["metadata"]["resourceVersion"]
    await client.patch(kinds.PODS, "a", {"metadata": {"annotations": {"x": "y"}}}, namespace)
    await asyncio.sleep(0.5)
    assert (await endpoints())["metadata"]["resourceVersion"] == rv  # nothing relevant changed: no write

    await client.delete(kinds.SERVICES, "web", namespace)

    async def gone() -> bool:
        try:
            await endpoints()
        except errors.NotFound:
            return True
        return False
    await until(gone)


async def test_services_without_selector_keep_their_manual_endpoints(client: ApiClient, namespace: str) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
               "spec": {"ports": [{"port": 80}]}}
    await client.create(kinds.SERVICES, service, namespace)
    manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext"},
              "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}
    await client.create(kinds.ENDPOINTS, manual, namespace)
    await asyncio.sleep(1.0)
    kept = await client.get(kinds.ENDPOINTS, "ext", namespace)
    assert addresses(kept) == ["192.0.2.1"]
