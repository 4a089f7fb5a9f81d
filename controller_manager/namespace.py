"""The namespace controller: empties a deleted Namespace of all its content, then finalizes it away.

Modelled on upstream pkg/controller/namespace (the namespaced resources
deleter).  For a Namespace with a deletionTimestamp, `reconcile(name)`:

1. makes sure status.phase is Terminating (the apiserver already sets it on DELETE);
2. for every namespaced kind in the registry, deletes the collection in the
   namespace (background propagation) and lists what is left — objects held by
   finalizers or pods still terminating on their node;
3. records the NamespaceDeletionContentFailure / NamespaceContentRemaining
   conditions through namespaces/<name>/status when they change;
4. while anything remains, checks again after `content_requeue_s`; once the
   namespace is empty, removes the `kubernetes` finalizer through
   namespaces/<name>/finalize, after which the apiserver deletes the Namespace.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common import errors
from common.api import REGISTRY, kinds
from common.api.registry import ResourceType
from common.controller import Controller
from common.informer import Informer, Obj, SharedInformers, deep_copy

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"


@dataclass
class DeletionResult:
    """What one pass over a namespace's content found: objects left per resource and failures per resource."""
    remaining: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not self.remaining and not self.failures


def namespaced_resources() -> list[ResourceType]:
    """Every namespaced kind the registry declares (all of them support DELETE and deletecollection)."""
    return [rt for rt in REGISTRY.all() if rt.namespaced]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deletion_conditions(result: DeletionResult) -> list[Obj]:
    """The status conditions upstream's deleter reports for one pass (without transition times)."""
    if result.failures:
        failed = ", ".join(f"{r}: {m}" for r, m in sorted(result.failures.items()))
        failure = {"type": CONTENT_FAILURE, "status": "True", "reason": "ContentDeletionFailed",
                   "message": f"Failed to delete all resource types, {len(result.failures)} remaining: {failed}"}
    else:
        failure = {"type": CONTENT_FAILURE, "status": "False", "reason": "ContentDeleted",
                   "message": "All content successfully deleted, may be waiting on finalization"}
    if result.remaining:
        left = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(result.remaining.items()))
        remaining = {"type": CONTENT_REMAINING, "status": "True", "reason": "SomeResourcesRemain",
                     "message": f"Some resources are remaining: {left}"}
    else:
        remaining = {"type": CONTENT_REMAINING, "status": "False", "reason": "ContentRemoved",
                     "message": "All content successfully removed"}
    return [failure, remaining]


def merge_conditions(current: list[Obj], desired: list[Obj], now: str) -> list[Obj] | None:
    """Current conditions with the desired ones put in; None when nothing but timestamps would change."""
    by_type = {c.get("type"): c for c in current}
    changed = False
    merged = list(current)
    for condition in desired:
        old = by_type.get(condition["type"])
        if old is not None and all(old.get(k) == v for k, v in condition.items()):
            continue
        changed = True
        new = {**condition, "lastTransitionTime": now}
        if old is None:
            merged.append(new)
        else:
            merged[merged.index(old)] = new
    return merged if changed else None


class NamespaceController(Controller):
    name = "namespace-controller"

    def __init__(self, client: Any, informers: SharedInformers, *, content_requeue_s: float = 2.0,
                 **options: Any) -> None:
        super().__init__(client, **options)
        self.content_requeue_s = content_requeue_s
        self.namespaces: Informer = self.add_informer(informers.get(kinds.NAMESPACES))
        self.namespaces.add_handler(self._on_namespace, lambda _old, new: self._on_namespace(new))

    def _on_namespace(self, namespace: Obj) -> None:
        if namespace["metadata"].get("deletionTimestamp"):
            self.enqueue(namespace)

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.get(key)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        if FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return  # our part is done; other finalizers are someone else's
        result = await self.delete_content(key)
        namespace = await self._write_status(namespace, result)
        if not result.done:
            log.info("%s: namespace %s still has content %s", self.name, key, result.remaining or result.failures)
            self.queue.add_after(key, self.content_requeue_s)
            return
        await self._finalize(namespace)

    async def delete_content(self, namespace: str) -> DeletionResult:
        """Delete every namespaced object in the namespace; report what is left and what failed."""
        result = DeletionResult()
        for rt in namespaced_resources():
            try:
                left = await self._delete_collection(rt, namespace)
            except (errors.ApiError, OSError) as exc:
                result.failures[rt.plural] = getattr(exc, "message", str(exc))
                continue
            if left:
                result.remaining[rt.plural] = left
        return result

    async def _delete_collection(self, rt: ResourceType, namespace: str) -> int:
        """Delete one kind's objects in the namespace; the number still there afterwards."""
        listed = await self.client.list(rt, namespace)
        if not listed.get("items"):
            return 0
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        await self.client.request("DELETE", rt.path(namespace), json_body=body)
        return len((await self.client.list(rt, namespace)).get("items") or [])

    async def _write_status(self, namespace: Obj, result: DeletionResult) -> Obj:
        status = namespace.get("status") or {}
        conditions = merge_conditions(status.get("conditions") or [], deletion_conditions(result), _now())
        if status.get("phase") == "Terminating" and conditions is None:
            return namespace
        updated = deep_copy(namespace)
        updated["status"] = {**(updated.get("status") or {}), "phase": "Terminating"}
        if conditions is not None:
            updated["status"]["conditions"] = conditions
        return await self.client.update_status(kinds.NAMESPACES, updated)

    async def _finalize(self, namespace: Obj) -> None:
        finalized = deep_copy(namespace)
        spec = finalized["spec"] = dict(finalized.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        log.info("%s: namespace %s is empty; removing the %r finalizer", self.name,
                 namespace["metadata"]["name"], FINALIZER)
        await self.client.update(kinds.NAMESPACES, finalized, subresource="finalize")
