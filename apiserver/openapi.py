"""/openapi/v3: the per-group-version documents kubectl fetches before `create -f` and `apply -f`.

Each kind gets its PATCH operation with the group-version-kind and the
`fieldValidation` parameter: kubectl then leaves validation to the server
(fieldValidation=Strict).  No component schemas are published, so for apply's
patch computation kubectl uses its built-in types, which know every field.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from common.api.registry import REGISTRY, ResourceType

from .discovery import GIT_VERSION


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root() -> dict[str, Any]:
    paths = {}
    for group, version in REGISTRY.group_versions():
        path = _gv_path(group, version)
        digest = hashlib.sha256(json.dumps(document(group, version), sort_keys=True).encode()).hexdigest()[:32]
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": paths}


def document_for_path(path: str) -> dict[str, Any] | None:
    for group, version in REGISTRY.group_versions():
        if _gv_path(group, version) == path.strip("/"):
            return document(group, version)
    return None


def document(group: str, version: str) -> dict[str, Any]:
    paths = {_object_path(rt): {"patch": _patch_operation(rt)} for rt in REGISTRY.in_group_version(group, version)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": paths,
            "components": {"schemas": {}}}


def _object_path(rt: ResourceType) -> str:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced:
        base += "/namespaces/{namespace}"
    return f"{base}/{rt.plural}/{{name}}"


def _patch_operation(rt: ResourceType) -> dict[str, Any]:
    parameters = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
    return {"operationId": f"patch{rt.kind}", "parameters": parameters,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}}}
