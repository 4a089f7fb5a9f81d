"""Turning a request path into (group, version, namespace, resource, name, subresource), as upstream's RequestInfoFactory."""
from __future__ import annotations

from dataclasses import dataclass

from common.api.registry import REGISTRY, ResourceType
from common.errors import MethodNotAllowed, NotFound

# Subresources of the namespaces resource itself; anything else after /namespaces/<ns>/ is a resource.
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass(frozen=True)
class RequestInfo:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False  # the deprecated /watch/ path prefix


def parse(path: str) -> RequestInfo:
    """Parse /api/v1/... or /apis/<group>/<version>/...; unknown resources are 404 NotFound."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise NotFound("the server could not find the requested resource")
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    rt = REGISTRY.lookup(group, version, rest[0]) if rest else None
    if rt is None:
        raise NotFound("the server could not find the requested resource")
    if rt.plural == "namespaces" and namespace is not None:
        # /api/v1/namespaces/<name>[/<subresource>] names the namespace object itself.
        name, subresource = namespace, rest[2] if len(rest) > 2 else None
        return _checked(RequestInfo(rt, None, name, subresource, legacy_watch), len(rest) > 3)
    if rt.namespaced is False and namespace is not None:
        raise NotFound("the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    if rt.namespaced and namespace is None and name is not None:
        raise NotFound("the server could not find the requested resource")
    subresource = rest[2] if len(rest) > 2 else None
    return _checked(RequestInfo(rt, namespace, name, subresource, legacy_watch), len(rest) > 3)


def _checked(info: RequestInfo, too_long: bool) -> RequestInfo:
    if too_long:
        raise NotFound("the server could not find the requested resource")
    if info.subresource and info.subresource not in info.rt.subresources:
        raise NotFound("the server could not find the requested resource")
    return info


def method_not_allowed() -> MethodNotAllowed:
    return MethodNotAllowed("the server does not allow this method on the requested resource")


def allowed(info: RequestInfo, method: str) -> None:
    """405 for verbs a path does not serve, with upstream's message."""
    if info.name is None and method in ("PUT", "PATCH"):
        raise method_not_allowed()
    if info.name is not None and method == "POST" and info.subresource not in ("binding", "eviction", "exec"):
        raise method_not_allowed()
