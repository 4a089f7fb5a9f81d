"""The kind registry: one declaration per API resource, the single source of truth.

Routes, storage keys, discovery documents, OpenAPI and the client are all
derived from these declarations.  Validation, defaulting and table columns
live beside the apiserver and are looked up by kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" is the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Field selectors a LIST/WATCH may use besides metadata.name/metadata.namespace.
    field_selectors: tuple[str, ...] = ()
    # Kinds whose desired state lives in `spec` get metadata.generation, bumped
    # only when spec changes (upstream: strategies that track generation).
    tracks_generation: bool = True
    # PUT of a missing object creates it (upstream strategy AllowCreateOnUpdate).
    allow_create_on_update: bool = False
    # DELETE answers with the object rather than a Status (upstream ReturnDeletedObject).
    returns_deleted_object: bool = False
    list_kind: str = field(default="", compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"

    @property
    def storage_prefix(self) -> str:
        return f"/registry/{self.plural}/"

    def storage_key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"/registry/{self.plural}/{namespace}/{name}"
        return f"/registry/{self.plural}/{name}"

    def namespace_prefix(self, namespace: str | None) -> str:
        """Key prefix holding every object of this resource in one namespace (or all)."""
        if self.namespaced and namespace:
            return f"/registry/{self.plural}/{namespace}/"
        return self.storage_prefix

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of a collection, an object or a subresource."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


class Registry:
    """All resource types, indexed the ways callers need them."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}

    def register(self, rt: ResourceType) -> ResourceType:
        key = (rt.group, rt.version, rt.plural)
        if key in self._by_gvr:
            raise ValueError(f"resource {rt.plural} registered twice in {rt.api_version}")
        self._by_gvr[key] = rt
        self._by_kind[(rt.api_version, rt.kind)] = rt
        return rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def find(self, name: str) -> ResourceType:
        """Resolve a kind, plural or short name ('po', 'deploy', 'Pod') as kubectl does."""
        lowered = name.lower()
        for rt in self._by_gvr.values():
            if lowered in (rt.plural, rt.singular, rt.kind.lower(), *rt.short_names):
                return rt
        raise KeyError(f'the server doesn\'t have a resource type "{name}"')

    def all(self) -> list[ResourceType]:
        return list(self._by_gvr.values())

    def group_versions(self) -> list[tuple[str, str]]:
        """(group, version) pairs in registration order, without duplicates."""
        seen: dict[tuple[str, str], None] = {}
        for rt in self._by_gvr.values():
            seen.setdefault((rt.group, rt.version), None)
        return list(seen)

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_gvr.values() if rt.group == group and rt.version == version]


REGISTRY = Registry()
register = REGISTRY.register
