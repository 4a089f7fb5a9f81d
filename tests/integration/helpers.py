"""Manifests and small assertions shared by the apiserver integration tests."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx


def pod(name: str, *, labels: dict[str, str] | None = None, node: str | None = None,
        image: str = "busybox:1.36", finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if finalizers:
        meta["finalizers"] = finalizers
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "ports": [{"containerPort": 80}]}]}}}}


def configmap(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": data or {"k": "v"}}


def assert_status(resp: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    """The response is a Kubernetes Status with this code and reason."""
    assert resp.status_code == code, f"{resp.status_code} {resp.text}"
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == code and body["reason"] == reason, body
    assert body["message"], body
    return body


def cause_fields(status: dict[str, Any]) -> list[str]:
    return [c.get("field") for c in (status.get("details") or {}).get("causes", [])]


def watch_lines(http: httpx.Client, path: str, *, count: int, timeout: float = 15.0,
                until: Callable[[dict[str, Any]], bool] | None = None, **params: Any) -> list[dict[str, Any]]:
    """Read at least `count` events from a watch stream, and on until one satisfies `until` (then hang up)."""
    events: list[dict[str, Any]] = []
    with http.stream("GET", path, params={"watch": "true", **params}, timeout=timeout) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line:
                events.append(json.loads(line))
            if len(events) >= count and (until is None or until(events[-1])):
                break
    return events
