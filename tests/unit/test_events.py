"""EventRecorder: queued, sent in order in the background, repeats counted, failures never raised."""
from __future__ import annotations

import asyncio
from typing import Any

from common.errors import NotFound, ServiceUnavailable
from common.events import EventRecorder, SpamFilter

Obj = dict[str, Any]
POD = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "ns", "uid": "u1"}}


class RecordingClient:
    """Records creates and patches; `gate` holds every call until the test opens it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_creates = 0
        self.missing: set[str] = set()

    async def create(self, _rt: Any, obj: Obj, _namespace: str) -> Obj:
        await self.gate.wait()
        if self.fail_creates:
            self.fail_creates -= 1
            raise ServiceUnavailable("apiserver down")
        self.calls.append(("create", obj))
        return obj

    async def patch(self, _rt: Any, name: str, body: Obj, _namespace: str) -> Obj:
        await self.gate.wait()
        if name in self.missing:
            raise NotFound(f"events {name} not found")
        self.calls.append(("patch", (name, body["count"])))
        return body


async def test_record_returns_before_the_api_answers_and_keeps_order() -> None:
    client = RecordingClient()
    recorder = EventRecorder(client, "kubelet", host="n1")  # type: ignore[arg-type]
    client.gate.clear()
    for reason in ("Pulled", "Created", "Started"):
        await asyncio.wait_for(recorder.record(POD, "Normal", reason, reason.lower(), "spec.containers{app}"), 1)
    assert client.calls == []  # nothing sent yet: the API is "slow"
    client.gate.set()
    await recorder.flush()
    assert [obj["reason"] for _, obj in client.calls] == ["Pulled", "Created", "Started"]
    event = client.calls[0][1]
    assert event["involvedObject"]["fieldPath"] == "spec.containers{app}" and event["source"]["host"] == "n1"


async def test_repeats_bump_the_count_and_expired_ones_start_again() -> None:
    client = RecordingClient()
    recorder = EventRecorder(client, "kubelet")  # type: ignore[arg-type]
    for _ in range(3):
        await recorder.record(POD, "Warning", "BackOff", "back-off")
    await recorder.flush()
    name = client.calls[0][1]["metadata"]["name"]
    assert [c[0] for c in client.calls] == ["create", "patch", "patch"]
    assert client.calls[2][1] == (name, 3)
    client.missing.add(name)  # the event expired (--event-ttl)
    await recorder.record(POD, "Warning", "BackOff", "back-off")
    await recorder.flush()
    assert client.calls[-1][0] == "create"


async def test_failures_are_logged_not_raised() -> None:
    client = RecordingClient()
    client.fail_creates = 1
    recorder = EventRecorder(client, "kubelet")  # type: ignore[arg-type]
    await recorder.record(POD, "Normal", "Lost", "the API was down")
    await recorder.record(POD, "Normal", "Kept", "the API is back")
    await recorder.flush()
    assert [obj["reason"] for _, obj in client.calls] == ["Kept"]


def test_spam_filter_allows_a_burst_per_object_then_one_per_five_minutes() -> None:
    now = [0.0]
    spam = SpamFilter(clock=lambda: now[0])
    assert sum(spam.allow("rs-1") for _ in range(100)) == 25
    assert spam.allow("rs-2")  # another object has its own bucket
    now[0] += 299
    assert not spam.allow("rs-1")
    now[0] += 2
    assert spam.allow("rs-1") and not spam.allow("rs-1")


async def test_many_similar_events_become_one_combined_event() -> None:
    client = RecordingClient()
    recorder = EventRecorder(client, "replicaset-controller")  # type: ignore[arg-type]
    rs = {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "web", "namespace": "ns", "uid": "r1"}}
    for i in range(15):
        await recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: web-{i}")
    await recorder.flush()
    creates = [obj for verb, obj in client.calls if verb == "create"]
    assert len(creates) == 11 and creates[-1]["message"] == "(combined from similar events): Created pod: web-10"
    assert [c for c in client.calls if c[0] == "patch"][-1][1][1] == 5  # the combined event counts the rest


def test_spam_filter_remembers_the_most_recent_objects_as_client_gos_lru() -> None:
    spam = SpamFilter(clock=lambda: 0.0)
    assert sum(spam.allow("busy") for _ in range(30)) == 25
    for i in range(5000):  # far more objects than the 4,096 remembered; "busy" stays recently used
        spam.allow(f"pod-{i}")
        if i % 1000 == 0:
            assert not spam.allow("busy")
    assert len(spam._buckets) == 4096 and "pod-0" not in spam._buckets  # the least recently used went first


async def test_events_about_different_objects_go_out_together_in_order_per_object() -> None:
    client = RecordingClient()
    client.gate.clear()
    started: list[str] = []
    create = client.create

    async def counting_create(rt: Any, obj: Obj, namespace: str) -> Obj:
        started.append(obj["involvedObject"]["name"])
        return await create(rt, obj, namespace)
    client.create = counting_create  # type: ignore[method-assign]
    recorder = EventRecorder(client, "default-scheduler")  # type: ignore[arg-type]
    pods = [{**POD, "metadata": {**POD["metadata"], "name": f"p{i}", "uid": f"u{i}"}} for i in range(3)]
    for reason in ("First", "Second"):
        for p in pods:
            await recorder.record(p, "Normal", reason, reason.lower())
    await asyncio.sleep(0.01)
    assert sorted(started) == ["p0", "p1", "p2"]  # one per object in flight; the second ones wait their turn
    client.gate.set()
    await recorder.flush()
    sent = [(obj["involvedObject"]["name"], obj["reason"]) for _, obj in client.calls]
    assert sorted(sent) == sorted((f"p{i}", r) for i in range(3) for r in ("First", "Second"))
    for i in range(3):
        assert [r for name, r in sent if name == f"p{i}"] == ["First", "Second"]
