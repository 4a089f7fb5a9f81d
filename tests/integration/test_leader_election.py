"""Leader election on a Lease through the live apiserver: one leader at a time, release and expiry hand over."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from common.api import kinds
from common.client import ApiClient
from common.leaderelection import LeaderElectionConfig, LeaderElector, LeadershipLost


def elector(client: ApiClient, namespace: str, identity: str) -> LeaderElector:
    return LeaderElector(client, LeaderElectionConfig("test-lock", namespace, identity, lease_duration_s=2.0,
                                                      renew_deadline_s=1.5, retry_period_s=0.2))


async def test_one_leader_then_release_hands_over_at_once(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        first, second = elector(client, namespace, "first"), elector(client, namespace, "second")
        leading: list[str] = []

        async def lead(name: str) -> None:
            leading.append(name)
            await asyncio.Event().wait()

        one = asyncio.create_task(first.run(lambda: lead("first")))
        await asyncio.sleep(0.5)
        two = asyncio.create_task(second.run(lambda: lead("second")))
        await asyncio.sleep(1.0)
        assert leading == ["first"]  # the second candidate waits while the lease is renewed
        lease = await client.get(kinds.LEASES, "test-lock", namespace)
        assert lease["spec"]["holderIdentity"] == "first" and lease["spec"]["leaseDurationSeconds"] == 2

        one.cancel()  # a clean stop releases the lease
        started = time.monotonic()
        while leading != ["first", "second"]:
            assert time.monotonic() - started < 1.5, "the released lease was not taken over promptly"
            await asyncio.sleep(0.05)
        lease = await client.get(kinds.LEASES, "test-lock", namespace)
        assert lease["spec"]["holderIdentity"] == "second" and lease["spec"]["leaseTransitions"] == 1
        two.cancel()
        await asyncio.gather(one, two, return_exceptions=True)


async def test_a_silent_leader_is_replaced_after_the_lease_duration(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        assert await elector(client, namespace, "crashed").try_acquire_or_renew()  # then never renews again
        successor = elector(client, namespace, "successor")
        became: list[float] = []

        async def lead() -> None:
            became.append(time.monotonic())
            await asyncio.Event().wait()

        started = time.monotonic()
        task = asyncio.create_task(successor.run(lead))
        while not became:
            assert time.monotonic() - started < 6, "the expired lease was never taken over"
            await asyncio.sleep(0.05)
        assert became[0] - started >= 1.8  # not before the 2 s lease duration, measured on our own clock
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_leader_that_cannot_renew_steps_down(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        leader = elector(client, namespace, "leader")
        running = asyncio.Event()

        async def lead() -> None:
            running.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(leader.run(lead))
        await asyncio.wait_for(running.wait(), 5)
        lease = await client.get(kinds.LEASES, "test-lock", namespace)
        lease["spec"]["holderIdentity"] = "usurper"  # someone else holds it now: renewals are refused
        await client.update(kinds.LEASES, lease)
        outcome = await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 6)
        assert isinstance(outcome[0], LeadershipLost)
        assert (await client.get(kinds.LEASES, "test-lock", namespace))["spec"]["holderIdentity"] == "usurper"
