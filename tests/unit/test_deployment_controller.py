"""Deployment controller: rollout math tables, hashing, revisions, strategies, history, conditions (no etcd)."""
from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from common import errors
from common.api import kinds
from common.api.registry import ResourceType
from common.informer import SharedInformers
from controller_manager import rollout as r
from controller_manager.deployment import DeploymentController

Obj = dict[str, Any]


# -- fakes ---------------------------------------------------------------------------------

class FakeClient:
    """An in-memory apiserver for the verbs the controller uses; every write lands in the informer cache at
    once (as if the watch delivered it), with resourceVersion compare-and-swap and generation like the real one."""

    def __init__(self) -> None:
        self.informers = SharedInformers(self)  # type: ignore[arg-type] - never run: list/watch unused
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.rv = itertools.count(100)
        self.clock = itertools.count(1)
        self.writes: list[tuple[str, str, str]] = []  # (verb, plural, name)

    def _key(self, rt: ResourceType, name: str, namespace: str | None) -> tuple[str, str, str]:
        return rt.plural, namespace or "", name

    def _store(self, rt: ResourceType, obj: Obj, event: str) -> Obj:
        obj["metadata"]["resourceVersion"] = str(next(self.rv))
        self.objects[self._key(rt, obj["metadata"]["name"], obj["metadata"].get("namespace"))] = obj
        self.informers.get(rt)._apply_event(event, copy.deepcopy(obj))
        return copy.deepcopy(obj)

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> Obj:
        try:
            return copy.deepcopy(self.objects[self._key(rt, name, namespace)])
        except KeyError:
            raise errors.NotFound(f"{rt.plural} {name!r} not found") from None

    async def create(self, rt: ResourceType, obj: Obj, namespace: str | None = None) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta.setdefault("namespace", namespace)
        if self._key(rt, meta["name"], meta["namespace"]) in self.objects:
            raise errors.AlreadyExists(f"{rt.plural} {meta['name']!r} already exists")
        tick = next(self.clock)
        meta.update(uid=f"uid-{meta['name']}", generation=1,
                    creationTimestamp=f"2026-01-01T00:{tick // 60:02d}:{tick % 60:02d}Z")
        obj.setdefault("status", {})
        self.writes.append(("create", rt.plural, meta["name"]))
        return self._store(rt, obj, "ADDED")

    async def update(self, rt: ResourceType, obj: Obj, subresource: str | None = None) -> Obj:
        meta = obj["metadata"]
        current = self.objects.get(self._key(rt, meta["name"], meta.get("namespace")))
        if current is None:
            raise errors.NotFound(f"{rt.plural} {meta['name']!r} not found")
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise errors.Conflict(f"{rt.plural} {meta['name']!r}: the object has been modified")
        if subresource == "status":
            new = copy.deepcopy(current)
            new["status"] = copy.deepcopy(obj.get("status") or {})
        else:
            new = copy.deepcopy(obj)
            new["status"] = copy.deepcopy(current.get("status") or {})
            new["metadata"]["generation"] = current["metadata"]["generation"] + (new["spec"] != current["spec"])
        self.writes.append((f"update{'/' + subresource if subresource else ''}", rt.plural, meta["name"]))
        return self._store(rt, new, "MODIFIED")

    async def update_status(self, rt: ResourceType, obj: Obj) -> Obj:
        return await self.update(rt, obj, "status")

    async def patch(self, rt: ResourceType, name: str, patch: Obj, namespace: str | None = None) -> Obj:
        current = copy.deepcopy(self.objects[self._key(rt, name, namespace)])
        current["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])
        self.writes.append(("patch", rt.plural, name))
        return self._store(rt, current, "MODIFIED")

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None) -> Obj:
        obj = self.objects.pop(self._key(rt, name, namespace))
        self.writes.append(("delete", rt.plural, name))
        self.informers.get(rt)._apply_event("DELETED", copy.deepcopy(obj))
        return obj

    # -- test helpers ------------------------------------------------------------------

    def replicasets(self) -> list[Obj]:
        return r.by_creation([o for (plural, _, _), o in self.objects.items() if plural == "replicasets"])

    def deployment(self, name: str = "web") -> Obj:
        return self.objects[("deployments", "default", name)]

    async def edit(self, name: str, change: Any) -> None:
        d = copy.deepcopy(self.deployment(name))
        change(d)
        await self.update(kinds.DEPLOYMENTS, d)

    async def settle_replicasets(self, available: dict[str, int] | None = None) -> None:
        """Test scaffolding for the ReplicaSet controller: status = spec (or `available` pods ready)."""
        for rs in self.replicasets():
            want = r.spec_replicas(rs)
            ready = min(want, (available or {}).get(rs["metadata"]["name"], want))
            status = {"replicas": want, "readyReplicas": ready, "availableReplicas": ready,
                      "observedGeneration": rs["metadata"]["generation"]}
            if rs.get("status") != status:
                await self.update_status(kinds.REPLICASETS, {**rs, "status": status})


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        self.events.append((type_, reason, message))


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def template(image: str = "nginx:1", **annotations: str) -> Obj:
    meta: Obj = {"labels": {"app": "web"}}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "image": image}], "restartPolicy": "Always"}}


def deployment(replicas: int = 4, image: str = "nginx:1", strategy: str = "RollingUpdate",
               surge: int | str = "25%", unavailable: int | str = "25%", history: int = 10,
               deadline: int = 600) -> Obj:
    """A Deployment as the apiserver stores it: defaults filled in."""
    strat: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image),
                     "strategy": strat, "revisionHistoryLimit": history, "progressDeadlineSeconds": deadline,
                     "minReadySeconds": 0}}


class Harness:
    def __init__(self) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.clock = Clock()
        self.controller = DeploymentController(self.client, self.client.informers, recorder=self.recorder,
                                               clock=self.clock)
        self.requeued: list[float] = []
        self.controller.enqueue_after = lambda obj, delay: self.requeued.append(delay)  # type: ignore[method-assign]
        self.spec_sums: list[int] = []
        self.available_sums: list[int] = []

    async def create(self, d: Obj) -> None:
        await self.client.create(kinds.DEPLOYMENTS, d)

    async def step(self) -> None:
        await self.controller.reconcile("default/web")
        rss = self.client.replicasets()
        self.spec_sums.append(r.sum_spec(rss))
        self.available_sums.append(r.sum_status(rss, "availableReplicas"))

    async def converge(self, settle: bool = True, available: dict[str, int] | None = None, steps: int = 60) -> None:
        """Reconcile (and let the stand-in ReplicaSet controller catch up) until nothing is written any more."""
        for _ in range(steps):
            before = len(self.client.writes)
            await self.step()
            if settle:
                await self.client.settle_replicasets(available)
            if len(self.client.writes) == before:
                return
        raise AssertionError("did not converge")

    def rs_by_revision(self) -> dict[int, Obj]:
        return {r.revision_of(rs): rs for rs in self.client.replicasets()}

    @property
    def d(self) -> Obj:
        return self.client.deployment()


# -- rollout math tables ---------------------------------------------------------------------

@pytest.mark.parametrize("surge, unavailable, desired, expected", [
    ("25%", "25%", 10, (3, 2)),     # surge rounds up, unavailable down
    ("25%", "25%", 1, (1, 0)),
    ("25%", "25%", 4, (1, 1)),
    (0, 0, 5, (0, 1)),              # both zero would never progress
    (0, "10%", 5, (0, 1)),          # 10% of 5 floors to 0 → both zero → 1
    (2, "30%", 10, (2, 3)),
    ("100%", 0, 3, (3, 0)),
    ("1%", "99%", 10, (1, 9)),
    (None, None, 8, (2, 2)),        # unset means the 25% defaults
])
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    assert r.resolve_fenceposts(surge, unavailable, desired) == expected


def test_bad_int_or_percent_is_rejected() -> None:
    with pytest.raises(ValueError):
        r.scaled_value("25", 10, True)


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert r.max_unavailable(deployment(replicas=3, unavailable=5)) == 3
    assert r.max_unavailable(deployment(replicas=0)) == 0
    recreate = deployment(strategy="Recreate")
    assert (r.max_surge(recreate), r.max_unavailable(recreate)) == (0, 0)


def rs(name: str, replicas: int, available: int | None = None, created: str = "00", revision: int = 1) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": f"2026-01-01T00:00:{created}Z",
                         "annotations": {r.REVISION: str(revision)}},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": replicas if available is None else available}}


@pytest.mark.parametrize("desired, surge, old, new, expected", [
    (10, "25%", 10, 0, 3),     # room for 3 extra pods
    (10, "25%", 10, 3, 3),     # at replicas + surge already: stay
    (10, "25%", 7, 3, 6),      # old shrank by 3: grow by 3
    (10, "25%", 0, 8, 10),     # never past replicas
    (10, 0, 10, 0, 0),         # no surge: must wait for old to shrink first
    (3, 1, 3, 0, 1),
])
def test_new_rs_new_replicas(desired: int, surge: Any, old: int, new: int, expected: int) -> None:
    d = deployment(replicas=desired, surge=surge, unavailable=1)
    new_rs, old_rs = rs("new", new, created="02"), rs("old", old, created="01")
    assert r.new_rs_new_replicas(d, [old_rs, new_rs], new_rs) == expected


def test_new_rs_new_replicas_recreate_goes_straight_to_replicas() -> None:
    d = deployment(replicas=5, strategy="Recreate")
    assert r.new_rs_new_replicas(d, [rs("new", 0)], rs("new", 0)) == 5


def test_reconcile_new_rs_scales_down_an_oversized_new_rs() -> None:
    d = deployment(replicas=2)
    assert r.reconcile_new_rs(d, [rs("new", 5)], rs("new", 5)) == 2
    assert r.reconcile_new_rs(d, [rs("new", 2)], rs("new", 2)) is None


@pytest.mark.parametrize("old_rss, new, expected", [
    # healthy old RS: scale down by available - (replicas - maxUnavailable) = 10 - 8
    ([("old", 10, 10, "01")], ("new", 3, 0), {"old": 8}),
    # the new RS's unavailable pods do not count as spare: 13 - 8 - 3 = 2 at most
    ([("old", 10, 10, "01")], ("new", 3, 3), {"old": 5}),
    # unhealthy replicas go first (oldest first), capped by maxScaledDown
    ([("a", 5, 2, "01"), ("b", 5, 5, "02")], ("new", 3, 0), {"a": 3}),
    # nothing spare: no step
    ([("old", 8, 8, "01")], ("new", 5, 0), {}),
    # cleanup then healthy scale-down in one plan
    ([("a", 4, 0, "01"), ("b", 6, 6, "02")], ("new", 2, 2), {"a": 0}),  # 12 - 8 = 4 unhealthy removed
    # cleanup (a: 4 → 1), then 10 available - 8 = 2 healthy: oldest first (a's last one, then one of b)
    ([("a", 4, 1, "01"), ("b", 6, 6, "02")], ("new", 3, 3), {"a": 0, "b": 5}),
])
def test_reconcile_old_rss(old_rss: list[tuple[str, int, int, str]], new: tuple[str, int, int],
                           expected: dict[str, int]) -> None:
    d = deployment(replicas=10, surge="25%", unavailable="25%")  # surge 3, unavailable 2
    olds = [rs(n, spec, avail, created) for n, spec, avail, created in old_rss]
    new_rs = rs(new[0], new[1], new[2], created="09")
    plan = r.reconcile_old_rss(d, [*olds, new_rs], olds, new_rs)
    assert {s["metadata"]["name"]: size for s, size in plan} == expected


def test_proportional_scale_mid_rollout() -> None:
    d = deployment(replicas=20)  # surge 5: 25 allowed
    old, new = rs("old", 8, created="01"), rs("new", 5, created="02")
    for x in (old, new):
        x["metadata"]["annotations"][r.MAX_REPLICAS] = "13"
    assert {s["metadata"]["name"]: n for s, n in r.proportional_scale(d, new, [old])} == {"old": 15, "new": 10}
    shrink = deployment(replicas=5)  # surge 2: 7 allowed, 13 → remove 6
    plan = {s["metadata"]["name"]: n for s, n in r.proportional_scale(shrink, new, [old])}
    assert sum(plan.values()) == 7 and plan["old"] > plan["new"]


def test_proportional_scale_without_rollout_resizes_the_only_active_rs() -> None:
    d = deployment(replicas=7)
    old, new = rs("old", 0, created="01"), rs("new", 4, created="02")
    assert [(s["metadata"]["name"], n) for s, n in r.proportional_scale(d, new, [old])] == [("new", 7)]


# -- hashing ------------------------------------------------------------------------------------

def test_hash_is_stable_and_safe_encoded() -> None:
    a = template()
    b = {"spec": {"restartPolicy": "Always", "containers": [{"image": "nginx:1", "name": "c"}]},
         "metadata": {"labels": {"app": "web"}, "annotations": {}, "creationTimestamp": None}}
    assert r.compute_hash(a) == r.compute_hash(b) == "6889fbcd85"  # pinned: a change renames every ReplicaSet
    assert set(r.compute_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert r.compute_hash(template("nginx:2")) != r.compute_hash(a)
    assert r.compute_hash(a, 1) != r.compute_hash(a) != r.compute_hash(a, 0)


def test_equal_ignore_hash() -> None:
    labelled = template()
    labelled["metadata"]["labels"][r.UNIQUE_LABEL] = "abc"
    assert r.equal_ignore_hash(labelled, template())
    assert not r.equal_ignore_hash(labelled, template("nginx:2"))
    assert not r.equal_ignore_hash(template(**{"kubectl.kubernetes.io/restartedAt": "now"}), template())


# -- the controller, rolling updates --------------------------------------------------------------

async def test_create_makes_rs_named_by_hash_with_revision_and_status() -> None:
    h = Harness()
    await h.create(deployment(replicas=3))
    await h.converge()
    [rs_] = h.client.replicasets()
    pod_hash = r.compute_hash(deployment()["spec"]["template"])
    assert rs_["metadata"]["name"] == f"web-{pod_hash}"
    assert rs_["spec"]["selector"]["matchLabels"] == {"app": "web", r.UNIQUE_LABEL: pod_hash}
    assert rs_["spec"]["template"]["metadata"]["labels"][r.UNIQUE_LABEL] == pod_hash
    assert rs_["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web", "controller": True,
        "blockOwnerDeletion": True}
    notes = rs_["metadata"]["annotations"]
    assert (notes[r.REVISION], notes[r.DESIRED_REPLICAS], notes[r.MAX_REPLICAS]) == ("1", "3", "4")
    assert h.d["metadata"]["annotations"][r.REVISION] == "1"
    status = h.d["status"]
    assert {k: status[k] for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                   "availableReplicas", "unavailableReplicas")} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "unavailableReplicas": 0}
    assert h.recorder.events[0] == ("Normal", "ScalingReplicaSet", f"Scaled up replica set web-{pod_hash} from 0 to 3")


async def test_rolling_update_respects_surge_and_unavailable_and_records_events() -> None:
    h = Harness()
    await h.create(deployment(replicas=10))  # surge 3, unavailable 2
    await h.converge()
    h.spec_sums.clear()
    h.available_sums.clear()
    await h.client.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:2"))
    await h.converge()
    revs = h.rs_by_revision()
    assert sorted(revs) == [1, 2]
    assert r.spec_replicas(revs[2]) == 10 and r.spec_replicas(revs[1]) == 0
    assert max(h.spec_sums) == 13  # used the surge, never more
    assert min(h.available_sums) >= 8
    assert h.d["metadata"]["annotations"][r.REVISION] == "2"
    new_name, old_name = revs[2]["metadata"]["name"], revs[1]["metadata"]["name"]
    messages = [m for _, reason, m in h.recorder.events if reason == "ScalingReplicaSet"]
    assert messages[1:] == [f"Scaled up replica set {new_name} from 0 to 3",     # 13 = 10 + surge
                            f"Scaled down replica set {old_name} from 10 to 8",  # 13 available - 2 - 3 new
                            f"Scaled up replica set {new_name} from 3 to 5",
                            f"Scaled down replica set {old_name} from 8 to 3",
                            f"Scaled up replica set {new_name} from 5 to 10",
                            f"Scaled down replica set {old_name} from 3 to 0"]


async def test_rollout_waits_for_new_pods_to_become_available() -> None:
    h = Harness()
    await h.create(deployment(replicas=4))  # surge 1, unavailable 1
    await h.converge()
    await h.client.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="bad:1"))
    new_name = f"web-{r.compute_hash(template('bad:1'))}"
    await h.converge(available={new_name: 0})
    sizes = {x["metadata"]["name"]: r.spec_replicas(x) for x in h.client.replicasets()}
    # one unavailable allowed: old at 3; new at 2 (3 + 2 = 4 + surge 1)
    assert sizes[new_name] == 2 and sum(sizes.values()) == 5
    assert h.d["status"]["availableReplicas"] == 3 and h.d["status"]["unavailableReplicas"] == 2


async def test_undo_reuses_old_rs_with_bumped_revision() -> None:
    h = Harness()
    await h.create(deployment(replicas=2))
    await h.converge()
    first = h.client.replicasets()[0]["metadata"]["name"]
    await h.client.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:2"))
    await h.converge()
    await h.client.edit("web", lambda d: d["spec"].update(template=template("nginx:1")))
    await h.converge()
    revs = h.rs_by_revision()
    assert sorted(revs) == [2, 3] and len(h.client.replicasets()) == 2
    assert revs[3]["metadata"]["name"] == first
    assert revs[3]["metadata"]["annotations"][r.REVISION_HISTORY] == "1"
    assert r.spec_replicas(revs[3]) == 2 and r.spec_replicas(revs[2]) == 0
    assert h.d["metadata"]["annotations"][r.REVISION] == "3"


async def test_restart_is_a_template_change() -> None:
    h = Harness()
    await h.create(deployment(replicas=1))
    await h.converge()
    await h.client.edit("web", lambda d: d["spec"]["template"]["metadata"].update(
        annotations={"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}))
    await h.converge()
    assert sorted(h.rs_by_revision()) == [1, 2]


async def test_history_limit_deletes_oldest_scaled_down_rses() -> None:
    h = Harness()
    await h.create(deployment(replicas=1, history=1))
    await h.converge()
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        await h.client.edit("web", lambda d, i=image: d["spec"]["template"]["spec"]["containers"][0].update(image=i))
        await h.converge()
    assert sorted(h.rs_by_revision()) == [3, 4]


async def test_scaling_without_rollout_resizes_new_rs_and_annotations() -> None:
    h = Harness()
    await h.create(deployment(replicas=2))
    await h.converge()
    await h.client.edit("web", lambda d: d["spec"].update(replicas=5))
    await h.converge()
    [rs_] = h.client.replicasets()
    assert r.spec_replicas(rs_) == 5
    assert rs_["metadata"]["annotations"][r.DESIRED_REPLICAS] == "5"
    assert h.d["status"]["replicas"] == 5


async def test_paused_deployment_scales_but_does_not_roll() -> None:
    h = Harness()
    await h.create(deployment(replicas=2))
    await h.converge()

    def pause_and_change(d: Obj) -> None:
        d["spec"].update(paused=True, replicas=3)
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"

    await h.client.edit("web", pause_and_change)
    await h.converge()
    [rs_] = h.client.replicasets()
    assert r.spec_replicas(rs_) == 3
    assert r.condition(h.d["status"], r.PROGRESSING)["reason"] == r.PAUSED
    await h.client.edit("web", lambda d: d["spec"].update(paused=False))
    await h.converge()
    assert sorted(h.rs_by_revision()) == [1, 2]
    assert r.condition(h.d["status"], r.PROGRESSING)["reason"] == r.NEW_RS_AVAILABLE


async def test_adopts_matching_orphan_and_releases_non_matching() -> None:
    h = Harness()
    orphan_template = template()
    orphan = {"metadata": {"name": "stray", "namespace": "default", "labels": {"app": "web"}},
              "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": orphan_template}}
    await h.client.create(kinds.REPLICASETS, orphan)
    await h.create(deployment(replicas=1))
    await h.converge()
    [adopted] = h.client.replicasets()
    assert adopted["metadata"]["name"] == "stray"  # same template: adopted and used as the new RS
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == "uid-web"
    relabelled = copy.deepcopy(adopted)
    relabelled["metadata"]["labels"] = {"app": "other"}
    await h.client.update(kinds.REPLICASETS, relabelled)
    await h.step()
    assert h.client.objects[("replicasets", "default", "stray")]["metadata"]["ownerReferences"] == []


# -- Recreate ------------------------------------------------------------------------------------

async def test_recreate_scales_old_to_zero_and_waits_for_pods_before_new() -> None:
    h = Harness()
    await h.create(deployment(replicas=3, strategy="Recreate"))
    await h.converge()
    [old] = h.client.replicasets()
    pod = {"metadata": {"name": "web-pod", "namespace": "default",
                        "ownerReferences": [{"kind": "ReplicaSet", "name": old["metadata"]["name"],
                                             "uid": old["metadata"]["uid"], "controller": True}]},
           "spec": {}, "status": {"phase": "Running"}}
    await h.client.create(kinds.PODS, pod)
    await h.client.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:2"))
    await h.step()
    assert [r.spec_replicas(x) for x in h.client.replicasets()] == [0]  # old down, no new yet
    await h.client.settle_replicasets()  # old RS reports 0 replicas, but its pod still runs
    await h.step()
    assert len(h.client.replicasets()) == 1
    await h.client.delete(kinds.PODS, "web-pod", "default")
    assert h.controller.queue.num_requeues("default/web") == 0 and len(h.controller.queue) >= 1
    await h.converge()
    revs = h.rs_by_revision()
    assert r.spec_replicas(revs[2]) == 3 and r.spec_replicas(revs[1]) == 0
    assert max(h.spec_sums) == 3  # never both at once


# -- conditions ------------------------------------------------------------------------------------

async def test_condition_transitions() -> None:
    h = Harness()
    await h.create(deployment(replicas=2))
    await h.step()
    progressing = r.condition(h.d["status"], r.PROGRESSING)
    assert (progressing["status"], progressing["reason"]) == ("True", r.NEW_RS_CREATED)
    available = r.condition(h.d["status"], r.AVAILABLE)
    assert (available["status"], available["reason"]) == ("False", r.MIN_UNAVAILABLE)
    await h.client.settle_replicasets()
    await h.converge()
    progressing = r.condition(h.d["status"], r.PROGRESSING)
    assert (progressing["status"], progressing["reason"]) == ("True", r.NEW_RS_AVAILABLE)
    assert progressing["message"] == f'ReplicaSet "{h.client.replicasets()[0]["metadata"]["name"]}" has successfully progressed.'
    available = r.condition(h.d["status"], r.AVAILABLE)
    assert (available["status"], available["reason"]) == ("True", r.MIN_AVAILABLE)


async def test_progress_deadline_exceeded_after_deadline_and_requeued_for_it() -> None:
    h = Harness()
    await h.create(deployment(replicas=2, deadline=30))
    await h.converge()
    await h.client.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="bad:1"))
    new_name = f"web-{r.compute_hash(template('bad:1'))}"
    await h.converge(available={new_name: 0})
    progressing = r.condition(h.d["status"], r.PROGRESSING)
    assert progressing["reason"] == r.RS_UPDATED
    assert h.requeued and 0 < h.requeued[-1] <= 31  # checks again once the deadline passes
    h.clock.now += 31
    await h.converge(available={new_name: 0})
    progressing = r.condition(h.d["status"], r.PROGRESSING)
    assert (progressing["status"], progressing["reason"]) == ("False", r.TIMED_OUT)
    assert progressing["message"] == f'ReplicaSet "{new_name}" has timed out progressing.'


def test_progressing_condition_keeps_transition_time_on_progress() -> None:
    d = deployment(replicas=2)
    d["metadata"]["generation"] = 1
    d["status"] = {"replicas": 2, "updatedReplicas": 0, "readyReplicas": 2, "availableReplicas": 2,
                   "conditions": [r.new_condition(r.PROGRESSING, "True", r.NEW_RS_CREATED, "x", 100.0)]}
    new = rs("new", 1, 0, created="02")
    status = r.rollout_status(d, [rs("old", 2, created="01"), new], new, 200.0)
    cond = r.condition(status, r.PROGRESSING)
    assert cond["reason"] == r.RS_UPDATED
    assert cond["lastTransitionTime"] == r.timestamp(100.0) and cond["lastUpdateTime"] == r.timestamp(200.0)


def test_history_to_delete_keeps_unsettled_and_nonzero() -> None:
    olds = [rs("a", 0, created="01", revision=1), rs("b", 1, created="02", revision=2),
            rs("c", 0, created="03", revision=3)]
    for x in olds:
        x["status"]["replicas"] = r.spec_replicas(x)
    assert [x["metadata"]["name"] for x in r.history_to_delete(olds, 1)] == ["a"]  # b still has a replica
    assert r.history_to_delete(olds, 3) == [] and r.history_to_delete(olds, None) == []


async def test_scaling_mid_rollout_is_proportional() -> None:
    h = Harness()
    await h.create(deployment(replicas=10))  # surge 3, unavailable 2
    await h.converge()
    await h.client.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="bad:1"))
    new_name = f"web-{r.compute_hash(template('bad:1'))}"
    await h.converge(available={new_name: 0})  # stuck: old 8, new 5 (= 13)
    sizes = {x["metadata"]["name"]: r.spec_replicas(x) for x in h.client.replicasets()}
    old_name = next(n for n in sizes if n != new_name)
    assert sizes == {old_name: 8, new_name: 5}
    await h.client.edit("web", lambda d: d["spec"].update(replicas=20))  # 25 allowed: +12 split 8:5
    await h.step()
    sizes = {x["metadata"]["name"]: r.spec_replicas(x) for x in h.client.replicasets()}
    assert sizes == {old_name: 15, new_name: 10}
    assert all(x["metadata"]["annotations"][r.DESIRED_REPLICAS] == "20" for x in h.client.replicasets())


async def test_hash_collision_bumps_collision_count() -> None:
    h = Harness()
    squatter_name = f"web-{r.compute_hash(template())}"
    squatter = {"metadata": {"name": squatter_name, "namespace": "default", "labels": {"app": "other"}},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                         "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": []}}}}
    await h.client.create(kinds.REPLICASETS, squatter)
    await h.create(deployment(replicas=1))
    await h.converge()
    assert h.d["status"]["collisionCount"] == 1
    mine = [x for x in h.client.replicasets() if x["metadata"]["name"] != squatter_name]
    assert [x["metadata"]["name"] for x in mine] == [f"web-{r.compute_hash(template(), 1)}"]
    assert h.d["status"]["availableReplicas"] == 1


def test_replica_failure_is_mirrored_from_the_new_rs_first() -> None:
    d = deployment(replicas=1)
    d["metadata"]["generation"] = 1
    old, new = rs("old", 0, created="01"), rs("new", 1, 0, created="02")
    for x, reason in ((old, "OldTrouble"), (new, "FailedCreate")):
        x["status"]["conditions"] = [{"type": r.REPLICA_FAILURE, "status": "True", "reason": reason,
                                      "message": "quota", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    status = r.rollout_status(d, [old, new], new, 100.0)
    assert r.condition(status, r.REPLICA_FAILURE)["reason"] == "FailedCreate"
    new["status"]["conditions"] = []
    d["status"] = status
    old["status"]["conditions"] = []
    assert r.condition(r.rollout_status(d, [old, new], new, 100.0), r.REPLICA_FAILURE) is None
