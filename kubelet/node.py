"""The kubelet's Node object and node Lease: registration, node status, heartbeats — as upstream's kubelet does them.

Registration (pkg/kubelet/kubelet_node_status.go): create the Node with what this
host has; if it exists already, reconcile only what the kubelet owns (default
labels, the attach-detach annotation, hugepages, extended resources) and keep
what others set (spec.unschedulable, podCIDR, taints, other labels).

Status (pkg/kubelet/nodestatus/setters.go): recomputed every
`status_update_frequency_s` from a fresh GET, but PATCHed (strategic merge, status
subresource) only when something other than heartbeat times changed or
`status_report_frequency_s` (5 min) has passed.  The 10 s heartbeat is the Lease
`kube-node-lease/<node>` (pkg/kubelet/nodelease, component-helpers lease
controller), renewed by an optimistic PUT of the last copy we wrote.
"""
from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import os
import platform
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any


from apiserver.discovery import GIT_VERSION
from common.quantity import canonical_quantity, parse_quantity
from common import errors
from common.api import kinds
from common.client import ApiClient
from common.events import EventRecorder

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Readiness = tuple[bool, str]  # (ready, why not)
ReadinessCheck = Callable[[], "Readiness | Awaitable[Readiness]"]
ImageLister = Callable[[], "list[Obj] | Awaitable[list[Obj]]"]

NODE_LEASE_NAMESPACE = "kube-node-lease"
# Linux defaults of --eviction-hard (pkg/kubelet/eviction/defaults_linux.go); pid.available has none upstream.
DEFAULT_EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
                         "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
CONTROLLER_MANAGED_ATTACH = "volumes.kubernetes.io/controller-managed-attach-detach"
NOT_READY_AT_START = "container runtime status check may not have completed yet"

NODE_STATUS_UPDATE_RETRY = 5  # nodeStatusUpdateRetry
MAX_NAMES_PER_IMAGE = 5  # MaxNamesPerImageInNodeStatus
LEASE_UPDATE_RETRIES = 5  # nodelease maxUpdateRetries
MAX_BACKOFF_S = 7.0  # registration and lease-ensure backoff cap
JITTER = 0.04  # wait.JitterUntil factor of both loops
FAST_STATUS_INTERVAL_S = 0.1  # fastStatusUpdateOnce polls this often until the node is first ready
NODE_READY_GRACE_PERIOD_S = 120.0

# The well-known labels the kubelet keeps in step on an existing Node (updateDefaultLabels).
DEFAULT_LABELS = ("kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
                  "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
                  "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type", "kubernetes.io/os",
                  "kubernetes.io/arch", "node.kubernetes.io/windows-build", "beta.kubernetes.io/os",
                  "beta.kubernetes.io/arch")
# What --node-labels may set in the kubernetes.io / k8s.io namespaces (kubeletapis.IsKubeletLabel).
_KUBELET_LABELS = frozenset(DEFAULT_LABELS) - {"node.kubernetes.io/windows-build"}
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")

_SIGNAL_CONDITIONS = {"memory.available": "MemoryPressure", "nodefs.available": "DiskPressure",
                      "nodefs.inodesFree": "DiskPressure", "imagefs.available": "DiskPressure",
                      "imagefs.inodesFree": "DiskPressure", "pid.available": "PIDPressure"}
# condition -> ((reason, message, event) under pressure, (reason, message, event) without)
_PRESSURE_TEXT = {
    "MemoryPressure": (("KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
                        "NodeHasInsufficientMemory"),
                       ("KubeletHasSufficientMemory", "kubelet has sufficient memory available",
                        "NodeHasSufficientMemory")),
    "DiskPressure": (("KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"),
                     ("KubeletHasNoDiskPressure", "kubelet has no disk pressure", "NodeHasNoDiskPressure")),
    "PIDPressure": (("KubeletHasInsufficientPID", "kubelet has insufficient PID available",
                     "NodeHasInsufficientPID"),
                    ("KubeletHasSufficientPID", "kubelet has sufficient PID available", "NodeHasSufficientPID")),
}
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
           "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64"}
_BINARY_RESOURCES = ("memory", "ephemeral-storage")


# -- configuration ------------------------------------------------------------------------------------------------

def detect_node_ip() -> str:
    """The source address of the default route: connecting a UDP socket picks it and sends nothing."""
    for probe in ("8.8.8.8", "1.1.1.1"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                address = sock.getsockname()[0]
            if address and not address.startswith("0."):
                return address
        except OSError:
            continue
    return "127.0.0.1"


@dataclass
class NodeConfig:
    """The kubelet flags that shape its Node; capacity comes from the host unless overridden."""
    node_name: str
    node_ip: str = field(default_factory=detect_node_ip)
    labels: dict[str, str] = field(default_factory=dict)  # --node-labels (applied at registration only)
    taints: list[Obj] = field(default_factory=list)  # --register-with-taints
    register_schedulable: bool = True  # --register-schedulable
    cpu: str | None = None  # capacity overrides; default: the host's cores and MemTotal
    memory: str | None = None
    max_pods: int = 110  # --max-pods
    system_reserved: dict[str, str] = field(default_factory=dict)  # --system-reserved
    kube_reserved: dict[str, str] = field(default_factory=dict)  # --kube-reserved
    eviction_hard: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_EVICTION_HARD))
    eviction_pressure_transition_period_s: float = 300.0
    root_dir: str = "/var/lib/kubelet"  # its filesystem is nodefs: ephemeral-storage capacity, DiskPressure
    image_fs_dir: str | None = None  # the runtime's image filesystem, when the runtime names one
    kubelet_port: int = 10250  # status.daemonEndpoints.kubeletEndpoint.Port
    container_runtime_version: str = "docker://Unknown"
    status_update_frequency_s: float = 10.0  # --node-status-update-frequency
    status_report_frequency_s: float = 300.0  # nodeStatusReportFrequency
    lease_duration_s: int = 40  # nodeLeaseDurationSeconds
    lease_renew_interval_s: float = 10.0  # a quarter of the lease duration upstream
    max_images: int = 50  # nodeStatusMaxImages; -1 for all
    reset_extended_resources: bool = False  # the device manager's "node was recreated" signal; none here

    def __post_init__(self) -> None:
        unknown = sorted(k for k in self.labels if _is_kubernetes_label(k) and not _is_kubelet_label(k))
        if unknown:
            raise ValueError(
                f"unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: {unknown}\n"
                f"--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix "
                f"({', '.join(_KUBELET_LABEL_NAMESPACES)}) or be in the specifically allowed set "
                f"({', '.join(sorted(_KUBELET_LABELS))})")


def _label_namespace(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def _is_kubernetes_label(key: str) -> bool:
    namespace = _label_namespace(key)
    return any(namespace == ns or namespace.endswith("." + ns) for ns in ("kubernetes.io", "k8s.io"))


def _is_kubelet_label(key: str) -> bool:
    namespace = _label_namespace(key)
    return key in _KUBELET_LABELS or any(namespace == ns or namespace.endswith("." + ns)
                                         for ns in _KUBELET_LABEL_NAMESPACES)


def parse_node_labels(text: str) -> dict[str, str]:
    """`--node-labels a=b,c=d`."""
    labels: dict[str, str] = {}
    for item in filter(None, (item.strip() for item in text.split(","))):
        key, _, value = item.partition("=")
        labels[key.strip()] = value.strip()
    return labels


def parse_taints(text: str) -> list[Obj]:
    """`--register-with-taints key=value:Effect,key:Effect` (taints.ParseTaints)."""
    taints: list[Obj] = []
    for spec in filter(None, (item.strip() for item in text.split(","))):
        key_value, _, effect = spec.rpartition(":")
        if not key_value or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(f"invalid taint spec: {spec}")
        key, _, value = key_value.partition("=")
        taints.append({"key": key, **({"value": value} if value else {}), "effect": effect})
    return taints


# -- the host -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MachineInfo:
    """What cAdvisor's MachineInfo tells the kubelet; read once, as upstream caches it."""
    cores: int
    memory_bytes: int
    swap_bytes: int
    hugepages: dict[int, int]  # page size in bytes -> number of pages
    machine_id: str
    system_uuid: str
    boot_id: str
    kernel_version: str
    os_image: str
    rootfs_bytes: int


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def read_meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    values: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return values


def _hugepages() -> dict[int, int]:
    pages: dict[int, int] = {}
    root = Path("/sys/kernel/mm/hugepages")
    for entry in sorted(root.glob("hugepages-*kB")) if root.is_dir() else []:
        size_kb = entry.name.removeprefix("hugepages-").removesuffix("kB")
        count = _read(str(entry / "nr_hugepages"))
        if size_kb.isdigit():
            pages[int(size_kb) * 1024] = int(count) if count.isdigit() else 0
    return pages


def _os_image() -> str:
    """PRETTY_NAME from /etc/os-release, as cAdvisor's ContainerOsVersion."""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"').strip("'")
    return "Linux"


def existing_dir(path: str) -> str:
    """path, or its nearest existing ancestor: statvfs needs a real directory on the same filesystem."""
    candidate = Path(path).absolute()
    while not candidate.exists() and candidate != candidate.parent:
        candidate = candidate.parent
    return str(candidate)


def read_machine_info(root_dir: str) -> MachineInfo:
    meminfo, fs = read_meminfo(), os.statvfs(existing_dir(root_dir))
    return MachineInfo(
        cores=os.cpu_count() or 1, memory_bytes=meminfo.get("MemTotal", 0), swap_bytes=meminfo.get("SwapTotal", 0),
        hugepages=_hugepages(), machine_id=_read("/etc/machine-id") or _read("/var/lib/dbus/machine-id"),
        system_uuid=_read("/sys/class/dmi/id/product_uuid"), boot_id=_read("/proc/sys/kernel/random/boot_id"),
        kernel_version=platform.release(), os_image=_os_image(), rootfs_bytes=fs.f_blocks * fs.f_frsize)


def goarch() -> str:
    machine = platform.machine().lower()
    return _GOARCH.get(machine, machine)


# -- quantities ---------------------------------------------------------------------------------------------------

def binary_quantity(amount: Decimal | int) -> str:
    """A byte count as a BinarySI Quantity prints: the largest exact power of 1024 ("16318412Ki"), else plain."""
    value = Decimal(amount)
    if value < 1024 or value != value.to_integral_value():
        return canonical_quantity(format(value, "f"))
    mantissa, power = int(value), 0
    while mantissa % 1024 == 0 and power < 6:
        mantissa, power = mantissa // 1024, power + 1
    return f"{mantissa}{('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei')[power]}"


def _format_like(capacity: str, name: str, amount: Decimal) -> str:
    """Print an allocatable amount in its capacity's format, as Quantity.Sub keeps the receiver's."""
    binary = capacity.endswith("i") or (capacity.isdigit() and (name in _BINARY_RESOURCES or
                                                                name.startswith("hugepages-")))
    return binary_quantity(amount) if binary else canonical_quantity(format(amount, "f"))


def _float32(value: float) -> float:
    """Eviction percentages are float32 upstream; the reservation they make inherits float32's rounding."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@dataclass(frozen=True)
class Threshold:
    signal: str
    quantity: Decimal | None = None
    percentage: float | None = None

    def value(self, capacity: int) -> Decimal:
        if self.quantity is not None:
            return self.quantity
        return Decimal(int(capacity * _float32(self.percentage or 0.0)))


def parse_thresholds(spec: dict[str, str]) -> list[Threshold]:
    """`--eviction-hard memory.available=100Mi,nodefs.available=10%`, as a dict."""
    thresholds = []
    for signal, text in spec.items():
        if signal not in _SIGNAL_CONDITIONS:
            raise ValueError(f"unsupported eviction signal {signal}")
        if text.endswith("%"):
            thresholds.append(Threshold(signal, percentage=float(text[:-1]) / 100))
        else:
            thresholds.append(Threshold(signal, quantity=parse_quantity(text)))
    return thresholds


# -- eviction signals -> pressure conditions ------------------------------------------------------------------------

def _pid_stats() -> tuple[int, int] | None:
    """(available, max) tasks: min(pid_max, threads-max) less the tasks /proc/loadavg counts."""
    limits = [int(v) for v in (_read("/proc/sys/kernel/pid_max"), _read("/proc/sys/kernel/threads-max"))
              if v.isdigit()]
    fields = _read("/proc/loadavg").split()
    if not limits or len(fields) < 4 or "/" not in fields[3]:
        return None
    maximum = min(limits)
    return maximum - int(fields[3].split("/")[1]), maximum


def _fs_stats(path: str, prefix: str) -> dict[str, tuple[int, int]]:
    fs = os.statvfs(existing_dir(path))
    stats = {f"{prefix}.available": (fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize)}
    if fs.f_files:  # some filesystems (btrfs) have no inode limit
        stats[f"{prefix}.inodesFree"] = (fs.f_ffree, fs.f_files)
    return stats


def observe_signals(root_dir: str, image_fs_dir: str | None) -> dict[str, tuple[int, int]]:
    """Eviction signal -> (available, capacity), from the host now."""
    meminfo = read_meminfo()
    signals = {"memory.available": (meminfo.get("MemAvailable", meminfo.get("MemFree", 0)),
                                    meminfo.get("MemTotal", 0))}
    signals |= _fs_stats(root_dir, "nodefs")
    if image_fs_dir:
        signals |= _fs_stats(image_fs_dir, "imagefs")
    pids = _pid_stats()
    if pids:
        signals["pid.available"] = pids
    return signals


class PressureMonitor:
    """The eviction manager's node conditions: thresholds met now, held for the pressure transition period."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.thresholds = parse_thresholds(config.eviction_hard)
        self._last_observed: dict[str, float] = {}  # condition type -> monotonic time last met

    def conditions(self) -> set[str]:
        now = time.monotonic()
        signals = observe_signals(self.config.root_dir, self.config.image_fs_dir)
        for threshold in self.thresholds:
            if threshold.signal in signals:
                available, capacity = signals[threshold.signal]
                if available < threshold.value(capacity):
                    self._last_observed[_SIGNAL_CONDITIONS[threshold.signal]] = now
        period = self.config.eviction_pressure_transition_period_s
        return {cond for cond, seen in self._last_observed.items() if now - seen < period}


# -- time ---------------------------------------------------------------------------------------------------------

def _now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the patch upstream's PatchNodeStatus sends ---------------------------------------------------------------------

def map_diff(old: Obj, new: Obj) -> Obj:
    """A two-way merge patch between two maps: changed keys, recursing into maps; null for removed keys."""
    patch: Obj = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if key in old and before == value:
            continue
        patch[key] = map_diff(before, value) if isinstance(before, dict) and isinstance(value, dict) else value
    return patch


def _keyed_list_diff(old: list[Obj], new: list[Obj], key: str) -> list[Obj]:
    """Changed or added elements of a merge-keyed list, and `$patch: delete` for the removed ones."""
    before = {item.get(key): item for item in old}
    changed = [item for item in new if before.get(item.get(key)) != item]
    kept = {item.get(key) for item in new}
    return changed + [{key: name, "$patch": "delete"} for name in before if name not in kept]


def status_patch(old: Obj, new: Obj) -> Obj:
    """A strategic merge patch of NodeStatus: conditions merged by type (with their order), addresses replaced."""
    patch = map_diff({k: v for k, v in old.items() if k != "conditions"},
                     {k: v for k, v in new.items() if k != "conditions"})
    if old.get("conditions") != new.get("conditions"):
        conditions = new.get("conditions") or []
        patch["$setElementOrder/conditions"] = [{"type": c["type"]} for c in conditions]
        patch["conditions"] = _keyed_list_diff(old.get("conditions") or [], conditions, "type")
    # Addresses carry a merge key but must be replaced whole (fixupPatchForNodeStatusAddresses).
    if "addresses" in patch and old.get("addresses") and new.get("addresses"):
        patch["addresses"] = [*new["addresses"], {"$patch": "replace"}]
    return patch


def metadata_patch(old: Obj, new: Obj) -> Obj:
    patch: Obj = {}
    for key in ("labels", "annotations"):
        diff = map_diff(old.get(key) or {}, new.get(key) or {})
        if diff:
            patch[key] = diff
    return patch


def _conditions_changed(old: list[Obj], new: list[Obj]) -> bool:
    """nodeConditionsHaveChanged: compared by type, heartbeat times ignored."""
    def strip(conditions: list[Obj]) -> list[Obj]:
        return sorted(({k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in conditions),
                      key=lambda c: c.get("type", ""))
    return len(old) != len(new) or strip(old) != strip(new)


def node_status_changed(old: Obj, new: Obj) -> bool:
    """nodeStatusHasChanged: anything but the conditions' heartbeat times."""
    if _conditions_changed(old.get("conditions") or [], new.get("conditions") or []):
        return True
    return {k: v for k, v in old.items() if k != "conditions"} != {k: v for k, v in new.items() if k != "conditions"}


# -- the agent ----------------------------------------------------------------------------------------------------

class NodeStatusError(Exception):
    pass


class NodeAgent:
    """Registers this node, keeps its status and renews its Lease; `run` does all three forever."""

    def __init__(self, client: ApiClient, config: NodeConfig, *, images: ImageLister | None = None,
                 recorder: EventRecorder | None = None) -> None:
        self.client, self.config = client, config
        self.images = images
        self.recorder = recorder or EventRecorder(client, "kubelet", config.node_name)
        self.readiness: Readiness = (False, NOT_READY_AT_START)
        self.registered = False
        self.pressure = PressureMonitor(config)
        self._machine: MachineInfo | None = None
        self._last_report = float("-inf")  # monotonic time of the last status PATCH
        self._last_unschedulable = False
        self._latest_lease: Obj | None = None
        self._events: list[tuple[str, str, str]] = []
        self._lock = asyncio.Lock()  # syncNodeStatusMux: one status computation at a time

    @property
    def name(self) -> str:
        return self.config.node_name

    @property
    def machine(self) -> MachineInfo:
        if self._machine is None:
            self._machine = read_machine_info(self.config.root_dir)
        return self._machine

    # -- registration ----------------------------------------------------------------------------------------------

    async def register(self) -> Obj:
        """Create the Node, or reconcile an existing one (tryRegisterWithAPIServer); raises when the API fails."""
        node = await self.initial_node()
        try:
            created = await self.client.create(kinds.NODES, node)
            log.info("successfully registered node %s", self.name)
            self.registered = True
            return created
        except errors.AlreadyExists:
            pass
        existing = await self.client.get(kinds.NODES, self.name)
        log.info("node %s was previously registered", self.name)
        reconciled = copy.deepcopy(existing)
        if self._reconcile_existing(node, reconciled):
            reconciled = await self._patch_node(existing, reconciled)
        self.registered = True
        return reconciled

    async def initial_node(self) -> Obj:
        """The Node as this kubelet would create it (initialNode), its status computed by the setters."""
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": goarch(),
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": goarch(), **self.config.labels}
        spec: Obj = {}
        taints = [dict(t) for t in self.config.taints]
        if not self.config.register_schedulable:
            spec["unschedulable"] = True
            # Tainted from birth, so nothing is scheduled in the gap before the controller taints it (#63897).
            if not any(t.get("key") == "node.kubernetes.io/unschedulable" and t.get("effect") == "NoSchedule"
                       for t in taints):
                taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        if taints:
            spec["taints"] = taints
        node: Obj = {"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": self.name, "labels": labels,
                                  "annotations": {CONTROLLER_MANAGED_ATTACH: "true"}},
                     "spec": spec, "status": {}}
        self._set_node_status(node, await self._list_images())
        await self._flush_events()
        return node

    def _reconcile_existing(self, initial: Obj, existing: Obj) -> bool:
        """The edits an existing Node gets on re-registration; True when it needs a patch."""
        changed = self._reconcile_attach_detach_annotation(initial, existing)
        changed = self._update_default_labels(initial, existing) or changed
        changed = self._reconcile_extended_resources(initial, existing) or changed
        return self._reconcile_hugepages(initial, existing) or changed

    @staticmethod
    def _reconcile_attach_detach_annotation(initial: Obj, existing: Obj) -> bool:
        wanted = (initial["metadata"].get("annotations") or {}).get(CONTROLLER_MANAGED_ATTACH)
        annotations = existing["metadata"].setdefault("annotations", {})
        if annotations.get(CONTROLLER_MANAGED_ATTACH) == wanted:
            return False
        if wanted is None:
            annotations.pop(CONTROLLER_MANAGED_ATTACH, None)
        else:
            annotations[CONTROLLER_MANAGED_ATTACH] = wanted
        return True

    @staticmethod
    def _update_default_labels(initial: Obj, existing: Obj) -> bool:
        """Only the well-known labels follow the kubelet; --node-labels apply at first registration only."""
        wanted, labels = initial["metadata"]["labels"], existing["metadata"].setdefault("labels", {})
        changed = False
        for key in DEFAULT_LABELS:
            if key not in wanted:
                continue
            if labels.get(key) != wanted[key]:
                labels[key], changed = wanted[key], True
            if labels.get(key) == "":
                del labels[key]
        return changed

    @staticmethod
    def _update_default_resources(initial: Obj, existing: Obj) -> bool:
        status, changed = existing.setdefault("status", {}), False
        for key in ("capacity", "allocatable"):
            if status.get(key) is None:
                status[key] = dict(initial["status"].get(key) or {})
                changed = changed or bool(initial["status"].get(key))
        return changed

    def _reconcile_extended_resources(self, initial: Obj, existing: Obj) -> bool:
        changed = self._update_default_resources(initial, existing)
        if self.config.reset_extended_resources:
            status = existing["status"]
            for name in [n for n in status["capacity"] if is_extended_resource(n)]:
                status["capacity"][name] = status["allocatable"][name] = "0"
                changed = True
        return changed

    def _reconcile_hugepages(self, initial: Obj, existing: Obj) -> bool:
        changed = self._update_default_resources(initial, existing)
        status, wanted = existing["status"], initial["status"]
        sizes = {name for name in wanted["capacity"] if name.startswith("hugepages-")}
        for name in sizes:
            for key in ("capacity", "allocatable"):
                if status[key].get(name) != wanted[key].get(name):
                    status[key][name], changed = wanted[key].get(name), True
        for name in [n for n in status["capacity"] if n.startswith("hugepages-") and n not in sizes]:
            status["capacity"].pop(name, None)
            status["allocatable"].pop(name, None)
            changed = True
        return changed

    # -- status ----------------------------------------------------------------------------------------------------

    async def update_status(self, ready: bool, message: str = "") -> bool:
        """Recompute the Node's status; PATCH it when it changed or is due. True when it was PATCHed."""
        self.readiness = (ready, message)
        async with self._lock:
            return await self._update_node_status()

    async def _update_node_status(self) -> bool:
        for attempt in range(NODE_STATUS_UPDATE_RETRY):
            try:
                return await self._try_update_node_status()
            except (errors.ApiError, errors.TransportError) as exc:
                log.warning("error updating node %s status (attempt %d), will retry: %s", self.name, attempt + 1, exc)
        raise NodeStatusError("update node status exceeds retry count")

    async def _try_update_node_status(self) -> bool:
        original = await self.client.get(kinds.NODES, self.name)
        node = copy.deepcopy(original)
        labels_added = self._ensure_os_arch_labels(node)
        self._set_node_status(node, await self._list_images())
        await self._flush_events()
        changed = labels_added or node_status_changed(original.get("status") or {}, node["status"])
        if not changed and time.monotonic() - self._last_report < self.config.status_report_frequency_s:
            return False
        await self._patch_node(original, node)
        self._last_report = time.monotonic()
        return True

    @staticmethod
    def _ensure_os_arch_labels(node: Obj) -> bool:
        labels = node["metadata"].setdefault("labels", {})
        wanted = {"kubernetes.io/os": "linux", "kubernetes.io/arch": goarch()}
        missing = {k: v for k, v in wanted.items() if labels.get(k) != v}
        labels.update(missing)
        return bool(missing)

    async def _patch_node(self, original: Obj, node: Obj) -> Obj:
        """PatchNodeStatus: spec is never sent; metadata goes to the object itself, the rest to /status."""
        # Upstream's node status strategy keeps metadata edits; kubelab's /status keeps only status, so
        # label and annotation changes are patched on the object.
        result = original
        meta = metadata_patch(original["metadata"], node["metadata"])
        if meta:
            result = await self.client.patch(kinds.NODES, self.name, {"metadata": meta}, patch_type="strategic")
        status = status_patch(original.get("status") or {}, node.get("status") or {})
        if status:
            result = await self.client.patch(kinds.NODES, self.name, {"status": status}, patch_type="strategic",
                                             subresource="status")
        return result

    async def _list_images(self) -> list[Obj] | Exception:
        if self.images is None:
            return []
        try:
            images = self.images()
            return list(await images if inspect.isawaitable(images) else images)
        except Exception as exc:  # noqa: BLE001 - the runtime's failure is reported, the status still goes out
            log.warning("error getting image list: %s", exc)
            return exc

    def _set_node_status(self, node: Obj, images: list[Obj] | Exception) -> None:
        """setNodeStatus: every setter of defaultNodeStatusFuncs, in upstream's order."""
        status = node.setdefault("status", {})
        now = _now_rfc3339()
        self._set_addresses(status)
        self._set_machine_info(status)
        self._set_version_info(status)
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.config.kubelet_port}}
        status["images"] = self._node_images(images)
        if not status["images"]:
            del status["images"]  # a nil slice upstream: the field is omitted
        pressure = self.pressure.conditions()
        for condition_type in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            self._set_pressure_condition(status, condition_type, condition_type in pressure, now)
        self._set_ready_condition(status, now)
        self._note_schedulable(node)

    def _set_addresses(self, status: Obj) -> None:
        status["addresses"] = [{"type": "InternalIP", "address": self.config.node_ip},
                               {"type": "Hostname", "address": self.name}]

    def _set_machine_info(self, status: Obj) -> None:
        machine, info = self.machine, status.setdefault("nodeInfo", {})
        info["machineID"], info["systemUUID"] = machine.machine_id, machine.system_uuid
        if info.get("bootID") and info["bootID"] != machine.boot_id:
            self._event("Warning", "NodeRebooted", f"Node {self.name} has been rebooted, boot id: {machine.boot_id}")
        info["bootID"] = machine.boot_id
        info["swap"] = {"capacity": machine.swap_bytes}
        capacity = status.get("capacity") or {}  # keeps extended resources others advertise
        capacity.update(self._host_capacity())
        status["capacity"] = capacity
        status["allocatable"] = self._allocatable(capacity, status.get("allocatable") or {})

    def _host_capacity(self) -> dict[str, str]:
        machine, config = self.machine, self.config
        capacity = {"cpu": canonical_quantity(config.cpu) if config.cpu else str(machine.cores),
                    "memory": canonical_quantity(config.memory) if config.memory else
                    binary_quantity(machine.memory_bytes),
                    "pods": str(config.max_pods), "ephemeral-storage": binary_quantity(machine.rootfs_bytes)}
        for page_bytes, pages in machine.hugepages.items():
            capacity[f"hugepages-{binary_quantity(page_bytes)}"] = binary_quantity(page_bytes * pages)
        return capacity

    def _allocatable(self, capacity: dict[str, str], previous: dict[str, str]) -> dict[str, str]:
        """Capacity less kube-reserved, system-reserved and the hard eviction thresholds; memory less hugepages."""
        allocatable = {k: v for k, v in previous.items() if k in capacity or not is_extended_resource(k)}
        reservation = self._allocatable_reservation(capacity)
        for name, text in capacity.items():
            amount = parse_quantity(text) - reservation.get(name, Decimal(0))
            allocatable[name] = _format_like(text, name, max(amount, Decimal(0)))
        hugepages = sum((parse_quantity(text) for name, text in capacity.items() if name.startswith("hugepages-")),
                        Decimal(0))
        if hugepages and "memory" in allocatable:
            memory = max(parse_quantity(allocatable["memory"]) - hugepages, Decimal(0))
            allocatable["memory"] = _format_like(capacity["memory"], "memory", memory)
        return allocatable

    def _allocatable_reservation(self, capacity: dict[str, str]) -> dict[str, Decimal]:
        """GetNodeAllocatableReservation: the hard eviction thresholds reserve memory and nodefs too."""
        reserved: dict[str, Decimal] = {}
        for source in (self.config.system_reserved, self.config.kube_reserved):
            for name, text in source.items():
                reserved[name] = reserved.get(name, Decimal(0)) + parse_quantity(text)
        for threshold in self.pressure.thresholds:
            resource = {"memory.available": "memory", "nodefs.available": "ephemeral-storage"}.get(threshold.signal)
            if resource and resource in capacity:
                amount = threshold.value(int(parse_quantity(capacity[resource])))
                reserved[resource] = reserved.get(resource, Decimal(0)) + amount
        return reserved

    def _set_version_info(self, status: Obj) -> None:
        info = status.setdefault("nodeInfo", {})
        info["kernelVersion"], info["osImage"] = self.machine.kernel_version, self.machine.os_image
        info["containerRuntimeVersion"] = self.config.container_runtime_version
        info["kubeletVersion"] = GIT_VERSION
        info["kubeProxyVersion"] = ""  # DisableNodeKubeProxyVersion is on by default since v1.33: cleared
        info["operatingSystem"], info["architecture"] = "linux", goarch()

    def _node_images(self, images: list[Obj] | Exception) -> list[Obj]:
        if isinstance(images, Exception):
            return []
        ordered = sorted(images, key=lambda image: image.get("sizeBytes") or 0, reverse=True)
        if self.config.max_images > -1:
            ordered = ordered[:self.config.max_images]
        return [{"names": list(image.get("names") or [])[:MAX_NAMES_PER_IMAGE],
                 "sizeBytes": int(image.get("sizeBytes") or 0)} for image in ordered]

    def _set_pressure_condition(self, status: Obj, condition_type: str, under_pressure: bool, now: str) -> None:
        """Memory/Disk/PIDPressureCondition: reason, message and transition time change only on a flip."""
        conditions = status.setdefault("conditions", [])
        condition = next((c for c in conditions if c.get("type") == condition_type), None)
        if condition is None:
            condition = {"type": condition_type, "status": "Unknown"}
            conditions.append(condition)
        condition["lastHeartbeatTime"] = now
        wanted = "True" if under_pressure else "False"
        if condition.get("status") != wanted:
            reason, message, event = _PRESSURE_TEXT[condition_type][0 if under_pressure else 1]
            condition.update(status=wanted, reason=reason, message=message, lastTransitionTime=now)
            self._node_status_event("Normal", event)

    def _set_ready_condition(self, status: Obj, now: str) -> None:
        """ReadyCondition: replaced each time; its transition time survives while its status holds."""
        ready, message = self.readiness
        problems = [] if ready else [message or "kubelet is not ready"]
        missing = [r for r in ("cpu", "memory", "pods", "ephemeral-storage") if r not in (status.get("capacity") or {})]
        if missing:
            problems.append(f"missing node capacity for resources: {', '.join(missing)}")
        if problems:
            new = {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                   "message": problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]"}
        else:
            new = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                   "message": "kubelet is posting ready status"}
        new["lastHeartbeatTime"] = now
        conditions = status.setdefault("conditions", [])
        index = next((i for i, c in enumerate(conditions) if c.get("type") == "Ready"), None)
        if index is None:
            conditions.append({**new, "lastTransitionTime": now})
            return
        flipped = conditions[index].get("status") != new["status"]
        new["lastTransitionTime"] = now if flipped else conditions[index].get("lastTransitionTime", now)
        conditions[index] = {k: new[k] for k in ("type", "status", "lastHeartbeatTime", "lastTransitionTime",
                                                  "reason", "message")}
        if flipped:
            self._node_status_event("Normal", "NodeReady" if new["status"] == "True" else "NodeNotReady")
            if new["status"] != "True":
                log.info("node %s became not ready: %s", self.name, new["message"])

    def _note_schedulable(self, node: Obj) -> None:
        """recordNodeSchedulableEvent: an event when spec.unschedulable differs from what we last saw."""
        unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        if unschedulable != self._last_unschedulable:
            self._node_status_event("Normal", "NodeNotSchedulable" if unschedulable else "NodeSchedulable")
            self._last_unschedulable = unschedulable

    # -- events ----------------------------------------------------------------------------------------------------

    def _node_status_event(self, type_: str, reason: str) -> None:
        self._event(type_, reason, f"Node {self.name} status is now: {reason}")

    def _event(self, type_: str, reason: str, message: str) -> None:
        self._events.append((type_, reason, message))

    async def _flush_events(self) -> None:
        # The kubelet's nodeRef: no namespace, and the node's name standing in for its UID.
        node_ref = {"kind": "Node", "metadata": {"name": self.name, "uid": self.name}}
        events, self._events = self._events, []
        for type_, reason, message in events:
            await self.recorder.record(node_ref, type_, reason, message)

    # -- lease -----------------------------------------------------------------------------------------------------

    async def renew_lease(self) -> Obj | None:
        """One pass of the node lease controller: PUT the last lease we wrote, else get or create it first."""
        if self._latest_lease is not None:
            try:
                await self._retry_update_lease(self._latest_lease)
                return self._latest_lease
            except NodeStatusError as exc:
                log.info("failed to update lease using latest lease, fallback to ensure lease: %s", exc)
        lease, created = await self._backoff_ensure_lease()
        self._latest_lease = lease
        if lease is not None and not created:
            try:
                await self._retry_update_lease(lease)
            except NodeStatusError as exc:
                log.warning("will retry updating lease in %ss: %s", self.config.lease_renew_interval_s, exc)
        return self._latest_lease

    async def _backoff_ensure_lease(self) -> tuple[Obj | None, bool]:
        sleep = 0.1
        while True:
            try:
                return await self._ensure_lease()
            except (errors.ApiError, errors.TransportError) as exc:
                sleep = min(2 * sleep, MAX_BACKOFF_S)
                log.warning("failed to ensure node lease exists, will retry in %.1fs: %s", sleep, exc)
                await asyncio.sleep(sleep)

    async def _ensure_lease(self) -> tuple[Obj | None, bool]:
        """(lease, created now); (None, False) when the Node to own it is not there yet."""
        try:
            return await self.client.get(kinds.LEASES, self.name, NODE_LEASE_NAMESPACE), False
        except errors.NotFound:
            pass
        lease = await self._new_lease(None)
        if not (lease["metadata"].get("ownerReferences")):
            return None, False  # created only with its owner, so the garbage collector can follow the Node
        return await self.client.create(kinds.LEASES, lease, NODE_LEASE_NAMESPACE), True

    async def _retry_update_lease(self, base: Obj | None) -> None:
        for _ in range(LEASE_UPDATE_RETRIES):
            if base is None:
                break
            try:
                self._latest_lease = await self.client.update(kinds.LEASES, await self._new_lease(base))
                return
            except errors.Conflict:
                base = (await self._backoff_ensure_lease())[0]  # someone else wrote it: start from theirs
            except (errors.ApiError, errors.TransportError) as exc:
                log.warning("failed to update node lease: %s", exc)
        raise NodeStatusError(f"failed {LEASE_UPDATE_RETRIES} attempts to update lease")

    async def _new_lease(self, base: Obj | None) -> Obj:
        """base with a fresh renewTime (or a new Lease), owned by the Node once the Node can be read."""
        if base is None:
            lease: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                          "metadata": {"name": self.name, "namespace": NODE_LEASE_NAMESPACE},
                          "spec": {"holderIdentity": self.name,
                                   "leaseDurationSeconds": self.config.lease_duration_s}}
        else:
            lease = copy.deepcopy(base)
        lease.setdefault("spec", {})["renewTime"] = _now_micro()
        if not lease["metadata"].get("ownerReferences"):
            try:
                node = await self.client.get(kinds.NODES, self.name)
                lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                         "uid": node["metadata"]["uid"]}]
            except (errors.ApiError, errors.TransportError) as exc:
                log.warning("failed to get node %s to own its lease: %s", self.name, exc)
        return lease

    # -- the loops -------------------------------------------------------------------------------------------------

    async def run(self, ready: ReadinessCheck) -> None:
        """Register (retrying), then renew the Lease and sync the status forever; errors are logged, never raised."""
        await self._refresh_readiness(ready)
        await self._register_until_done()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._fast_status_update_once(ready))
            tasks.create_task(self._every(self.config.lease_renew_interval_s, self.renew_lease))
            tasks.create_task(self._every(self.config.status_update_frequency_s,
                                          lambda: self._sync_node_status(ready)))

    async def _refresh_readiness(self, ready: ReadinessCheck) -> None:
        try:
            result = ready()
            self.readiness = await result if inspect.isawaitable(result) else result
        except Exception as exc:  # noqa: BLE001 - a failing readiness check is a not-ready node
            self.readiness = (False, f"readiness check failed: {exc}")

    async def _sync_node_status(self, ready: ReadinessCheck) -> None:
        await self._refresh_readiness(ready)
        async with self._lock:
            await self._update_node_status()

    async def _register_until_done(self) -> None:
        step = 0.1
        while not self.registered:
            try:
                await self.register()
            except Exception as exc:  # noqa: BLE001 - keep trying, as registerWithAPIServer does
                log.warning("unable to register node %s with the API server, retrying in %.1fs: %s",
                            self.name, step, exc)
                await asyncio.sleep(step)
                step = min(step * 2, MAX_BACKOFF_S)

    async def _fast_status_update_once(self, ready: ReadinessCheck) -> None:
        """Post Ready the moment the node first becomes ready, not up to a status period later."""
        deadline = time.monotonic() + NODE_READY_GRACE_PERIOD_S
        while time.monotonic() < deadline:
            await self._refresh_readiness(ready)
            if self.readiness[0]:
                try:
                    async with self._lock:
                        await self._update_node_status()
                    return
                except Exception as exc:  # noqa: BLE001 - the periodic sync will carry on
                    log.warning("fast node status update failed: %s", exc)
            await asyncio.sleep(FAST_STATUS_INTERVAL_S)

    @staticmethod
    async def _every(period_s: float, step: Callable[[], Awaitable[Any]]) -> None:
        """wait.JitterUntil, sliding: one step, then the period (plus up to 4 %) from its end."""
        while True:
            try:
                await step()
            except (NodeStatusError, errors.ApiError, errors.TransportError) as exc:
                log.warning("%s failed, will retry in %ss: %s", getattr(step, "__name__", "step"), period_s, exc)
            except Exception:  # noqa: BLE001 - a daemon loop logs and carries on
                log.exception("node status/lease step failed")
            await asyncio.sleep(period_s * (1 + random.random() * JITTER))


def is_extended_resource(name: str) -> bool:
    """IsExtendedResourceName: a prefixed name that is not native (`*kubernetes.io/`) nor a quota `requests.*`."""
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")
