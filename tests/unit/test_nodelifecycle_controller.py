"""NodeLifecycleController: heartbeat grace → Unknown, health taints, taint-based eviction by tolerationSeconds."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from fake_listwatch import FakeListWatch

from common.api import kinds
from common.informer import SharedInformers
from controller_manager.nodelifecycle import (
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    NodeLifecycleController,
    tolerates,
    toleration_seconds,
    unknown_conditions,
    with_health_taints,
)

Obj = dict[str, Any]
UNREACHABLE_NE = {"key": TAINT_UNREACHABLE, "effect": "NoExecute"}
M = "example.com/maintenance"
MAINTENANCE = {"key": M, "effect": "NoExecute"}


class RecordingClient(FakeListWatch):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str, Any]] = []

    async def update_status(self, rt: Any, obj: Obj) -> Obj:
        self.writes.append(("status", f"{rt.plural}/{obj['metadata']['name']}", copy.deepcopy(obj["status"])))
        return copy.deepcopy(obj)

    async def update(self, rt: Any, obj: Obj, subresource: str | None = None) -> Obj:
        self.writes.append(("update", f"{rt.plural}/{obj['metadata']['name']}", copy.deepcopy(obj["spec"])))
        return copy.deepcopy(obj)

    async def delete(self, rt: Any, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self.writes.append(("delete", f"{rt.plural}/{namespace}/{name}", None))
        return {}


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        self.events.append((obj["metadata"]["name"], reason, message))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def node(name: str = "n1", ready: str | None = "True", heartbeat: str = "t0", taints: list[Obj] | None = None) -> Obj:
    conditions = []
    if ready is not None:
        conditions = [{"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": heartbeat,
                       "lastTransitionTime": "t0"},
                      {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": heartbeat}]
    spec: Obj = {"taints": taints} if taints else {}
    return {"metadata": {"name": name, "resourceVersion": "1"}, "spec": spec, "status": {"conditions": conditions}}


def lease(name: str = "n1", renew: str = "r0") -> Obj:
    return {"metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": {"renewTime": renew}}


def pod(name: str, tolerations: list[Obj] | None = None, node_name: str = "n1", deleting: bool = False,
        ready: bool = True) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"u-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node_name, "tolerations": tolerations or []},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def make(nodes: list[Obj], leases: list[Obj] = (), pods: list[Obj] = ()  # type: ignore[assignment]
         ) -> tuple[NodeLifecycleController, RecordingClient, FakeRecorder, Clock, SharedInformers]:
    client, recorder, clock = RecordingClient(), FakeRecorder(), Clock()
    informers = SharedInformers(client)
    controller = NodeLifecycleController(client, informers, node_monitor_grace_period_s=2,
                                         node_startup_grace_period_s=5, recorder=recorder,  # type: ignore[arg-type]
                                         clock=clock)
    informers.get(kinds.NODES)._replace(nodes, "1")
    informers.get(kinds.LEASES)._replace(list(leases), "1")
    informers.get(kinds.PODS)._replace(list(pods), "1")
    return controller, client, recorder, clock, informers


# -- pure helpers -------------------------------------------------------------------------

@pytest.mark.parametrize("toleration, taint, expected", [
    ({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, UNREACHABLE_NE, True),
    ({"key": TAINT_UNREACHABLE, "operator": "Exists"}, UNREACHABLE_NE, True),
    ({"operator": "Exists"}, UNREACHABLE_NE, True),
    ({"key": TAINT_NOT_READY, "operator": "Exists"}, UNREACHABLE_NE, False),
    ({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, UNREACHABLE_NE, False),
    ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "operator": "Equal", "value": "w"}, {"key": "k", "value": "v", "effect": "NoExecute"}, False),
    ({"key": "k", "operator": "Equal"}, {"key": "k", "effect": "NoExecute"}, True),
])
def test_tolerates(toleration: Obj, taint: Obj, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


def tol(key: str = TAINT_UNREACHABLE, seconds: int | None = None) -> Obj:
    toleration: Obj = {"key": key, "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    return toleration


@pytest.mark.parametrize("tolerations, taints, expected", [
    ([], [UNREACHABLE_NE], 0.0),
    ([tol(seconds=300)], [UNREACHABLE_NE], 300.0),
    ([tol()], [UNREACHABLE_NE], None),
    ([tol(seconds=300), tol(seconds=5)], [UNREACHABLE_NE], 5.0),
    ([tol(seconds=300), tol()], [UNREACHABLE_NE], 300.0),
    ([tol(seconds=-3)], [UNREACHABLE_NE], 0.0),
    ([tol(seconds=30)], [UNREACHABLE_NE, {"key": "other", "effect": "NoExecute"}], 0.0),
])
def test_toleration_seconds(tolerations: list[Obj], taints: list[Obj], expected: float | None) -> None:
    assert toleration_seconds({"spec": {"tolerations": tolerations}}, taints) == expected


USER_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize("taints, ready, expected", [
    ([], "True", []),
    ([USER_TAINT], "Unknown", [USER_TAINT, {**UNREACHABLE_NE, "timeAdded": "NOW"},
                               {"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}]),
    ([], "False", [{"key": TAINT_NOT_READY, "effect": "NoExecute", "timeAdded": "NOW"},
                   {"key": TAINT_NOT_READY, "effect": "NoSchedule"}]),
    ([{**UNREACHABLE_NE, "timeAdded": "EARLIER"}, USER_TAINT], "Unknown",
     [USER_TAINT, {**UNREACHABLE_NE, "timeAdded": "EARLIER"}, {"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}]),
    ([{**UNREACHABLE_NE, "timeAdded": "EARLIER"}, USER_TAINT], "True", [USER_TAINT]),
    ([{"key": TAINT_NOT_READY, "effect": "NoSchedule"}], None, [{"key": TAINT_NOT_READY, "effect": "NoSchedule"}]),
])
def test_with_health_taints(taints: list[Obj], ready: str | None, expected: list[Obj]) -> None:
    assert with_health_taints(taints, ready, "NOW") == expected


def test_unknown_conditions_keep_heartbeats_and_add_missing_ones() -> None:
    conditions = {c["type"]: c for c in unknown_conditions(node(), "NOW")}
    assert conditions["Ready"]["status"] == "Unknown" and conditions["Ready"]["reason"] == "NodeStatusUnknown"
    assert conditions["Ready"]["message"] == "Kubelet stopped posting node status."
    assert conditions["Ready"]["lastHeartbeatTime"] == "t0" and conditions["Ready"]["lastTransitionTime"] == "NOW"
    assert conditions["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert {c["status"] for c in conditions.values()} == {"Unknown"}


# -- reconcile ------------------------------------------------------------------------------

async def test_a_node_posting_heartbeats_is_left_alone() -> None:
    controller, client, _, clock, informers = make([node()], [lease()])
    await controller.reconcile("n1")
    for renew in ("r1", "r2", "r3"):
        clock.now += 1.5
        informers.get(kinds.LEASES)._upsert(lease(renew=renew))
        await controller.reconcile("n1")
    assert client.writes == []


async def test_a_silent_node_goes_unknown_tainted_and_records_an_event() -> None:
    controller, client, recorder, clock, _ = make([node()], [lease()])
    await controller.reconcile("n1")
    clock.now += 2.5
    await controller.reconcile("n1")
    (verb, what, status), (verb2, what2, spec) = client.writes[:2]
    assert (verb, what, verb2, what2) == ("status", "nodes/n1", "update", "nodes/n1")
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "Unknown", "MemoryPressure": "Unknown", "DiskPressure": "Unknown", "PIDPressure": "Unknown"}
    assert [(t["key"], t["effect"], "timeAdded" in t) for t in spec["taints"]] == [
        (TAINT_UNREACHABLE, "NoExecute", True), (TAINT_UNREACHABLE, "NoSchedule", False)]
    assert recorder.events == [("n1", "NodeNotReady", "Node n1 status is now: NodeNotReady")]


async def test_a_node_that_never_posted_status_gets_the_startup_grace() -> None:
    controller, client, _, clock, _ = make([node(ready=None)])
    await controller.reconcile("n1")
    clock.now += 3
    await controller.reconcile("n1")
    assert client.writes == []
    clock.now += 3
    await controller.reconcile("n1")
    [(_, _, status), *_] = client.writes
    assert {c["reason"] for c in status["conditions"]} == {"NodeStatusNeverUpdated"}


async def test_ready_false_is_tainted_not_ready_and_recovery_removes_taints() -> None:
    controller, client, _, _, informers = make([node(ready="False", taints=[USER_TAINT])])
    await controller.reconcile("n1")
    [(_, _, spec)] = client.writes
    assert [t["key"] for t in spec["taints"]] == ["dedicated", TAINT_NOT_READY, TAINT_NOT_READY]
    informers.get(kinds.NODES)._upsert(node(ready="True", heartbeat="t1", taints=spec["taints"]))
    await controller.reconcile("n1")
    assert client.writes[-1] == ("update", "nodes/n1", {"taints": [USER_TAINT]})


async def test_pods_on_an_unknown_node_are_marked_not_ready() -> None:
    unknown = node(ready="Unknown", taints=[{**UNREACHABLE_NE, "timeAdded": "x"},
                                            {"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}])
    unknown["status"]["conditions"] = unknown_conditions(unknown, "t0")
    controller, client, _, clock, _ = make(
        [unknown, node("n2")], pods=[pod("a", [tol(seconds=60)]), pod("b", [tol(seconds=60)], ready=False),
                                     pod("c", [tol(seconds=60)], node_name="n2")])
    await controller.reconcile("n1")
    clock.now += 3
    await controller.reconcile("n1")
    statuses = [(what, s["conditions"][0]["status"]) for verb, what, s in client.writes if verb == "status"]
    assert statuses == [("pods/a", "False")]


async def test_taint_based_eviction_follows_toleration_seconds() -> None:
    tainted = node(taints=[MAINTENANCE])  # a healthy node tainted by its admin
    pods = [pod("untolerated", [tol(seconds=300)]), pod("one-second", [tol(M, 1)]), pod("three-seconds", [tol(M, 3)]),
            pod("forever", [tol(M)]), pod("leaving", deleting=True), pod("elsewhere", node_name="n2")]
    controller, client, recorder, clock, informers = make([tainted], [lease()], pods)

    async def after(seconds: float) -> list[str]:
        clock.now += seconds
        informers.get(kinds.LEASES)._upsert(lease(renew=f"r{clock.now}"))  # the kubelet is alive
        await controller.reconcile("n1")
        return deleted(client)
    assert await after(0) == ["untolerated"]
    assert await after(1.0) == ["untolerated", "one-second"]
    assert await after(1.5) == ["untolerated", "one-second"]
    assert await after(0.5) == ["untolerated", "one-second", "three-seconds"]
    assert await after(60) == ["untolerated", "one-second", "three-seconds"]
    assert {e[1] for e in recorder.events} == {"TaintManagerEviction"}
    assert recorder.events[0][2] == "Marking for deletion Pod ns/untolerated"


def deleted(client: RecordingClient) -> list[str]:
    """Pods deleted, in order (the fake's cache never sees the deletion, so a pod may be deleted again)."""
    names = [what.rsplit("/", 1)[1] for verb, what, _ in client.writes if verb == "delete"]
    return list(dict.fromkeys(names))


async def test_eviction_requeues_the_node_for_the_next_deadline() -> None:
    controller, _, _, _, _ = make([node(taints=[MAINTENANCE])], [lease()], [pod("p", [tol(M, 1)])])
    while len(controller.queue):  # the seeding's own events
        controller.queue.done(await controller.queue.get())
    await controller.reconcile("n1")
    assert len(controller.queue) == 0
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(controller.queue.get(), 2) == "n1"
    assert asyncio.get_running_loop().time() - started >= 0.9  # when the toleration runs out


async def test_monitor_enqueues_every_node_and_forgets_deleted_ones() -> None:
    controller, _, _, _, informers = make([node("n1"), node("n2")])
    await controller.reconcile("n1")
    informers.get(kinds.NODES)._remove("n1", node("n1"))
    while len(controller.queue):
        controller.queue.done(await controller.queue.get())
    controller.monitor_once()
    keys = set()
    while len(controller.queue):
        key = await controller.queue.get()
        controller.queue.done(key)
        keys.add(key)
    assert keys == {"n2"} and "n1" not in controller.health
