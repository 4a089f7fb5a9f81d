"""Controller base: key mapping, requeue with backoff, forget on success, NotFound, workers."""
from __future__ import annotations

import asyncio

import pytest

from common import errors
from common.api.kinds import PODS, REPLICASETS
from common.controller import Controller, controller_ref, owner_key
from fake_listwatch import FakeListWatch, eventually, make_obj


def owned_by(obj: dict, kind: str, name: str, controller: bool = True, api_version: str = "apps/v1") -> dict:
    obj["metadata"]["ownerReferences"] = [{"apiVersion": api_version, "kind": kind, "name": name,
                                           "uid": f"uid-{name}", "controller": controller}]
    return obj


class ScriptedController(Controller):
    """Reconcile raises the exceptions queued per key, then succeeds; it records every call."""
    name = "scripted"

    def __init__(self, client: FakeListWatch, **kwargs: object) -> None:
        super().__init__(client, **kwargs)
        self.failures: dict[str, list[BaseException]] = {}
        self.calls: list[str] = []

    async def reconcile(self, key: str) -> None:
        self.calls.append(key)
        queued = self.failures.get(key)
        if queued:
            raise queued.pop(0)


async def step(controller: Controller) -> bool:
    return await asyncio.wait_for(controller.process_next(), 1.0)


async def test_success_forgets_the_key() -> None:
    controller = ScriptedController(FakeListWatch())
    controller.queue.add_rate_limited("default/a")  # pretend an earlier failure
    assert controller.queue.num_requeues("default/a") == 1
    assert await step(controller)
    assert controller.calls == ["default/a"]
    assert controller.queue.num_requeues("default/a") == 0
    assert len(controller.queue) == 0


async def test_failing_key_is_requeued_with_growing_backoff_then_forgotten() -> None:
    controller = ScriptedController(FakeListWatch(), base_delay_s=0.01, max_delay_s=1.0)
    controller.failures["default/a"] = [RuntimeError("api down"), errors.Conflict("stale")]
    loop = asyncio.get_running_loop()
    controller.enqueue(make_obj("a"))
    await step(controller)
    assert controller.queue.num_requeues("default/a") == 1
    assert len(controller.queue) == 0  # waiting out its backoff, not ready yet
    failed_at = loop.time()
    await step(controller)
    assert loop.time() - failed_at >= 0.009
    assert controller.queue.num_requeues("default/a") == 2
    failed_at = loop.time()
    await step(controller)
    assert loop.time() - failed_at >= 0.019
    assert controller.calls == ["default/a"] * 3
    assert controller.queue.num_requeues("default/a") == 0
    await asyncio.sleep(0.03)
    assert len(controller.queue) == 0  # success does not requeue


async def test_not_found_counts_as_success() -> None:
    controller = ScriptedController(FakeListWatch(), base_delay_s=0.001)
    controller.failures["default/gone"] = [errors.NotFound("pods \"gone\" not found")]
    controller.queue.add("default/gone")
    await step(controller)
    assert controller.queue.num_requeues("default/gone") == 0
    await asyncio.sleep(0.01)
    assert len(controller.queue) == 0


async def test_key_readded_during_reconcile_runs_again_after() -> None:
    controller = ScriptedController(FakeListWatch())

    async def reconcile(key: str) -> None:
        controller.calls.append(key)
        if len(controller.calls) == 1:
            controller.queue.add(key)  # an event arrives mid-reconcile

    controller.reconcile = reconcile  # type: ignore[method-assign]
    controller.queue.add("default/a")
    await step(controller)
    assert len(controller.queue) == 1
    await step(controller)
    assert controller.calls == ["default/a", "default/a"]


async def test_process_next_returns_false_after_shutdown() -> None:
    controller = ScriptedController(FakeListWatch())
    controller.queue.add("default/a")
    controller.queue.shutdown()
    assert await step(controller)
    assert not await step(controller)


def test_owner_mapping() -> None:
    pod = owned_by(make_obj("web-abc", "prod"), "ReplicaSet", "web")
    assert controller_ref(pod)["name"] == "web"
    assert owner_key(pod, controller_ref(pod)) == "prod/web"
    node_owned = owned_by(make_obj("mirror", "kube-system"), "Node", "node-1", api_version="v1")
    assert owner_key(node_owned, controller_ref(node_owned)) == "node-1"
    assert controller_ref(owned_by(make_obj("x"), "ReplicaSet", "web", controller=False)) is None
    assert controller_ref(make_obj("orphan")) is None


async def test_enqueue_owner_only_for_a_controller_ref_of_that_kind() -> None:
    controller = ScriptedController(FakeListWatch())
    controller.enqueue_owner(owned_by(make_obj("p1"), "ReplicaSet", "web"), "ReplicaSet")
    controller.enqueue_owner(owned_by(make_obj("p2"), "ReplicaSet", "web"), "ReplicaSet")
    controller.enqueue_owner(owned_by(make_obj("p3"), "Job", "batch", api_version="batch/v1"), "ReplicaSet")
    controller.enqueue_owner(owned_by(make_obj("p4"), "ReplicaSet", "api", controller=False), "ReplicaSet")
    controller.enqueue_owner(make_obj("p5"), "ReplicaSet")
    assert len(controller.queue) == 1
    assert await controller.queue.get() == "default/web"


async def test_owned_object_changing_owner_enqueues_both_owners() -> None:
    fake = FakeListWatch([owned_by(make_obj("p1", rv=1), "ReplicaSet", "old")], resource_version=1)
    controller = ScriptedController(fake)
    pods = controller.informer(PODS, backoff_initial_s=0.001, min_watch_s=0)
    controller.enqueue_owner_on_events(pods, "ReplicaSet")
    task = asyncio.create_task(pods.run())
    try:
        stream = await fake.stream(0)
        assert await controller.queue.get() == "default/old"
        controller.queue.done("default/old")
        stream.send("MODIFIED", owned_by(make_obj("p1", rv=2), "ReplicaSet", "new"))
        await eventually(lambda: len(controller.queue) == 2)
        assert {await controller.queue.get(), await controller.queue.get()} == {"default/old", "default/new"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class ReplicaSetLike(Controller):
    """Reconciles replicasets, woken by their own events and by their pods'; tracks overlap per key."""
    name = "rs-like"

    def __init__(self, client: FakeListWatch) -> None:
        super().__init__(client, base_delay_s=0.001, max_delay_s=0.01)
        fast = {"backoff_initial_s": 0.001, "backoff_max_s": 0.005, "min_watch_s": 0.0}
        self.replicasets = self.informer(REPLICASETS, **fast)
        self.pods = self.informer(PODS, **fast)
        self.enqueue_on_events(self.replicasets)
        self.enqueue_owner_on_events(self.pods, "ReplicaSet")
        self.in_flight: set[str] = set()
        self.overlaps = 0
        self.seen_synced: list[bool] = []
        self.reconciled: list[str] = []
        self.fail_once = {"default/flaky"}

    async def reconcile(self, key: str) -> None:
        self.seen_synced.append(self.replicasets.has_synced and self.pods.has_synced)
        if key in self.in_flight:
            self.overlaps += 1
        self.in_flight.add(key)
        try:
            await asyncio.sleep(0.002)
            if key in self.fail_once:
                self.fail_once.discard(key)
                raise RuntimeError("transient")
            self.reconciled.append(key)
        finally:
            self.in_flight.discard(key)


async def test_run_syncs_informers_then_workers_reconcile_each_key_alone() -> None:
    objects = [make_obj(name) for name in ("web", "api", "flaky")]
    objects += [owned_by(make_obj(f"web-{i}"), "ReplicaSet", "web") for i in range(5)]
    fake = FakeListWatch(objects)
    fake.list_delays["pods"] = 0.02  # replicaset keys are queued well before the pod cache is ready
    controller = ReplicaSetLike(fake)
    task = asyncio.create_task(controller.run(workers=4))
    try:
        await eventually(lambda: {"default/web", "default/api", "default/flaky"} <= set(controller.reconciled))
        streams = [await fake.stream(0), await fake.stream(1)]
        for stream in streams:  # a burst of events for one key while workers are busy
            for i in range(5):
                stream.send("MODIFIED", owned_by(make_obj(f"web-{i}", rv=20 + i), "ReplicaSet", "web"))
        await eventually(lambda: len(controller.queue) == 0 and not controller.in_flight)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert controller.overlaps == 0
    assert all(controller.seen_synced)
    assert controller.queue.num_requeues("default/flaky") == 0
    assert controller.queue.shutting_down


async def test_a_conflict_is_retried_quietly(caplog: pytest.LogCaptureFixture) -> None:
    controller = ScriptedController(FakeListWatch(), base_delay_s=0.001)
    controller.failures["default/a"] = [errors.Conflict("the object has been modified")]
    controller.queue.add("default/a")
    await step(controller)
    assert controller.queue.num_requeues("default/a") == 1
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no traceback for an expected race
    await step(controller)
    assert controller.calls == ["default/a", "default/a"]
