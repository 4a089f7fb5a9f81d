"""ServiceAccountController against a live apiserver: `default` appears in a namespace and comes back when deleted."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from common import errors
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.serviceaccount import ServiceAccountController


async def default_account(client: ApiClient, namespace: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            try:
                return await client.get(kinds.SERVICE_ACCOUNTS, "default", namespace)
            except errors.NotFound:
                await asyncio.sleep(0.05)


async def test_default_service_account_appears_and_is_recreated(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        controller = ServiceAccountController(client, SharedInformers(client))
        task = asyncio.create_task(controller.run())
        try:
            first = await default_account(client, namespace)
            await client.delete(kinds.SERVICE_ACCOUNTS, "default", namespace)
            second = await default_account(client, namespace)
            assert second["metadata"]["uid"] != first["metadata"]["uid"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
