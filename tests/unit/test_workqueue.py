"""WorkQueue: dedup, one worker per key, FIFO, delayed and rate-limited adds, shutdown."""
from __future__ import annotations

import asyncio

import pytest

from common.workqueue import ExponentialBackoff, ShutDown, WorkQueue


async def get_now(queue: WorkQueue) -> object:
    return await asyncio.wait_for(queue.get(), 1.0)


async def nothing_ready(queue: WorkQueue, wait_s: float = 0.02) -> bool:
    try:
        await asyncio.wait_for(queue.get(), wait_s)
    except TimeoutError:
        return True
    return False


async def test_fifo_and_duplicate_adds_merge() -> None:
    queue = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        queue.add(key)
    assert len(queue) == 3
    assert [await get_now(queue) for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_key_being_processed_is_not_handed_to_a_second_worker() -> None:
    queue = WorkQueue()
    queue.add("a")
    assert await get_now(queue) == "a"
    queue.add("a")
    assert len(queue) == 0
    assert await nothing_ready(queue)


async def test_readd_during_processing_is_queued_once_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    await get_now(queue)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert await get_now(queue) == "b"
    queue.done("a")
    assert len(queue) == 1
    assert await get_now(queue) == "a"
    queue.done("a")
    queue.done("b")
    assert len(queue) == 0


async def test_done_without_readd_does_not_requeue() -> None:
    queue = WorkQueue()
    queue.add("a")
    await get_now(queue)
    queue.done("a")
    assert len(queue) == 0
    queue.add("a")
    assert await get_now(queue) == "a"


async def test_waiting_getter_is_woken_by_add() -> None:
    queue = WorkQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("x")
    assert await asyncio.wait_for(getter, 1.0) == "x"


async def test_each_add_wakes_one_of_several_workers() -> None:
    queue = WorkQueue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.add("a")
    queue.add("b")
    done, pending = await asyncio.wait(getters, timeout=0.05)
    assert sorted(task.result() for task in done) == ["a", "b"]
    assert len(pending) == 1
    pending.pop().cancel()


async def test_cancelled_getter_does_not_lose_the_key() -> None:
    queue = WorkQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")
    first.cancel()  # woken for "a" but cancelled before it could take it
    assert await asyncio.wait_for(second, 1.0) == "a"


async def test_add_after_delays_the_key() -> None:
    queue = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 0.03)
    assert len(queue) == 0
    assert await get_now(queue) == "a"
    assert loop.time() - start >= 0.025


async def test_add_after_keeps_the_earliest_and_merges() -> None:
    queue = WorkQueue()
    queue.add_after("a", 5.0)
    queue.add_after("a", 0.01)
    queue.add_after("a", 5.0)
    assert await get_now(queue) == "a"
    queue.done("a")
    assert await nothing_ready(queue)


async def test_add_after_zero_adds_now() -> None:
    queue = WorkQueue()
    queue.add_after("a", 0)
    assert len(queue) == 1


async def test_add_after_of_waiting_key_merges_on_expiry() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add_after("a", 0.01)
    await asyncio.sleep(0.02)
    assert len(queue) == 1


def test_backoff_defaults_match_client_go() -> None:
    backoff = ExponentialBackoff()
    assert [backoff.when("k") for _ in range(3)] == [0.005, 0.01, 0.02]
    for _ in range(100):
        backoff.when("k")
    assert backoff.when("k") == 1000.0


def test_backoff_doubles_per_key_caps_and_forgets() -> None:
    backoff = ExponentialBackoff(base_delay_s=1.0, max_delay_s=5.0)
    assert [backoff.when("a") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.when("b") == 1.0
    assert backoff.num_requeues("a") == 5
    backoff.forget("a")
    assert backoff.num_requeues("a") == 0
    assert backoff.when("a") == 1.0
    assert backoff.num_requeues("b") == 1


async def test_add_rate_limited_waits_longer_each_time_until_forget() -> None:
    queue = WorkQueue(base_delay_s=0.01, max_delay_s=1.0)
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(3):
        start = loop.time()
        queue.add_rate_limited("a")
        assert len(queue) == 0
        key = await get_now(queue)
        waits.append(loop.time() - start)
        queue.done(key)
    assert queue.num_requeues("a") == 3
    assert waits[0] >= 0.009 and waits[1] >= 0.019 and waits[2] >= 0.039
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    start = loop.time()
    queue.add_rate_limited("a")
    await get_now(queue)
    assert loop.time() - start < 0.035


async def test_shutdown_drains_then_raises() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add_after("later", 0.01)
    queue.shutdown()
    queue.add("b")
    assert await get_now(queue) == "a"
    with pytest.raises(ShutDown):
        await get_now(queue)
    await asyncio.sleep(0.02)
    assert len(queue) == 0


async def test_shutdown_wakes_waiting_getters() -> None:
    queue = WorkQueue()
    getters = [asyncio.create_task(queue.get()) for _ in range(2)]
    await asyncio.sleep(0)
    queue.shutdown()
    for getter in getters:
        with pytest.raises(ShutDown):
            await asyncio.wait_for(getter, 1.0)
