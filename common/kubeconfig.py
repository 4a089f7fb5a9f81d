"""Reading and writing kubeconfig files (the same YAML kubectl uses)."""
from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Connection:
    """Where a client talks to and how it proves who it is."""
    server: str
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_tls_verify: bool = False


def load(path: str | os.PathLike[str], context: str | None = None) -> Connection:
    with open(path) as f:
        config: dict[str, Any] = yaml.safe_load(f) or {}
    context_name = context or config.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in config.get("contexts") or []}
    if context_name not in contexts:
        raise ValueError(f"kubeconfig {path}: context {context_name!r} not found")
    ctx = contexts[context_name]
    cluster = _named(config, "clusters", ctx.get("cluster"), "cluster", path)
    user = _named(config, "users", ctx.get("user"), "user", path) if ctx.get("user") else {}
    return Connection(
        server=cluster["server"].rstrip("/"),
        token=user.get("token"),
        ca_file=_file_or_data(cluster, "certificate-authority"),
        cert_file=_file_or_data(user, "client-certificate"),
        key_file=_file_or_data(user, "client-key"),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def write(path: str | os.PathLike[str], server: str, *, name: str = "kubelab", token: str | None = None,
          ca_file: str | None = None, namespace: str | None = None) -> None:
    """Write a single-context kubeconfig that kubectl and the official client accept."""
    cluster: dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = str(ca_file)
    user: dict[str, Any] = {"token": token} if token else {}
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))


def _named(config: dict[str, Any], section: str, name: str | None, inner: str, path: Any) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return entry.get(inner) or {}
    raise ValueError(f"kubeconfig {path}: {section[:-1]} {name!r} not found")


def _file_or_data(section: dict[str, Any], field: str) -> str | None:
    """kubeconfig holds certificates either as a path or inline as base64 `<field>-data`."""
    if section.get(field):
        return str(section[field])
    data = section.get(f"{field}-data")
    if not data:
        return None
    fd, name = tempfile.mkstemp(prefix="kubelab-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return name
