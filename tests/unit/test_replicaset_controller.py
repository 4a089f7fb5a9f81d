"""ReplicaSet controller without etcd: seeded informer caches, a recording fake client, table-driven cases."""
from __future__ import annotations

import asyncio
import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from apiserver.patch import strategic_merge_patch
from common import errors
from common.api import kinds, schema
from common.api.registry import ResourceType
from common.informer import Informer, SharedInformers
from controller_manager import pods as podutil
from controller_manager.replicaset import ReplicaSetController

Obj = dict[str, Any]
NOW = 1_800_000_000.0  # the controller's clock in these tests
NS = "default"


def ts(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_rs(name: str = "web", replicas: int = 3, *, labels: Obj | None = None, min_ready: int = 0,
            generation: int = 1, owner: Obj | None = None, **meta: Any) -> Obj:
    labels = labels or {"app": name}
    rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "1",
                            "generation": generation, **meta},
               "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": dict(labels)},
                                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
               "status": {}}
    if owner:
        rs["metadata"]["ownerReferences"] = [owner]
    return rs


def make_pod(name: str, owner: Obj | None = None, *, labels: Obj | None = None, node: str = "n1",
             phase: str = "Running", ready: bool = True, ready_ago: float = 3600, created_ago: float = 7200,
             cost: int | None = None, restarts: int = 0, **meta: Any) -> Obj:
    pod: Obj = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "1",
                             "labels": labels if labels is not None else {"app": "web"},
                             "creationTimestamp": ts(created_ago), **meta},
                "spec": {"nodeName": node} if node else {},
                "status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}],
                           "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                           "lastTransitionTime": ts(ready_ago)}]}}
    if owner is not None:
        pod["metadata"]["ownerReferences"] = [podutil.controller_ref_to(owner)]
    if cost is not None:
        pod["metadata"]["annotations"] = {podutil.DELETION_COST_ANNOTATION: str(cost)}
    return pod


class FakeClient:
    """Stores objects, records every write, applies strategic merge patches, and fails creates on request."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.calls: list[tuple[str, str, str]] = []  # (verb, plural, name)
        self.patches: list[tuple[str, Obj]] = []
        self.statuses: list[Obj] = []
        self.fail_create: dict[int, errors.ApiError] = {}  # 1-based create attempt -> error
        self.create_concurrency: list[int] = []  # in-flight creates as each one starts
        self._in_flight = 0
        self._names = itertools.count(1)
        self._creates = 0

    def store(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        self.objects[(rt.plural, meta.get("namespace", ""), meta["name"])] = copy.deepcopy(obj)

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None,
                  subresource: str | None = None) -> Obj:
        try:
            return copy.deepcopy(self.objects[(rt.plural, namespace or "", name)])
        except KeyError:
            raise errors.NotFound(f'{rt.plural} "{name}" not found') from None

    async def create(self, rt: ResourceType, obj: Obj, namespace: str | None = None, **_: Any) -> Obj:
        self._creates += 1
        attempt = self._creates
        self._in_flight += 1
        self.create_concurrency.append(self._in_flight)
        try:
            await asyncio.sleep(0)  # let the rest of a batch start, as real requests would
            if attempt in self.fail_create:
                raise self.fail_create[attempt]
            created = copy.deepcopy(obj)
            meta = created["metadata"]
            meta.setdefault("name", f"{meta.pop('generateName', '')}{next(self._names):05d}")
            meta.update(uid=f"uid-{meta['name']}", resourceVersion="1", creationTimestamp=ts(0))
            self.store(rt, created)
            self.calls.append(("create", rt.plural, meta["name"]))
            return created
        finally:
            self._in_flight -= 1

    async def patch(self, rt: ResourceType, name: str, patch: Obj, namespace: str | None = None, *,
                    patch_type: str = "merge", subresource: str | None = None) -> Obj:
        assert patch_type == "strategic"
        current = await self.get(rt, name, namespace)
        patched = strategic_merge_patch(current, patch, schema.schema_for(rt.api_version, rt.kind))
        patched["metadata"]["uid"] = current["metadata"]["uid"]  # the server ignores uid changes
        self.store(rt, patched)
        self.calls.append(("patch", rt.plural, name))
        self.patches.append((name, patch))
        return patched

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, **_: Any) -> Obj:
        gone = await self.get(rt, name, namespace)
        del self.objects[(rt.plural, namespace or "", name)]
        self.calls.append(("delete", rt.plural, name))
        return gone

    async def update_status(self, rt: ResourceType, obj: Obj) -> Obj:
        self.calls.append(("status", rt.plural, obj["metadata"]["name"]))
        self.statuses.append(copy.deepcopy(obj["status"]))
        return obj

    def verbs(self, verb: str) -> list[str]:
        return [name for v, plural, name in self.calls if v == verb and plural == "pods"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        self.events.append((type_, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


class Harness:
    def __init__(self, replicasets: list[Obj], pods: list[Obj], **kwargs: Any) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.informers = SharedInformers(self.client)  # type: ignore[arg-type]
        self.controller = ReplicaSetController(self.client, self.informers, recorder=self.recorder,
                                               clock=lambda: NOW, **kwargs)
        for rs in replicasets:
            self.add(kinds.REPLICASETS, rs)
        for pod in pods:
            self.add(kinds.PODS, pod)

    def informer(self, rt: ResourceType) -> Informer:
        return self.informers.get(rt)

    def add(self, rt: ResourceType, obj: Obj) -> None:
        """What the server and then the watch would do: store it, and deliver the event to the cache."""
        self.client.store(rt, obj)
        self.informer(rt)._apply_event("ADDED", copy.deepcopy(obj))

    def modify(self, rt: ResourceType, obj: Obj) -> None:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"].get("resourceVersion", "1")) + 1)
        self.client.store(rt, obj)
        self.informer(rt)._apply_event("MODIFIED", obj)

    def deliver_created_pods(self) -> None:
        """Watch events for the pods the controller created, as the informer would see them."""
        for name in self.client.verbs("create"):
            if f"{NS}/{name}" not in self.informer(kinds.PODS):
                self.informer(kinds.PODS)._apply_event("ADDED", self.client.objects[("pods", NS, name)])

    async def drain(self) -> list[str]:
        """Reconcile every queued key once; return them."""
        keys = []
        while len(self.controller.queue):
            key = await self.controller.queue.get()
            keys.append(key)
            try:
                await self.controller.reconcile(key)
            finally:
                self.controller.queue.done(key)
        return keys

    async def reconcile(self, key: str = "default/web") -> None:
        await self.controller.reconcile(key)


def batches(concurrency: list[int]) -> list[int]:
    """Batch sizes from the in-flight count at each create's start (every batch starts at 1)."""
    sizes: list[int] = []
    for level in concurrency:
        if level == 1:
            sizes.append(0)
        sizes[-1] = max(sizes[-1], level)
    return sizes


# -- scale up ---------------------------------------------------------------------------

@pytest.mark.parametrize("replicas, existing, burst, fail_at, want_batches, want_created", [
    (1, 0, 500, None, [1], 1),
    (10, 0, 500, None, [1, 2, 4, 3], 10),
    (10, 3, 500, None, [1, 2, 4], 7),
    (10, 0, 4, None, [1, 2, 1], 4),                     # burst caps one pass
    (10, 0, 500, 3, [1, 2], 2),                         # a failing batch stops the slow start
    (10, 0, 500, 1, [1], 0),                            # the first failure costs one request, not ten
])
async def test_scale_up_in_slow_start_batches(replicas: int, existing: int, burst: int, fail_at: int | None,
                                              want_batches: list[int], want_created: int) -> None:
    rs = make_rs(replicas=replicas)
    h = Harness([rs], [make_pod(f"old-{i}", rs) for i in range(existing)], burst_replicas=burst)
    if fail_at:
        h.client.fail_create[fail_at] = errors.Forbidden('pods "x" is forbidden: exceeded quota')
        with pytest.raises(errors.Forbidden):
            await h.reconcile()
    else:
        await h.reconcile()
    assert batches(h.client.create_concurrency) == want_batches
    assert len(h.client.verbs("create")) == want_created
    assert h.controller.expectations.pending("default/web") == (want_created, 0)
    assert h.recorder.reasons().count("SuccessfulCreate") == want_created
    status = h.client.statuses[-1]
    assert status["replicas"] == existing  # status reflects what was observed before acting
    if fail_at:
        assert ("Warning", "FailedCreate",
                'Error creating: pods "x" is forbidden: exceeded quota') in h.recorder.events
        [condition] = status["conditions"]
        assert condition["type"] == "ReplicaFailure" and condition["reason"] == "FailedCreate"
        assert "exceeded quota" in condition["message"]
    else:
        assert "conditions" not in status


async def test_created_pods_come_from_the_template_with_a_controller_ref() -> None:
    rs = make_rs(replicas=1)
    rs["spec"]["template"]["metadata"]["annotations"] = {"note": "x"}
    h = Harness([rs], [])
    await h.reconcile()
    [name] = h.client.verbs("create")
    pod = h.client.objects[("pods", NS, name)]
    assert name.startswith("web-")
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["metadata"]["annotations"] == {"note": "x"}
    assert pod["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                                   "uid": "uid-web", "controller": True,
                                                   "blockOwnerDeletion": True}]
    assert pod["spec"] == rs["spec"]["template"]["spec"]
    assert h.recorder.events == [("Normal", "SuccessfulCreate", f"Created pod: {name}")]


async def test_replica_failure_condition_clears_once_creates_succeed() -> None:
    rs = make_rs(replicas=1)
    rs["status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                    "message": "quota", "lastTransitionTime": ts(60)}]}
    h = Harness([rs], [])
    await h.reconcile()
    assert "conditions" not in h.client.statuses[-1]


async def test_namespace_terminating_is_not_a_failure() -> None:
    h = Harness([make_rs(replicas=2)], [])
    h.client.fail_create[1] = errors.Forbidden("namespace is being terminated",
                                               causes=[{"reason": "NamespaceTerminating"}])
    await h.reconcile()  # does not raise
    assert h.recorder.reasons() == ["SuccessfulCreate"]  # the refused one is neither an event nor an error


# -- scale down ---------------------------------------------------------------------------

SCALE_DOWN_CASES = {
    "unassigned before assigned": ([dict(name="a"), dict(name="b", node="")], ["b"]),
    "pending before unknown before running": (
        [dict(name="run"), dict(name="unk", phase="Unknown", ready=False),
         dict(name="pend", phase="Pending", ready=False)],
        ["pend", "unk"]),
    "not ready before ready": ([dict(name="r"), dict(name="nr", ready=False)], ["nr"]),
    "lower deletion cost first": ([dict(name="cheap", cost=-5), dict(name="dear", cost=10), dict(name="zero")],
                                  ["cheap", "zero"]),
    "doubled-up node first": ([dict(name="alone", node="n2"), dict(name="d1", node="n1"), dict(name="d2", node="n1")],
                              ["d1"]),
    "more recently ready first": ([dict(name="old", ready_ago=86400), dict(name="new", ready_ago=60)], ["new"]),
    "more restarts first": ([dict(name="calm"), dict(name="crashy", restarts=7)], ["crashy"]),
    "newer first": ([dict(name="old", created_ago=86400, ready_ago=60),
                     dict(name="new", created_ago=120, ready_ago=60)], ["new"]),
    "assigned-ness beats readiness": ([dict(name="unready-assigned", ready=False),
                                       dict(name="ready-unassigned", node="")],
                                      ["ready-unassigned"]),
}


@pytest.mark.parametrize("case", SCALE_DOWN_CASES)
async def test_scale_down_picks_victims_by_upstream_ranking(case: str) -> None:
    specs, want = SCALE_DOWN_CASES[case]
    rs = make_rs(replicas=len(specs) - len(want))
    h = Harness([rs], [make_pod(owner=rs, **spec) for spec in specs])  # type: ignore[arg-type]
    await h.reconcile()
    assert sorted(h.client.verbs("delete")) == sorted(want)
    assert h.controller.expectations.pending("default/web") == (0, len(want))
    assert sorted(h.recorder.events) == sorted(("Normal", "SuccessfulDelete", f"Deleted pod: {n}") for n in want)


async def test_scale_down_ranks_nodes_by_pods_of_sibling_replicasets() -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-deploy", "controller": True}
    rs = make_rs(replicas=1, owner=deploy)
    sibling = make_rs("web-old", labels={"app": "web-old"}, owner=deploy)
    pods = [make_pod("a", rs, node="n1"), make_pod("b", rs, node="n2"),
            make_pod("c", sibling, node="n2", labels={"app": "web-old"})]
    h = Harness([rs, sibling], pods)
    await h.reconcile()
    assert h.client.verbs("delete") == ["b"]  # n2 also runs the sibling's pod


async def test_scale_down_to_zero_deletes_all_and_a_404_is_not_an_error() -> None:
    rs = make_rs(replicas=0)
    h = Harness([rs], [make_pod("a", rs), make_pod("b", rs)])
    del h.client.objects[("pods", NS, "a")]  # someone else deleted it already
    await h.reconcile()
    assert h.client.verbs("delete") == ["b"]
    assert h.controller.expectations.pending("default/web") == (0, 1)  # only b's delete is still awaited


async def test_terminating_and_finished_pods_do_not_count() -> None:
    rs = make_rs(replicas=3)
    pods = [make_pod("live", rs), make_pod("done", rs, phase="Succeeded", ready=False),
            make_pod("failed", rs, phase="Failed", ready=False), make_pod("going", rs, deletionTimestamp=ts(1))]
    h = Harness([rs], pods)
    await h.reconcile()
    assert len(h.client.verbs("create")) == 2
    assert h.client.verbs("delete") == []
    assert h.client.statuses[-1]["replicas"] == 1


# -- adoption and release --------------------------------------------------------------------

async def test_adopts_matching_orphans_and_releases_non_matching_pods() -> None:
    rs = make_rs(replicas=3)
    other = make_rs("other", labels={"app": "other"})
    pods = [make_pod("orphan"),                                          # matches, no owner: adopt
            make_pod("mine", rs),                                        # keep
            make_pod("strayed", rs, labels={"app": "elsewhere"}),        # ours, no longer matches: release
            make_pod("theirs", other),                                   # someone else's: leave alone
            make_pod("orphan-going", deletionTimestamp=ts(1)),           # being deleted: leave alone
            make_pod("unrelated", labels={"app": "db"})]
    h = Harness([rs, other], pods)
    await h.reconcile()
    patched = dict(h.client.patches)
    assert set(patched) == {"orphan", "strayed"}
    assert patched["orphan"]["metadata"]["ownerReferences"] == [podutil.controller_ref_to(rs)]
    assert patched["strayed"]["metadata"]["ownerReferences"] == [{"$patch": "delete", "uid": "uid-web"}]
    assert h.client.objects[("pods", NS, "orphan")]["metadata"]["ownerReferences"] == [podutil.controller_ref_to(rs)]
    assert h.client.objects[("pods", NS, "strayed")]["metadata"]["ownerReferences"] == []
    assert len(h.client.verbs("create")) == 1  # mine + adopted orphan + one new = 3
    assert h.client.statuses[-1]["replicas"] == 2


async def test_release_keeps_other_owner_references() -> None:
    rs = make_rs(replicas=0)
    pod = make_pod("strayed", rs, labels={"app": "elsewhere"})
    extra = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "uid-cm"}
    pod["metadata"]["ownerReferences"].append(extra)
    h = Harness([rs], [pod])
    await h.reconcile()
    assert h.client.objects[("pods", NS, "strayed")]["metadata"]["ownerReferences"] == [extra]


async def test_no_adoption_for_a_replicaset_being_deleted() -> None:
    rs = make_rs(replicas=1)
    h = Harness([rs], [make_pod("orphan")])
    deleting = copy.deepcopy(rs)
    deleting["metadata"]["deletionTimestamp"] = ts(1)
    h.client.store(kinds.REPLICASETS, deleting)  # the server knows; the cache does not yet
    await h.reconcile()
    assert h.client.patches == []
    assert len(h.client.verbs("create")) == 1  # the orphan stays an orphan; a pod of its own replaces it


async def test_no_adoption_for_a_recreated_replicaset_of_the_same_name() -> None:
    rs = make_rs(replicas=0)
    h = Harness([rs], [make_pod("orphan")])
    h.client.store(kinds.REPLICASETS, make_rs(replicas=0) | {"metadata": {**rs["metadata"], "uid": "uid-new"}})
    await h.reconcile()
    assert h.client.patches == []


# -- expectations --------------------------------------------------------------------------

async def test_duplicate_events_do_not_create_twice() -> None:
    rs = make_rs(replicas=3)
    h = Harness([rs], [])
    await h.drain()
    assert len(h.client.verbs("create")) == 3
    for _ in range(3):  # a burst of events before the created pods show up in the cache
        h.modify(kinds.REPLICASETS, rs)
        await h.drain()
    assert len(h.client.verbs("create")) == 3
    h.deliver_created_pods()
    assert h.controller.expectations.satisfied("default/web")
    await h.drain()
    assert len(h.client.verbs("create")) == 3  # the cache now shows 3 pods: nothing to do
    assert h.client.statuses[-1]["replicas"] == 3


async def test_deletes_are_expected_until_observed_even_as_a_deletion_timestamp() -> None:
    rs = make_rs(replicas=1)
    pods = [make_pod("a", rs), make_pod("b", rs, ready=False)]
    h = Harness([rs], pods)
    await h.drain()
    assert h.client.verbs("delete") == ["b"]
    h.modify(kinds.REPLICASETS, rs)
    await h.drain()
    assert h.client.verbs("delete") == ["b"]  # still awaiting b's deletion
    going = copy.deepcopy(pods[1])
    going["metadata"]["deletionTimestamp"] = ts(0)
    h.modify(kinds.PODS, going)  # graceful delete started: counts as observed
    assert h.controller.expectations.satisfied("default/web")


async def test_expectations_expire_after_the_ttl() -> None:
    clock = [0.0]
    expectations = podutil.Expectations(ttl_s=300, clock=lambda: clock[0])
    expectations.expect_creations("ns/rs", 2)
    assert not expectations.satisfied("ns/rs")
    expectations.creation_observed("ns/rs")
    assert not expectations.satisfied("ns/rs")
    clock[0] = 301
    assert expectations.satisfied("ns/rs")
    expectations.expect_deletions("ns/rs", ["ns/a"])
    expectations.deletion_observed("ns/rs", "ns/other")
    assert not expectations.satisfied("ns/rs")
    expectations.deletion_observed("ns/rs", "ns/a")
    assert expectations.satisfied("ns/rs")


# -- event wiring -----------------------------------------------------------------------------

async def test_pod_events_enqueue_owner_or_every_matching_replicaset() -> None:
    web, web2, db = make_rs("web"), make_rs("web2", labels={"app": "web"}), make_rs("db", labels={"app": "db"})
    h = Harness([web, web2, db], [])
    await h.drain()
    h.controller.queue = type(h.controller.queue)("t")  # start counting from an empty queue
    h.add(kinds.PODS, make_pod("owned", web2))
    assert await h.drain() == ["default/web2"]
    h.add(kinds.PODS, make_pod("orphan"))
    assert sorted(await h.drain()) == ["default/web", "default/web2"]
    h.add(kinds.PODS, make_pod("stranger", make_rs("gone")))  # owner not in cache: nobody
    assert await h.drain() == []


async def test_pod_turning_ready_requeues_after_min_ready_seconds() -> None:
    rs = make_rs(replicas=1, min_ready=10)
    pod = make_pod("a", rs, ready=False)
    h = Harness([rs], [pod])
    await h.drain()
    ready = make_pod("a", rs, ready_ago=0)
    ready["metadata"]["resourceVersion"] = "1"
    h.modify(kinds.PODS, ready)
    ready_at, _ = h.controller.queue._delayed["default/web"]
    assert 10 < ready_at - asyncio.get_running_loop().time() <= 11


# -- status ----------------------------------------------------------------------------------

@pytest.mark.parametrize("min_ready, pods, want", [
    (0, [dict(name="a"), dict(name="b", ready=False)],
     dict(replicas=2, fullyLabeledReplicas=2, readyReplicas=1, availableReplicas=1)),
    (30, [dict(name="a", ready_ago=60), dict(name="b", ready_ago=10), dict(name="c", ready=False)],
     dict(replicas=3, fullyLabeledReplicas=3, readyReplicas=2, availableReplicas=1)),
    (30, [dict(name="a", ready_ago=30)],  # exactly minReadySeconds is not yet "longer than"
     dict(replicas=1, fullyLabeledReplicas=1, readyReplicas=1, availableReplicas=0)),
    (0, [dict(name="a", labels={"app": "web", "extra": "x"}), dict(name="b")],
     dict(replicas=2, fullyLabeledReplicas=2, readyReplicas=2, availableReplicas=2)),
])
async def test_status_fields(min_ready: int, pods: list[Obj], want: Obj) -> None:
    rs = make_rs(replicas=len(pods), min_ready=min_ready, generation=4)
    h = Harness([rs], [make_pod(owner=rs, **spec) for spec in pods])
    await h.reconcile()
    assert h.client.statuses == [want | {"observedGeneration": 4}]


async def test_fully_labeled_counts_pods_carrying_every_template_label() -> None:
    rs = make_rs(replicas=2)
    rs["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    h = Harness([rs], [make_pod("a", rs, labels={"app": "web", "tier": "front"}), make_pod("b", rs)])
    await h.reconcile()
    assert h.client.statuses[-1]["fullyLabeledReplicas"] == 1


async def test_requeues_when_a_ready_pod_becomes_available() -> None:
    rs = make_rs(replicas=2, min_ready=30)
    h = Harness([rs], [make_pod("a", rs, ready_ago=60), make_pod("b", rs, ready_ago=10)])
    loop = asyncio.get_running_loop()
    await h.reconcile()
    ready_at, _ = h.controller.queue._delayed["default/web"]
    assert 19 < ready_at - loop.time() <= 20  # 30s minReady - 10s already ready


async def test_unchanged_status_is_not_written() -> None:
    rs = make_rs(replicas=1, generation=2)
    rs["status"] = {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                    "observedGeneration": 2}
    h = Harness([rs], [make_pod("a", rs)])
    await h.reconcile()
    assert h.client.calls == []


async def test_deleted_replicaset_forgets_expectations() -> None:
    h = Harness([], [])
    h.controller.expectations.expect_creations("default/web", 3)
    await h.reconcile()
    assert h.controller.expectations.pending("default/web") == (0, 0)
    assert h.client.calls == []


async def test_replicaset_being_deleted_is_not_scaled() -> None:
    rs = make_rs(replicas=3, deletionTimestamp=ts(1))
    h = Harness([rs], [make_pod("a", rs)])
    await h.reconcile()
    assert h.client.verbs("create") == []
    assert h.client.statuses[-1]["replicas"] == 1
