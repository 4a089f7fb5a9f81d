"""The node lifecycle controller: node health from heartbeats, the not-ready/unreachable taints, taint-based eviction.

Modelled on upstream pkg/controller/nodelifecycle and its NoExecute taint manager.
Keys are node names.  Every `node_monitor_period_s` all nodes are enqueued;
Node, Lease (kube-node-lease) and Pod events enqueue the node concerned.
`reconcile(node)`:

1. health: the node's probe time is when this controller last saw its Lease
   renewTime or its Ready condition's lastHeartbeatTime change (local clock, as
   upstream, so clock skew does not matter).  Past `node_monitor_grace_period_s`
   (`node_startup_grace_period_s` for a node that never posted Ready) its
   Ready/MemoryPressure/DiskPressure/PIDPressure conditions become Unknown
   (NodeStatusUnknown, "Kubelet stopped posting node status.") through
   nodes/status, a NodeNotReady event is recorded and its pods are marked not ready;
2. taints: Ready=False → `node.kubernetes.io/not-ready`, Ready=Unknown →
   `node.kubernetes.io/unreachable`, each NoExecute (with timeAdded) and
   NoSchedule; both removed when Ready=True again;
3. eviction: a pod on a node with NoExecute taints is deleted at once when a
   taint is not tolerated, else once the shortest tolerationSeconds of its
   matching tolerations has passed since the taints were first seen
   (TaintManagerEviction event); pods tolerating without a limit stay.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common import errors
from common.api import kinds
from common.controller import Controller
from common.events import EventRecorder
from common.informer import Informer, Obj, SharedInformers, deep_copy, key_of

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
OUR_TAINTS = (TAINT_NOT_READY, TAINT_UNREACHABLE)
HEALTH_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def _rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- pure helpers ------------------------------------------------------------------------

def condition(node: Obj, type_: str) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def ready_status(node: Obj) -> str | None:
    """"True", "False", "Unknown", or None when the node never posted a Ready condition."""
    cond = condition(node, "Ready")
    return cond.get("status") if cond else None


def unknown_conditions(node: Obj, now: str) -> list[Obj]:
    """The node's conditions with the health ones set Unknown (upstream tryUpdateNodeHealth)."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    by_type = {c.get("type"): c for c in conditions}
    for type_ in HEALTH_CONDITIONS:
        cond = by_type.get(type_)
        if cond is None:
            conditions.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.", "lastHeartbeatTime": now,
                               "lastTransitionTime": now})
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                        lastTransitionTime=now)
    return conditions


def desired_health_taints(ready: str | None) -> list[Obj]:
    """The taints this controller wants for a Ready status (without timeAdded)."""
    key = {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE}.get(ready or "")
    if key is None:
        return []
    return [{"key": key, "effect": "NoExecute"}, {"key": key, "effect": "NoSchedule"}]


def with_health_taints(taints: list[Obj], ready: str | None, now: str) -> list[Obj]:
    """`taints` with ours swapped for the desired ones; existing ones keep their timeAdded, others are kept."""
    if ready is None:
        return taints  # never posted status: leave the kubelet's registration taints alone
    current = {(t.get("key"), t.get("effect")): t for t in taints if t.get("key") in OUR_TAINTS}
    result = [t for t in taints if t.get("key") not in OUR_TAINTS]
    for taint in desired_health_taints(ready):
        existing = current.get((taint["key"], taint["effect"]))
        if existing is not None:
            result.append(existing)
        elif taint["effect"] == "NoExecute":
            result.append({**taint, "timeAdded": now})
        else:
            result.append(taint)
    return result


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Upstream Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and key != "" and (toleration.get("value") or "") == (taint.get("value") or "")


def toleration_seconds(pod: Obj, taints: list[Obj]) -> float | None:
    """Seconds the pod may stay on a node with these NoExecute taints: 0 if one is not tolerated, None for ever."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    used: list[Obj] = []
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        used.extend(matching)
    limits = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not limits:
        return None
    return float(max(min(limits), 0))


def no_execute_taints(node: Obj) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]


@dataclass
class NodeHealth:
    """What was last seen of a node's heartbeats and when (local monotonic clock)."""
    heartbeat: tuple[Any, Any]  # (Ready lastHeartbeatTime, Lease renewTime)
    probe_time: float


# -- the controller -------------------------------------------------------------------------

class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"

    def __init__(self, client: Any, informers: SharedInformers, *, node_monitor_period_s: float = 5.0,
                 node_monitor_grace_period_s: float = 40.0, node_startup_grace_period_s: float = 60.0,
                 recorder: EventRecorder | None = None, clock: Callable[[], float] = time.monotonic,
                 **options: Any) -> None:
        super().__init__(client, **options)
        self.monitor_period_s = node_monitor_period_s
        self.grace_period_s = node_monitor_grace_period_s
        self.startup_grace_period_s = node_startup_grace_period_s
        self.recorder = recorder or EventRecorder(client, "node-controller")
        self.clock = clock
        self.health: dict[str, NodeHealth] = {}
        self.tainted_since: dict[str, tuple[frozenset[tuple[str, str]], float]] = {}
        self.pods_by_node: dict[str, set[str]] = {}
        self.nodes: Informer = self.add_informer(informers.get(kinds.NODES))
        self.leases: Informer = self.add_informer(informers.get(kinds.LEASES))
        self.pods: Informer = self.add_informer(informers.get(kinds.PODS))
        self.enqueue_on_events(self.nodes)
        self.leases.add_handler(self._on_lease, lambda _old, new: self._on_lease(new))
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # -- events --------------------------------------------------------------------------------

    def _on_lease(self, lease: Obj) -> None:
        if lease["metadata"].get("namespace") == LEASE_NAMESPACE:
            self.queue.add(lease["metadata"]["name"])

    def _on_pod_add(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            self.pods_by_node.setdefault(node, set()).add(key_of(pod))
            if node in self.tainted_since:
                self.queue.add(node)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("nodeName") != (new.get("spec") or {}).get("nodeName"):
            self._on_pod_delete(old)
        self._on_pod_add(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        keys = self.pods_by_node.get(node or "")
        if keys is not None:
            keys.discard(key_of(pod))
            if not keys:
                del self.pods_by_node[node or ""]

    # -- running ---------------------------------------------------------------------------

    async def run(self, workers: int = 1) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(super().run(workers))
            tasks.create_task(self._monitor_forever())

    async def _monitor_forever(self) -> None:
        await self.wait_for_sync()
        while True:
            self.monitor_once()
            await asyncio.sleep(self.monitor_period_s)

    def monitor_once(self) -> None:
        """Enqueue every node (upstream monitorNodeHealth's pass), and forget nodes that are gone."""
        for name in list(self.health):
            if name not in self.nodes:
                self.health.pop(name, None)
                self.tainted_since.pop(name, None)
        for name in self.nodes.keys():  # noqa: SIM118 - Informer.keys(), not a dict
            self.queue.add(name)

    # -- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            self.health.pop(key, None)
            self.tainted_since.pop(key, None)
            return
        node = await self._check_health(node)
        node = await self._update_taints(node)
        await self._evict_pods(node)

    def _probe_age(self, node: Obj) -> float:
        """Seconds since a heartbeat of the node last changed, as seen here."""
        name, now = node["metadata"]["name"], self.clock()
        ready = condition(node, "Ready") or {}
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}") or {}
        heartbeat = (ready.get("lastHeartbeatTime"), (lease.get("spec") or {}).get("renewTime"))
        seen = self.health.get(name)
        if seen is None or seen.heartbeat != heartbeat:
            self.health[name] = seen = NodeHealth(heartbeat, now)
        return now - seen.probe_time

    async def _check_health(self, node: Obj) -> Obj:
        ready = ready_status(node)
        grace = self.startup_grace_period_s if ready is None else self.grace_period_s
        if self._probe_age(node) <= grace:
            return node
        if any(ready_status_of(node, t) != "Unknown" for t in HEALTH_CONDITIONS):
            node = await self._mark_unknown(node)
        await self._mark_pods_not_ready(node)
        return node

    async def _mark_unknown(self, node: Obj) -> Obj:
        name = node["metadata"]["name"]
        updated = deep_copy(node)
        updated["status"] = {**(updated.get("status") or {}), "conditions": unknown_conditions(node, _rfc3339_now())}
        log.info("%s: node %s stopped posting status; marking it Unknown", self.name, name)
        written = await self.client.update_status(kinds.NODES, updated)
        await self.recorder.record(_node_ref(node), "Normal", "NodeNotReady", f"Node {name} status is now: "
                                   "NodeNotReady")
        return written

    async def _mark_pods_not_ready(self, node: Obj) -> None:
        """Upstream MarkPodsNotReady: the kubelet cannot say so itself any more."""
        for pod in self._pods_on(node["metadata"]["name"]):
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or []
                          if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") != "True":
                continue
            updated = deep_copy(pod)
            for cond in updated["status"]["conditions"]:
                if cond.get("type") == "Ready":
                    cond.update(status="False", lastTransitionTime=_rfc3339_now())
            try:
                await self.client.update_status(kinds.PODS, updated)
            except errors.NotFound:
                pass

    async def _update_taints(self, node: Obj) -> Obj:
        taints = (node.get("spec") or {}).get("taints") or []
        wanted = with_health_taints(taints, ready_status(node), _rfc3339_now())
        if wanted == taints:
            return node
        updated = deep_copy(node)
        spec = updated["spec"] = dict(updated.get("spec") or {})
        spec["taints"] = wanted
        if not wanted:
            del spec["taints"]
        log.info("%s: node %s taints now %s", self.name, node["metadata"]["name"],
                 [f"{t['key']}:{t['effect']}" for t in wanted])
        return await self.client.update(kinds.NODES, updated)

    def _pods_on(self, node_name: str) -> list[Obj]:
        pods = (self.pods.get(k) for k in sorted(self.pods_by_node.get(node_name, ())))
        return [p for p in pods if p is not None]

    async def _evict_pods(self, node: Obj) -> None:
        name, now = node["metadata"]["name"], self.clock()
        taints = no_execute_taints(node)
        if not taints:
            self.tainted_since.pop(name, None)
            return
        signature = frozenset((t.get("key", ""), t.get("value", "")) for t in taints)
        seen = self.tainted_since.get(name)
        if seen is None or seen[0] != signature:
            self.tainted_since[name] = seen = (signature, now)
        next_check: float | None = None
        for pod in self._pods_on(name):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            allowed = toleration_seconds(pod, taints)
            if allowed is None:
                continue
            remaining = seen[1] + allowed - now
            if remaining <= 0:
                await self._evict(pod)
            else:
                next_check = remaining if next_check is None else min(next_check, remaining)
        if next_check is not None:
            self.queue.add_after(name, next_check)

    async def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        log.info("%s: evicting pod %s/%s from tainted node %s", self.name, meta.get("namespace"), meta["name"],
                 pod["spec"].get("nodeName"))
        await self.recorder.record({"kind": "Pod", "apiVersion": "v1", **pod}, "Normal", "TaintManagerEviction",
                                   f"Marking for deletion Pod {meta.get('namespace')}/{meta['name']}")
        try:
            await self.client.delete(kinds.PODS, meta["name"], meta.get("namespace"))
        except errors.NotFound:
            pass


def ready_status_of(node: Obj, type_: str) -> str | None:
    cond = condition(node, type_)
    return cond.get("status") if cond else None


def _node_ref(node: Obj) -> Obj:
    """Node events name the node by its name as UID, as upstream's recorder does."""
    ref = {"kind": "Node", "apiVersion": "v1", **node}
    ref["metadata"] = {**node["metadata"], "uid": node["metadata"]["name"]}
    return ref
