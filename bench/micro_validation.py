"""Micro-benchmark of the apiserver's per-object checks: schema, defaulting, initial status, validation.

    .venv/bin/python bench/micro_validation.py [--repeat 7] [--number 2000]

Every create and update runs, in this order, `common.api.schema.check` on the decoded body (unknown fields,
JSON types), `defaults.initial_status` and `defaults.apply_defaults` (creates; updates default only), then
`validation.validate(rt, obj, old)`.  This script times each of them alone, in µs per object (the minimum of
--repeat batches of --number calls, garbage collection off), for four objects:

  pod          the pod bench/api.py posts (bench/_loadgen.py POD_TEMPLATE)
  deployment   a realistic three-replica Deployment (one container: ports, env, resources, probes, mounts)
  service      a ClusterIP Service with a selector and two named ports
  configmap    a ConfigMap with a handful of keys

The objects go through the same steps as a create in apiserver/rest.py (namespace, uid, creationTimestamp,
generation, initial status, defaults) before validate sees them; an update validates a copy that changes
labels and annotations against the stored object.  apply_defaults works in place, so each call gets a fresh
copy of the body, made outside the timed loop.

A table first; the last line is one JSON object: {"pod": {"schema_check_us": ..., ...}, ...}.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from _loadgen import POD_TEMPLATE  # noqa: E402

from apiserver import defaults, validation  # noqa: E402
from common.api import kinds, schema  # noqa: E402
from common.api.registry import ResourceType  # noqa: E402

Obj = dict[str, Any]
NAMESPACE = "bench"

DEPLOYMENT: Obj = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "frontend"},
                 "annotations": {"kubernetes.io/change-cause": "initial rollout"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "frontend"},
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
            "spec": {
                "containers": [{
                    "name": "web", "image": "registry.example.com/team/web:2.4.1",
                    "args": ["--port=8080", "--metrics-port=9090"],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                              {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                    "env": [{"name": "MODE", "value": "production"},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "DB_PASSWORD",
                             "valueFrom": {"secretKeyRef": {"name": "web-db", "key": "password"}}}],
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                  "limits": {"cpu": "1", "memory": "512Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": True},
                                     {"name": "cache", "mountPath": "/var/cache/web"}],
                    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
                }],
                "volumes": [{"name": "config", "configMap": {"name": "web-config"}},
                            {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
                "terminationGracePeriodSeconds": 45,
            },
        },
    },
}

SERVICE: Obj = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"type": "ClusterIP", "selector": {"app": "web", "tier": "frontend"},
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                       {"name": "metrics", "port": 9090, "targetPort": 9090}]},
}

CONFIG_MAP: Obj = {
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "web-config", "labels": {"app": "web"}},
    "data": {"LOG_LEVEL": "info", "MODE": "production", "FEATURE_FLAGS": "search,checkout",
             "web.yaml": "listen: 0.0.0.0:8080\nmetrics: 0.0.0.0:9090\ncache: /var/cache/web\n",
             "nginx.conf": "server {\n  listen 80;\n  location / { proxy_pass http://127.0.0.1:8080; }\n}\n"},
}

CASES: list[tuple[str, ResourceType, Obj]] = [
    ("pod", kinds.PODS, {**POD_TEMPLATE, "metadata": {**POD_TEMPLATE["metadata"], "name": "bench-0"}}),
    ("deployment", kinds.DEPLOYMENTS, DEPLOYMENT),
    ("service", kinds.SERVICES, SERVICE),
    ("configmap", kinds.CONFIGMAPS, CONFIG_MAP),
]
STAGES = ("schema_check", "apply_defaults", "initial_status", "validate_create", "validate_update")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="batches per figure; the fastest one counts")
    p.add_argument("--number", type=int, default=2000, help="calls per batch")
    return p.parse_args()


# -- the objects as the apiserver sees them at each step ----------------------------------------------------

def decoded_body(manifest: Obj) -> Obj:
    """The request body after json.loads, as schema.check receives it."""
    return json.loads(json.dumps(manifest))


def prepared_for_create(rt: ResourceType, body: Obj) -> Obj:
    """What RestStorage._prepare_create hands to initial_status: namespace, uid, timestamp, generation set."""
    obj = copy.deepcopy(body)
    meta = obj["metadata"]
    if rt.namespaced:
        meta["namespace"] = NAMESPACE
    meta["uid"] = "6f1c0b5e-2f7a-4c55-9d1e-0b8f3c2a7d41"
    meta["creationTimestamp"] = "2025-01-01T00:00:00Z"
    if rt.tracks_generation:
        meta["generation"] = 1
    return obj


def stored(rt: ResourceType, body: Obj) -> Obj:
    """The object after initial status and defaults: what validate(create) checks and etcd then holds."""
    obj = prepared_for_create(rt, body)
    if rt.has_status:
        status = defaults.initial_status(rt, obj)
        if status is not None:
            obj["status"] = status
    defaults.apply_defaults(rt, obj)
    if validation.validate(rt, obj):
        raise SystemExit(f"benchmark {rt.kind} is invalid: {validation.validate(rt, obj)}")
    return obj


def updated(rt: ResourceType, old: Obj) -> Obj:
    """An update as a client sends it after a GET: a label and an annotation changed, defaults applied."""
    new = copy.deepcopy(old)
    meta = new["metadata"]
    meta["resourceVersion"] = "42"
    meta.setdefault("labels", {})["release"] = "canary"
    meta.setdefault("annotations", {})["kubelab.io/touched"] = "yes"
    defaults.apply_defaults(rt, new)
    if validation.validate(rt, new, old):
        raise SystemExit(f"benchmark {rt.kind} update is invalid: {validation.validate(rt, new, old)}")
    return new


# -- timing ---------------------------------------------------------------------------------------------------

def best_us(call: Callable[[Any], object], make_args: Callable[[int], list[Any]], repeat: int, number: int) -> float:
    """µs per call, the fastest of `repeat` batches; make_args builds each batch's arguments untimed."""
    best = float("inf")
    for _ in range(repeat):
        args = make_args(number)
        gc.disable()
        try:
            start = time.perf_counter()
            for arg in args:
                call(arg)
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, elapsed / number)
    return best * 1e6


def measure(rt: ResourceType, manifest: Obj, repeat: int, number: int) -> dict[str, float]:
    body = decoded_body(manifest)
    api_version, kind = body["apiVersion"], body["kind"]
    prepared = prepared_for_create(rt, body)
    old = stored(rt, body)
    new = updated(rt, old)
    same = lambda n, value=None: [value] * n  # noqa: E731 - the read-only stages reuse one object
    fresh = lambda n: [prepared_for_create(rt, body) for _ in range(n)]  # noqa: E731
    return {
        "schema_check_us": best_us(lambda obj: schema.check(api_version, kind, obj),
                                   lambda n: same(n, body), repeat, number),
        "apply_defaults_us": best_us(lambda obj: defaults.apply_defaults(rt, obj), fresh, repeat, number),
        "initial_status_us": best_us(lambda obj: defaults.initial_status(rt, obj),
                                     lambda n: same(n, prepared), repeat, number),
        "validate_create_us": best_us(lambda obj: validation.validate(rt, obj), lambda n: same(n, old),
                                      repeat, number),
        "validate_update_us": best_us(lambda obj: validation.validate(rt, obj, old), lambda n: same(n, new),
                                      repeat, number),
    }


def main() -> None:
    args = parse_args()
    figures: dict[str, dict[str, float]] = {}
    for name, rt, manifest in CASES:
        figures[name] = measure(rt, manifest, args.repeat, args.number)
    header = f"{'µs per object':<16}" + "".join(f"{stage:>17}" for stage in STAGES) + f"{'all (create)':>15}"
    print(header)
    for name, row in figures.items():
        create_total = sum(row[f"{stage}_us"] for stage in STAGES if stage != "validate_update")
        print(f"{name:<16}" + "".join(f"{row[f'{stage}_us']:>17.1f}" for stage in STAGES) + f"{create_total:>15.1f}")
    print(json.dumps({name: {k: round(v, 2) for k, v in row.items()} for name, row in figures.items()}))


if __name__ == "__main__":
    main()
