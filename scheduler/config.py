"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): loads the YAML file into
dataclasses with upstream's defaults and validation, and resolves each profile's plugins per
extension point (multiPoint expansion, enabled/disabled, "*", score weights, pluginConfig args).
Errors are one-line ValueErrors that start with the offending field path."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .plugins import DEFAULT_PLUGINS, REGISTRY
from .plugins.balanced_allocation import NodeResourcesBalancedAllocationArgs
from .plugins.node_resources_fit import (DEFAULT_RESOURCES, LEAST_ALLOCATED, MOST_ALLOCATED, NodeResourcesFitArgs,
                                         ResourceSpec, ScoringStrategy)

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

# Upstream in-tree plugins kubelab does not implement (or implements outside the framework: the
# queue sorts by priority, the scheduler binds). Configs copied from a real cluster name them;
# they are accepted and have no effect, as they have none in kubelab's default profile either.
UPSTREAM_ONLY_PLUGINS = frozenset({
    "PrioritySort", "DefaultBinder", "DefaultPreemption", "SchedulingGates", "VolumeBinding",
    "VolumeRestrictions", "VolumeZone", "NodeVolumeLimits", "PodTopologySpread", "InterPodAffinity",
    "DynamicResources", "NodeDeclaredFeatures", "GangScheduling"})

EXTENSION_POINTS = ("multiPoint", "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore",
                    "score", "reserve", "permit", "preBind", "bind", "postBind")
# The points the framework runs: config name -> (Profile attribute, the method a plugin must have).
RUN_POINTS = {"preFilter": ("pre_filter", "pre_filter"), "filter": ("filter", "filter"),
              "preScore": ("pre_score", "pre_score"), "score": ("score", "score")}
UPSTREAM_TYPE_NAMES = {"preFilter": "PreFilterPlugin", "filter": "FilterPlugin", "preScore": "PreScorePlugin",
                       "score": "ScorePlugin"}


@dataclass
class LeaderElection:
    leader_elect: bool = True
    lease_duration_s: float = 15.0  # seconds
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    resource_lock: str = "leases"
    resource_name: str = "kube-scheduler"
    resource_namespace: str = "kube-system"


@dataclass
class ClientConnection:
    kubeconfig: str = ""
    qps: float = 50.0
    burst: int = 100
    content_type: str = "application/vnd.kubernetes.protobuf"
    accept_content_types: str = ""


@dataclass
class Profile:
    """One scheduling profile with its plugins resolved per extension point, in run order."""
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    # The profile's own value, else the top-level one (None: upstream's adaptive percentage).
    percentage_of_nodes_to_score: int | None = None
    pre_filter: list[str] = field(default_factory=list)
    filter: list[str] = field(default_factory=list)
    pre_score: list[str] = field(default_factory=list)
    score: dict[str, int] = field(default_factory=dict)  # name -> weight
    plugin_args: dict[str, Any] = field(default_factory=dict)  # name -> args object (absent: defaults)


@dataclass
class SchedulerConfig:
    profiles: list[Profile]
    percentage_of_nodes_to_score: int | None = None
    leader_election: LeaderElection = field(default_factory=LeaderElection)
    client_connection: ClientConnection = field(default_factory=ClientConnection)
    parallelism: int = 16
    pod_initial_backoff_seconds: int = 1
    pod_max_backoff_seconds: int = 10

    def profile(self, scheduler_name: str) -> Profile | None:
        return next((p for p in self.profiles if p.scheduler_name == scheduler_name), None)


# ---------------------------------------------------------------- entry points

def default_config() -> SchedulerConfig:
    """Upstream's defaults: one "default-scheduler" profile with the default plugins."""
    return parse_config({"apiVersion": API_VERSION, "kind": KIND})


def load_config(path: str | os.PathLike[str]) -> SchedulerConfig:
    """Read and validate a KubeSchedulerConfiguration file; ValueError "<file>: <field>: <problem>"."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc.strerror}") from None
    try:
        return parse_config(text)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None


def parse_config(source: str | Mapping[str, Any]) -> SchedulerConfig:
    """A configuration from YAML/JSON text or an already-decoded mapping."""
    doc = _decode(source) if isinstance(source, str) else source
    _check_mapping(doc, "")
    _check_fields(doc, "", _TOP_LEVEL_FIELDS)
    if doc.get("apiVersion") != API_VERSION:
        raise ValueError(_unsupported("apiVersion", doc.get("apiVersion"), [API_VERSION]))
    if doc.get("kind") != KIND:
        raise ValueError(_unsupported("kind", doc.get("kind"), [KIND]))
    if doc.get("extenders"):
        raise ValueError("extenders: Forbidden: scheduler extenders are not supported")
    percentage = _parse_percentage(doc.get("percentageOfNodesToScore"), "percentageOfNodesToScore")
    config = SchedulerConfig(
        profiles=_parse_profiles(doc.get("profiles"), percentage),
        percentage_of_nodes_to_score=percentage,
        leader_election=_parse_leader_election(doc.get("leaderElection"), "leaderElection"),
        client_connection=_parse_client_connection(doc.get("clientConnection"), "clientConnection"),
        parallelism=_int(doc.get("parallelism", 16), "parallelism", minimum=1),
        pod_initial_backoff_seconds=_int(doc.get("podInitialBackoffSeconds", 1), "podInitialBackoffSeconds", minimum=1),
        pod_max_backoff_seconds=_int(doc.get("podMaxBackoffSeconds", 10), "podMaxBackoffSeconds", minimum=0),
    )
    if config.pod_max_backoff_seconds < config.pod_initial_backoff_seconds:
        raise ValueError(_invalid("podMaxBackoffSeconds", config.pod_max_backoff_seconds,
                                  "must be greater than or equal to PodInitialBackoffSeconds"))
    return config


_TOP_LEVEL_FIELDS = frozenset({
    "apiVersion", "kind", "parallelism", "leaderElection", "clientConnection", "healthzBindAddress",
    "metricsBindAddress", "enableProfiling", "enableContentionProfiling", "percentageOfNodesToScore",
    "podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles", "extenders", "delayCacheUntilActive"})


def _decode(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ValueError(f"not valid YAML{where}: {problem}") from None


# ---------------------------------------------------------------- error helpers (field.Error style)

def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_json(value)}: {detail}"


def _unsupported(path: str, value: Any, supported: Sequence[str]) -> str:
    return f"{path}: Unsupported value: {_json(value)}: supported values: {', '.join(_json(s) for s in supported)}"


def _check_mapping(value: Any, path: str) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(_invalid(path or "<document>", value, "must be an object"))


def _check_fields(value: Mapping[str, Any], path: str, allowed: frozenset[str] | set[str]) -> None:
    for key in value:
        if key not in allowed:
            raise ValueError(f"{_join(path, str(key))}: unknown field")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(_invalid(path, value, "must be a list"))
    return value


def _int(value: Any, path: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(_invalid(path, value, "must be an integer"))
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        low = "" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(_invalid(path, value, f"not in valid range [{low}, {high}]"))
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(_invalid(path, value, "must be a string"))
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_invalid(path, value, "must be true or false"))
    return value


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, path: str) -> float:
    """A Go duration string ("15s", "1m30s", "500ms") in seconds, as metav1.Duration decodes it."""
    text = _str(value, path)
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            break
        total += float(match[1]) * _DURATION_UNITS[match[2]]
        pos = match.end()
    if not body or pos != len(body):
        raise ValueError(_invalid(path, value, 'must be a duration such as "15s" or "1m30s"'))
    return sign * total


# ---------------------------------------------------------------- top-level sections

def _parse_percentage(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(_invalid(path, value, "not in valid range [0-100]"))
    return value


def _parse_leader_election(raw: Any, path: str) -> LeaderElection:
    result = LeaderElection()
    if raw is None:
        return result
    _check_mapping(raw, path)
    _check_fields(raw, path, {"leaderElect", "leaseDuration", "renewDeadline", "retryPeriod", "resourceLock",
                              "resourceName", "resourceNamespace"})
    if "leaderElect" in raw:
        result.leader_elect = _bool(raw["leaderElect"], f"{path}.leaderElect")
    for key, attr in (("leaseDuration", "lease_duration_s"), ("renewDeadline", "renew_deadline_s"),
                      ("retryPeriod", "retry_period_s")):
        if raw.get(key) is not None:
            setattr(result, attr, parse_duration(raw[key], f"{path}.{key}"))
    for key, attr in (("resourceLock", "resource_lock"), ("resourceName", "resource_name"),
                      ("resourceNamespace", "resource_namespace")):
        if raw.get(key):
            setattr(result, attr, _str(raw[key], f"{path}.{key}"))
    if result.leader_elect:
        _validate_leader_election(result, path)
    return result


def _validate_leader_election(le: LeaderElection, path: str) -> None:
    """component-base's ValidateLeaderElectionConfiguration, plus the scheduler's leases-only lock."""
    for key, value in (("leaseDuration", le.lease_duration_s), ("renewDeadline", le.renew_deadline_s),
                       ("retryPeriod", le.retry_period_s)):
        if value <= 0:
            raise ValueError(_invalid(f"{path}.{key}", value, "must be greater than zero"))
    if le.lease_duration_s <= le.renew_deadline_s:
        raise ValueError(_invalid(f"{path}.leaseDuration", le.lease_duration_s,
                                  "LeaseDuration must be greater than RenewDeadline"))
    if le.resource_lock != "leases":
        raise ValueError(_invalid(f"{path}.resourceLock", le.resource_lock, 'resourceLock value must be "leases"'))


def _parse_client_connection(raw: Any, path: str) -> ClientConnection:
    result = ClientConnection()
    if raw is None:
        return result
    _check_mapping(raw, path)
    _check_fields(raw, path, {"kubeconfig", "qps", "burst", "contentType", "acceptContentTypes"})
    if raw.get("kubeconfig"):
        result.kubeconfig = _str(raw["kubeconfig"], f"{path}.kubeconfig")
    if raw.get("qps") is not None:
        if isinstance(raw["qps"], bool) or not isinstance(raw["qps"], (int, float)):
            raise ValueError(_invalid(f"{path}.qps", raw["qps"], "must be a number"))
        result.qps = float(raw["qps"])
    if raw.get("burst") is not None:
        result.burst = _int(raw["burst"], f"{path}.burst", minimum=0)
    if raw.get("contentType"):
        result.content_type = _str(raw["contentType"], f"{path}.contentType")
    if raw.get("acceptContentTypes"):
        result.accept_content_types = _str(raw["acceptContentTypes"], f"{path}.acceptContentTypes")
    return result


# ---------------------------------------------------------------- profiles

def _parse_profiles(raw: Any, top_percentage: int | None) -> list[Profile]:
    items = _list(raw, "profiles") or [{}]  # upstream defaulting: no profiles -> one default profile
    profiles: list[Profile] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        path = f"profiles[{i}]"
        _check_mapping(item, path)
        profile = _parse_profile(item, path, single=len(items) == 1, top_percentage=top_percentage)
        if profile.scheduler_name in seen:
            raise ValueError(f"{path}.schedulerName: Duplicate value: {_json(profile.scheduler_name)}")
        seen[profile.scheduler_name] = i
        profiles.append(profile)
    return profiles


def _parse_profile(raw: Mapping[str, Any], path: str, single: bool, top_percentage: int | None) -> Profile:
    _check_fields(raw, path, {"schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"})
    name = raw.get("schedulerName")
    if name is None and single:
        name = DEFAULT_SCHEDULER_NAME  # upstream defaults the name only when there is one profile
    if not name:
        raise ValueError(f"{path}.schedulerName: Required value")
    percentage = _parse_percentage(raw.get("percentageOfNodesToScore"), f"{path}.percentageOfNodesToScore")
    profile = Profile(scheduler_name=_str(name, f"{path}.schedulerName"),
                      percentage_of_nodes_to_score=top_percentage if percentage is None else percentage)
    _resolve_plugins(profile, _parse_plugin_sets(raw.get("plugins"), f"{path}.plugins"), f"{path}.plugins")
    profile.plugin_args = _parse_plugin_config(raw.get("pluginConfig"), f"{path}.pluginConfig")
    return profile


@dataclass
class _PluginSet:
    enabled: list[tuple[str, int, str]] = field(default_factory=list)  # (name, weight, field path)
    disabled: list[str] = field(default_factory=list)


def _parse_plugin_sets(raw: Any, path: str) -> dict[str, _PluginSet]:
    sets = {point: _PluginSet() for point in EXTENSION_POINTS}
    if raw is None:
        return sets
    _check_mapping(raw, path)
    _check_fields(raw, path, frozenset(EXTENSION_POINTS))
    for point, body in raw.items():
        point_path = f"{path}.{point}"
        if body is None:
            continue
        _check_mapping(body, point_path)
        _check_fields(body, point_path, {"enabled", "disabled"})
        for i, entry in enumerate(_list(body.get("enabled"), f"{point_path}.enabled")):
            sets[point].enabled.append(_parse_plugin_entry(entry, f"{point_path}.enabled[{i}]"))
        for i, entry in enumerate(_list(body.get("disabled"), f"{point_path}.disabled")):
            sets[point].disabled.append(_parse_plugin_entry(entry, f"{point_path}.disabled[{i}]")[0])
    return sets


def _parse_plugin_entry(entry: Any, path: str) -> tuple[str, int, str]:
    _check_mapping(entry, path)
    _check_fields(entry, path, {"name", "weight"})
    name = entry.get("name")
    if not name:
        raise ValueError(f"{path}.name: Required value")
    name = _str(name, f"{path}.name")
    weight = entry.get("weight")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int) or weight < 0):
        raise ValueError(_invalid(f"{path}.weight", weight, "must be a non-negative integer"))
    return name, weight or 0, path


def _merge_plugin_set(defaults: list[tuple[str, int, str]], custom: _PluginSet) -> list[tuple[str, int, str]]:
    """Upstream mergePluginSet: defaults minus disabled ("*": all), a re-enabled default replaced
    in place (keeps its order, takes the custom weight), other custom plugins appended."""
    disabled = set(custom.disabled)
    custom_by_name = {entry[0]: entry for entry in custom.enabled}
    merged: list[tuple[str, int, str]] = []
    replaced: set[str] = set()
    if "*" not in disabled:
        for entry in defaults:
            if entry[0] in disabled:
                continue
            if entry[0] in custom_by_name:
                entry = custom_by_name[entry[0]]
                replaced.add(entry[0])
            merged.append(entry)
    merged.extend(entry for entry in custom.enabled if entry[0] not in replaced)
    return merged


def _resolve_plugins(profile: Profile, sets: dict[str, _PluginSet], path: str) -> None:
    """Fill the profile's per-point lists as upstream's NewFramework + expandMultiPointPlugins do."""
    for plugin_set in sets.values():
        for name, _, entry_path in plugin_set.enabled:
            if name not in REGISTRY and name not in UPSTREAM_ONLY_PLUGINS:
                raise ValueError(_invalid(f"{entry_path}.name", name, "unknown plugin"))
    defaults = [(name, weight or 0, f"{path}.multiPoint") for name, weight in DEFAULT_PLUGINS]
    multi_point = [e for e in _merge_plugin_set(defaults, sets["multiPoint"]) if e[0] in REGISTRY]
    _check_duplicates(multi_point, "multiPoint")
    for point, (attr, method) in RUN_POINTS.items():
        specific = [e for e in sets[point].enabled if e[0] in REGISTRY]
        for name, _, entry_path in specific:
            if not hasattr(REGISTRY[name], method):
                raise ValueError(_invalid(f"{entry_path}.name", name,
                                          f"plugin does not extend {UPSTREAM_TYPE_NAMES[point]}"))
        _check_duplicates(specific, UPSTREAM_TYPE_NAMES[point])
        names = _expand(method, specific, multi_point, set(sets[point].disabled))
        if point == "score":
            weights: dict[str, int] = {}
            for name, weight, _ in [*specific, *multi_point]:  # the score point's own weight wins
                weights.setdefault(name, weight or 1)  # upstream: weight 0 means 1
            profile.score = {name: weights[name] for name in names}
        else:
            setattr(profile, attr, names)


def _check_duplicates(entries: list[tuple[str, int, str]], type_name: str) -> None:
    seen: set[str] = set()
    for name, _, entry_path in entries:
        if name in seen:
            raise ValueError(_invalid(f"{entry_path}.name", name, f"plugin already registered as {type_name!r}"))
        seen.add(name)


def _expand(method: str, specific: list[tuple[str, int, str]], multi_point: list[tuple[str, int, str]],
            disabled: set[str]) -> list[str]:
    """Order: specific entries that override a multiPoint plugin, then multiPoint plugins (that
    implement the point and are not disabled there), then the remaining specific entries."""
    specific_names = [name for name, _, _ in specific]
    if "*" in disabled:
        return specific_names
    from_multi = [name for name, _, _ in multi_point if hasattr(REGISTRY[name], method) and name not in disabled]
    overrides = [name for name in specific_names if name in from_multi]
    rest = [name for name in specific_names if name not in from_multi]
    return overrides + [name for name in from_multi if name not in overrides] + rest


# ---------------------------------------------------------------- pluginConfig

def _parse_plugin_config(raw: Any, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    seen: set[str] = set()
    for i, entry in enumerate(_list(raw, path)):
        entry_path = f"{path}[{i}]"
        _check_mapping(entry, entry_path)
        _check_fields(entry, entry_path, {"name", "args"})
        name = _str(entry.get("name") or "", f"{entry_path}.name")
        if not name:
            raise ValueError(f"{entry_path}.name: Required value")
        if name in seen:
            raise ValueError(f"{entry_path}: Duplicate value: {_json(name)}")
        seen.add(name)
        if name not in REGISTRY and name not in UPSTREAM_ONLY_PLUGINS:
            raise ValueError(_invalid(f"{entry_path}.name", name, "unknown plugin"))
        args = entry.get("args") or {}
        _check_mapping(args, f"{entry_path}.args")
        args = {k: v for k, v in args.items() if k not in ("apiVersion", "kind")}
        parser = _ARGS_PARSERS.get(name)
        if parser is not None:
            result[name] = parser(args, f"{entry_path}.args")
        elif name in REGISTRY:
            _check_fields(args, f"{entry_path}.args", frozenset())
    return result


def _parse_resources(raw: Any, path: str, balanced: bool) -> tuple[ResourceSpec, ...]:
    specs: list[ResourceSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(raw, path)):
        item_path = f"{path}[{i}]"
        _check_mapping(item, item_path)
        _check_fields(item, item_path, {"name", "weight"})
        name = _str(item.get("name") or "", f"{item_path}.name")
        if not name:
            raise ValueError(f"{item_path}.name: Required value")
        if balanced and name in seen:
            raise ValueError(f"{item_path}.name: Duplicate value: {_json(name)}")
        seen.add(name)
        weight = item.get("weight") or 1  # upstream defaulting: 0 means 1
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise ValueError(_invalid(f"{item_path}.weight", weight, "must be an integer"))
        if balanced and weight != 1:
            raise ValueError(_invalid(f"{item_path}.weight", weight, "must be 1"))
        if not 0 < weight <= 100:
            raise ValueError(_invalid(f"{item_path}.weight", weight,
                                      f"resource weight of {name} not in valid range (0, 100]"))
        specs.append(ResourceSpec(name, weight))
    return tuple(specs) or DEFAULT_RESOURCES


def parse_fit_args(raw: Mapping[str, Any], path: str) -> NodeResourcesFitArgs:
    """NodeResourcesFitArgs: scoringStrategy {type, resources}, ignoredResources, ignoredResourceGroups."""
    _check_fields(raw, path, {"scoringStrategy", "ignoredResources", "ignoredResourceGroups"})
    strategy = ScoringStrategy()
    if raw.get("scoringStrategy") is not None:
        strategy = _parse_strategy(raw["scoringStrategy"], f"{path}.scoringStrategy")
    ignored = [_str(v, f"{path}.ignoredResources[{i}]")
               for i, v in enumerate(_list(raw.get("ignoredResources"), f"{path}.ignoredResources"))]
    groups = [_str(v, f"{path}.ignoredResourceGroups[{i}]")
              for i, v in enumerate(_list(raw.get("ignoredResourceGroups"), f"{path}.ignoredResourceGroups"))]
    for i, group in enumerate(groups):
        if "/" in group:
            raise ValueError(_invalid(f"{path}.ignoredResourceGroups[{i}]", group,
                                      "resource group name can't contain '/'"))
    return NodeResourcesFitArgs(strategy, frozenset(ignored), frozenset(groups))


def _parse_strategy(raw: Any, path: str) -> ScoringStrategy:
    _check_mapping(raw, path)
    _check_fields(raw, path, {"type", "resources", "requestedToCapacityRatio"})
    kind = raw.get("type", "")
    if kind not in (LEAST_ALLOCATED, MOST_ALLOCATED):
        raise ValueError(_unsupported(f"{path}.type", kind, [LEAST_ALLOCATED, MOST_ALLOCATED]))
    if raw.get("requestedToCapacityRatio") is not None:
        raise ValueError(f"{path}.requestedToCapacityRatio: Forbidden: must be nil when type is not "
                         "RequestedToCapacityRatio")
    return ScoringStrategy(kind, _parse_resources(raw.get("resources"), f"{path}.resources", balanced=False))


def parse_balanced_allocation_args(raw: Mapping[str, Any], path: str) -> NodeResourcesBalancedAllocationArgs:
    _check_fields(raw, path, {"resources"})
    return NodeResourcesBalancedAllocationArgs(_parse_resources(raw.get("resources"), f"{path}.resources",
                                                                balanced=True))


_ARGS_PARSERS = {"NodeResourcesFit": parse_fit_args,
                 "NodeResourcesBalancedAllocation": parse_balanced_allocation_args}
