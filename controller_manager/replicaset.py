"""The ReplicaSet controller: keeps `spec.replicas` pods per ReplicaSet, adopting, releasing, reporting status.

Modelled on upstream pkg/controller/replicaset.  `reconcile("ns/name")`:

1. claims pods: orphans in the namespace matching the selector are adopted
   (controller ownerReference patched on), owned pods that stopped matching are
   released (the reference patched off);
2. if no creates/deletes are still in flight (`Expectations`) and the
   ReplicaSet is not being deleted, creates the missing pods from the template
   in slow-start batches (1, 2, 4, …, at most `burst_replicas` per pass) or
   deletes the surplus, choosing victims by upstream's ranking;
3. writes status (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration, the ReplicaFailure condition)
   through the status subresource, and requeues when a ready pod will become
   available after minReadySeconds.

Failed creates/deletes are recorded as Warning events, reported in the
ReplicaFailure condition and retried with the queue's backoff.
`rt` and `selector_of` are class attributes so a sibling kind can reuse all
of this: replicationcontroller.py does so for core/v1 ReplicationControllers.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from common import errors
from common.api import kinds
from common.api.registry import ResourceType
from common.controller import Controller
from common.events import EventRecorder
from common.informer import Obj, SharedInformers, deep_copy, key_of, split_key
from common.selectors import LabelSelector, selector_from_spec

from . import pods as podutil

log = logging.getLogger(__name__)

DEFAULT_BURST_REPLICAS = 500
REPLICA_FAILURE = "ReplicaFailure"
_NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


class Recorder(Protocol):
    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None: ...


def _now_rfc3339(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _replicas(rs: Obj) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)  # apps/v1 default


def _min_ready_seconds(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("minReadySeconds") or 0)


def _selector(rs: Obj) -> LabelSelector:
    return selector_from_spec((rs.get("spec") or {}).get("selector"))


def calculate_status(rs: Obj, active: list[Obj], manage_error: Exception | None, now: float) -> Obj:
    """The status `rs` should have given its active owned pods (upstream calculateStatus)."""
    template_labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    min_ready = _min_ready_seconds(rs)
    fully_labeled = sum(1 for p in active
                        if all(podutil.labels_of(p).get(k) == v for k, v in template_labels.items()))
    status: Obj = {
        "replicas": len(active),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": sum(1 for p in active if podutil.is_ready(p)),
        "availableReplicas": sum(1 for p in active if podutil.is_available(p, min_ready, now)),
        "observedGeneration": (rs.get("metadata") or {}).get("generation", 0),
    }
    conditions = [dict(c) for c in (rs.get("status") or {}).get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        diff = len(active) - _replicas(rs)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": _now_rfc3339(now),
                           "reason": reason, "message": _error_message(manage_error)})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    if conditions:
        status["conditions"] = conditions
    return status


def next_availability_check(rs: Obj, active: list[Obj], now: float) -> float | None:
    """Seconds until the first ready-but-not-yet-available pod becomes available, if any."""
    min_ready = _min_ready_seconds(rs)
    waits = [w for p in active if (w := podutil.seconds_until_available(p, min_ready, now))]
    return min(waits) if waits else None


def _error_message(err: Exception) -> str:
    return getattr(err, "message", None) or str(err) or type(err).__name__


def _namespace_terminating(err: Exception) -> bool:
    causes = getattr(err, "causes", None) or []
    return any(c.get("reason") == _NAMESPACE_TERMINATING_CAUSE for c in causes)


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    rt: ResourceType = kinds.REPLICASETS

    def __init__(self, client: Any, informers: SharedInformers, *, burst_replicas: int = DEFAULT_BURST_REPLICAS,
                 recorder: Recorder | None = None, clock: Callable[[], float] = time.time,
                 expectations: podutil.Expectations | None = None, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.burst_replicas = burst_replicas
        self.recorder: Recorder = recorder if recorder is not None else EventRecorder(client, self.name)
        self.clock = clock
        self.expectations = expectations or podutil.Expectations()
        self.replicasets = self.add_informer(informers.get(self.rt))
        self.pods = self.add_informer(informers.get(kinds.PODS))
        self.replicasets.add_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    @staticmethod
    def selector_of(rs: Obj) -> LabelSelector:
        """The pods an object of `rt` selects: apps/v1 spec.selector is a metav1.LabelSelector."""
        return _selector(rs)

    # -- event handlers: only enqueue keys and settle expectations ------------------

    def _rs_added(self, rs: Obj) -> None:
        self.enqueue(rs)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(rs)

    def _owner(self, pod: Obj, ref: Obj | None) -> Obj | None:
        """The cached ReplicaSet a controller ref points at, if it is really that one (same uid)."""
        if ref is None or ref.get("kind") != self.rt.kind:
            return None
        namespace = (pod.get("metadata") or {}).get("namespace")
        rs = self.replicasets.get(f"{namespace}/{ref.get('name')}")
        if rs is None or (rs.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return rs

    def _matching_replicasets(self, pod: Obj) -> list[Obj]:
        """ReplicaSets in the pod's namespace that would adopt it (upstream getPodReplicaSets)."""
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        labels = podutil.labels_of(pod)
        return [rs for rs in self.replicasets.list(namespace)
                if not (sel := self.selector_of(rs)).empty and sel.matches(labels)]

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._pod_deleted(pod)  # a restart can show a pod already being deleted: don't count it as created
            return
        ref = podutil.controller_ref_of(pod)
        if ref is not None:
            rs = self._owner(pod, ref)
            if rs is not None:
                self.expectations.creation_observed(key_of(rs))
                self.enqueue(rs)
            return
        for rs in self._matching_replicasets(pod):
            self.enqueue(rs)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
        if old_meta.get("resourceVersion") == new_meta.get("resourceVersion"):
            return  # a resync replay: nothing changed
        labels_changed = podutil.labels_of(old) != podutil.labels_of(new)
        if new_meta.get("deletionTimestamp"):
            # Count a graceful delete as done now, so replacements start without waiting for the kubelet.
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = podutil.controller_ref_of(old), podutil.controller_ref_of(new)
        if old_ref != new_ref and (old_rs := self._owner(old, old_ref)) is not None:
            self.enqueue(old_rs)
        if new_ref is not None:
            self._owned_pod_updated(old, new, new_ref)
        elif labels_changed or old_ref != new_ref:
            for rs in self._matching_replicasets(new):
                self.enqueue(rs)

    def _owned_pod_updated(self, old: Obj, new: Obj, ref: Obj) -> None:
        rs = self._owner(new, ref)
        if rs is None:
            return
        self.enqueue(rs)
        min_ready = _min_ready_seconds(rs)
        if min_ready > 0 and podutil.is_ready(new) and not podutil.is_ready(old):
            # Nothing else will wake us when it becomes available; +1s against clock skew, as upstream.
            self.enqueue_after(rs, min_ready + 1)

    def _pod_deleted(self, pod: Obj) -> None:
        rs = self._owner(pod, podutil.controller_ref_of(pod))
        if rs is None:
            return
        self.expectations.deletion_observed(key_of(rs), podutil.pod_key(pod))
        self.enqueue(rs)

    # -- reconcile ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.replicasets.get(key)
        if cached is None:
            self.expectations.forget(key)
            return
        # List items may come without apiVersion/kind; owner refs and events need them (a new dict, cache untouched).
        rs = {**cached, "apiVersion": self.rt.api_version, "kind": self.rt.kind}
        needs_sync = self.expectations.satisfied(key)
        namespace, _ = split_key(key)
        candidates = [p for p in self.pods.list(namespace or "") if podutil.is_active(p)]
        active = await self._claim_pods(rs, candidates)
        manage_error: Exception | None = None
        if needs_sync and not (rs.get("metadata") or {}).get("deletionTimestamp"):
            manage_error = await self._manage_replicas(rs, active)
        now = self.clock()
        await self._update_status(rs, calculate_status(rs, active, manage_error, now))
        if manage_error is not None:
            raise manage_error  # the queue retries with backoff
        wait = next_availability_check(rs, active, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    # -- claiming ------------------------------------------------------------------------

    async def _claim_pods(self, rs: Obj, candidates: list[Obj]) -> list[Obj]:
        """Adopt and release as needed; return the pods this ReplicaSet owns afterwards."""
        claims = podutil.classify(rs, self.selector_of(rs), candidates)
        if claims.adopt and not await self._can_adopt(rs):
            claims.adopt = []
        for pod in claims.release:
            await self._patch_pod(rs, pod, podutil.release_patch(rs, pod), "release")
        owned = list(claims.owned)
        for pod in claims.adopt:
            adopted = await self._patch_pod(rs, pod, podutil.adopt_patch(rs, pod), "adopt")
            if adopted is not None and podutil.owner_ref_of(adopted, rs["metadata"].get("uid", "")):
                owned.append(adopted)
        return owned

    async def _can_adopt(self, rs: Obj) -> bool:
        """Re-read the ReplicaSet from the server: never adopt for one that is gone or going (upstream #42639)."""
        meta = rs["metadata"]
        try:
            fresh = await self.client.get(self.rt, meta["name"], meta.get("namespace"))
        except errors.NotFound:
            return False
        fresh_meta = fresh.get("metadata") or {}
        return fresh_meta.get("uid") == meta.get("uid") and not fresh_meta.get("deletionTimestamp")

    async def _patch_pod(self, rs: Obj, pod: Obj, patch: Obj, verb: str) -> Obj | None:
        meta = pod["metadata"]
        try:
            return await self.client.patch(kinds.PODS, meta["name"], patch, meta.get("namespace"),
                                           patch_type="strategic")
        except (errors.NotFound, errors.Invalid):
            # Gone, or replaced by another pod of that name: nothing left to claim.
            log.info("%s: could not %s pod %s of %s: it is gone", self.name, verb, meta["name"], key_of(rs))
            return None

    # -- creating and deleting -----------------------------------------------------------

    async def _manage_replicas(self, rs: Obj, active: list[Obj]) -> Exception | None:
        """Create or delete pods towards spec.replicas; return the first error instead of raising."""
        diff = len(active) - _replicas(rs)
        if diff < 0:
            return await self._create_pods(rs, min(-diff, self.burst_replicas))
        if diff > 0:
            return await self._delete_pods(rs, active, min(diff, self.burst_replicas))
        return None

    async def _create_pods(self, rs: Obj, count: int) -> Exception | None:
        key = key_of(rs)
        self.expectations.expect_creations(key, count)
        template = (rs.get("spec") or {}).get("template") or {}
        successes, error = await podutil.slow_start_batch(
            count, podutil.SLOW_START_INITIAL_BATCH_SIZE, lambda: self._create_pod(rs, template))
        for _ in range(count - successes):
            self.expectations.creation_observed(key)  # never attempted or failed: no event will come
        return error

    async def _create_pod(self, rs: Obj, template: Obj) -> None:
        pod = podutil.pod_from_template(template, rs)
        if not (pod["metadata"].get("labels")):
            raise errors.Invalid("unable to create pods, no labels")
        try:
            created = await self.client.create(kinds.PODS, pod, rs["metadata"].get("namespace"))
        except (errors.ApiError, OSError) as err:
            if _namespace_terminating(err):
                return  # every create would fail; the namespace controller is cleaning up anyway
            await self.recorder.record(rs, "Warning", "FailedCreate", f"Error creating: {_error_message(err)}")
            raise
        await self.recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet with the same controller (e.g. one Deployment's), for node ranking."""
        owner = podutil.controller_ref_of(rs)
        namespace = rs["metadata"].get("namespace") or ""
        if owner is None:
            siblings = [rs]
        else:
            siblings = [other for other in self.replicasets.list(namespace)
                        if (ref := podutil.controller_ref_of(other)) and ref.get("uid") == owner.get("uid")]
        seen: dict[str, Obj] = {}
        pods = self.pods.list(namespace)
        for sibling in siblings:
            selector = self.selector_of(sibling)
            for pod in pods:
                if not selector.empty and selector.matches(podutil.labels_of(pod)):
                    seen.setdefault(pod["metadata"].get("uid") or podutil.pod_key(pod), pod)
        return list(seen.values())

    async def _delete_pods(self, rs: Obj, active: list[Obj], count: int) -> Exception | None:
        key = key_of(rs)
        victims = podutil.pods_to_delete(active, self._related_pods(rs), count, self.clock())
        self.expectations.expect_deletions(key, [podutil.pod_key(p) for p in victims])
        results = await asyncio.gather(*(self._delete_pod(rs, pod) for pod in victims))
        return next((error for error in results if error is not None), None)

    async def _delete_pod(self, rs: Obj, pod: Obj) -> Exception | None:
        meta = pod["metadata"]
        try:
            await self.client.delete(kinds.PODS, meta["name"], meta.get("namespace"))
        except (errors.ApiError, OSError) as err:
            self.expectations.deletion_observed(key_of(rs), podutil.pod_key(pod))  # no event will come
            if isinstance(err, errors.NotFound):
                return None
            await self.recorder.record(rs, "Warning", "FailedDelete", f"Error deleting: {_error_message(err)}")
            return err
        await self.recorder.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")
        return None

    # -- status --------------------------------------------------------------------------

    async def _update_status(self, rs: Obj, status: Obj) -> None:
        """PUT status when it changed; on a conflict retry once against a fresh read (upstream does the same)."""
        if _same_status(rs.get("status") or {}, status):
            return
        updated = deep_copy(rs)
        updated["status"] = status
        try:
            await self.client.update_status(self.rt, updated)
        except errors.Conflict:
            meta = rs["metadata"]
            fresh = await self.client.get(self.rt, meta["name"], meta.get("namespace"))
            if (fresh.get("metadata") or {}).get("uid") != meta.get("uid"):
                return
            fresh["status"] = status
            await self.client.update_status(self.rt, fresh)


def _same_status(current: Obj, desired: Obj) -> bool:
    fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")
    if any((current.get(f) or 0) != (desired.get(f) or 0) for f in fields):
        return False
    return (current.get("conditions") or []) == (desired.get("conditions") or [])
