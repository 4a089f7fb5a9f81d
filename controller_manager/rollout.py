"""Pure Deployment rollout math: template hashes, surge/unavailable fenceposts, scaling steps, revisions, status.

Modelled on upstream pkg/controller/deployment/util and the rolling/recreate/
sync/progress files: every function here takes plain Kubernetes JSON dicts and
returns numbers, plans or new dicts; nothing does I/O, so unit tests call them
directly.  The controller (deployment.py) applies the plans through the API.
"""
from __future__ import annotations

import copy
import json
import math
import struct
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

UNIQUE_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that are the controller's own bookkeeping (or kubectl's), never copied to ReplicaSets.
_SKIP_COPY = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
              "kubectl.kubernetes.io/last-applied-configuration", "deprecated.deployment.rollback.to"}

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT, FAILED_RS_CREATE = "NewReplicaSetAvailable", "ProgressDeadlineExceeded", "ReplicaSetCreateError"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream rand.SafeEncodeString: no vowels, no 0/1/3


# -- small accessors -----------------------------------------------------------------

def spec_replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_of(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def annotations(obj: Obj) -> dict[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def uid(obj: Obj) -> str:
    return obj["metadata"].get("uid", "")


def is_rolling(d: Obj) -> bool:
    return ((d["spec"].get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def active(rss: list[Obj | None]) -> list[Obj]:
    """upstream FilterActiveReplicaSets: those with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def sum_spec(rss: list[Obj | None]) -> int:
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def sum_status(rss: list[Obj | None], field: str) -> int:
    return sum(status_of(rs, field) for rs in rss if rs is not None)


def by_creation(rss: list[Obj]) -> list[Obj]:
    """Oldest first; equal timestamps by name (upstream ReplicaSetsByCreationTimestamp)."""
    return sorted(rss, key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]))


# -- template hash ---------------------------------------------------------------------

def _prune(value: Any) -> Any:
    """Drop nulls and empty maps/lists: upstream compares with Semantic.DeepEqual, where nil == empty."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def fnv32a(data: bytes, h: int = 0x811C9DC5) -> int:
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def compute_hash(template: Obj, collision_count: int | None = None) -> str:
    """upstream controller.ComputeHash: FNV-32a of the template (here: canonical JSON instead of Go's spew dump),
    then collisionCount as 8 little-endian bytes, the decimal sum safe-encoded."""
    h = fnv32a(json.dumps(_prune(template), sort_keys=True, separators=(",", ":")).encode())
    if collision_count is not None:
        h = fnv32a(struct.pack("<Q", collision_count & 0xFFFFFFFF), h)
    return safe_encode(str(h))


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """Two pod templates are the same rollout target if they differ at most in the pod-template-hash label."""
    a, b = _prune(copy.deepcopy(a)), _prune(copy.deepcopy(b))
    for template in (a, b):
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(UNIQUE_LABEL, None)
    return _prune(a) == _prune(b)


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template matches the Deployment's (an `undo` finds the old one again)."""
    for rs in by_creation(rss):
        if equal_ignore_hash(rs["spec"].get("template") or {}, d["spec"].get("template") or {}):
            return rs
    return None


def find_old_rss(d: Obj, rss: list[Obj]) -> list[Obj]:
    new = find_new_rs(d, rss)
    return [rs for rs in rss if new is None or rs["metadata"]["name"] != new["metadata"]["name"]]


# -- fenceposts ------------------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """upstream GetScaledValueFromIntOrPercent: ints as they are, "N%" of total rounded up or down."""
    if value is None:
        value = "25%"
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: {value!r} is not a percentage")
    scaled = int(value[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; both 0 would deadlock, so unavailable becomes 1."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _fenceposts(d: Obj) -> tuple[int, int]:
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), spec_replicas(d))


def max_surge(d: Obj) -> int:
    return _fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or spec_replicas(d) == 0:
        return 0
    return min(_fenceposts(d)[1], spec_replicas(d))


# -- scaling steps -----------------------------------------------------------------------

Plan = list[tuple[Obj, int]]  # (replica set, its new spec.replicas)


def new_rs_new_replicas(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int:
    """upstream NewRSNewReplicas: Recreate jumps to replicas; RollingUpdate grows up to replicas + maxSurge in all."""
    if not is_rolling(d):
        return spec_replicas(d)
    current = sum_spec(all_rss)
    max_total = spec_replicas(d) + max_surge(d)
    if current >= max_total:
        return spec_replicas(new_rs)
    grow = min(max_total - current, spec_replicas(d) - spec_replicas(new_rs))
    return spec_replicas(new_rs) + grow


def reconcile_new_rs(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int | None:
    """The new ReplicaSet's next size, or None if it stays (upstream reconcileNewReplicaSet)."""
    current, desired = spec_replicas(new_rs), spec_replicas(d)
    if current == desired:
        return None
    if current > desired:
        return desired
    target = new_rs_new_replicas(d, all_rss, new_rs)
    return None if target == current else target


def reconcile_old_rss(d: Obj, all_rss: list[Obj | None], old_rss: list[Obj], new_rs: Obj | None) -> Plan:
    """upstream reconcileOldReplicaSets: first shrink unhealthy old replicas, then healthy ones, never below
    replicas - maxUnavailable available and never counting the new RS's unavailable pods as spare."""
    old_rss = active(old_rss)
    if sum_spec(old_rss) == 0:
        return []
    min_available = spec_replicas(d) - max_unavailable(d)
    new_unavailable = spec_replicas(new_rs) - status_of(new_rs, "availableReplicas") if new_rs else 0
    max_scaled_down = sum_spec(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return []
    plan = cleanup_unhealthy(old_rss, max_scaled_down)
    sizes = {rs["metadata"]["name"]: size for rs, size in plan}
    after = [_resized(rs, sizes) for rs in old_rss]
    all_after = after + ([new_rs] if new_rs else [])
    plan += scale_down_old(d, all_after, after)
    return _merge_plan(plan)


def _resized(rs: Obj, sizes: dict[str, int]) -> Obj:
    name = rs["metadata"]["name"]
    if name not in sizes:
        return rs
    return {**rs, "spec": {**rs["spec"], "replicas": sizes[name]}}


def _merge_plan(plan: Plan) -> Plan:
    """Keep one (last) step per ReplicaSet, keyed to the original object, in first-seen order."""
    order: dict[str, tuple[Obj, int]] = {}
    for rs, size in plan:
        name = rs["metadata"]["name"]
        order[name] = (order[name][0] if name in order else rs, size)
    return list(order.values())


def cleanup_unhealthy(old_rss: list[Obj], max_cleanup: int) -> Plan:
    """Scale down the not-available replicas of old ReplicaSets first (oldest first): they serve nothing."""
    plan: Plan = []
    total = 0
    for rs in by_creation(old_rss):
        if total >= max_cleanup:
            break
        replicas, available = spec_replicas(rs), status_of(rs, "availableReplicas")
        if replicas == 0 or replicas == available:
            continue
        down = min(max_cleanup - total, replicas - available)
        plan.append((rs, replicas - down))
        total += down
    return plan


def scale_down_old(d: Obj, all_rss: list[Obj], old_rss: list[Obj]) -> Plan:
    """Scale down old ReplicaSets (oldest first) by as many available pods as exceed replicas - maxUnavailable."""
    min_available = spec_replicas(d) - max_unavailable(d)
    available = sum_status(all_rss, "availableReplicas")
    if available <= min_available:
        return []
    budget, total, plan = available - min_available, 0, []
    for rs in by_creation(old_rss):
        if total >= budget:
            break
        replicas = spec_replicas(rs)
        if replicas == 0:
            continue
        down = min(replicas, budget - total)
        plan.append((rs, replicas - down))
        total += down
    return plan


def desired_annotation(rs: Obj, key: str = DESIRED_REPLICAS) -> int | None:
    try:
        return int(annotations(rs)[key])
    except (KeyError, ValueError):
        return None


def is_scaling_event(d: Obj, all_rss: list[Obj | None]) -> bool:
    """An active ReplicaSet annotated with another desired size means spec.replicas changed (upstream isScalingEvent)."""
    for rs in active(all_rss):
        desired = desired_annotation(rs)
        if desired is not None and desired != spec_replicas(d):
            return True
    return False


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    want = spec_replicas(d)
    return spec_replicas(rs) == want and desired_annotation(rs) == want and status_of(rs, "availableReplicas") == want


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The only active ReplicaSet, or (none active) the new one or else the newest old one; None if several."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    live = active(newest_first + [new_rs])
    if not live:
        return new_rs if new_rs is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


def proportional_scale(d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> Plan:
    """upstream DeploymentController.scale: new sizes when spec.replicas changed (or while paused)."""
    only = find_active_or_latest(new_rs, old_rss)
    if only is not None:
        return [] if spec_replicas(only) == spec_replicas(d) else [(only, spec_replicas(d))]
    if is_saturated(d, new_rs):
        return [(rs, 0) for rs in active(old_rss)]
    if not is_rolling(d):
        return []
    live = active(old_rss + [new_rs])
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - sum_spec(live)
    if to_add > 0:  # bigger first; ties: newer first when growing, older first when shrinking
        live.sort(key=lambda rs: rs["metadata"].get("creationTimestamp") or "", reverse=True)
    else:
        live = by_creation(live)
    live.sort(key=spec_replicas, reverse=True)
    sizes, added = {}, 0
    for rs in live:
        part = _proportion(d, rs, to_add, added)
        sizes[rs["metadata"]["name"]] = spec_replicas(rs) + part
        added += part
    if live and to_add:
        first = live[0]["metadata"]["name"]  # leftovers go to the largest
        sizes[first] = max(0, sizes[first] + to_add - added)
    return [(rs, sizes[rs["metadata"]["name"]]) for rs in live]


def _proportion(d: Obj, rs: Obj, to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(d, rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(d: Obj, rs: Obj) -> int:
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    target_total = spec_replicas(d) + max_surge(d)
    annotated = desired_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = status_of(d, "replicas")
    if annotated == 0:
        return 0
    new_size = spec_replicas(rs) * target_total / annotated
    return math.floor(new_size + 0.5) - spec_replicas(rs)  # Go math.Round: half away from zero (sizes ≥ 0)


# -- revisions and annotations ---------------------------------------------------------

def revision_of(obj: Obj | None) -> int:
    try:
        return int(annotations(obj or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    notes = rs["metadata"].setdefault("annotations", {})
    changed = notes.get(DESIRED_REPLICAS) != str(desired) or notes.get(MAX_REPLICAS) != str(max_replicas)
    notes[DESIRED_REPLICAS], notes[MAX_REPLICAS] = str(desired), str(max_replicas)
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    notes = annotations(rs)
    return notes.get(DESIRED_REPLICAS) != str(desired) or notes.get(MAX_REPLICAS) != str(max_replicas)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations, raise the revision (keeping the old one in revision-history) and, for a
    ReplicaSet about to be created, the replica annotations.  Mutates `rs` (a copy); True if anything changed."""
    notes = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in annotations(d).items():
        if key not in _SKIP_COPY and notes.get(key) != value:
            notes[key], changed = value, True
    old_text = notes.get(REVISION)
    try:
        old = int(old_text) if old_text else 0
    except ValueError:
        return changed
    if old < new_revision:
        notes[REVISION], changed = str(new_revision), True
        if old_text:
            history = notes.get(REVISION_HISTORY)
            notes[REVISION_HISTORY] = f"{history},{old_text}" if history else old_text
    if not exists and set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)):
        changed = True
    return changed


def new_rs_object(d: Obj, old_rss: list[Obj]) -> Obj:
    """The ReplicaSet a new template needs: named and labelled by the template hash, owned by the Deployment."""
    template = copy.deepcopy(d["spec"]["template"])
    pod_hash = compute_hash(d["spec"]["template"], (d.get("status") or {}).get("collisionCount"))
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), UNIQUE_LABEL: pod_hash}
    selector = copy.deepcopy(d["spec"].get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), UNIQUE_LABEL: pod_hash}
    rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "namespace": d["metadata"]["namespace"],
                            "labels": dict(meta["labels"]), "ownerReferences": [controller_owner_ref(d)]},
               "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                        "selector": selector, "template": template}}
    rs["spec"]["replicas"] = new_rs_new_replicas(d, [*old_rss, rs], rs)
    set_new_rs_annotations(d, rs, max_revision(old_rss) + 1, exists=False)
    return rs


def controller_owner_ref(d: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": d["metadata"]["name"], "uid": uid(d),
            "controller": True, "blockOwnerDeletion": True}


def history_to_delete(old_rss: list[Obj], limit: int | None) -> list[Obj]:
    """Old ReplicaSets beyond revisionHistoryLimit, lowest revision first, only if fully scaled down and settled."""
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
    surplus = len(alive) - limit
    if surplus <= 0:
        return []
    ordered = sorted(alive, key=lambda rs: (revision_of(rs), rs["metadata"].get("creationTimestamp") or "",
                                            rs["metadata"]["name"]))
    doomed = []
    for rs in ordered[:surplus]:
        settled = (rs["metadata"].get("generation") or 0) <= status_of(rs, "observedGeneration")
        if status_of(rs, "replicas") == 0 and spec_replicas(rs) == 0 and settled:
            doomed.append(rs)
    return doomed


# -- status and conditions ---------------------------------------------------------------

def timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def new_condition(type_: str, value: str, reason: str, message: str, now: float) -> Obj:
    stamp = timestamp(now)
    return {"type": type_, "status": value, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """upstream SetDeploymentCondition: same status and reason is a no-op; same status keeps lastTransitionTime."""
    current = condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


def has_progress_deadline(d: Obj) -> bool:
    deadline = d["spec"].get("progressDeadlineSeconds")
    return deadline is not None and deadline != 2**31 - 1


def calculate_status(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None, now: float) -> Obj:
    old = d.get("status") or {}
    available = sum_status(all_rss, "availableReplicas")
    status: Obj = {"observedGeneration": d["metadata"].get("generation", 0),
                   "replicas": sum_status(all_rss, "replicas"),
                   "updatedReplicas": status_of(new_rs, "replicas"),
                   "readyReplicas": sum_status(all_rss, "readyReplicas"),
                   "availableReplicas": available,
                   "unavailableReplicas": max(0, sum_spec(all_rss) - available),
                   "conditions": copy.deepcopy(old.get("conditions") or [])}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= spec_replicas(d) - max_unavailable(d):
        cond = new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = new_condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now)
    set_condition(status, cond)
    return status


def deployment_complete(d: Obj, status: Obj) -> bool:
    want = spec_replicas(d)
    return (status.get("updatedReplicas") == want and status.get("replicas") == want
            and status.get("availableReplicas") == want
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    """Any sign of progress since the last recorded status (more updated/ready/available, fewer old)."""
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status["replicas"] - status["updatedReplicas"]
    return (status["updatedReplicas"] > old.get("updatedReplicas", 0) or new_old < old_old
            or status["readyReplicas"] > old.get("readyReplicas", 0)
            or status["availableReplicas"] > old.get("availableReplicas", 0))


def deployment_timed_out(d: Obj, status: Obj, now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    return parse_time(cond["lastUpdateTime"]) + d["spec"]["progressDeadlineSeconds"] < now


def rollout_status(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None, now: float) -> Obj:
    """upstream syncRolloutStatus's new status: counts, Available, Progressing estimated against the deadline,
    and the ReplicaSets' ReplicaFailure condition (the new one's first) mirrored."""
    status = calculate_status(d, all_rss, new_rs, now)
    if has_progress_deadline(d):
        _estimate_progress(d, status, new_rs, now)
    else:
        remove_condition(status, PROGRESSING)
    failure = replica_failure(new_rs, all_rss)
    if failure is not None:
        set_condition(status, failure)
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def _estimate_progress(d: Obj, status: Obj, new_rs: Obj | None, now: float) -> None:
    current = condition(d.get("status") or {}, PROGRESSING)
    done_before = (status["replicas"] == status["updatedReplicas"] and current is not None
                   and current.get("reason") == NEW_RS_AVAILABLE)
    if done_before:  # a resync of a finished rollout: nothing to estimate
        return
    what = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
    if deployment_complete(d, status):
        set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                            f"{what} has successfully progressed.", now))
    elif deployment_progressing(d, status):
        cond = new_condition(PROGRESSING, "True", RS_UPDATED, f"{what} is progressing.", now)
        if current is not None:  # progress refreshes lastUpdateTime even with the same reason
            if current["status"] == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime")
            remove_condition(status, PROGRESSING)
        set_condition(status, cond)
    elif deployment_timed_out(d, status, now):
        set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT, f"{what} has timed out progressing.", now))


def replica_failure(new_rs: Obj | None, all_rss: list[Obj | None]) -> Obj | None:
    """The first ReplicaFailure condition of the new ReplicaSet, else of an old one, as a Deployment condition."""
    ordered = [new_rs, *(rs for rs in all_rss if rs is not new_rs)]
    for rs in ordered:
        for cond in ((rs or {}).get("status") or {}).get("conditions") or []:
            if cond.get("type") == REPLICA_FAILURE:
                stamp = cond.get("lastTransitionTime")
                return {"type": REPLICA_FAILURE, "status": cond.get("status"), "lastUpdateTime": stamp,
                        "lastTransitionTime": stamp, "reason": cond.get("reason"), "message": cond.get("message")}
    return None


def requeue_after(d: Obj, status: Obj, now: float) -> float | None:
    """Seconds until the progress deadline of a rollout that made no progress (None: nothing to check)."""
    current = condition(d.get("status") or {}, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return None
    if deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
        return None
    after = parse_time(current["lastUpdateTime"]) + d["spec"]["progressDeadlineSeconds"] - now
    return max(after, 0.0) + 1.0


def status_equal(a: Obj, b: Obj) -> bool:
    return _prune(a) == _prune(b)
