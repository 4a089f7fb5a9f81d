"""The Deployment controller: owns a Deployment's ReplicaSets (one per template), rolls between them, writes status.

Modelled on upstream pkg/controller/deployment.  `reconcile("ns/name")` claims
the ReplicaSets the Deployment's selector matches (adopting orphans, releasing
ones that stopped matching), finds the ReplicaSet whose template equals the
Deployment's ("new", named `<deployment>-<pod-template-hash>`) and the others
("old"), then takes one step: a proportional scale when spec.replicas changed
or the Deployment is paused, else a RollingUpdate or Recreate step.  The math
lives in rollout.py.  Pods are never touched: the ReplicaSet controller
creates and deletes them; this controller only reads them to see that a
Recreate's old pods are gone.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from common import errors
from common.api import kinds
from common.controller import Controller, controller_ref
from common.events import EventRecorder
from common.informer import Informer, Obj, SharedInformers, deep_copy, key_of
from common.selectors import selector_from_spec

from . import rollout as r

log = logging.getLogger(__name__)


class Recorder(Protocol):
    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None: ...


class DeploymentController(Controller):
    name = "deployment-controller"

    def __init__(self, client: Any, informers: SharedInformers, *, recorder: Recorder | None = None,
                 clock: Callable[[], float] = time.time, **options: Any) -> None:
        super().__init__(client, **options)
        self.deployments: Informer = self.add_informer(informers.get(kinds.DEPLOYMENTS))
        self.replicasets: Informer = self.add_informer(informers.get(kinds.REPLICASETS))
        self.pods: Informer = self.add_informer(informers.get(kinds.PODS))
        self.recorder: Recorder = recorder or EventRecorder(client, "deployment-controller")
        self.clock = clock
        self.enqueue_on_events(self.deployments)
        self.replicasets.add_handler(self._on_rs, self._on_rs_update, self._on_rs_delete)
        self.pods.add_handler(on_delete=self._on_pod_delete)

    # -- event mapping ---------------------------------------------------------------

    def deployments_for_rs(self, rs: Obj) -> list[str]:
        """Keys of the Deployments in the ReplicaSet's namespace whose selector matches it (orphan adoption)."""
        labels = rs["metadata"].get("labels") or {}
        keys = []
        for d in self.deployments.list(rs["metadata"].get("namespace", "")):
            selector = d.get("spec", {}).get("selector")
            if selector and selector_from_spec(selector).matches(labels):
                keys.append(key_of(d))
        return keys

    def _on_rs(self, rs: Obj) -> None:
        ref = controller_ref(rs)
        if ref is not None:
            self.enqueue_owner(rs, "Deployment")
            return
        for key in self.deployments_for_rs(rs):
            self.queue.add(key)

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        if controller_ref(old) != controller_ref(new):
            self.enqueue_owner(old, "Deployment")
        self._on_rs(new)

    def _on_rs_delete(self, rs: Obj) -> None:
        self.enqueue_owner(rs, "Deployment")

    def _on_pod_delete(self, pod: Obj) -> None:
        """A Recreate rollout waits for its old pods to be gone: a pod's deletion wakes its Deployment."""
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{pod['metadata'].get('namespace')}/{ref['name']}")
        if rs is not None:
            self.enqueue_owner(rs, "Deployment")

    # -- reconcile ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        try:
            await self._reconcile(key)
        except errors.Conflict as exc:
            # Our cache was behind; the newer version's event requeues this key anyway.  Retry soon, quietly.
            log.debug("%s: %s; retrying", key, exc)
            self.queue.add_after(key, 0.05)

    async def _reconcile(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = deep_copy(cached)
        d.setdefault("apiVersion", "apps/v1")
        d.setdefault("kind", "Deployment")
        d["status"] = d.get("status") or {}
        if not _has_selector(d):
            await self._selecting_all(d)
            return
        rss = await self._claim_replicasets(d)
        if d["metadata"].get("deletionTimestamp"):
            new, old = await self._new_and_old(d, rss, create=False)
            await self._sync_status(d, [*old, new], new)
            return
        await self._check_paused_conditions(d)
        if d["spec"].get("paused"):
            await self._sync(d, rss)
            return
        new, old = await self._new_and_old(d, rss, create=False)
        if r.is_scaling_event(d, [*old, new]):
            await self._sync(d, rss)
        elif r.is_rolling(d):
            await self._rollout_rolling(d, rss)
        else:
            await self._rollout_recreate(d, rss)

    async def _selecting_all(self, d: Obj) -> None:
        await self.recorder.record(d, "Warning", "SelectingAll",
                                   "This deployment is selecting all pods. A non-empty selector is required.")
        if d["status"].get("observedGeneration", 0) < d["metadata"].get("generation", 0):
            d["status"]["observedGeneration"] = d["metadata"].get("generation", 0)
            await self._write_status(d)

    # -- claiming ------------------------------------------------------------------------

    async def _claim_replicasets(self, d: Obj) -> list[Obj]:
        """The ReplicaSets this Deployment controls, after adopting matching orphans and releasing non-matching ones."""
        selector = selector_from_spec(d["spec"]["selector"])
        deleting = bool(d["metadata"].get("deletionTimestamp"))
        owned = []
        for rs in self.replicasets.list(d["metadata"]["namespace"]):
            ref = controller_ref(rs)
            matches = selector.matches(rs["metadata"].get("labels") or {})
            if ref is not None:
                if ref.get("uid") != r.uid(d):
                    continue
                if matches:
                    owned.append(rs)
                elif not deleting:
                    await self._release(d, rs)
            elif matches and not deleting and not rs["metadata"].get("deletionTimestamp"):
                owned.append(await self._adopt(d, rs))
        return owned

    async def _adopt(self, d: Obj, rs: Obj) -> Obj:
        rs = deep_copy(rs)
        rs["metadata"]["ownerReferences"] = [*(rs["metadata"].get("ownerReferences") or []),
                                             r.controller_owner_ref(d)]
        return await self.client.update(kinds.REPLICASETS, rs)

    async def _release(self, d: Obj, rs: Obj) -> None:
        rs = deep_copy(rs)
        refs = [ref for ref in rs["metadata"].get("ownerReferences") or [] if ref.get("uid") != r.uid(d)]
        rs["metadata"]["ownerReferences"] = refs
        try:
            await self.client.update(kinds.REPLICASETS, rs)
        except errors.NotFound:
            pass

    # -- the new ReplicaSet and the old ones ---------------------------------------------

    async def _new_and_old(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        """(new, old): the new one with its revision brought up to date (also in `rss`), created if `create`."""
        old = r.find_old_rss(d, rss)
        new = r.find_new_rs(d, rss)
        revision = r.max_revision(old) + 1
        if new is not None:
            new = await self._sync_existing_new(d, new, revision)
            rss[:] = [new if rs["metadata"]["name"] == new["metadata"]["name"] else rs for rs in rss]
            return new, old
        if not create:
            return None, old
        return await self._create_new(d, old, revision), old

    async def _sync_existing_new(self, d: Obj, new: Obj, revision: int) -> Obj:
        rs = deep_copy(new)
        annotated = r.set_new_rs_annotations(d, rs, revision, exists=True)
        min_ready = d["spec"].get("minReadySeconds", 0)
        if annotated or rs["spec"].get("minReadySeconds", 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            return await self.client.update(kinds.REPLICASETS, rs)  # the update event brings us back
        await self._set_deployment_revision(d, r.revision_of(rs))
        if r.has_progress_deadline(d) and r.condition(d["status"], r.PROGRESSING) is None:
            r.set_condition(d["status"], r.new_condition(r.PROGRESSING, "True", r.FOUND_NEW_RS,
                                                         f'Found new replica set "{rs["metadata"]["name"]}"',
                                                         self.clock()))
            await self._write_status(d)
        return rs

    async def _create_new(self, d: Obj, old: list[Obj], revision: int) -> Obj:
        rs = r.new_rs_object(d, old)
        name = rs["metadata"]["name"]
        try:
            created = await self.client.create(kinds.REPLICASETS, rs, d["metadata"]["namespace"])
            fresh = True
        except errors.AlreadyExists:
            created, fresh = await self._existing_or_collision(d, name), False
        except errors.ApiError as exc:
            await self._failed_create(d, name, exc)
            raise
        replicas = r.spec_replicas(created)
        if fresh and replicas > 0:
            await self._event(d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}")
        await self._set_deployment_revision(d, revision)
        if fresh and r.has_progress_deadline(d):
            r.set_condition(d["status"], r.new_condition(r.PROGRESSING, "True", r.NEW_RS_CREATED,
                                                         f'Created new replica set "{name}"', self.clock()))
            await self._write_status(d)
        return created

    async def _existing_or_collision(self, d: Obj, name: str) -> Obj:
        """Our cache was behind (it is ours, same template) — or a different ReplicaSet owns the hash's name:
        then bump collisionCount so the next attempt hashes differently."""
        existing = await self.client.get(kinds.REPLICASETS, name, d["metadata"]["namespace"])
        ref = controller_ref(existing)
        if ref is not None and ref.get("uid") == r.uid(d) and \
                r.equal_ignore_hash(d["spec"]["template"], existing["spec"]["template"]):
            return existing
        d["status"]["collisionCount"] = (d["status"].get("collisionCount") or 0) + 1
        await self._write_status(d)
        raise errors.Conflict(f"replica set {name} exists with another template: collisionCount bumped")

    async def _failed_create(self, d: Obj, name: str, exc: errors.ApiError) -> None:
        message = f'Failed to create new replica set "{name}": {exc}'
        if r.has_progress_deadline(d):
            r.set_condition(d["status"], r.new_condition(r.PROGRESSING, "False", r.FAILED_RS_CREATE, message,
                                                         self.clock()))
            try:
                await self._write_status(d)
            except errors.ApiError:
                pass
        await self._event(d, "Warning", r.FAILED_RS_CREATE, message)

    async def _set_deployment_revision(self, d: Obj, revision: int) -> None:
        """The revision annotation lives in metadata, which deployments/status does not write: patch it."""
        if r.annotations(d).get(r.REVISION) == str(revision):
            return
        patch = {"metadata": {"annotations": {r.REVISION: str(revision)}}}
        updated = await self.client.patch(kinds.DEPLOYMENTS, d["metadata"]["name"], patch, d["metadata"]["namespace"])
        d["metadata"].setdefault("annotations", {})[r.REVISION] = str(revision)
        d["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]

    # -- strategies ----------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> None:
        new, old = await self._new_and_old(d, rss, create=True)
        assert new is not None
        target = r.reconcile_new_rs(d, [*old, new], new)
        if target is not None:
            new = await self._scale_and_record(d, new, target)
            await self._sync_rollout_status(d, [*old, new], new)
            return
        plan = r.reconcile_old_rss(d, [*old, new], old, new)
        if plan:
            old = await self._apply(d, old, plan)
            await self._sync_rollout_status(d, [*old, new], new)
            return
        if r.deployment_complete(d, d["status"]):
            await self._cleanup_history(d, old)
        await self._sync_rollout_status(d, [*old, new], new)

    async def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> None:
        """Old ReplicaSets to zero first; the new one only once no old pod is left running."""
        new, old = await self._new_and_old(d, rss, create=False)
        plan = [(rs, 0) for rs in r.active(old)]
        if plan:
            old = await self._apply(d, old, plan)
            await self._sync_rollout_status(d, [*old, new], new)
            return
        if self.old_pods_running(new, old):
            await self._sync_rollout_status(d, [*old, new], new)
            return
        if new is None:
            new, old = await self._new_and_old(d, rss, create=True)
            assert new is not None
        new = await self._scale_and_record(d, new, r.spec_replicas(d))
        if r.deployment_complete(d, d["status"]):
            await self._cleanup_history(d, old)
        await self._sync_rollout_status(d, [*old, new], new)

    def old_pods_running(self, new: Obj | None, old: list[Obj]) -> bool:
        if r.sum_status(old, "replicas") > 0:
            return True
        old_uids = {r.uid(rs) for rs in old} - ({r.uid(new)} if new else set())
        namespace = old[0]["metadata"]["namespace"] if old else ""
        for pod in self.pods.list(namespace) if old else []:
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") in old_uids and \
                    (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
        return False

    async def _sync(self, d: Obj, rss: list[Obj]) -> None:
        """Scaling event or paused: resize proportionally without advancing the rollout."""
        new, old = await self._new_and_old(d, rss, create=False)
        updated = {}
        for rs, size in r.proportional_scale(d, new, old):
            updated[rs["metadata"]["name"]] = await self._scale_rs(d, rs, size)
        new = updated.get(new["metadata"]["name"], new) if new else None
        old = [updated.get(rs["metadata"]["name"], rs) for rs in old]
        if d["spec"].get("paused"):
            await self._cleanup_history(d, old)
        await self._sync_status(d, [*old, new], new)

    async def _check_paused_conditions(self, d: Obj) -> None:
        if not r.has_progress_deadline(d):
            return
        cond = r.condition(d["status"], r.PROGRESSING)
        if cond is not None and cond.get("reason") == r.TIMED_OUT:
            return
        paused, shown = bool(d["spec"].get("paused")), cond is not None and cond.get("reason") == r.PAUSED
        if paused == shown:
            return
        reason, message = (r.PAUSED, "Deployment is paused") if paused else (r.RESUMED, "Deployment is resumed")
        r.set_condition(d["status"], r.new_condition(r.PROGRESSING, "Unknown", reason, message, self.clock()))
        await self._write_status(d)

    # -- scaling -------------------------------------------------------------------------

    async def _apply(self, d: Obj, rss: list[Obj], plan: r.Plan) -> list[Obj]:
        """Apply a scaling plan; returns `rss` with the updated objects in place."""
        updated = {}
        for rs, size in plan:
            updated[rs["metadata"]["name"]] = await self._scale_and_record(d, rs, size)
        return [updated.get(rs["metadata"]["name"], rs) for rs in rss]

    async def _scale_and_record(self, d: Obj, rs: Obj, size: int) -> Obj:
        if r.spec_replicas(rs) == size:
            return rs
        return await self._scale_rs(d, rs, size)

    async def _scale_rs(self, d: Obj, rs: Obj, size: int) -> Obj:
        """Set spec.replicas and the desired/max-replicas annotations; an event when the size changes."""
        desired, most = r.spec_replicas(d), r.spec_replicas(d) + r.max_surge(d)
        before = r.spec_replicas(rs)
        if before == size and not r.replicas_annotations_need_update(rs, desired, most):
            return rs
        copy = deep_copy(rs)
        copy["spec"]["replicas"] = size
        r.set_replicas_annotations(copy, desired, most)
        updated = await self.client.update(kinds.REPLICASETS, copy)
        if before != size:
            direction = "up" if size > before else "down"
            await self._event(d, "Normal", "ScalingReplicaSet",
                              f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {size}")
        return updated

    async def _cleanup_history(self, d: Obj, old: list[Obj]) -> None:
        for rs in r.history_to_delete(old, d["spec"].get("revisionHistoryLimit")):
            try:
                await self.client.delete(kinds.REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"])
            except errors.NotFound:
                pass

    # -- status ----------------------------------------------------------------------------

    async def _sync_status(self, d: Obj, all_rss: list[Obj | None], new: Obj | None) -> None:
        status = r.calculate_status(d, all_rss, new, self.clock())
        if not r.status_equal(d["status"], status):
            d["status"] = status
            await self._write_status(d)

    async def _sync_rollout_status(self, d: Obj, all_rss: list[Obj | None], new: Obj | None) -> None:
        """Write the rollout's status; with nothing new, check again when the progress deadline passes."""
        now = self.clock()
        status = r.rollout_status(d, all_rss, new, now)
        if r.status_equal(d["status"], status):
            delay = r.requeue_after(d, status, now)
            if delay is not None:
                self.enqueue_after(d, delay)
            return
        d["status"] = status
        await self._write_status(d)

    async def _write_status(self, d: Obj) -> None:
        updated = await self.client.update_status(kinds.DEPLOYMENTS, d)
        d["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]

    async def _event(self, d: Obj, type_: str, reason: str, message: str) -> None:
        await self.recorder.record(d, type_, reason, message)


def _has_selector(d: Obj) -> bool:
    selector = d.get("spec", {}).get("selector") or {}
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))
