"""kubelet env: upstream makeEnvironmentVariables — precedence, $(VAR) expansion, valueFrom sources, every error."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from kubelet.env import (EnvError, env_list, expand, expand_command_and_args, format_map, mapping_for,
                         resolve_env)

Obj = dict[str, Any]


class FakeFetcher:
    """In-memory ConfigMaps and Secrets by (namespace, name), counting reads."""

    def __init__(self, configmaps: dict[str, Obj] | None = None, secrets: dict[str, Obj] | None = None,
                 namespace: str = "ns") -> None:
        self.configmaps = {(namespace, k): v for k, v in (configmaps or {}).items()}
        self.secrets = {(namespace, k): v for k, v in (secrets or {}).items()}
        self.reads: list[tuple[str, str, str]] = []
        self.fail: Exception | None = None

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        self.reads.append(("configmap", namespace, name))
        if self.fail:
            raise self.fail
        return self.configmaps.get((namespace, name))

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        self.reads.append(("secret", namespace, name))
        if self.fail:
            raise self.fail
        return self.secrets.get((namespace, name))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def pod(containers: list[Obj], **spec: Any) -> Obj:
    return {"metadata": {"name": "web-1", "namespace": "ns", "uid": "u-123",
                         "labels": {"app": "web", "tier": "front"}, "annotations": {"note": 'say "hi"\n'}},
            "spec": {"nodeName": "node-a", "serviceAccountName": "robot", "containers": containers, **spec}}


def container(env: list[Obj] | None = None, env_from: list[Obj] | None = None, **extra: Any) -> Obj:
    return {"name": "app", "image": "busybox", "env": env or [], "envFrom": env_from or [], **extra}


async def resolve(c: Obj, fetch: FakeFetcher | None = None, the_pod: Obj | None = None,
                  **kwargs: Any) -> dict[str, str]:
    kwargs = {"pod_ip": "10.244.0.5", "host_ip": "192.168.1.10", "node_name": "node-a", **kwargs}
    return await resolve_env(the_pod or pod([c]), c, fetch or FakeFetcher(), **kwargs)


async def env_error(c: Obj, fetch: FakeFetcher | None = None, **kwargs: Any) -> EnvError:
    with pytest.raises(EnvError) as caught:
        await resolve(c, fetch, **kwargs)
    assert caught.value.reason == "CreateContainerConfigError"
    return caught.value


# -- expansion -----------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("$(VAR_A)", "A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)-$(VAR_B)", "A-B"),
    ("$(VAR_EMPTY)", ""),
    ("$(UNKNOWN)", "$(UNKNOWN)"),
    ("$$(VAR_A)", "$(VAR_A)"),  # escaped reference
    ("$$$(VAR_A)", "$A"),
    ("$$$$(VAR_A)", "$$(VAR_A)"),
    ("$$", "$"),
    ("$", "$"),  # a lone operator at the end is literal
    ("foo$", "foo$"),
    ("$VAR_A", "$VAR_A"),  # no parenthesis, no reference
    ("$(VAR_A", "$(VAR_A"),  # unclosed
    ("$()", "$()"),  # empty name: unknown, written back
    ("$(VAR_A)$(VAR_A", "A$(VAR_A"),
    ("$(VAR_A)))", "A))"),
    ("x$$y", "x$y"),
])
def test_expansion_follows_upstream_rules(text: str, expected: str) -> None:
    mapping = mapping_for({"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""})
    assert expand(text, mapping) == expected


def test_mapping_looks_in_each_context_in_order() -> None:
    lookup = mapping_for({"X": "first"}, {"X": "second", "Y": "only-second"})
    assert (lookup("X"), lookup("Y"), lookup("Z")) == ("first", "only-second", "$(Z)")


def test_command_and_args_expand_from_the_container_env() -> None:
    c = container(command=["sh", "-c", "echo $(GREETING) $$(GREETING) $(MISSING) $HOME"],
                  args=["$(GREETING)-$(EMPTY)", "plain"])
    expanded = expand_command_and_args(c, {"GREETING": "hello", "EMPTY": ""})
    assert expanded["command"] == ["sh", "-c", "echo hello $(GREETING) $(MISSING) $HOME"]
    assert expanded["args"] == ["hello-", "plain"]
    assert c["command"][2].startswith("echo $(GREETING)")  # the spec itself is left as written


def test_command_and_args_absent_stay_absent() -> None:
    c = {"name": "app", "image": "busybox"}
    assert expand_command_and_args(c, {"A": "1"}) == c
    assert expand_command_and_args({**c, "command": []}, {})["command"] == []


# -- precedence and expansion in resolve_env ------------------------------------------

async def test_plain_values_and_references_to_earlier_entries() -> None:
    env = await resolve(container(env=[
        {"name": "HOST", "value": "db"},
        {"name": "URL", "value": "postgres://$(HOST):$(PORT)/x"},  # PORT comes later: not expanded
        {"name": "PORT", "value": "5432"},
        {"name": "EMPTY", "value": ""},
        {"name": "LITERAL", "value": "$$(HOST) costs $$5"},
    ]))
    assert env == {"HOST": "db", "URL": "postgres://db:$(PORT)/x", "PORT": "5432", "EMPTY": "",
                   "LITERAL": "$(HOST) costs $5"}


async def test_service_env_first_then_envfrom_then_env_later_wins() -> None:
    fetch = FakeFetcher(configmaps={"one": {"data": {"A": "from-one", "B": "from-one", "SVC_HOST": "cm"}},
                                    "two": {"data": {"B": "from-two"}}})
    env = await resolve(container(
        env_from=[{"configMapRef": {"name": "one"}}, {"configMapRef": {"name": "two"}}],
        env=[{"name": "C", "value": "$(A)/$(SVC_PORT)"}, {"name": "A", "value": "from-env"},
             {"name": "C", "value": "again-$(C)"}]),
        fetch, service_env={"SVC_HOST": "10.96.0.10", "SVC_PORT": "443"})
    assert env == {"SVC_HOST": "cm", "SVC_PORT": "443", "A": "from-env", "B": "from-two",
                   "C": "again-from-one/443"}
    assert list(env)[:2] == ["SVC_HOST", "SVC_PORT"]  # service variables come first


async def test_self_reference_expands_to_the_envfrom_value() -> None:
    fetch = FakeFetcher(configmaps={"cm": {"data": {"PATH_EXTRA": "/opt"}}})
    env = await resolve(container(env_from=[{"configMapRef": {"name": "cm"}}],
                                  env=[{"name": "PATH_EXTRA", "value": "$(PATH_EXTRA)/bin"}]), fetch)
    assert env["PATH_EXTRA"] == "/opt/bin"


async def test_env_list_is_docker_shaped() -> None:
    assert env_list({"A": "1", "B": "x=y", "C": ""}) == ["A=1", "B=x=y", "C="]


# -- envFrom --------------------------------------------------------------------------------

async def test_envfrom_prefix_secret_decoding_and_invalid_keys_reported() -> None:
    fetch = FakeFetcher(configmaps={"cfg": {"data": {"level": "debug", "1bad": "x", "app.properties": "p",
                                                     "has space": "y"}}},
                        secrets={"creds": {"data": {"password": b64("s3cr=t\n"), "2bad": b64("z")}}})
    events: list[tuple[str, str]] = []

    async def on_event(reason: str, message: str) -> None:
        events.append((reason, message))

    env = await resolve(container(env_from=[{"configMapRef": {"name": "cfg"}},
                                            {"secretRef": {"name": "creds"}, "prefix": "DB_"}]),
                        fetch, on_event=on_event)
    assert env == {"level": "debug", "app.properties": "p", "DB_password": "s3cr=t\n", "DB_2bad": "z"}
    assert events == [("InvalidEnvironmentVariableNames",
                       "Keys [1bad, has space] from the EnvFrom configMap ns/cfg were skipped since they are "
                       "considered invalid environment variable names.")]


async def test_envfrom_invalid_secret_keys_message() -> None:
    fetch = FakeFetcher(secrets={"s": {"data": {"9lives": b64("x")}}})
    events: list[tuple[str, str]] = []

    async def on_event(reason: str, message: str) -> None:
        events.append((reason, message))

    assert await resolve(container(env_from=[{"secretRef": {"name": "s"}}]), fetch, on_event=on_event) == {}
    assert events[0][1] == ("Keys [9lives] from the EnvFrom secret ns/s were skipped since they are considered "
                            "invalid environment variable names.")


async def test_envfrom_missing_sources() -> None:
    optional = container(env_from=[{"configMapRef": {"name": "nope", "optional": True}},
                                   {"secretRef": {"name": "nope", "optional": True}}])
    assert await resolve(optional) == {}
    assert (await env_error(container(env_from=[{"configMapRef": {"name": "x"}}]))).message == 'configmap "x" not found'
    assert (await env_error(container(env_from=[{"secretRef": {"name": "s"}}]))).message == 'secret "s" not found'


# -- valueFrom: configMapKeyRef / secretKeyRef ------------------------------------------------

async def test_key_refs_resolve_and_each_object_is_fetched_once() -> None:
    fetch = FakeFetcher(configmaps={"cm": {"data": {"a": "1", "b": "2"}}},
                        secrets={"s": {"data": {"token": b64("t0k3n")}}})
    env = await resolve(container(
        env_from=[{"configMapRef": {"name": "cm"}}],
        env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
             {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "b"}}},
             {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
             {"name": "T2", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}]), fetch)
    assert (env["A"], env["B"], env["T"], env["T2"]) == ("1", "2", "t0k3n", "t0k3n")
    assert sorted(fetch.reads) == [("configmap", "ns", "cm"), ("secret", "ns", "s")]


async def test_optional_key_refs_leave_the_name_alone() -> None:
    fetch = FakeFetcher(configmaps={"cm": {"data": {"A": "from-envfrom"}}}, secrets={"s": {"data": {}}})
    env = await resolve(container(
        env_from=[{"configMapRef": {"name": "cm"}}],
        env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "missing", "optional": True}}},
             {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}},
             {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}},
             {"name": "D", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}]), fetch)
    assert env == {"A": "from-envfrom"}


@pytest.mark.parametrize("ref,message", [
    ({"configMapKeyRef": {"name": "x", "key": "k"}}, 'configmap "x" not found'),
    ({"configMapKeyRef": {"name": "cm", "key": "k"}}, "couldn't find key k in ConfigMap ns/cm"),
    ({"secretKeyRef": {"name": "s", "key": "k"}}, "couldn't find key k in Secret ns/s"),
    ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
])
async def test_key_ref_errors(ref: Obj, message: str) -> None:
    fetch = FakeFetcher(configmaps={"cm": {"data": {"other": "1"}}}, secrets={"s": {"data": {}}})
    err = await env_error(container(env=[{"name": "V", "valueFrom": ref}]), fetch)
    assert err.message == message


async def test_an_unreachable_api_is_a_config_error_not_a_crash() -> None:
    fetch = FakeFetcher()
    fetch.fail = ConnectionError("apiserver unreachable")
    err = await env_error(container(env=[{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]),
                          fetch)
    assert err.message == "apiserver unreachable"


# -- valueFrom: fieldRef ---------------------------------------------------------------------

def field(path: str, name: str | None = None, api_version: str | None = None) -> Obj:
    ref: Obj = {"fieldPath": path}
    if api_version:
        ref["apiVersion"] = api_version
    return {"name": name or path, "valueFrom": {"fieldRef": ref}}


async def test_field_refs() -> None:
    paths = ["metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['app']",
             "metadata.labels['absent']", "metadata.annotations['note']", "spec.nodeName", "spec.host",
             "spec.serviceAccountName", "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs",
             "metadata.labels"]
    env = await resolve(container(env=[field(p) for p in paths]),
                        pod_ips=["10.244.0.5", "fd00::5"], host_ips=["192.168.1.10", "fd01::10"])
    assert env == {
        "metadata.name": "web-1", "metadata.namespace": "ns", "metadata.uid": "u-123",
        "metadata.labels['app']": "web", "metadata.labels['absent']": "", "metadata.annotations['note']": 'say "hi"\n',
        "spec.nodeName": "node-a", "spec.host": "node-a", "spec.serviceAccountName": "robot",
        "status.podIP": "10.244.0.5", "status.podIPs": "10.244.0.5,fd00::5",
        "status.hostIP": "192.168.1.10", "status.hostIPs": "192.168.1.10,fd01::10",
        "metadata.labels": 'app="web"\ntier="front"'}


async def test_single_ips_and_node_name_fallback() -> None:
    c = container(env=[field("status.podIPs"), field("status.hostIPs"), field("spec.nodeName")])
    the_pod = pod([c])
    del the_pod["spec"]["nodeName"]
    env = await resolve(c, the_pod=the_pod, node_name="node-b")
    assert env == {"status.podIPs": "10.244.0.5", "status.hostIPs": "192.168.1.10", "spec.nodeName": "node-b"}
    assert "nodeName" not in the_pod["spec"]  # the caller's pod is not mutated


@pytest.mark.parametrize("ref,message", [
    (field("spec.containers"), "field label not supported: spec.containers"),
    (field("spec.nodeName['x']"), "field label does not support subscript: spec.nodeName['x']"),
    (field("metadata.name", api_version="v2"), "unsupported pod version: v2"),
    (field("status.phase"), "unsupported fieldPath: status.phase"),  # convertible, but the kubelet has no value
])
async def test_field_ref_errors(ref: Obj, message: str) -> None:
    assert (await env_error(container(env=[ref]))).message == message


def test_format_map_quotes_like_go() -> None:
    assert format_map({"b": "x\ty", "a": 'q"\\', "c": "\x01é"}) == 'a="q\\"\\\\"\nb="x\\ty"\nc="\\x01é"'


# -- valueFrom: resourceFieldRef ---------------------------------------------------------------

def resource(name: str, resource_name: str, divisor: str | None = None, container_name: str | None = None) -> Obj:
    ref: Obj = {"resource": resource_name}
    if divisor:
        ref["divisor"] = divisor
    if container_name:
        ref["containerName"] = container_name
    return {"name": name, "valueFrom": {"resourceFieldRef": ref}}


async def test_resource_field_refs_with_divisors_and_allocatable_defaults() -> None:
    c = container(env=[resource("CPU", "limits.cpu"), resource("CPU_M", "limits.cpu", "1m"),
                       resource("MEM", "limits.memory"), resource("MEM_MI", "limits.memory", "1Mi"),
                       resource("REQ_CPU_M", "requests.cpu", "1m"), resource("REQ_MEM", "requests.memory"),
                       resource("SIDE_MEM_MI", "limits.memory", "1Mi", "side")],
                  resources={"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}})
    side = {"name": "side", "image": "busybox"}  # no limits: node allocatable stands in
    env = await resolve(c, the_pod=pod([c, side]), node_allocatable={"cpu": "4", "memory": "8Gi"})
    assert env == {"CPU": "1", "CPU_M": "500", "MEM": str(64 * 2**20), "MEM_MI": "64", "REQ_CPU_M": "250",
                   "REQ_MEM": "0", "SIDE_MEM_MI": "8192"}


async def test_cpu_rounds_up_to_whole_divisor_units() -> None:
    c = container(env=[resource("CPU", "limits.cpu"), resource("CPU_100M", "limits.cpu", "100m")],
                  resources={"limits": {"cpu": "1250m"}})
    assert await resolve(c) == {"CPU": "2", "CPU_100M": "13"}


async def test_limits_default_to_allocatable() -> None:
    c = container(env=[resource("CPU", "limits.cpu"), resource("MEM_GI", "limits.memory", "1Gi")])
    assert await resolve(c, node_allocatable={"cpu": "3", "memory": "2Gi"}) == {"CPU": "3", "MEM_GI": "2"}
    env = await resolve(c)  # no allocatable given: this host's cpu and memory
    assert int(env["CPU"]) >= 1 and int(env["MEM_GI"]) >= 1


@pytest.mark.parametrize("ref,message", [
    (resource("X", "limits.gpu"), "unsupported container resource : limits.gpu"),
    (resource("X", "limits.cpu", container_name="ghost"), "container ghost not found"),
])
async def test_resource_field_ref_errors(ref: Obj, message: str) -> None:
    assert (await env_error(container(env=[ref]))).message == message
