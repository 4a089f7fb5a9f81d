"""Container environment, as upstream's makeEnvironmentVariables: envFrom, env values with $(VAR) expansion, valueFrom.

Also the downward-API helpers that volumes share with env (pod field paths,
container resource values) and the `ObjectFetcher` both read ConfigMaps and
Secrets through.  Error messages are upstream's word for word, because users
grep events and `kubectl describe` output for them.
"""
from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from common import quantity

Obj = dict[str, Any]
EventSink = Callable[[str, str], Awaitable[None]]  # (reason, message) of a Warning event on the pod

CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"


class ObjectFetcher(Protocol):
    """Reads the pod's ConfigMaps and Secrets (an informer cache or the API); None means not found."""

    async def get_configmap(self, namespace: str, name: str) -> Obj | None: ...

    async def get_secret(self, namespace: str, name: str) -> Obj | None: ...


class EnvError(Exception):
    """The container cannot be configured; `reason` is the waiting reason it becomes on the pod."""

    def __init__(self, message: str, reason: str = CREATE_CONTAINER_CONFIG_ERROR) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


# -- $(VAR) expansion (upstream third_party/forked/golang/expansion) ----------

def expand(text: str, mapping: Callable[[str], str]) -> str:
    """`$(NAME)` → mapping(NAME), `$$` → `$`; anything else (a lone `$`, an unclosed `$(`) stays as written."""
    out: list[str] = []
    checkpoint, cursor = 0, 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_reference(text, cursor + 1)
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_reference(text: str, start: int) -> tuple[str, bool, int]:
    """What follows a `$`: (text to emit or variable name, is it a variable, characters consumed)."""
    first = text[start]
    if first == "$":
        return "$", False, 1
    if first == "(":
        close = text.find(")", start + 1)
        if close == -1:
            return "$(", False, 1
        return text[start + 1:close], True, close - start + 1
    return "$" + first, False, 1


def mapping_for(*contexts: dict[str, str]) -> Callable[[str], str]:
    """Look a name up in each context in turn; an unknown name expands to itself, `$(NAME)`."""
    def lookup(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"$({name})"
    return lookup


def expand_command_and_args(container: Obj, env: dict[str, str]) -> Obj:
    """Upstream ExpandContainerCommandAndArgs: the container with `$(VAR)` in command and args taken from its env.

    An undefined name stays `$(VAR)` and `$$` escapes, as in env values; the caller keeps the
    unexpanded spec for the spec hash, so a changed ConfigMap value does not restart the container.
    """
    lookup = mapping_for(env)
    expanded = dict(container)
    for key in ("command", "args"):
        if container.get(key):
            expanded[key] = [expand(str(item), lookup) for item in container[key]]
    return expanded


# -- ConfigMap / Secret data ----------------------------------------------------

def secret_data(secret: Obj) -> dict[str, bytes]:
    """A Secret's `data`, decoded: the API carries it base64-encoded."""
    return {key: base64.b64decode(value or "") for key, value in (secret.get("data") or {}).items()}


def configmap_data(configmap: Obj) -> dict[str, bytes]:
    """A ConfigMap's `data` and (base64) `binaryData`, as bytes."""
    data = {key: (value or "").encode() for key, value in (configmap.get("data") or {}).items()}
    for key, value in (configmap.get("binaryData") or {}).items():
        data.setdefault(key, base64.b64decode(value or ""))
    return data


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def is_env_var_name(name: str) -> bool:
    """Upstream's IsEnvVarName: what envFrom keys must look like to be exported."""
    return _ENV_VAR_NAME.fullmatch(name) is not None


# -- downward API: pod fields -----------------------------------------------------

_FIELD_LABELS = frozenset({
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
    "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName", "status.phase",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"})


def split_subscript(field_path: str) -> tuple[str, str] | None:
    """`metadata.labels['k']` → ("metadata.labels", "k"); None when the path has no subscript."""
    if not field_path.endswith("']"):
        return None
    path, sep, key = field_path[:-2].partition("['")
    return (path, key) if sep and path else None


def _convert_field_label(api_version: str, field_path: str) -> str:
    """Upstream ConvertDownwardAPIFieldLabel: which fieldRef paths env may use."""
    if api_version != "v1":
        raise EnvError(f"unsupported pod version: {api_version}")
    subscripted = split_subscript(field_path)
    if subscripted is not None:
        if subscripted[0] in ("metadata.annotations", "metadata.labels"):
            return field_path
        raise EnvError(f"field label does not support subscript: {field_path}")
    if field_path == "spec.host":  # old v1 clients
        return "spec.nodeName"
    if field_path not in _FIELD_LABELS:
        raise EnvError(f"field label not supported: {field_path}")
    return field_path


def metadata_field(pod: Obj, field_path: str) -> str:
    """Upstream fieldpath.ExtractFieldPathAsString: the metadata fields a downward API file or env may show."""
    meta = pod.get("metadata") or {}
    subscripted = split_subscript(field_path)
    if subscripted is not None:
        path, key = subscripted
        if path in ("metadata.annotations", "metadata.labels"):
            return (meta.get(path.split(".")[1]) or {}).get(key, "")
        raise EnvError(f'fieldPath "{field_path}" does not support subscript')
    if field_path in ("metadata.annotations", "metadata.labels"):
        return format_map(meta.get(field_path.split(".")[1]) or {})
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(field_path.split(".")[1], ""))
    raise EnvError(f"unsupported fieldPath: {field_path}")


def format_map(values: dict[str, str]) -> str:
    """Labels/annotations as a downward API file holds them: sorted `key="value"` lines (Go %q quoting)."""
    return "\n".join(f"{key}={go_quote(str(values[key]))}" for key in sorted(values))


_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
               "\\": r"\\", '"': r"\""}


def go_quote(text: str) -> str:
    """Go's strconv.Quote, which upstream's %q uses: printable runes kept, the rest escaped."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def pod_field_value(pod: Obj, field_ref: Obj, *, pod_ips: Sequence[str], host_ips: Sequence[str]) -> str:
    """Upstream podFieldSelectorRuntimeValue: a fieldRef's value for an env var."""
    path = _convert_field_label(field_ref.get("apiVersion") or "v1", field_ref.get("fieldPath", ""))
    spec = pod.get("spec") or {}
    if path == "spec.nodeName":
        return spec.get("nodeName", "")
    if path == "spec.serviceAccountName":
        return spec.get("serviceAccountName", "")
    if path == "status.hostIP":
        return host_ips[0] if host_ips else ""
    if path == "status.hostIPs":
        return ",".join(host_ips)
    if path == "status.podIP":
        return pod_ips[0] if pod_ips else ""
    if path == "status.podIPs":
        return ",".join(pod_ips)
    return metadata_field(pod, path)


# -- downward API: container resources ---------------------------------------------

def parse_quantity(value: Any) -> Decimal:
    """A resource.Quantity as a number of base units; a malformed one is a CreateContainerConfigError."""
    try:
        return quantity.parse_quantity(value)
    except ValueError as exc:
        raise EnvError(str(exc)) from None


def host_allocatable() -> dict[str, str]:
    """This machine's cpu and memory: the stand-in for node allocatable when the caller has none."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": str(os.cpu_count() or 1), "memory": str(memory)}


def _find_container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if container.get("name") == name:
            return container
    raise EnvError(f"container {name} not found")


def container_resource_value(field_ref: Obj, pod: Obj, container: Obj | None,
                             node_allocatable: dict[str, Any] | None) -> str:
    """Upstream resourceFieldRef: limits default to node allocatable; cpu rounds up in divisor units."""
    if field_ref.get("containerName"):
        container = _find_container(pod, field_ref["containerName"])
    resources = (container or {}).get("resources") or {}
    resource = field_ref.get("resource", "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise EnvError(f"unsupported container resource : {resource}")
    amount = (resources.get(kind) or {}).get(name)
    if amount is None and kind == "limits":
        amount = (node_allocatable if node_allocatable is not None else host_allocatable()).get(name)
    divisor = parse_quantity(field_ref.get("divisor") or "1") or Decimal(1)
    value = parse_quantity(amount if amount is not None else 0)
    if name == "cpu":  # upstream divides milli-values, each rounded up to a whole milli
        return str(math.ceil(_ceil(value * 1000) / _ceil(divisor * 1000)))
    return str(math.ceil(_ceil(value) / _ceil(divisor)))


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding="ROUND_CEILING"))


# -- the environment ----------------------------------------------------------------

class _Sources:
    """The ConfigMaps and Secrets one container's env reads, each fetched once (as upstream caches per call)."""

    def __init__(self, fetch: ObjectFetcher, namespace: str) -> None:
        self.fetch, self.namespace = fetch, namespace
        self.configmaps: dict[str, Obj | None] = {}
        self.secrets: dict[str, Obj | None] = {}

    async def configmap(self, name: str, optional: bool) -> Obj | None:
        """The ConfigMap, None when it is missing but optional; missing and required raises."""
        if name not in self.configmaps:
            self.configmaps[name] = await _fetch(self.fetch.get_configmap, self.namespace, name)
        if self.configmaps[name] is None and not optional:
            raise EnvError(f'configmap "{name}" not found')
        return self.configmaps[name]

    async def secret(self, name: str, optional: bool) -> Obj | None:
        if name not in self.secrets:
            self.secrets[name] = await _fetch(self.fetch.get_secret, self.namespace, name)
        if self.secrets[name] is None and not optional:
            raise EnvError(f'secret "{name}" not found')
        return self.secrets[name]


async def _fetch(get: Callable[[str, str], Awaitable[Obj | None]], namespace: str, name: str) -> Obj | None:
    try:
        return await get(namespace, name)
    except Exception as exc:  # noqa: BLE001 - an unreachable API is this container's config error, not a crash
        raise EnvError(str(exc) or type(exc).__name__) from exc


async def resolve_env(pod: Obj, container: Obj, fetch: ObjectFetcher, *, pod_ip: str, host_ip: str,
                      node_name: str, service_env: dict[str, str] | None = None,
                      node_allocatable: dict[str, Any] | None = None, pod_ips: Sequence[str] | None = None,
                      host_ips: Sequence[str] | None = None, on_event: EventSink | None = None) -> dict[str, str]:
    """The container's environment: service vars, then envFrom, then env in order, later names winning.

    `node_name` stands in for spec.nodeName when the pod does not show it yet; `node_allocatable`
    ({"cpu": "2", "memory": "4Gi"}) defaults resource limits (this host's cpu and memory if omitted);
    `on_event(reason, message)` gets upstream's InvalidEnvironmentVariableNames warning.
    """
    if node_name and not (pod.get("spec") or {}).get("nodeName"):
        pod = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": node_name}}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    ctx = _Context(pod, container, _Sources(fetch, namespace),
                   list(pod_ips) if pod_ips else ([pod_ip] if pod_ip else []),
                   list(host_ips) if host_ips else ([host_ip] if host_ip else []), node_allocatable)
    service_env = service_env or {}
    declared = await _env_from(container, ctx.sources, on_event)
    lookup = mapping_for(declared, service_env)  # sees envFrom and the entries declared so far
    for var in container.get("env") or []:
        value = await _env_value(var, ctx, lookup)
        if value is not None:
            declared[var["name"]] = value
    return {**service_env, **declared}


@dataclass(frozen=True)
class _Context:
    pod: Obj
    container: Obj
    sources: _Sources
    pod_ips: list[str]
    host_ips: list[str]
    node_allocatable: dict[str, Any] | None


async def _env_from(container: Obj, sources: _Sources, on_event: EventSink | None) -> dict[str, str]:
    """envFrom, in order; keys that are no valid variable name are skipped and reported, as upstream."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if source.get("configMapRef") is not None:
            ref, kind = source["configMapRef"], "configMap"
            obj = await sources.configmap(ref.get("name", ""), bool(ref.get("optional")))
            values = {k: v or "" for k, v in ((obj or {}).get("data") or {}).items()}
        elif source.get("secretRef") is not None:
            ref, kind = source["secretRef"], "secret"
            obj = await sources.secret(ref.get("name", ""), bool(ref.get("optional")))
            values = {k: _text(v) for k, v in secret_data(obj or {}).items()}
        else:
            continue
        invalid = sorted(prefix + key for key in values if not is_env_var_name(prefix + key))
        env.update({prefix + key: value for key, value in values.items() if is_env_var_name(prefix + key)})
        if invalid and on_event is not None:
            await on_event("InvalidEnvironmentVariableNames",
                           f"Keys [{', '.join(invalid)}] from the EnvFrom {kind} {sources.namespace}/"
                           f"{ref.get('name', '')} were skipped since they are considered invalid environment "
                           f"variable names.")
    return env


async def _env_value(var: Obj, ctx: _Context, lookup: Callable[[str], str]) -> str | None:
    """One env entry's value; None when an optional source is missing (the name is then left alone)."""
    if var.get("value"):
        return expand(var["value"], lookup)
    source = var.get("valueFrom")
    if not source:
        return ""
    if source.get("fieldRef") is not None:
        return pod_field_value(ctx.pod, source["fieldRef"], pod_ips=ctx.pod_ips, host_ips=ctx.host_ips)
    if source.get("resourceFieldRef") is not None:
        return container_resource_value(source["resourceFieldRef"], ctx.pod, ctx.container, ctx.node_allocatable)
    if source.get("configMapKeyRef") is not None:
        return await _configmap_key(source["configMapKeyRef"], ctx.sources)
    if source.get("secretKeyRef") is not None:
        return await _secret_key(source["secretKeyRef"], ctx.sources)
    return ""


async def _configmap_key(ref: Obj, sources: _Sources) -> str | None:
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    configmap = await sources.configmap(name, optional)
    data = (configmap or {}).get("data") or {}
    if configmap is None or key not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {key} in ConfigMap {sources.namespace}/{name}")
    return data[key] or ""


async def _secret_key(ref: Obj, sources: _Sources) -> str | None:
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    secret = await sources.secret(name, optional)
    data = secret_data(secret or {})
    if secret is None or key not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {key} in Secret {sources.namespace}/{name}")
    return _text(data[key])


def env_list(env: dict[str, str]) -> list[str]:
    """The environment as Docker takes it: ["K=V", ...]."""
    return [f"{name}={value}" for name, value in env.items()]
