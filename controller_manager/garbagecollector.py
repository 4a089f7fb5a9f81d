"""The garbage collector: the owner → dependents graph, cascading (Background/Foreground) and orphaning deletes.

Modelled on upstream pkg/controller/garbagecollector:

- `OwnerGraph` is the graph builder's view: every watched object by uid,
  with its owner references, and an inverse index owner uid → dependent uids.
  Informer handlers keep it current and enqueue the uid of every object that
  may need work; the queue's keys are uids, not `namespace/name`.
- `reconcile(uid)` is level-triggered and covers the three propagation modes:
  * an object being deleted with the `orphan` finalizer: strip its
    ownerReference from each dependent, then drop the finalizer;
  * one being deleted with `foregroundDeletion`: have its dependents deleted,
    wait until those with `blockOwnerDeletion` are gone, then drop the
    finalizer (the apiserver then removes the owner);
  * any other object with owners (upstream's attemptToDeleteItem): sort
    its owners into solid (live), dangling (gone) and waiting (being deleted
    in the foreground).  With a solid owner left it only patches the other
    references away; otherwise it deletes the object itself.
- "Not in my cache" is never taken for "gone": a dangling owner is confirmed
  with a live GET by name (404, or a different uid, means gone) and the
  delete carries a uid precondition, so a lagging informer can't cause a
  wrong deletion.  Confirmed-absent uids are remembered (uids never return).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from common import errors
from common.api import REGISTRY, kinds
from common.api.registry import ResourceType
from common.controller import Controller
from common.informer import Informer, Obj, SharedInformers

log = logging.getLogger(__name__)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

# The kinds that own or are owned in practice (upstream watches every deletable resource).
WATCHED_KINDS: tuple[ResourceType, ...] = (
    kinds.PODS, kinds.REPLICASETS, kinds.DEPLOYMENTS, kinds.DAEMONSETS, kinds.STATEFULSETS, kinds.JOBS,
    kinds.CRONJOBS, kinds.CONFIGMAPS, kinds.SECRETS, kinds.SERVICES, kinds.ENDPOINTS,
)

OwnerState = Literal["solid", "dangling", "waiting"]


@dataclass
class Node:
    """One watched object as the GC sees it: identity, owner references and deletion state."""
    uid: str
    rt: ResourceType
    namespace: str | None
    name: str
    owners: list[dict[str, Any]] = field(default_factory=list)
    finalizers: list[str] = field(default_factory=list)
    deleting: bool = False

    @classmethod
    def of(cls, rt: ResourceType, obj: Obj) -> Node:
        meta = obj.get("metadata") or {}
        owners = [dict(ref) for ref in meta.get("ownerReferences") or [] if ref.get("uid")]
        return cls(meta["uid"], rt, meta.get("namespace"), meta["name"], owners,
                   list(meta.get("finalizers") or []), bool(meta.get("deletionTimestamp")))

    @property
    def deleting_dependents(self) -> bool:
        """Being deleted in the foreground: waits for its blocking dependents."""
        return self.deleting and FOREGROUND in self.finalizers

    @property
    def orphaning(self) -> bool:
        return self.deleting and ORPHAN in self.finalizers

    def ref_to(self, owner_uid: str) -> dict[str, Any] | None:
        return next((ref for ref in self.owners if ref["uid"] == owner_uid), None)


class OwnerGraph:
    """uid → Node for every watched object, plus owner uid → dependent uids (owners need not be known)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._dependents: dict[str, set[str]] = {}

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def upsert(self, node: Node) -> Node | None:
        """Store `node`; returns the previous state of the same uid, if any."""
        old = self.nodes.get(node.uid)
        if old is not None:
            self._unlink(old)
        self.nodes[node.uid] = node
        for ref in node.owners:
            self._dependents.setdefault(ref["uid"], set()).add(node.uid)
        return old

    def remove(self, uid: str) -> Node | None:
        node = self.nodes.pop(uid, None)
        if node is not None:
            self._unlink(node)
        return node

    def dependents(self, owner_uid: str) -> list[Node]:
        return [self.nodes[uid] for uid in sorted(self._dependents.get(owner_uid, ())) if uid in self.nodes]

    def blocking_dependents(self, owner_uid: str) -> list[Node]:
        """Dependents whose reference to this owner says blockOwnerDeletion: a foreground delete waits for them."""
        return [d for d in self.dependents(owner_uid) if (d.ref_to(owner_uid) or {}).get("blockOwnerDeletion")]

    def _unlink(self, node: Node) -> None:
        for ref in node.owners:
            uids = self._dependents.get(ref["uid"])
            if uids is not None:
                uids.discard(node.uid)
                if not uids:
                    del self._dependents[ref["uid"]]


class GarbageCollectorController(Controller):
    name = "garbagecollector"

    def __init__(self, client: Any, informers: SharedInformers, *, watched: tuple[ResourceType, ...] = WATCHED_KINDS,
                 absent_cache_size: int = 1024, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.graph = OwnerGraph()
        self._absent: OrderedDict[str, None] = OrderedDict()  # owner uids confirmed gone (LRU)
        self._absent_cache_size = absent_cache_size
        for rt in watched:
            self._watch(self.add_informer(informers.get(rt)))

    # -- graph building ------------------------------------------------------------

    def _watch(self, informer: Informer) -> None:
        rt = informer.rt
        informer.add_handler(lambda obj: self._observe(rt, obj), lambda _old, new: self._observe(rt, new),
                             lambda obj: self._forget(obj))

    def _observe(self, rt: ResourceType, obj: Obj) -> None:
        if not (obj.get("metadata") or {}).get("uid"):
            return
        node = Node.of(rt, obj)
        old = self.graph.upsert(node)
        if self._needs_attention(node):
            self.queue.add(node.uid)
        if node.deleting_dependents and (old is None or not old.deleting_dependents):
            self._enqueue_dependents(node.uid)  # they must go now
        # An owner dropped from the references, or one waiting on us, should look again.
        for ref in (old.owners if old else []) + node.owners:
            self._enqueue_if_waiting(ref["uid"])

    def _forget(self, obj: Obj) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        node = self.graph.remove(uid) if uid else None
        if node is None:
            return
        self._enqueue_dependents(uid)  # their owner is gone (or went away while they still referred to it)
        for ref in node.owners:
            self._enqueue_if_waiting(ref["uid"])

    def _needs_attention(self, node: Node) -> bool:
        if node.orphaning or node.deleting_dependents:
            return True
        if node.deleting:
            return False  # on its way out already
        for ref in node.owners:
            owner = self.graph.get(ref["uid"])
            if owner is None or owner.deleting_dependents:
                return True
        return False

    def _enqueue_dependents(self, owner_uid: str) -> None:
        for dependent in self.graph.dependents(owner_uid):
            self.queue.add(dependent.uid)

    def _enqueue_if_waiting(self, owner_uid: str) -> None:
        owner = self.graph.get(owner_uid)
        if owner is not None and (owner.deleting_dependents or owner.orphaning):
            self.queue.add(owner_uid)

    # -- reconciling ---------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        node = self.graph.get(key)
        if node is None:
            return  # gone: its dependents were enqueued when it left the graph
        if node.orphaning:
            await self._orphan_dependents(node)
        elif node.deleting_dependents:
            await self._process_deleting_dependents(node)
        elif not node.deleting and node.owners:
            await self._attempt_to_delete(node)

    async def _orphan_dependents(self, owner: Node) -> None:
        """Orphan propagation: drop the owner's reference from every dependent, then the `orphan` finalizer."""
        for dependent in self.graph.dependents(owner.uid):
            await self._remove_owner_refs(dependent, [owner.uid])
        await self._remove_finalizer(owner, ORPHAN)

    async def _process_deleting_dependents(self, owner: Node) -> None:
        """Foreground propagation: dependents are deleted (by their own reconcile); the owner waits for blockers."""
        blocking = self.graph.blocking_dependents(owner.uid)
        if not blocking:
            await self._remove_finalizer(owner, FOREGROUND)
            return
        for dependent in self.graph.dependents(owner.uid):
            if not dependent.deleting:
                self.queue.add(dependent.uid)
        log.debug("%s: %s/%s waits for %d blocking dependents", self.name, owner.namespace, owner.name,
                  len(blocking))

    async def _attempt_to_delete(self, cached: Node) -> None:
        """Upstream's attemptToDeleteItem: classify the owners, then patch references away or delete.

        Works from a live read of the object: the cache may not yet show that
        its references were just removed (e.g. orphaned by another worker)."""
        if not self._needs_attention(cached):
            return  # every owner is in the cache and none waits on us: no need to ask the server
        node = await self._live(cached)
        if node is None or node.deleting:
            return
        states: dict[OwnerState, list[str]] = {"solid": [], "dangling": [], "waiting": []}
        for ref in node.owners:
            states[await self._owner_state(node, ref)].append(ref["uid"])
        stale = states["dangling"] + states["waiting"]
        if not stale:
            return
        if states["solid"]:
            await self._remove_owner_refs(node, stale)
        elif states["waiting"] and self.graph.dependents(node.uid):
            # Keep the chain in the foreground, so the waiting owner outlives our own dependents too.
            await self._delete(node, "Foreground")
        else:
            await self._delete(node, "Background")

    async def _live(self, node: Node) -> Node | None:
        """The object as the server has it now; None if it is gone or its name now holds another object."""
        try:
            live = await self.client.get(node.rt, node.name, node.namespace)
        except errors.NotFound:
            return None
        fresh = Node.of(node.rt, live)
        return fresh if fresh.uid == node.uid else None

    async def _owner_state(self, node: Node, ref: dict[str, Any]) -> OwnerState:
        """Cache presence is trusted; cache absence is confirmed with a live GET (the informer may lag)."""
        uid = ref["uid"]
        owner = self.graph.get(uid)
        if owner is not None:
            return "waiting" if owner.deleting_dependents else "solid"
        if uid in self._absent:
            return "dangling"
        rt = REGISTRY.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            log.warning("%s: %s/%s has an owner of unknown kind %s %s; keeping it", self.name, node.namespace,
                        node.name, ref.get("apiVersion"), ref.get("kind"))
            return "solid"
        try:
            live = await self.client.get(rt, ref["name"], node.namespace if rt.namespaced else None)
        except errors.NotFound:
            return self._note_absent(uid)
        meta = live.get("metadata") or {}
        if meta.get("uid") != uid:
            return self._note_absent(uid)  # same name, another object: ours is gone
        return "waiting" if meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or []) \
            else "solid"

    def _note_absent(self, uid: str) -> OwnerState:
        self._absent[uid] = None
        self._absent.move_to_end(uid)
        while len(self._absent) > self._absent_cache_size:
            self._absent.popitem(last=False)
        return "dangling"

    # -- writes --------------------------------------------------------------------

    async def _delete(self, node: Node, policy: str) -> None:
        log.info("%s: deleting %s %s/%s (propagation %s)", self.name, node.rt.kind, node.namespace, node.name,
                 policy)
        try:
            await self.client.delete(node.rt, node.name, node.namespace, propagation_policy=policy,
                                     preconditions={"uid": node.uid})
        except errors.NotFound:
            pass
        except errors.Conflict:
            log.info("%s: %s/%s was replaced by another object; not deleting it", self.name, node.namespace,
                     node.name)

    async def _remove_owner_refs(self, node: Node, owner_uids: list[str]) -> None:
        """A strategic merge patch deleting the references by uid (their merge key), as upstream does."""
        present = [uid for uid in owner_uids if node.ref_to(uid) is not None]
        if not present:
            return
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid} for uid in present]}}
        try:
            await self.client.patch(node.rt, node.name, patch, node.namespace, patch_type="strategic")
        except errors.NotFound:
            pass

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        """Read-modify-write pinned to the read resourceVersion: a concurrent finalizer change means retry."""
        try:
            live = await self.client.get(node.rt, node.name, node.namespace)
        except errors.NotFound:
            return
        meta = live.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("uid") != node.uid or finalizer not in finalizers:
            return
        finalizers.remove(finalizer)
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "finalizers": finalizers}}
        log.info("%s: removing finalizer %s from %s %s/%s", self.name, finalizer, node.rt.kind, node.namespace,
                 node.name)
        try:
            await self.client.patch(node.rt, node.name, patch, node.namespace)
        except errors.NotFound:
            pass
