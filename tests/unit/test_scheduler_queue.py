"""The scheduling queue: priority then age, back-off doubling to 10 s, unschedulable pods moved by cluster events."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scheduler.queue import MAX_UNSCHEDULABLE_S, QueuedPod, SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pod(name: str, priority: int = 0, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {}}, "spec": {"priority": priority, **spec}}


async def pop(queue: SchedulingQueue) -> str:
    return (await asyncio.wait_for(queue.pop(), 0.5)).key


async def test_higher_priority_first_then_oldest() -> None:
    queue = SchedulingQueue()
    for name, priority in (("low", 0), ("high", 10), ("low2", 0), ("mid", 5)):
        queue.add(pod(name, priority), name)
    assert [await pop(queue) for _ in range(4)] == ["high", "mid", "low", "low2"]


async def test_pop_waits_for_a_pod() -> None:
    queue = SchedulingQueue()
    waiting = asyncio.create_task(queue.pop())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    queue.add(pod("late"), "late")
    assert (await asyncio.wait_for(waiting, 0.5)).key == "late"


def test_backoff_doubles_to_ten_seconds() -> None:
    queued = QueuedPod(pod("p"), "p")
    delays = []
    for attempts in range(1, 8):
        queued.attempts = attempts
        delays.append(queued.backoff_s())
    assert delays == [1, 2, 4, 8, 10, 10, 10]


async def test_unschedulable_waits_for_a_cluster_event_not_a_timer() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(pod("big"), "big")
    queued = await queue.pop()
    queue.unschedulable(queued, queue.scheduling_cycle)
    assert queue.counts()["unschedulable"] == 1
    clock.now += 60
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.pop(), 0.05)
    queue.move_all_to_active_or_backoff()  # e.g. a node was added
    assert await pop(queue) == "big"


async def test_a_move_during_the_attempt_sends_the_pod_to_backoff() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(pod("p"), "p")
    queued = await queue.pop()
    cycle = queue.scheduling_cycle
    queue.move_all_to_active_or_backoff()  # a node appeared while "p" was being scheduled
    queue.unschedulable(queued, cycle)
    assert queue.counts()["backoff"] == 1
    clock.now += queued.backoff_s()
    assert await pop(queue) == "p"


async def test_moved_pods_still_wait_out_their_backoff() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(pod("p"), "p")
    queue.unschedulable(await queue.pop(), queue.scheduling_cycle)
    queue.move_all_to_active_or_backoff()
    assert queue.counts() == {"active": 0, "backoff": 1, "unschedulable": 0, "in-flight": 0}
    clock.now += 1.0
    assert await pop(queue) == "p"


async def test_unschedulable_pods_are_retried_after_five_minutes_anyway() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(pod("p"), "p")
    queue.unschedulable(await queue.pop(), queue.scheduling_cycle)
    clock.now += MAX_UNSCHEDULABLE_S + 1
    assert await pop(queue) == "p"


async def test_a_spec_update_retries_an_unschedulable_pod_but_a_status_update_does_not() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(pod("p"), "p")
    queue.unschedulable(await queue.pop(), queue.scheduling_cycle)
    clock.now += 5
    with_status = {**pod("p"), "status": {"conditions": [{"type": "PodScheduled", "status": "False"}]}}
    queue.update(with_status, "p")
    assert queue.counts()["unschedulable"] == 1
    queue.update(pod("p", nodeSelector={"disk": "ssd"}), "p")
    assert await pop(queue) == "p"


async def test_deleted_pods_are_dropped() -> None:
    queue = SchedulingQueue()
    queue.add(pod("a"), "a")
    queue.add(pod("b"), "b")
    queue.delete("a")
    assert await pop(queue) == "b"
    assert len(queue) == 1  # b is in flight until done()
    queue.done("b")
    assert len(queue) == 0


async def test_errors_requeue_with_backoff() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(pod("p"), "p")
    queued = await queue.pop()
    queue.done("p")
    queue.requeue_after_error(queued)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.pop(), 0.05)
    clock.now += 1.0
    assert await pop(queue) == "p"
