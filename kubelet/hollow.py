"""Hollow nodes (upstream kubemark): many fake Nodes from one process, heartbeating, their pods reported Running.

`python -m kubelet --hollow --count 1000` registers Nodes `hollow-0..999` that
look like real ones to the scheduler and the control plane, and runs nothing:

- Registration at a bounded concurrency (`--concurrency` requests in flight):
  one POST of the Node and one of its Lease in kube-node-lease; after a restart
  (found by one list of each) a PATCH of the Node's status and a PUT of its
  Lease instead.  1,000 nodes register in ~10 s on 2 cores, bound by the HTTP client's
  CPU per request, not by the apiserver.
- Heartbeats: each Lease is renewed every duration/4 (10 s) by a PUT of the
  copy we last wrote — one request, no GET — and the renewals of all nodes are
  spread evenly over the period (`SpreadTicker`) rather than fired together.
  A node whose Node was deleted stops heartbeating (noticed when the PUT has
  to recreate its Lease, or at its next status report); it is not re-registered.
  The Node status is re-posted only every `--node-status-report-frequency`
  (5 min, upstream's nodeStatusReportFrequency when nothing changed), also spread.
- Pods: ONE informer on all assigned pods (`spec.nodeName!=`), filtered to our
  nodes, feeds a work queue: a new pod gets a Running status (containers
  `hollow://<uid>-<name>`, a podIP from its node's fake block) through
  pods/status; a pod with a deletionTimestamp is deleted for good (grace 0,
  UID precondition), as the real kubelet finishes a deletion.

Addresses are fake: node i is 10.64.0.0 + i + 1; its pods take a block of
10.128.0.0/9 (256 addresses, more if --max-pods needs them).  Nothing listens
on them.  One shared ApiClient; lease writes have their own smaller semaphore
so a burst of pod updates can never starve heartbeats.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import heapq
import ipaddress
import logging
import math
import platform
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge

from apiserver.discovery import GIT_VERSION
from common import errors
from common.api import kinds
from common.client import ApiClient
from common.controller import Controller
from common.daemon import (add_client_flags, add_logging_flags, env_default, health_server, parse_duration,
                           setup_logging)
from common.quantity import canonical_quantity, parse_quantity

from .node import (_PRESSURE_TEXT, CONTROLLER_MANAGED_ATTACH, DEFAULT_EVICTION_HARD, NODE_LEASE_NAMESPACE,
                   binary_quantity, goarch, parse_node_labels, parse_taints, parse_thresholds)

log = logging.getLogger("kubelet.hollow")

Obj = dict[str, Any]
T = TypeVar("T")

HOLLOW_LABEL = "kubelab.io/hollow"
RUNTIME_VERSION = "hollow://1.0.0"
NODE_IP_BASE = int(ipaddress.IPv4Address("10.64.0.0"))
POD_IP_BASE, POD_IP_SPACE = int(ipaddress.IPv4Address("10.128.0.0")), 1 << 23  # 10.128.0.0/9
MIN_TICK_S = 0.02  # the heartbeat loops wake at most 50 times a second, whatever the node count
ERROR_LOG_EVERY_S = 10.0
POD_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")

NODES_REGISTERED = Gauge("kubelab_hollow_nodes", "Hollow nodes registered and heartbeating")
LEASE_RENEWALS = Counter("kubelab_hollow_lease_renewals_total", "Lease renewals", ["result"])
STATUS_REPORTS = Counter("kubelab_hollow_node_status_reports_total", "Node status reports", ["result"])
POD_UPDATES = Counter("kubelab_hollow_pod_updates_total", "Pod writes", ["kind"])


# -- settings -----------------------------------------------------------------------------------------------------

@dataclass
class HollowSettings:
    count: int
    prefix: str = "hollow-"
    server: str | None = None
    kubeconfig: str | None = None
    cpu: str = "4"
    memory: str = "16Gi"
    ephemeral_storage: str = "100Gi"
    max_pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    pod_status: bool = True
    kubelet_port: int = 0  # daemonEndpoints: nothing listens on a hollow node
    concurrency: int = 8  # measured (with httpx): client CPU per request grew with more in flight
    lease_duration_s: int = 40
    status_report_frequency_s: float = 300.0
    healthz_bind_address: str = "127.0.0.1"
    healthz_port: int = 0

    @property
    def lease_renew_interval_s(self) -> float:
        return self.lease_duration_s / 4  # upstream renews at a quarter of the duration

    def node_name(self, index: int) -> str:
        return f"{self.prefix}{index}"


def parse_args(argv: list[str]) -> HollowSettings:
    p = argparse.ArgumentParser(prog="python -m kubelet", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="kubelab hollow nodes (like kubemark): register many Nodes, keep their "
                                "Leases fresh and report their pods Running without starting containers — for "
                                "scheduler and control-plane scale tests.")
    p.add_argument("--hollow", action="store_true", required=True, help="run hollow nodes (this mode)")
    p.add_argument("--count", type=int, default=int(env_default("--count", "1") or 1), help="how many nodes")
    p.add_argument("--node-name-prefix", default=env_default("--node-name-prefix", "hollow-"),
                   help="nodes are <prefix>0 .. <prefix>N-1")
    add_client_flags(p)
    p.add_argument("--cpu", default="4", help="each node's cpu capacity")
    p.add_argument("--memory", default="16Gi", help="each node's memory capacity")
    p.add_argument("--ephemeral-storage", default="100Gi", help="each node's ephemeral-storage capacity")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--node-labels", default="", help="k=v,... added to every node")
    p.add_argument("--register-with-taints", default="", help="key=value:Effect,... set on every node")
    p.add_argument("--no-pod-status", dest="pod_status", action="store_false",
                   help="never write pod status (scheduler benchmarks where only binding matters); deletions "
                        "are still completed")
    p.add_argument("--port", type=int, default=0, help="kubelet port the Nodes advertise (nothing listens)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="API requests in flight for registration and pods (more costs the client more CPU per request)")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40,
                   help="lease duration; leases are renewed every quarter of it")
    p.add_argument("--node-status-report-frequency", type=parse_duration, default=300.0,
                   help="how often an unchanged node status is re-posted (default 5m)")
    p.add_argument("--healthz-bind-address", default=env_default("--healthz-bind-address", "127.0.0.1"))
    p.add_argument("--healthz-port", type=int, default=int(env_default("--healthz-port", "10248") or 10248),
                   help="port of /healthz and /metrics; 0 disables")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("kubelet", args.verbosity)
    try:
        settings = HollowSettings(
            count=args.count, prefix=args.node_name_prefix, server=args.server, kubeconfig=args.kubeconfig,
            cpu=args.cpu, memory=args.memory, ephemeral_storage=args.ephemeral_storage, max_pods=args.max_pods,
            labels=parse_node_labels(args.node_labels), taints=parse_taints(args.register_with_taints),
            pod_status=args.pod_status, kubelet_port=args.port, concurrency=args.concurrency,
            lease_duration_s=args.node_lease_duration_seconds,
            status_report_frequency_s=args.node_status_report_frequency,
            healthz_bind_address=args.healthz_bind_address, healthz_port=args.healthz_port)
        check_settings(settings)
    except ValueError as exc:
        p.error(str(exc))
    return settings


def check_settings(s: HollowSettings) -> None:
    """ValueError naming the first bad flag."""
    if s.count < 1:
        raise ValueError("--count must be at least 1")
    last = s.node_name(s.count - 1)
    if not _NAME.fullmatch(s.node_name(0)) or len(last) > 63:
        raise ValueError(f"--node-name-prefix {s.prefix!r} does not make valid node names (e.g. {last!r}): "
                         "lower-case letters, digits, '-' and '.', at most 63 characters")
    for flag, value in (("--cpu", s.cpu), ("--memory", s.memory), ("--ephemeral-storage", s.ephemeral_storage)):
        try:
            parse_quantity(value)
        except ValueError:
            raise ValueError(f"{flag}: invalid quantity {value!r}") from None
    if s.max_pods < 1 or s.concurrency < 1 or s.lease_duration_s < 1:
        raise ValueError("--max-pods, --concurrency and --node-lease-duration-seconds must be positive")
    if s.count * pod_block_size(s.max_pods) > POD_IP_SPACE:
        raise ValueError(f"{s.count} nodes of {s.max_pods} pods do not fit the fake pod range 10.128.0.0/9")


# -- fake addresses -------------------------------------------------------------------------------------------------

def node_ip(index: int) -> str:
    return str(ipaddress.IPv4Address(NODE_IP_BASE + index + 1))


def pod_block_size(max_pods: int) -> int:
    """A power of two with room for max_pods besides the block's first and last address."""
    return max(256, 1 << math.ceil(math.log2(max_pods + 2)))


class PodIPs:
    """One node's fake pod addresses: lowest free first, released when the pod goes."""

    def __init__(self, index: int, max_pods: int) -> None:
        self.size = pod_block_size(max_pods)
        self.base = POD_IP_BASE + index * self.size
        self._by_uid: dict[str, int] = {}
        self._next = 1  # offsets below it were handed out at some point; _free holds those given back
        self._free: list[int] = []

    def assign(self, uid: str) -> str:
        if uid not in self._by_uid:
            if self._free:
                offset = heapq.heappop(self._free)
            elif self._next < self.size - 1:
                offset, self._next = self._next, self._next + 1
            else:
                raise RuntimeError(f"no free pod address in {self._address(0)}/{32 - int(math.log2(self.size))}")
            self._by_uid[uid] = offset
        return self._address(self._by_uid[uid])

    def claim(self, uid: str, ip: str) -> None:
        """Mark an address a running pod already reports (after a restart) as taken."""
        try:
            offset = int(ipaddress.IPv4Address(ip)) - self.base
        except ValueError:
            return
        if not 0 < offset < self.size - 1 or uid in self._by_uid or offset in self._by_uid.values():
            return
        if offset >= self._next:
            for free in range(self._next, offset):
                heapq.heappush(self._free, free)
            self._next = offset + 1
        elif offset in self._free:
            self._free.remove(offset)
            heapq.heapify(self._free)
        self._by_uid[uid] = offset

    def release(self, uid: str) -> None:
        offset = self._by_uid.pop(uid, None)
        if offset is not None:
            heapq.heappush(self._free, offset)

    def _address(self, offset: int) -> str:
        return str(ipaddress.IPv4Address(self.base + offset))


# -- the objects ----------------------------------------------------------------------------------------------------

def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capacity(s: HollowSettings) -> dict[str, str]:
    return {"cpu": canonical_quantity(s.cpu), "memory": canonical_quantity(s.memory),
            "ephemeral-storage": canonical_quantity(s.ephemeral_storage), "pods": str(s.max_pods)}


def allocatable(cap: dict[str, str]) -> dict[str, str]:
    """Capacity less the default hard eviction thresholds (memory 100Mi, nodefs 10%), as a real kubelet's."""
    result = dict(cap)
    for threshold in parse_thresholds(DEFAULT_EVICTION_HARD):
        resource = {"memory.available": "memory", "nodefs.available": "ephemeral-storage"}.get(threshold.signal)
        if resource:
            total = parse_quantity(cap[resource])
            result[resource] = binary_quantity(max(int(total - threshold.value(int(total))), 0))
    return result


def node_conditions(now: str) -> list[Obj]:
    """No pressure, Ready — Ready last, as upstream orders them."""
    conditions = []
    for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        reason, message, _event = _PRESSURE_TEXT[type_][1]
        conditions.append({"type": type_, "status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now,
                           "reason": reason, "message": message})
    conditions.append({"type": "Ready", "status": "True", "lastHeartbeatTime": now, "lastTransitionTime": now,
                       "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    return conditions


def node_status(s: HollowSettings, index: int, boot_id: str, now: str) -> Obj:
    name, cap = s.node_name(index), capacity(s)
    return {"capacity": cap, "allocatable": allocatable(cap), "conditions": node_conditions(now),
            "addresses": [{"type": "InternalIP", "address": node_ip(index)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": s.kubelet_port}},
            "nodeInfo": {"machineID": hashlib.md5(name.encode()).hexdigest(),
                         "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                         "bootID": str(uuid.uuid5(uuid.UUID(boot_id), name)), "kernelVersion": platform.release(),
                         "osImage": "kubelab hollow node", "containerRuntimeVersion": RUNTIME_VERSION,
                         "kubeletVersion": GIT_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": goarch()}}


def hollow_node(s: HollowSettings, index: int, boot_id: str, now: str) -> Obj:
    name, arch = s.node_name(index), goarch()
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, HOLLOW_LABEL: "true", **s.labels}
    spec: Obj = {"taints": [dict(t) for t in s.taints]} if s.taints else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {CONTROLLER_MANAGED_ATTACH: "true"}},
            "spec": spec, "status": node_status(s, index, boot_id, now)}


def node_lease(name: str, node_uid: str, duration_s: int, base: Obj | None = None) -> Obj:
    """base (or a new Lease) held by the node, owned by it, renewed now."""
    lease: Obj = base or {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                          "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE}}
    owner = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]
    return {**lease, "metadata": {**lease["metadata"], "ownerReferences": owner},
            "spec": {**(lease.get("spec") or {}), "holderIdentity": name, "leaseDurationSeconds": duration_s,
                     "renewTime": now_micro()}}


def renewed(lease: Obj) -> Obj:
    """The lease with a fresh renewTime; shallow copies only, the metadata is shared and never mutated."""
    return {**lease, "spec": {**lease["spec"], "renewTime": now_micro()}}


# -- pod status -----------------------------------------------------------------------------------------------------

def container_id(uid: str, name: str) -> str:
    return f"hollow://{uid}-{name}"


def image_id(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def is_sidecar(container: Obj) -> bool:
    return container.get("restartPolicy") == "Always"


def gates_ready(pod: Obj) -> bool:
    """Every readiness gate's condition is True (the Ready condition's other half)."""
    conditions = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
    return all(conditions.get(g.get("conditionType")) == "True" for g in pod["spec"].get("readinessGates") or [])


def _container_status(pod: Obj, container: Obj, now: str, init: bool) -> Obj:
    name, image = container["name"], container.get("image", "")
    finished = init and not is_sidecar(container)
    state = ({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now,
                             "containerID": container_id(pod["metadata"]["uid"], name)}}
             if finished else {"running": {"startedAt": now}})
    return {"name": name, "state": state, "lastState": {}, "ready": True, "restartCount": 0, "image": image,
            "imageID": image_id(image), "containerID": container_id(pod["metadata"]["uid"], name),
            "started": not finished}


def _pod_condition(type_: str, ok: bool, now: str, generation: int, reason: str = "") -> Obj:
    condition: Obj = {"type": type_}
    if generation:
        condition["observedGeneration"] = generation
    condition.update(status="True" if ok else "False", lastProbeTime=None, lastTransitionTime=now)
    if reason:
        condition["reason"] = reason
    return condition


def running_status(pod: Obj, pod_ip: str, host_ip: str, now: str) -> Obj:
    """The status a real kubelet reports once every container is up and ready."""
    spec, generation = pod["spec"], int(pod["metadata"].get("generation") or 0)
    old = pod.get("status") or {}
    foreign = [c for c in old.get("conditions") or [] if c.get("type") not in POD_CONDITIONS]
    ready = gates_ready(pod)
    ours = [_pod_condition(t, True, now, generation) for t in ("PodReadyToStartContainers", "Initialized")]
    ours.append(_pod_condition("Ready", ready, now, generation, "" if ready else "ReadinessGatesNotReady"))
    ours += [_pod_condition(t, True, now, generation) for t in ("ContainersReady", "PodScheduled")]
    status: Obj = {"phase": "Running", "conditions": foreign + ours, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": old.get("startTime") or now}
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_container_status(pod, c, now, True) for c in spec["initContainers"]]
    status["containerStatuses"] = [_container_status(pod, c, now, False) for c in spec.get("containers") or []]
    if generation:
        status["observedGeneration"] = generation
    return status


def is_reported(pod: Obj) -> bool:
    """Already Running as we report it (so a restart or an unrelated update writes nothing)."""
    status, uid = pod.get("status") or {}, pod["metadata"]["uid"]
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    ids = {s.get("name"): s.get("containerID") for s in status.get("containerStatuses") or []}
    if any(ids.get(c["name"]) != container_id(uid, c["name"]) for c in pod["spec"].get("containers") or []):
        return False
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return ready == ("True" if gates_ready(pod) else "False")


# -- spreading periodic work -------------------------------------------------------------------------------------------

class SpreadTicker:
    """count turns per period, evenly spread: turn k is node k mod count, due at start + k·period/count."""

    def __init__(self, count: int, period_s: float, start: float) -> None:
        self.count, self.period_s, self.start = count, period_s, start
        self._handed_out = 0  # turns already returned by due()

    def due(self, now: float) -> list[int]:
        """The nodes whose turn came since the last call; each node at most once, however far behind."""
        reached = math.floor((now - self.start) * self.count / self.period_s) + 1
        first = max(self._handed_out, reached - self.count)
        self._handed_out = max(self._handed_out, reached)
        return [turn % self.count for turn in range(first, reached)]

    def next_at(self) -> float:
        return self.start + self._handed_out * self.period_s / self.count


class ErrorLog:
    """One warning per kind of failure every ERROR_LOG_EVERY_S, with a count: 1,000 failing nodes don't flood."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, what: str, node: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last.get(what, float("-inf")) < ERROR_LOG_EVERY_S:
            self._suppressed[what] = self._suppressed.get(what, 0) + 1
            return
        more = self._suppressed.pop(what, 0)
        self._last[what] = now
        log.warning("%s failed for %s: %s%s", what, node, describe(exc),
                    f" ({more} more failures since the last report)" if more else "")


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, errors.TransportError) else str(exc) or repr(exc)


def transient(exc: BaseException) -> bool:
    """Worth retrying: the connection failed, the server is overloaded or broke."""
    return isinstance(exc, errors.TransportError) or (isinstance(exc, errors.ApiError)
                                                and (exc.code >= 500 or exc.code == 429))


# -- the nodes ------------------------------------------------------------------------------------------------------

@dataclass
class HollowNode:
    name: str
    index: int
    ip: str
    pods: PodIPs
    uid: str = ""  # set once registered
    lease: Obj | None = None  # the copy we last wrote
    gone: bool = False  # deleted by someone: no more heartbeats (a real kubelet does not re-register either)
    busy: set[str] = field(default_factory=set)  # periodic writes in flight ("lease", "status")

    @property
    def alive(self) -> bool:
        return bool(self.uid) and not self.gone


class HollowPods(Controller):
    """Pods bound to our nodes: report them Running, finish their deletion."""

    name = "hollow-pods"

    def __init__(self, client: ApiClient, nodes: dict[str, HollowNode], *, pod_status: bool) -> None:
        super().__init__(client, max_delay_s=30.0)
        self.nodes, self.pod_status = nodes, pod_status
        self.pods = self.informer(kinds.PODS, field_selector="spec.nodeName!=")
        self.pods.add_handler(self._maybe_enqueue, lambda _old, new: self._maybe_enqueue(new), self._maybe_enqueue)
        self._addresses: dict[str, tuple[HollowNode, str]] = {}  # pod key -> (node, uid) holding an address

    def _maybe_enqueue(self, pod: Obj) -> None:
        if pod["spec"].get("nodeName") in self.nodes:
            self.enqueue(pod)

    async def reconcile(self, key: str) -> None:
        pod = self.pods.get(key)
        node = self.nodes.get(pod["spec"].get("nodeName", "")) if pod else None
        if pod is None or node is None or pod["metadata"].get("deletionTimestamp"):
            self._release(key)
            if pod is not None and node is not None:
                await self._finish_deletion(pod)
            return
        if pod["metadata"]["uid"] != self._addresses.get(key, (None, ""))[1]:
            self._release(key)  # a new pod under an old name
        if self.pod_status and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            await self._report_running(key, pod, node)

    async def _report_running(self, key: str, pod: Obj, node: HollowNode) -> None:
        uid, status = pod["metadata"]["uid"], pod.get("status") or {}
        if is_reported(pod):
            if not pod["spec"].get("hostNetwork"):
                node.pods.claim(uid, status["podIP"])  # after a restart: keep its address ours
                self._addresses[key] = (node, uid)
            return
        pod_ip = node.ip if pod["spec"].get("hostNetwork") else node.pods.assign(uid)
        self._addresses[key] = (node, uid)
        patch = {"status": running_status(pod, pod_ip, node.ip, now_rfc3339())}
        await self.client.patch(kinds.PODS, pod["metadata"]["name"], patch, pod["metadata"]["namespace"],
                                subresource="status")
        POD_UPDATES.labels("status").inc()

    async def _finish_deletion(self, pod: Obj) -> None:
        """Nothing to stop: complete the graceful deletion at once (grace period 0, same UID)."""
        meta = pod["metadata"]
        try:
            await self.client.delete(kinds.PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": meta["uid"]})
            POD_UPDATES.labels("delete").inc()
        except (errors.NotFound, errors.Conflict):
            pass  # gone already, or a new pod took the name

    def _release(self, key: str) -> None:
        held = self._addresses.pop(key, None)
        if held is not None:
            held[0].pods.release(held[1])


class HollowKubelet:
    """Registers the nodes, then keeps their Leases and status fresh and serves their pods, until cancelled."""

    def __init__(self, client: ApiClient, settings: HollowSettings) -> None:
        self.client, self.settings = client, settings
        self.nodes = {settings.node_name(i): HollowNode(settings.node_name(i), i, node_ip(i),
                                                        PodIPs(i, settings.max_pods))
                      for i in range(settings.count)}
        self.by_index = list(self.nodes.values())
        self.boot_id = str(uuid.uuid4())
        self.requests = asyncio.Semaphore(settings.concurrency)
        # Heartbeats get their own slots: a burst of pod updates must never delay a Lease past its duration.
        self.heartbeats = asyncio.Semaphore(max(4, settings.concurrency // 4))
        self.pods = HollowPods(client, self.nodes, pod_status=settings.pod_status)
        self.errors = ErrorLog()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.TaskGroup() as tg:
            # The heartbeat schedule starts now: nodes join it as they register, so none waits for all the rest.
            tg.create_task(self._every(self.settings.lease_renew_interval_s, "lease", self._renew_lease, tg))
            await self.register_all()
            tg.create_task(self._every(self.settings.status_report_frequency_s, "status", self._report_status, tg,
                                       start=loop.time() + self.settings.status_report_frequency_s))
            tg.create_task(self.pods.run(workers=self.settings.concurrency))

    # -- registration ----------------------------------------------------------------------------------------------

    async def register_all(self) -> None:
        started = time.monotonic()
        nodes, leases = await self._existing()
        async with asyncio.TaskGroup() as tg:
            for node in self.by_index:
                register = functools.partial(self._register, node, node.name in nodes, leases.get(node.name))
                tg.create_task(self._retrying(register, "registration", node.name))
        log.info("registered %d hollow nodes (%s0 .. %s%d; %d existed) in %.1fs", len(self.nodes),
                 self.settings.prefix, self.settings.prefix, len(self.nodes) - 1, len(nodes),
                 time.monotonic() - started)

    async def _existing(self) -> tuple[set[str], dict[str, Obj]]:
        """Our Nodes and Leases from an earlier run, so a restart writes each once instead of failing a create first.

        Also the first contact: a server that is down gives one line per retry rather than one per node.
        """
        delay = 0.5
        while True:
            try:
                nodes, _ = await self.client.list_all(kinds.NODES, label_selector=f"{HOLLOW_LABEL}=true")
                leases, _ = await self.client.list_all(kinds.LEASES, NODE_LEASE_NAMESPACE)
                return ({n["metadata"]["name"] for n in nodes if n["metadata"]["name"] in self.nodes},
                        {lease["metadata"]["name"]: lease for lease in leases
                         if lease["metadata"]["name"] in self.nodes})
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("apiserver %s not reachable (%s); retrying in %.1fs", self.client.server,
                            describe(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)

    async def _register(self, node: HollowNode, exists: bool, lease: Obj | None) -> None:
        body = hollow_node(self.settings, node.index, self.boot_id, now_rfc3339())
        async with self.requests:
            created = None if exists else await self._create_node(body)
            if created is None:  # a restart: make it ours and Ready again, keep what others set
                created = await self.client.patch(kinds.NODES, node.name, {"status": body["status"]},
                                                  patch_type="strategic", subresource="status")
            uid = created["metadata"]["uid"]
            lease = await self._write_lease(node, uid, lease)
        node.uid, node.lease, node.gone = uid, lease, False  # together: alive means both
        NODES_REGISTERED.inc()

    async def _create_node(self, body: Obj) -> Obj | None:
        try:
            return await self.client.create(kinds.NODES, body)
        except errors.AlreadyExists:
            return None

    async def _write_lease(self, node: HollowNode, node_uid: str, known: Obj | None) -> Obj:
        """PUT over the lease we know of, else create one; fall back to the server's copy when either races."""
        duration = self.settings.lease_duration_s
        if known is not None:
            try:
                return await self.client.update(kinds.LEASES, node_lease(node.name, node_uid, duration, known))
            except (errors.Conflict, errors.NotFound):
                pass
        try:
            return await self.client.create(kinds.LEASES, node_lease(node.name, node_uid, duration))
        except errors.AlreadyExists:
            existing = await self.client.get(kinds.LEASES, node.name, NODE_LEASE_NAMESPACE)
            return await self.client.update(kinds.LEASES, node_lease(node.name, node_uid, duration, existing))

    async def _retrying(self, call: Callable[[], Awaitable[T]], what: str, node: str) -> T:
        """call() until it succeeds, backing off on transient failures; others raise."""
        delay = 0.2
        while True:
            try:
                return await call()
            except Exception as exc:
                if not transient(exc):
                    raise
                self.errors.warn(what, node, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 7.0)

    # -- heartbeats ------------------------------------------------------------------------------------------------

    async def _every(self, period_s: float, what: str, step: Callable[[HollowNode], Awaitable[None]],
                     tg: asyncio.TaskGroup, start: float | None = None) -> None:
        """Each alive node's step once a period, the nodes' turns spread evenly; a node still busy skips a turn."""
        loop = asyncio.get_running_loop()
        ticker = SpreadTicker(len(self.by_index), period_s, loop.time() if start is None else start)
        while True:
            for index in ticker.due(loop.time()):
                node = self.by_index[index]
                if node.alive and what not in node.busy:
                    node.busy.add(what)
                    tg.create_task(self._step(node, what, step))
            await asyncio.sleep(max(ticker.next_at() - loop.time(), MIN_TICK_S))

    async def _step(self, node: HollowNode, what: str, step: Callable[[HollowNode], Awaitable[None]]) -> None:
        try:
            async with self.heartbeats:
                await step(node)
        except Exception as exc:  # noqa: BLE001 - the next turn retries; one node must not stop the rest
            self.errors.warn(what, node.name, exc)
        finally:
            node.busy.discard(what)

    async def _renew_lease(self, node: HollowNode) -> None:
        """The node lease controller's pass: PUT the copy we last wrote; re-read it on a conflict."""
        assert node.lease is not None
        before = node.lease["metadata"].get("uid")
        try:
            node.lease = await self.client.update(kinds.LEASES, renewed(node.lease))
        except errors.Conflict:
            current = await self.client.get(kinds.LEASES, node.name, NODE_LEASE_NAMESPACE)
            node.lease = await self.client.update(kinds.LEASES, renewed(current))
        except Exception:
            LEASE_RENEWALS.labels("error").inc()
            raise
        LEASE_RENEWALS.labels("ok").inc()
        if node.lease["metadata"].get("uid") != before and await self._node_deleted(node):
            # A PUT creates a missing Lease: someone deleted it, and the Node with it. Take ours back.
            await self._delete_quietly(node.lease)

    async def _delete_quietly(self, lease: Obj) -> None:
        meta = lease["metadata"]
        try:
            await self.client.delete(kinds.LEASES, meta["name"], meta["namespace"], preconditions={"uid": meta["uid"]})
        except (errors.NotFound, errors.Conflict):
            pass

    async def _report_status(self, node: HollowNode) -> None:
        """nodeStatusReportFrequency: nothing changes on a hollow node, so only the conditions' heartbeats move."""
        patch = {"status": {"conditions": node_conditions(now_rfc3339())}}
        try:
            await self.client.patch(kinds.NODES, node.name, patch, patch_type="strategic", subresource="status")
        except errors.NotFound:
            await self._node_deleted(node)
            return
        except Exception:
            STATUS_REPORTS.labels("error").inc()
            raise
        STATUS_REPORTS.labels("ok").inc()

    async def _node_deleted(self, node: HollowNode) -> bool:
        """True (and the node stops heartbeating) when its Node is gone or is a new one not of ours."""
        try:
            current = await self.client.get(kinds.NODES, node.name)
            if current["metadata"]["uid"] == node.uid:
                return False
        except errors.NotFound:
            pass
        node.gone = True
        NODES_REGISTERED.dec()
        log.info("node %s was deleted; no longer heartbeating it", node.name)
        return True


# -- /healthz and /metrics ------------------------------------------------------------------------------------------

def bind(address: str, port: int) -> socket.socket:
    """Bound before anything else so a taken port is one clear error at start-up."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"--healthz-port {port} on {address}: {exc.strerror} (0 disables it)") from None
    return sock


# -- main -----------------------------------------------------------------------------------------------------------

async def serve(settings: HollowSettings) -> int:
    health = bind(settings.healthz_bind_address, settings.healthz_port) if settings.healthz_port else None
    client = ApiClient.from_flags(settings.server, settings.kubeconfig,
                                  user_agent=f"kubelet/{GIT_VERSION} (hollow {settings.prefix}*)")
    hollow = HollowKubelet(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("hollow kubelet %s: %d nodes %s0 .. %s%d against %s", GIT_VERSION, settings.count, settings.prefix,
             settings.prefix, settings.count - 1, client.server)
    try:
        async with asyncio.TaskGroup() as tg:
            work = tg.create_task(hollow.run())
            if health is not None:
                tg.create_task(health_server(settings.healthz_bind_address, 0).serve(sockets=[health]))
            stopped = tg.create_task(stop.wait())
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            raise _Stop  # leave the group: cancels whatever still runs
    except* _Stop:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_DFL)  # a second signal while closing ends the process, quietly
        await client.close()
    log.info("hollow kubelet stopped")
    return 0


def first_leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


class _Stop(Exception):
    """Ends serve()'s task group: a signal came, or the work ended."""


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    code = 0
    try:
        code = asyncio.run(serve(settings))
    except* KeyboardInterrupt:
        pass
    except* (errors.ApiError, errors.TransportError, OSError, ValueError, RuntimeError) as group:
        log.error("hollow kubelet stopped: %s", describe(first_leaf(group)))  # one clear line, no traceback
        code = 1
    sys.exit(code)
