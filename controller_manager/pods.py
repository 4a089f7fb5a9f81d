"""Pod helpers shared by controllers that own pods: activity/readiness, templates, claiming, ranking, expectations.

Pure functions over plain pod dicts (plus `Expectations`, a small in-memory
record), mirroring upstream's pkg/controller/controller_utils.go and
pkg/api/v1/pod so the ReplicaSet controller (and others that create pods)
agree on what "active", "ready", "available" and "delete this one first" mean.
"""
from __future__ import annotations

import asyncio
import copy
import functools
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.selectors import LabelSelector

Obj = dict[str, Any]

SLOW_START_INITIAL_BATCH_SIZE = 1
EXPECTATIONS_TTL_S = 300.0  # upstream ExpectationsTimeout: a lost watch event never wedges a controller for long
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


# -- time ----------------------------------------------------------------------

def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC3339 timestamp; None when absent or malformed."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # 3.11 parses a trailing Z
    except ValueError:
        return None


# -- pod state -----------------------------------------------------------------

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def pod_key(pod: Obj) -> str:
    meta = _meta(pod)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def is_active(pod: Obj) -> bool:
    """Upstream IsPodActive: not terminal and not being deleted, so it still counts towards replicas."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not _meta(pod).get("deletionTimestamp")


def ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    """When a ready pod became ready (its Ready condition's lastTransitionTime)."""
    cond = ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def seconds_until_available(pod: Obj, min_ready_s: int, now: float) -> float | None:
    """0 if available now, the time left if ready but not yet for minReadySeconds, None if not ready.

    Upstream IsPodAvailable: ready, and ready for strictly longer than minReadySeconds.
    """
    if not is_ready(pod):
        return None
    if min_ready_s <= 0:
        return 0.0
    since = ready_since(pod)
    if since is None:
        return None  # ready without a transition time can never prove its age
    left = since + min_ready_s - now
    return 0.0 if left < 0 else max(left, 0.001)


def is_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    return seconds_until_available(pod, min_ready_s, now) == 0.0


def labels_of(obj: Obj) -> dict[str, str]:
    return _meta(obj).get("labels") or {}


# -- templates and owner references ------------------------------------------------

def controller_ref_to(owner: Obj) -> Obj:
    """A controller ownerReference to `owner` (upstream NewControllerRef)."""
    meta = _meta(owner)
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""), "name": meta["name"],
            "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def pod_from_template(template: Obj, owner: Obj) -> Obj:
    """The pod to create for `owner`: template labels/annotations/finalizers/spec, named `<owner>-<random>`."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"generateName": f"{_meta(owner)['name']}-", "namespace": _meta(owner).get("namespace"),
                 "ownerReferences": [controller_ref_to(owner)]}
    for name in ("labels", "annotations", "finalizers"):
        if tmeta.get(name):
            meta[name] = _copy(tmeta[name])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": _copy(template.get("spec") or {})}


def _copy(value: Any) -> Any:
    return copy.deepcopy(value)


def owner_ref_of(obj: Obj, owner_uid: str) -> Obj | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == owner_uid:
            return ref
    return None


def controller_ref_of(obj: Obj) -> Obj | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def adopt_patch(owner: Obj, pod: Obj) -> Obj:
    """Strategic merge patch adding the controller ref (ownerReferences merge on uid, as upstream)."""
    return {"metadata": {"ownerReferences": [controller_ref_to(owner)], "uid": _meta(pod).get("uid")}}


def release_patch(owner: Obj, pod: Obj) -> Obj:
    """Strategic merge patch deleting the owner's ref from the pod and leaving any other refs alone."""
    ref = {"$patch": "delete", "uid": _meta(owner).get("uid")}
    return {"metadata": {"ownerReferences": [ref], "uid": _meta(pod).get("uid")}}


@dataclass
class Claims:
    """How a controller's view of pods splits (upstream PodControllerRefManager.ClaimPods)."""
    owned: list[Obj] = field(default_factory=list)    # ours and matching: keep
    adopt: list[Obj] = field(default_factory=list)    # orphans matching the selector
    release: list[Obj] = field(default_factory=list)  # ours but no longer matching


def classify(owner: Obj, selector: LabelSelector, pods: Iterable[Obj]) -> Claims:
    """Sort pods into owned / to adopt / to release; pods of other controllers are ignored.

    An empty selector matches nothing here (upstream refuses to adopt with one), and a pod
    being deleted is neither adopted nor released: it is on its way out anyway.
    """
    claims, uid = Claims(), _meta(owner).get("uid")
    owner_deleting = bool(_meta(owner).get("deletionTimestamp"))
    for pod in pods:
        matches = not selector.empty and selector.matches(labels_of(pod))
        ref = controller_ref_of(pod)
        deleting = bool(_meta(pod).get("deletionTimestamp"))
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                claims.owned.append(pod)
            elif not deleting and not owner_deleting:
                claims.release.append(pod)
        elif matches and not deleting and not owner_deleting:
            claims.adopt.append(pod)
    return claims


# -- choosing pods to delete -------------------------------------------------------

def _deletion_cost(pod: Obj) -> int:
    raw = (_meta(pod).get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((s.get("restartCount") or 0 for s in statuses), default=0)


def _log_bucket(moment: float, now: float) -> int:
    """Upstream logarithmicRankDiff's rank: floor(log2(age in ns)), -1 for no age."""
    age_ns = (now - moment) * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


def _compare_times(a: Obj, b: Obj, ta: float | None, tb: float | None, now: float) -> int | None:
    """Newer first, a missing time first; within one log2 age bucket by uid (upstream LogarithmicScaleDown)."""
    if ta == tb:
        return None
    if ta is None or tb is None:
        return -1 if ta is None else 1
    diff = _log_bucket(ta, now) - _log_bucket(tb, now)
    if diff == 0:
        ua, ub = _meta(a).get("uid", ""), _meta(b).get("uid", "")
        return (ua > ub) - (ua < ub)
    return -1 if diff < 0 else 1


def _compare_for_deletion(a: tuple[Obj, int], b: tuple[Obj, int], now: float) -> int:
    """Negative when pod `a` should be deleted before `b` (upstream ActivePodsWithRanks.Less)."""
    (pa, rank_a), (pb, rank_b) = a, b
    simple = [
        (bool((pa.get("spec") or {}).get("nodeName")), bool((pb.get("spec") or {}).get("nodeName"))),
        (_PHASE_ORDER.get((pa.get("status") or {}).get("phase", ""), 0),
         _PHASE_ORDER.get((pb.get("status") or {}).get("phase", ""), 0)),
        (is_ready(pa), is_ready(pb)),
        (_deletion_cost(pa), _deletion_cost(pb)),
        (-rank_a, -rank_b),  # doubled-up pods (more siblings on the node) go first
    ]
    for left, right in simple:
        if left != right:
            return -1 if left < right else 1
    if is_ready(pa) and is_ready(pb):
        verdict = _compare_times(pa, pb, ready_since(pa), ready_since(pb), now)
        if verdict is not None:
            return verdict
    restarts_a, restarts_b = _max_restarts(pa), _max_restarts(pb)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    verdict = _compare_times(pa, pb, parse_time(_meta(pa).get("creationTimestamp")),
                             parse_time(_meta(pb).get("creationTimestamp")), now)
    return verdict or 0


def pods_to_delete(pods: list[Obj], related: Iterable[Obj], count: int, now: float | None = None) -> list[Obj]:
    """The `count` pods to delete first; rank = active related pods sharing the pod's node."""
    if count >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related:
        if is_active(pod):
            node = (pod.get("spec") or {}).get("nodeName", "")
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(pod, on_node.get((pod.get("spec") or {}).get("nodeName", ""), 0)) for pod in pods]
    when = time.time() if now is None else now
    ranked.sort(key=functools.cmp_to_key(lambda a, b: _compare_for_deletion(a, b, when)))
    return [pod for pod, _ in ranked[:count]]


# -- slow start ----------------------------------------------------------------------

async def slow_start_batch(count: int, initial_batch: int,
                           call: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Call `call` `count` times in concurrent batches of 1, 2, 4, …; stop after the first batch with a failure.

    Returns (successes, first error).  A failing quota or invalid template then costs
    one request, not `count` (upstream slowStartBatch).
    """
    remaining, successes = count, 0
    batch = min(remaining, initial_batch)
    while batch > 0:
        results = await asyncio.gather(*(call() for _ in range(batch)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, Exception):
                raise failure  # cancellation and friends
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]  # type: ignore[return-value]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- expectations --------------------------------------------------------------------

@dataclass
class _Expected:
    adds: int
    deletes: set[str]
    set_at: float


class Expectations:
    """Creates and deletes a controller issued but has not yet seen in its informer, per controller key.

    Upstream UIDTrackingControllerExpectations: while any are outstanding the controller
    must not act on its (stale) cache again, or a burst of events would create twice.
    Satisfied once every create/delete has been observed, or after `ttl_s`.
    """

    def __init__(self, ttl_s: float = EXPECTATIONS_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._records: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        record = self._records.get(key)
        if record is None:
            return True  # never set (new controller or restarted process): sync
        if record.adds <= 0 and not record.deletes:
            return True
        return self.clock() - record.set_at > self.ttl_s

    def expect_creations(self, key: str, count: int) -> None:
        self._records[key] = _Expected(count, set(), self.clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        self._records[key] = _Expected(0, set(pod_keys), self.clock())

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.adds -= 1

    def deletion_observed(self, key: str, pod_key_: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.deletes.discard(pod_key_)

    def pending(self, key: str) -> tuple[int, int]:
        """(creates, deletes) still expected; for tests and logs."""
        record = self._records.get(key)
        return (max(record.adds, 0), len(record.deletes)) if record else (0, 0)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)
