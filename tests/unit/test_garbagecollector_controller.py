"""Garbage collector without etcd: seeded informer caches, a fake server that mimics delete propagation, races."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.patch import merge_patch, strategic_merge_patch
from common import errors
from common.api import kinds, schema
from common.api.registry import ResourceType
from common.informer import SharedInformers
from controller_manager.garbagecollector import (
    FOREGROUND,
    ORPHAN,
    GarbageCollectorController,
    Node,
    OwnerGraph,
)

Obj = dict[str, Any]
NS = "default"
RT = {rt.plural: rt for rt in (kinds.PODS, kinds.REPLICASETS, kinds.DEPLOYMENTS, kinds.CONFIGMAPS)}


def ref(owner: Obj, *, block: bool = True, controller: bool = True) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": block}


def obj(rt: ResourceType, name: str, *owners: Obj, uid: str | None = None, **meta: Any) -> Obj:
    return {"apiVersion": rt.api_version, "kind": rt.kind,
            "metadata": {"name": name, "namespace": NS, "uid": uid or f"uid-{name}", "resourceVersion": "1",
                         **({"ownerReferences": list(owners)} if owners else {}), **meta}}


def rs(name: str = "web", *owners: Obj, **meta: Any) -> Obj:
    return obj(kinds.REPLICASETS, name, *owners, **meta)


def pod(name: str, *owners: Obj, **meta: Any) -> Obj:
    return obj(kinds.PODS, name, *owners, **meta)


DELETING = {"deletionTimestamp": "2030-01-01T00:00:00Z"}


class FakeServer:
    """Objects by (plural, name); mimics the apiserver's delete propagation and pinned-resourceVersion patches.

    Every change is queued as a watch event (`events`) for the harness to deliver to the informers."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.calls: list[tuple[str, str, str, Any]] = []  # (verb, plural, name, detail)
        self.events: list[tuple[str, str, Obj]] = []  # (type, plural, object)
        self._rv = 10

    def put(self, rt: ResourceType, o: Obj, event: str | None = "ADDED") -> Obj:
        o = copy.deepcopy(o)
        self._rv += 1
        o["metadata"]["resourceVersion"] = str(self._rv)
        self.objects[(rt.plural, o["metadata"]["name"])] = o
        if event:
            self.events.append((event, rt.plural, copy.deepcopy(o)))
        return o

    def gone(self, rt: ResourceType, name: str) -> None:
        o = self.objects.pop((rt.plural, name))
        self.events.append(("DELETED", rt.plural, o))

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> Obj:
        self.calls.append(("get", rt.plural, name, None))
        try:
            return copy.deepcopy(self.objects[(rt.plural, name)])
        except KeyError:
            raise errors.NotFound(f'{rt.plural} "{name}" not found') from None

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, preconditions: dict[str, str] | None = None,
                     **_: Any) -> Obj:
        self.calls.append(("delete", rt.plural, name, propagation_policy))
        current = await self.get(rt, name, namespace)
        self.calls.pop()
        if preconditions and preconditions.get("uid") != current["metadata"]["uid"]:
            raise errors.Conflict("Precondition failed: UID")
        finalizer = {"Orphan": ORPHAN, "Foreground": FOREGROUND}.get(propagation_policy or "")
        meta = current["metadata"]
        if finalizer and finalizer not in meta.setdefault("finalizers", []):
            meta["finalizers"].append(finalizer)
        if meta.get("finalizers"):
            meta.setdefault("deletionTimestamp", DELETING["deletionTimestamp"])
            return self.put(rt, current, "MODIFIED")
        self.gone(rt, name)
        return current

    async def patch(self, rt: ResourceType, name: str, patch: Obj, namespace: str | None = None, *,
                    patch_type: str = "merge", **_: Any) -> Obj:
        self.calls.append(("patch", rt.plural, name, patch))
        current = copy.deepcopy(self.objects.get((rt.plural, name)))
        if current is None:
            raise errors.NotFound(f'{rt.plural} "{name}" not found')
        pinned = (patch.get("metadata") or {}).get("resourceVersion")
        if pinned and pinned != current["metadata"]["resourceVersion"]:
            raise errors.Conflict("the object has been modified")
        if patch_type == "strategic":
            patched = strategic_merge_patch(current, patch, schema.schema_for(rt.api_version, rt.kind))
        else:
            patched = merge_patch(current, patch)
        meta = patched["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.gone(rt, name)
            return patched
        return self.put(rt, patched, "MODIFIED")

    def verbs(self, verb: str) -> list[tuple[str, str]]:
        return [(plural, name) for v, plural, name, _ in self.calls if v == verb]


class Harness:
    def __init__(self, *objects: Obj, server_only: tuple[Obj, ...] = ()) -> None:
        self.server = FakeServer()
        self.informers = SharedInformers(self.server)  # type: ignore[arg-type]
        self.gc = GarbageCollectorController(self.server, self.informers)
        for o in objects + server_only:
            self.server.put(self.rt(o), o, event=None if o in server_only else "ADDED")
        self.deliver()

    @staticmethod
    def rt(o: Obj) -> ResourceType:
        return {rt.kind: rt for rt in RT.values()}[o["kind"]]

    def deliver(self) -> None:
        """Hand every queued server change to the informers, as their watches would."""
        while self.server.events:
            event, plural, o = self.server.events.pop(0)
            self.informers.get(RT[plural])._apply_event(event, copy.deepcopy(o))

    async def drain(self, rounds: int = 20) -> list[str]:
        """Reconcile queued uids, delivering watch events after each, until nothing is left."""
        seen: list[str] = []
        for _ in range(rounds):
            if not len(self.gc.queue):
                break
            key = await self.gc.queue.get()
            seen.append(key)
            try:
                await self.gc.reconcile(key)
            finally:
                self.gc.queue.done(key)
            self.deliver()
        return seen

    def exists(self, plural: str, name: str) -> bool:
        return (plural, name) in self.server.objects

    def owners_of(self, plural: str, name: str) -> list[str]:
        return [r["uid"] for r in self.server.objects[(plural, name)]["metadata"].get("ownerReferences") or []]


OWNER = rs("web")


# -- the graph -------------------------------------------------------------------------------------------------


def test_graph_tracks_dependents_and_blockers_across_updates_and_removal() -> None:
    graph = OwnerGraph()
    graph.upsert(Node.of(kinds.PODS, pod("a", ref(OWNER))))
    graph.upsert(Node.of(kinds.PODS, pod("b", ref(OWNER, block=False))))
    assert [d.name for d in graph.dependents("uid-web")] == ["a", "b"]
    assert [d.name for d in graph.blocking_dependents("uid-web")] == ["a"]
    graph.upsert(Node.of(kinds.PODS, pod("a")))  # reference removed
    assert [d.name for d in graph.dependents("uid-web")] == ["b"]
    graph.remove("uid-b")
    assert graph.dependents("uid-web") == [] and graph._dependents == {}


def test_only_objects_that_may_need_work_are_enqueued() -> None:
    h = Harness(OWNER, pod("kept", ref(OWNER)), pod("plain"), pod("lost", ref(rs("old", uid="uid-old"))))
    assert sorted(h.gc.queue._queue) == ["uid-lost"]  # type: ignore[attr-defined]


# -- background ------------------------------------------------------------------------------------------------


async def test_dependent_of_a_deleted_owner_is_deleted_in_the_background() -> None:
    h = Harness(OWNER, pod("a", ref(OWNER)), pod("b", ref(OWNER)), pod("other"))
    h.server.gone(kinds.REPLICASETS, "web")
    h.deliver()
    await h.drain()
    assert sorted(h.server.verbs("delete")) == [("pods", "a"), ("pods", "b")]
    assert all(p == "Background" for v, _, _, p in h.server.calls if v == "delete")
    assert h.exists("pods", "other")
    # The owner was seen gone in the cache, then confirmed once with a live GET and remembered.
    assert h.server.verbs("get").count(("replicasets", "web")) == 1


async def test_owner_missing_from_the_cache_but_alive_on_the_server_keeps_its_dependent() -> None:
    h = Harness(pod("a", ref(OWNER)), server_only=(OWNER,))
    await h.drain()
    assert h.server.verbs("delete") == [] and h.owners_of("pods", "a") == ["uid-web"]
    assert ("replicasets", "web") in h.server.verbs("get"), "absence was checked live, not assumed"


async def test_owner_name_reused_by_a_new_object_counts_as_gone() -> None:
    h = Harness(pod("a", ref(OWNER)), server_only=(rs("web", uid="uid-web-2"),))
    await h.drain()
    assert h.server.verbs("delete") == [("pods", "a")]


async def test_a_live_second_owner_only_loses_the_dangling_reference() -> None:
    other = obj(kinds.CONFIGMAPS, "keeper")
    h = Harness(other, pod("a", ref(OWNER), ref(other, controller=False)))
    await h.drain()
    assert h.server.verbs("delete") == []
    assert h.owners_of("pods", "a") == ["uid-keeper"]
    [(_, _, _, patch)] = [c for c in h.server.calls if c[0] == "patch"]
    assert patch == {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "uid-web"}]}}


async def test_a_configmap_owned_by_a_configmap_cascades() -> None:
    parent = obj(kinds.CONFIGMAPS, "parent")
    h = Harness(parent, obj(kinds.CONFIGMAPS, "child", ref(parent)))
    await h.server.delete(kinds.CONFIGMAPS, "parent", NS, propagation_policy="Background")
    h.deliver()
    await h.drain()
    assert not h.exists("configmaps", "child")


async def test_cascade_runs_down_a_chain() -> None:
    deploy = obj(kinds.DEPLOYMENTS, "d")
    child = rs("web", ref(deploy))
    h = Harness(deploy, child, pod("a", ref(child)))
    await h.server.delete(kinds.DEPLOYMENTS, "d", NS)
    h.deliver()
    await h.drain()
    assert not h.exists("replicasets", "web") and not h.exists("pods", "a")


async def test_a_dependent_already_being_deleted_is_left_alone() -> None:
    h = Harness(pod("a", ref(OWNER), **DELETING))
    await h.drain()
    assert h.server.verbs("delete") == [] and h.server.verbs("get") == []


async def test_references_removed_on_the_server_but_not_yet_in_the_cache_save_the_object() -> None:
    """The orphaning race: the owner's delete is seen before the dependent's update that dropped the reference."""
    h = Harness(pod("a", ref(OWNER)))
    h.server.objects[("pods", "a")]["metadata"].pop("ownerReferences")
    await h.drain()
    assert h.server.verbs("delete") == []


async def test_an_owner_of_unknown_kind_is_never_taken_for_gone() -> None:
    strange = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "uid-w"}
    h = Harness(pod("a", strange))
    await h.drain()
    assert h.server.verbs("delete") == []


async def test_a_dependent_replaced_under_the_same_name_is_not_deleted() -> None:
    h = Harness(pod("a", ref(OWNER)))
    h.server.put(kinds.PODS, pod("a", ref(OWNER), uid="uid-a-2"), event=None)
    await h.drain()
    assert h.server.verbs("delete") == []


# -- orphan ----------------------------------------------------------------------------------------------------


async def test_orphan_strips_the_reference_then_drops_the_finalizer() -> None:
    other = obj(kinds.CONFIGMAPS, "keeper")
    h = Harness(OWNER, other, pod("a", ref(OWNER)), pod("b", ref(OWNER), ref(other, controller=False)))
    await h.server.delete(kinds.REPLICASETS, "web", NS, propagation_policy="Orphan")
    h.deliver()
    await h.drain()
    assert not h.exists("replicasets", "web")
    assert h.exists("pods", "a") and h.exists("pods", "b")
    assert h.owners_of("pods", "a") == [] and h.owners_of("pods", "b") == ["uid-keeper"]
    patches = [(plural, name) for v, plural, name, _ in h.server.calls if v == "patch"]
    assert patches[-1] == ("replicasets", "web"), "the finalizer goes only after every dependent is orphaned"


async def test_orphan_with_the_owner_delete_seen_before_the_dependent_updates() -> None:
    h = Harness(OWNER, pod("a", ref(OWNER)))
    await h.server.delete(kinds.REPLICASETS, "web", NS, propagation_policy="Orphan")
    h.deliver()
    await h.gc.reconcile("uid-web")
    # Deliver the RS's deletion first and the pod's update last: the GC must still keep the pod.
    h.server.events.sort(key=lambda e: e[1] != "replicasets")
    await h.gc.reconcile("uid-web")
    h.deliver()
    await h.drain()
    assert not h.exists("replicasets", "web") and h.exists("pods", "a") and h.owners_of("pods", "a") == []


# -- foreground ------------------------------------------------------------------------------------------------


async def test_foreground_deletes_dependents_before_the_owner() -> None:
    h = Harness(OWNER, pod("a", ref(OWNER)), pod("b", ref(OWNER)))
    await h.server.delete(kinds.REPLICASETS, "web", NS, propagation_policy="Foreground")
    h.deliver()
    assert h.exists("replicasets", "web")
    h.server.calls.clear()
    await h.drain()
    assert not h.exists("replicasets", "web") and not h.exists("pods", "a") and not h.exists("pods", "b")
    writes = [(v, name) for v, _, name, _ in h.server.calls if v in ("delete", "patch")]
    assert writes == [("delete", "a"), ("delete", "b"), ("patch", "web")]


async def test_foreground_owner_waits_for_a_blocking_dependent_still_terminating() -> None:
    h = Harness(OWNER, pod("a", ref(OWNER), finalizers=["example.com/hold"]))
    await h.server.delete(kinds.REPLICASETS, "web", NS, propagation_policy="Foreground")
    h.deliver()
    await h.drain()
    assert h.exists("pods", "a") and h.exists("replicasets", "web"), "the pod is held by its finalizer"
    await h.server.patch(kinds.PODS, "a", {"metadata": {"finalizers": None}}, NS)
    h.deliver()
    await h.drain()
    assert not h.exists("pods", "a") and not h.exists("replicasets", "web")


async def test_foreground_does_not_wait_for_non_blocking_dependents() -> None:
    h = Harness(OWNER, pod("a", ref(OWNER, block=False), finalizers=["example.com/hold"]))
    await h.server.delete(kinds.REPLICASETS, "web", NS, propagation_policy="Foreground")
    h.deliver()
    await h.drain()
    assert not h.exists("replicasets", "web")


async def test_foreground_propagates_down_a_chain() -> None:
    deploy = obj(kinds.DEPLOYMENTS, "d")
    child = rs("web", ref(deploy))
    h = Harness(deploy, child, pod("a", ref(child)))
    await h.server.delete(kinds.DEPLOYMENTS, "d", NS, propagation_policy="Foreground")
    h.deliver()
    await h.drain()
    policies = {name: p for v, _, name, p in h.server.calls if v == "delete"}
    assert policies["web"] == "Foreground", "a dependent with dependents of its own keeps the chain in order"
    assert not any(h.exists(*k) for k in (("deployments", "d"), ("replicasets", "web"), ("pods", "a")))


async def test_finalizer_removal_conflict_is_retried() -> None:
    h = Harness(rs("web", finalizers=[FOREGROUND], **DELETING))
    real_get = h.server.get

    async def stale_get(rt: ResourceType, name: str, namespace: str | None = None) -> Obj:
        o = await real_get(rt, name, namespace)
        o["metadata"]["resourceVersion"] = "0"
        return o

    h.server.get = stale_get  # type: ignore[method-assign]
    with pytest.raises(errors.Conflict):
        await h.gc.reconcile("uid-web")
    h.server.get = real_get  # type: ignore[method-assign]
    await h.gc.reconcile("uid-web")
    assert not h.exists("replicasets", "web")


async def test_an_owner_that_reaches_the_cache_before_the_worker_costs_no_request() -> None:
    """Start-up: pods are listed before their ReplicaSets; by the time workers run, the cache answers."""
    h = Harness(pod("a", ref(OWNER)))
    assert len(h.gc.queue) == 1
    h.server.put(kinds.REPLICASETS, OWNER)
    h.deliver()
    await h.drain()
    assert h.server.calls == []


def test_registered_in_the_controller_manager() -> None:
    from controller_manager.main import _registry
    informers = SharedInformers(FakeServer())  # type: ignore[arg-type]
    gc = _registry()["garbagecollector"](FakeServer(), informers, None)  # type: ignore[arg-type]
    assert isinstance(gc, GarbageCollectorController)
    assert {i.rt.kind for i in gc.informers} >= {"Pod", "ReplicaSet", "Deployment", "ConfigMap", "Secret", "Job"}
