"""Scheduling framework: the per-pod and per-node data model (Resources, PodInfo, NodeInfo),
plugin statuses and protocols, and the filter-then-score cycle (Framework.schedule) modelled on
upstream kube-scheduler's schedulePod. Pure: no I/O, no asyncio; the scheduler owns NodeInfos."""
from __future__ import annotations

import itertools
import math
import operator
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from common.quantity import parse_quantity

if TYPE_CHECKING:
    from .config import Profile

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
DEFAULT_MILLI_CPU_REQUEST = 100  # upstream schedutil.DefaultMilliCPURequest (0.1 core)
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # upstream schedutil.DefaultMemoryRequest (200Mi)
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
NO_NODES_AVAILABLE = "no nodes available to schedule pods"
ALL_NODES_KEY = "kubelab.io/all-nodes"  # CycleState entry: every node of this cycle, not only the feasible

CycleState = dict[str, Any]


# ---------------------------------------------------------------- resources

def is_scalar_resource_name(name: str) -> bool:
    """Extended (vendor/x), prefixed native (kubernetes.io/x), hugepages-* and attachable-volumes-*."""
    return ("/" in name and not name.startswith("requests.")) or name.startswith(("hugepages-", "attachable-volumes-"))


@lru_cache(maxsize=4096)
def _milli_value(raw: Any) -> int:
    return math.ceil(parse_quantity(raw) * 1000)  # Quantity.MilliValue rounds up


@lru_cache(maxsize=4096)
def _value(raw: Any) -> int:
    return math.ceil(parse_quantity(raw))  # Quantity.Value rounds up


@dataclass(slots=True)
class Resources:
    """Upstream framework.Resource: cpu in millicores, memory and storage in bytes, pod count."""
    milli_cpu: int = 0
    memory: int = 0
    pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)
    ephemeral_storage: int = 0

    @classmethod
    def from_list(cls, resource_list: Mapping[str, Any] | None) -> Resources:
        """A ResourceList ({"cpu": "500m", "memory": "1Gi", ...}); ValueError on a bad quantity."""
        res = cls()
        res.add_list(resource_list)
        return res

    def add_list(self, resource_list: Mapping[str, Any] | None) -> None:
        for name, raw in (resource_list or {}).items():
            if name == "cpu":
                self.milli_cpu += _milli_value(raw)
            elif name == "memory":
                self.memory += _value(raw)
            elif name == "pods":
                self.pods += _value(raw)
            elif name == "ephemeral-storage":
                self.ephemeral_storage += _value(raw)
            elif is_scalar_resource_name(name):
                self.scalar[name] = self.scalar.get(name, 0) + _value(raw)

    def add(self, other: Resources) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.pods += other.pods
        self.ephemeral_storage += other.ephemeral_storage
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + value

    def sub(self, other: Resources) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.pods -= other.pods
        self.ephemeral_storage -= other.ephemeral_storage
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) - value

    def set_max(self, other: Resources) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.pods = max(self.pods, other.pods)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, value in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), value)

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.pods, dict(self.scalar), self.ephemeral_storage)

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or any(self.scalar.values()))


def _container_requests(container: Mapping[str, Any], non_zero: bool) -> Resources:
    requests = (container.get("resources") or {}).get("requests") or {}
    res = Resources.from_list(requests)
    if non_zero:  # upstream applies the defaults only to *missing* cpu/memory, not to explicit zeros
        if "cpu" not in requests:
            res.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in requests:
            res.memory = DEFAULT_MEMORY_REQUEST
    return res


def pod_requests(spec: Mapping[str, Any], non_zero: bool = False) -> Resources:
    """Upstream resourcehelper.PodRequests: sum(containers) + sidecars, max'ed with each init
    container's need (a sidecar keeps running under the init containers after it), plus overhead."""
    total = Resources()
    for container in spec.get("containers") or ():
        total.add(_container_requests(container, non_zero))
    sidecars, init_peak = Resources(), Resources()
    for container in spec.get("initContainers") or ():
        need = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":
            total.add(need)
            sidecars.add(need)
            need = sidecars.copy()
        else:
            need.add(sidecars)
        init_peak.set_max(need)
    total.set_max(init_peak)
    total.add_list(spec.get("overhead"))
    return total


# ---------------------------------------------------------------- taints and tolerations

class Taint(NamedTuple):
    key: str
    value: str
    effect: str


class Toleration(NamedTuple):
    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        """Upstream Toleration.ToleratesTaint: empty effect/key match all; Exists ignores the value."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


def tolerations_tolerate(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


def _parse_taints(items: Iterable[Mapping[str, Any]] | None) -> tuple[Taint, ...]:
    return tuple(Taint(str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect") or ""))
                 for t in items or ())


def _parse_tolerations(items: Iterable[Mapping[str, Any]] | None) -> tuple[Toleration, ...]:
    return tuple(Toleration(str(t.get("key") or ""), str(t.get("operator") or ""),
                            str(t.get("value") or ""), str(t.get("effect") or ""))
                 for t in items or ())


# ---------------------------------------------------------------- node selectors (nodeaffinity)

_INT64 = re.compile(r"[+-]?[0-9]+")


class NodeSelectorRequirement(NamedTuple):
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        op = self.operator
        if op == "In":
            return value is not None and value in self.values
        if op == "NotIn":
            return value is None or value not in self.values
        if op == "Exists":
            return value is not None
        if op == "DoesNotExist":
            return value is None
        if value is None or not _INT64.fullmatch(value):
            return False
        return int(value) > int(self.values[0]) if op == "Gt" else int(value) < int(self.values[0])


def _requirement_valid(req: NodeSelectorRequirement, is_field: bool) -> bool:
    """What upstream's labels.NewRequirement / field-selector conversion accept."""
    if is_field:
        return req.operator in ("In", "NotIn") and len(req.values) == 1
    if req.operator in ("In", "NotIn"):
        return len(req.values) > 0
    if req.operator in ("Exists", "DoesNotExist"):
        return not req.values
    if req.operator in ("Gt", "Lt"):
        return len(req.values) == 1 and _INT64.fullmatch(req.values[0]) is not None
    return False


class NodeSelectorTerm(NamedTuple):
    """matchExpressions and matchFields, ANDed. Empty or invalid terms match nothing (as upstream)."""
    expressions: tuple[NodeSelectorRequirement, ...]
    fields: tuple[NodeSelectorRequirement, ...]
    valid: bool

    @classmethod
    def parse(cls, term: Mapping[str, Any] | None) -> NodeSelectorTerm:
        term = term or {}
        exprs = tuple(_parse_requirement(r) for r in term.get("matchExpressions") or ())
        fields = tuple(_parse_requirement(r) for r in term.get("matchFields") or ())
        valid = bool(exprs or fields) and all(_requirement_valid(r, False) for r in exprs) \
            and all(_requirement_valid(r, True) for r in fields)
        return cls(exprs, fields, valid)

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        if not self.valid:
            return False
        for req in self.expressions:
            if not req.matches(labels):
                return False
        for req in self.fields:  # only metadata.name is a node field; unknown keys read as ""
            value = node_name if req.key == "metadata.name" else ""
            if (value == req.values[0]) != (req.operator == "In"):
                return False
        return True


def _parse_requirement(raw: Mapping[str, Any]) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(str(raw.get("key") or ""), str(raw.get("operator") or ""),
                                   tuple(str(v) for v in raw.get("values") or ()))


class PreferredTerm(NamedTuple):
    weight: int
    term: NodeSelectorTerm


# ---------------------------------------------------------------- PodInfo

def normalized_image_name(name: str) -> str:
    """Upstream ImageLocality: an image without a tag means :latest."""
    return name if name.rfind(":") > name.rfind("/") else name + ":latest"


@dataclass(slots=True, eq=False)
class PodInfo:
    """Everything the plugins need from a pod, computed once; `pod` itself is never mutated."""
    key: str
    pod: dict[str, Any]
    name: str
    namespace: str
    uid: str
    node_name: str
    scheduler_name: str
    priority: int
    requests: Resources
    non_zero_requests: Resources  # cpu/memory with upstream's defaults for missing requests: scoring only
    host_ports: frozenset[tuple[str, str, int]]
    tolerations: tuple[Toleration, ...]
    node_selector: dict[str, str]
    required_affinity: tuple[NodeSelectorTerm, ...] | None  # None: no required node affinity
    preferred_affinity: tuple[PreferredTerm, ...]
    images: tuple[str, ...]  # normalized, init containers then containers (duplicates kept, as upstream)

    @classmethod
    def of(cls, pod: dict[str, Any]) -> PodInfo:
        """Raises ValueError for a malformed resource quantity (the apiserver rejects those)."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "default")
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        all_containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
        return cls(
            key=f"{namespace}/{name}", pod=pod, name=name, namespace=namespace,
            uid=str(meta.get("uid") or ""), node_name=str(spec.get("nodeName") or ""),
            scheduler_name=str(spec.get("schedulerName") or "default-scheduler"),
            priority=int(spec.get("priority") or 0),
            requests=pod_requests(spec),
            non_zero_requests=_non_zero(pod_requests(spec, non_zero=True)),
            host_ports=frozenset(_host_ports(spec)),
            tolerations=_parse_tolerations(spec.get("tolerations")),
            node_selector={str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
            required_affinity=None if required is None else tuple(
                NodeSelectorTerm.parse(t) for t in required.get("nodeSelectorTerms") or ()),
            preferred_affinity=tuple(
                PreferredTerm(int(t.get("weight") or 0), NodeSelectorTerm.parse(t.get("preference")))
                for t in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
                if t.get("weight")),
            images=tuple(normalized_image_name(str(c.get("image") or "")) for c in all_containers),
        )


def _non_zero(res: Resources) -> Resources:
    return Resources(milli_cpu=res.milli_cpu, memory=res.memory)


def _host_ports(spec: Mapping[str, Any]) -> Iterable[tuple[str, str, int]]:
    """Upstream GetHostPorts: app containers and sidecars (restartable init containers)."""
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*sidecars, *(spec.get("containers") or ())]:
        for port in container.get("ports") or ():
            host_port = int(port.get("hostPort") or 0)
            if host_port > 0:
                yield (str(port.get("hostIP") or "0.0.0.0"), str(port.get("protocol") or "TCP"), host_port)


# ---------------------------------------------------------------- NodeInfo

_generations = itertools.count(1)  # global, like upstream's nextGeneration: a snapshot can compare any two


class NodeInfo:
    """A node plus the pods the scheduler counts on it (bound and assumed); mutated in place."""
    __slots__ = ("name", "node", "allocatable", "requested", "non_zero_requested", "pods", "used_ports",
                 "image_sizes", "generation", "unschedulable", "taints", "no_schedule_taints",
                 "prefer_no_schedule_taints", "labels", "_raw_images")

    # Bumped whenever any NodeInfo's image set changes: lets ImageLocality cache per-image node counts.
    image_epoch: ClassVar[int] = 0

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.node: dict[str, Any] | None = None
        self.allocatable = Resources()
        self.requested = Resources()
        self.non_zero_requested = Resources()
        self.pods: dict[str, PodInfo] = {}
        self.used_ports: Counter[tuple[str, str, int]] = Counter()
        self.image_sizes: dict[str, int] = {}
        self.unschedulable = False
        self.taints: tuple[Taint, ...] = ()
        self.no_schedule_taints: tuple[Taint, ...] = ()  # NoSchedule and NoExecute: what Filter checks
        self.prefer_no_schedule_taints: tuple[Taint, ...] = ()
        self.labels: dict[str, str] = {}
        self._raw_images: Any = None
        self.generation = next(_generations)

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> NodeInfo:
        info = cls()
        info.set_node(node)
        return info

    def set_node(self, node: dict[str, Any]) -> None:
        """Take a new version of the node object; the pods stay."""
        meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        self.node = node
        self.name = str(meta.get("name") or self.name)
        self.labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        self.allocatable = Resources.from_list(status.get("allocatable"))
        self.unschedulable = bool(spec.get("unschedulable"))
        self.taints = _parse_taints(spec.get("taints"))
        self.no_schedule_taints = tuple(t for t in self.taints if t.effect in ("NoSchedule", "NoExecute"))
        self.prefer_no_schedule_taints = tuple(t for t in self.taints if t.effect == "PreferNoSchedule")
        images = status.get("images") or []
        if images != self._raw_images:
            self._raw_images = images
            self.image_sizes = {str(name): int(image.get("sizeBytes") or 0)
                                for image in images for name in image.get("names") or ()}
            NodeInfo.image_epoch += 1
        self.generation = next(_generations)

    def add_pod(self, pod: PodInfo) -> None:
        """Count a pod on this node; adding a key that is already here replaces it."""
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        self.requested.add(pod.requests)
        self.non_zero_requested.add(pod.non_zero_requests)
        self.used_ports.update(pod.host_ports)
        self.generation = next(_generations)

    def remove_pod(self, key: str) -> bool:
        pod = self.pods.pop(key, None)
        if pod is None:
            return False
        self.requested.sub(pod.requests)
        self.non_zero_requested.sub(pod.non_zero_requests)
        self.used_ports.subtract(pod.host_ports)
        self.used_ports += Counter()  # drop the ports no pod uses any more
        self.generation = next(_generations)
        return True

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)}, generation={self.generation})"


_GENERATION = operator.attrgetter("generation")


class NodeMemo:
    """A plugin's per-node results for one pod shape (`key`), kept while each node's generation stands.

    Consecutive pods of a workload ask every node the same question, and scheduling one pod changes one
    node: the other answers are looked up (C-level maps) instead of recomputed in Python.  Generations
    are global and bumped on every NodeInfo change, so a hit is exactly what computing would give.
    """
    __slots__ = ("_key", "_values")

    def __init__(self) -> None:
        self._key: Any = None
        self._values: dict[int, int] = {}  # node generation -> result

    def results(self, key: Any, nodes: list[NodeInfo], compute: Callable[[list[NodeInfo]], list[Any]]) -> list[Any]:
        """compute(nodes), reusing what this key and these node generations already gave.  Results are ints
        or bools (scores, flags), so finding the misses is a C-level scan for None."""
        if key != self._key or len(self._values) > 4 * len(nodes) + 1024:  # another shape, or stale entries piling up
            self._key, self._values = key, {}
        values = self._values
        out: list[Any] = list(map(values.get, map(_GENERATION, nodes)))
        if None not in out:
            return out
        missing = _none_positions(out)
        for index, value in zip(missing, compute([nodes[i] for i in missing])):
            out[index] = values[nodes[index].generation] = value
        return out


def _none_positions(items: list[Any]) -> list[int]:
    positions: list[int] = []
    index = -1
    try:
        while True:
            index = items.index(None, index + 1)  # C-level scans between the misses
            positions.append(index)
    except ValueError:
        return positions


# ---------------------------------------------------------------- statuses and plugins

class Code(Enum):
    """Upstream framework.Code. CamelCase as upstream, UPPER_CASE aliases for Python habits."""
    Success = 0
    Error = 1
    Unschedulable = 2
    UnschedulableAndUnresolvable = 3
    Skip = 5
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 5

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Status:
    code: Code = Code.Success
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.Unschedulable, reasons, plugin)

    @classmethod
    def unresolvable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.UnschedulableAndUnresolvable, reasons, plugin)

    @classmethod
    def error(cls, message: str, plugin: str = "") -> Status:
        return cls(Code.Error, (message,), plugin)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code is Code.Success

    def is_skip(self) -> bool:
        return self.code is Code.Skip

    def is_rejected(self) -> bool:
        return self.code is Code.Unschedulable or self.code is Code.UnschedulableAndUnresolvable

    def with_plugin(self, plugin: str) -> Status:
        return self if self.plugin == plugin else Status(self.code, self.reasons, plugin)


SUCCESS = Status()
SKIP = Status(Code.Skip)


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status: ...


@runtime_checkable
class FilterPlugin(Protocol):
    """May also define filter_nodes(state, pod, nodes) -> list[Status], which must equal
    [filter(state, pod, n) for n in nodes]: the framework prefers it (fewer Python calls)."""
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    """May also define score_nodes(state, pod, nodes) -> list[int], equal to per-node score()."""
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class NormalizeScorePlugin(Protocol):
    name: str

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status | None: ...


PluginFactory = Callable[[Any], Any]  # args (None: the plugin's defaults) -> plugin


class Plugin:
    """Base of the in-tree plugins: the class is the factory, `Plugin(args)`; args None means the
    plugin's defaults (config.py turns pluginConfig YAML into the args objects)."""
    name: str = ""

    def __init__(self, args: Any = None) -> None:
        self.args = args


def default_normalize_score(scores: dict[str, int], reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """Upstream helper.DefaultNormalizeScore: scale to [0, max] by the highest score, optionally reversed."""
    highest = max(scores.values(), default=0)
    if highest == 0:
        if reverse:
            for name in scores:
                scores[name] = max_priority
        return
    for name, score in scores.items():
        score = max_priority * score // highest
        scores[name] = max_priority - score if reverse else score


# ---------------------------------------------------------------- the scheduling cycle

def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int | None = None) -> int:
    """Upstream numFeasibleNodesToFind: all nodes below 100; else the configured percentage, or
    adaptively 50% - 1% per 125 nodes (at least 5%); never fewer than 100."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if not percentage:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def fit_error_message(num_all_nodes: int, statuses: Mapping[str, Status], pre_filter_msg: str = "") -> str:
    """Upstream FitError.Error(): "0/3 nodes are available: 1 node(s) ..., 2 Insufficient cpu."."""
    message = f"0/{num_all_nodes} nodes are available:"
    if pre_filter_msg:
        return f"{message} {pre_filter_msg}."
    counts = Counter(reason for status in statuses.values() for reason in status.reasons)
    histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
    return f"{message} {', '.join(histogram)}." if histogram else message


@dataclass(slots=True)
class ScheduleResult:
    node: str | None
    message: str = ""  # the FitError (or error) text when node is None
    feasible: int = 0
    evaluated: int = 0
    statuses: dict[str, Status] = field(default_factory=dict)  # node name -> why it was rejected
    error: bool = False  # a plugin failed (Code.Error): retry with backoff, not "unschedulable"
    unschedulable_plugins: frozenset[str] = frozenset()


class Framework:
    """One profile's plugins, run as upstream's schedulePod: PreFilter, Filter from a rotating start
    until enough feasible nodes are found, PreScore, Score, NormalizeScore, weighted sum, random tie-break."""

    def __init__(self, config: Profile | None = None, percentage_of_nodes_to_score: int | None = None, *,
                 registry: Mapping[str, PluginFactory] | None = None, rng: random.Random | None = None) -> None:
        """`percentage_of_nodes_to_score`: the configuration's top-level value, used when the profile
        sets none (as upstream); None or 0 means the adaptive percentage."""
        if config is None:
            from .config import default_config
            config = default_config().profiles[0]
        if registry is None:
            from .plugins import REGISTRY
            registry = REGISTRY
        self.profile = config
        self.scheduler_name = config.scheduler_name
        self.percentage_of_nodes_to_score = (percentage_of_nodes_to_score if config.percentage_of_nodes_to_score is None
                                             else config.percentage_of_nodes_to_score)
        self.rng = rng or random.Random()
        self.next_start_index = 0
        names = dict.fromkeys([*config.pre_filter, *config.filter, *config.pre_score, *config.score])
        self.plugins: dict[str, Any] = {name: self._build(registry, name) for name in names}
        self.pre_filter_plugins = [self.plugins[n] for n in config.pre_filter]
        self.filter_plugins = [self.plugins[n] for n in config.filter]
        self.pre_score_plugins = [self.plugins[n] for n in config.pre_score]
        self.score_plugins: list[tuple[Any, int]] = [(self.plugins[n], max(w, 1)) for n, w in config.score.items()]

    def _build(self, registry: Mapping[str, PluginFactory], name: str) -> Any:
        if name not in registry:
            raise ValueError(f"plugin {name!r} does not exist")
        plugin = registry[name](self.profile.plugin_args.get(name))
        plugin.name = name
        return plugin

    def num_feasible_nodes_to_find(self, num_all_nodes: int) -> int:
        return num_feasible_nodes_to_find(num_all_nodes, self.percentage_of_nodes_to_score)

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        if not isinstance(nodes, list):
            nodes = list(nodes)
        if not nodes:
            return ScheduleResult(None, NO_NODES_AVAILABLE)
        state: CycleState = {ALL_NODES_KEY: nodes}
        skipped: set[str] = set()
        rejected = self.run_pre_filter_plugins(state, pod, skipped)
        if rejected is not None:
            return self._pre_filter_failure(rejected, nodes)
        feasible, statuses = self._find_feasible(state, pod, nodes, skipped)
        if isinstance(feasible, Status):
            return ScheduleResult(None, feasible.message, evaluated=len(statuses), statuses=statuses, error=True)
        evaluated = len(feasible) + len(statuses)
        if not feasible:
            plugins = frozenset(s.plugin for s in statuses.values())
            return ScheduleResult(None, fit_error_message(len(nodes), statuses), 0, evaluated, statuses,
                                  unschedulable_plugins=plugins)
        if len(feasible) == 1:  # upstream: nothing to compare, skip scoring
            return ScheduleResult(feasible[0].name, "", 1, evaluated, statuses)
        totals = self._prioritize(state, pod, feasible)
        if isinstance(totals, Status):
            return ScheduleResult(None, totals.message, len(feasible), evaluated, statuses, error=True)
        return ScheduleResult(self._select_host(feasible, totals), "", len(feasible), evaluated, statuses)

    # -- PreFilter / Filter

    def run_pre_filter_plugins(self, state: CycleState, pod: PodInfo, skipped: set[str]) -> Status | None:
        """None when every plugin passed (Skip ones added to `skipped`), else the rejecting status."""
        for plugin in self.pre_filter_plugins:
            status = plugin.pre_filter(state, pod)
            if status is SUCCESS or status.code is Code.Success:
                continue
            if status.code is Code.Skip:
                skipped.add(plugin.name)
                continue
            if status.code is Code.Error:
                return Status.error(f"running PreFilter plugin {plugin.name!r}: {status.message}", plugin.name)
            return status.with_plugin(plugin.name)
        return None

    def _pre_filter_failure(self, status: Status, nodes: list[NodeInfo]) -> ScheduleResult:
        statuses = dict.fromkeys([n.name for n in nodes], status)
        if status.code is Code.Error:
            return ScheduleResult(None, status.message, error=True)
        return ScheduleResult(None, fit_error_message(len(nodes), statuses, status.message), statuses=statuses,
                              unschedulable_plugins=frozenset((status.plugin,)))

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo,
                           skipped: frozenset[str] | set[str] = frozenset()) -> Status:
        """All filters on one node (for callers re-checking a single node); the first failure wins."""
        for plugin in self.filter_plugins:
            if plugin.name not in skipped:
                status = plugin.filter(state, pod, node)
                if status is not SUCCESS and status.code is not Code.Success:
                    return self._filter_failure(plugin, status)
        return SUCCESS

    @staticmethod
    def _filter_failure(plugin: Any, status: Status) -> Status:
        if status.is_rejected():
            return status.with_plugin(plugin.name)
        return Status.error(f"running {plugin.name!r} filter plugin: {status.message}", plugin.name)

    def _find_feasible(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
                       skipped: set[str]) -> tuple[list[NodeInfo] | Status, dict[str, Status]]:
        """Nodes in rotating order, each chunk exactly as long as the feasible nodes still wanted:
        the same nodes upstream's node-by-node loop would evaluate, but each plugin runs over a
        whole chunk at once (its filter_nodes), which is what makes 1,000 nodes cheap in Python."""
        count = len(nodes)
        wanted = self.num_feasible_nodes_to_find(count)
        start = self.next_start_index % count
        ordered = nodes[start:] + nodes[:start] if start else nodes
        filters = [(p, _batch_filter(p)) for p in self.filter_plugins if p.name not in skipped]
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        position = 0
        while position < count and len(feasible) < wanted:
            passed = ordered[position:position + wanted - len(feasible)]
            position += len(passed)
            for plugin, filter_nodes in filters:
                results = filter_nodes(state, pod, passed)
                if sum(map(operator.is_, results, itertools.repeat(SUCCESS))) == len(passed):
                    continue  # the common case: everything passed (identity test, no __eq__ calls)
                name, kept = plugin.name, []
                for node, status in zip(passed, results):
                    code = status.code
                    if code is Code.Success:
                        kept.append(node)
                    elif code is Code.Unschedulable or code is Code.UnschedulableAndUnresolvable:
                        statuses[node.name] = status if status.plugin == name else status.with_plugin(name)
                    else:
                        return self._filter_failure(plugin, status), statuses
                passed = kept
                if not passed:
                    break
            feasible.extend(passed)
        self.next_start_index = (start + position) % count
        return feasible, statuses

    # -- PreScore / Score / NormalizeScore

    def _prioritize(self, state: CycleState, pod: PodInfo, feasible: list[NodeInfo]) -> list[int] | Status:
        if not self.score_plugins:
            return [1] * len(feasible)  # upstream: every node scores 1, the tie-break decides
        skipped: set[str] = set()
        for plugin in self.pre_score_plugins:
            status = plugin.pre_score(state, pod, feasible)
            if status is SKIP or status.code is Code.Skip:
                skipped.add(plugin.name)
            elif status is not SUCCESS and status.code is not Code.Success:
                return Status.error(f"running PreScore plugin {plugin.name!r}: {status.message}", plugin.name)
        totals = [0] * len(feasible)
        for plugin, weight in self.score_plugins:
            if plugin.name in skipped:
                continue
            scores = self._plugin_scores(state, pod, plugin, feasible)
            if isinstance(scores, Status):
                return scores
            if weight != 1:
                scores = list(map(operator.mul, scores, itertools.repeat(weight)))
            totals = list(map(operator.add, totals, scores))  # map over C builtins: no per-node bytecode
        return totals

    @staticmethod
    def _plugin_scores(state: CycleState, pod: PodInfo, plugin: Any, feasible: list[NodeInfo]) -> list[int] | Status:
        scores = _batch_score(plugin)(state, pod, feasible)
        normalize = getattr(plugin, "normalize", None)
        if normalize is not None:
            by_name = dict(zip([n.name for n in feasible], scores))
            status = normalize(state, pod, by_name)
            if status is not None and not status.is_success():
                return Status.error(f"running Normalize on Score plugin {plugin.name!r}: {status.message}",
                                    plugin.name)
            scores = list(by_name.values())
        low, high = min(scores), max(scores)
        if low < MIN_NODE_SCORE or high > MAX_NODE_SCORE:
            bad = low if low < MIN_NODE_SCORE else high
            return Status.error(f"plugin {plugin.name!r} returns an invalid score {bad}, it should in the range "
                                f"of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing", plugin.name)
        return scores

    def _select_host(self, feasible: list[NodeInfo], totals: list[int]) -> str:
        """Upstream selectHost picks uniformly among the best by reservoir sampling (one rand per tie);
        one draw over the collected ties gives the same distribution for less Python work."""
        best = max(totals)
        ties = totals.count(best)
        index = totals.index(best)
        for _ in range(self.rng.randrange(ties) if ties > 1 else 0):  # step to the chosen tie (C-level scans)
            index = totals.index(best, index + 1)
        return feasible[index].name


def _batch_filter(plugin: Any) -> Callable[[CycleState, PodInfo, list[NodeInfo]], list[Status]]:
    """The plugin's filter_nodes, or its filter applied node by node."""
    batch = getattr(plugin, "filter_nodes", None)
    if batch is not None:
        return batch
    check = plugin.filter
    return lambda state, pod, nodes: [check(state, pod, node) for node in nodes]


def _batch_score(plugin: Any) -> Callable[[CycleState, PodInfo, list[NodeInfo]], list[int]]:
    """The plugin's score_nodes, or its score applied node by node."""
    batch = getattr(plugin, "score_nodes", None)
    if batch is not None:
        return batch
    score = plugin.score
    return lambda state, pod, nodes: [score(state, pod, node) for node in nodes]
