"""Discovery documents (/api, /apis, /api/v1, /apis/<g>/<v>) and /version, derived from the kind registry."""
from __future__ import annotations

import platform
from typing import Any

from common.api.registry import REGISTRY, ResourceType

# The Kubernetes API version kubelab mirrors; kubectl 1.34-1.36 are within the supported skew.
KUBERNETES_MAJOR, KUBERNETES_MINOR = "1", "35"
GIT_VERSION = f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0-kubelab"

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# Subresource name -> (group, version, kind, verbs); group/version None = the parent's.
_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, list[str]]] = {
    "status": (None, None, None, ["get", "patch", "update"]),
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "binding": (None, None, "Binding", ["create"]),
    "eviction": ("policy", "v1", "Eviction", ["create"]),
    "log": (None, None, "Pod", ["get"]),
    "exec": (None, None, "PodExecOptions", ["create", "get"]),
    "finalize": (None, None, None, ["update"]),
}


def version_info() -> dict[str, str]:
    return {"major": KUBERNETES_MAJOR, "minor": KUBERNETES_MINOR, "gitVersion": GIT_VERSION,
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-11-23T00:00:00Z",
            "goVersion": f"python{platform.python_version()}", "compiler": "cpython",
            "platform": f"linux/{_arch()}"}


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(g) for g in _groups()]}


def api_group(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for g, v in REGISTRY.group_versions() if g == group]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def _groups() -> list[str]:
    return list(dict.fromkeys(g for g, _ in REGISTRY.group_versions() if g))


def has_group(group: str) -> bool:
    return group in _groups()


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    types = REGISTRY.in_group_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_resource(rt))
        resources.extend(_subresource(rt, sub) for sub in rt.subresources)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                             "kind": rt.kind, "verbs": _VERBS}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _subresource(rt: ResourceType, sub: str) -> dict[str, Any]:
    group, version, kind, verbs = _SUBRESOURCES[sub]
    entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                             "kind": kind or rt.kind, "verbs": verbs}
    if group is not None:
        entry["group"], entry["version"] = group, version
    return entry
