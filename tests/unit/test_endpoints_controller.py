"""EndpointsController: subsets from pods (readiness, named ports, repacking), event mapping, writes on change."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from fake_listwatch import FakeListWatch

from common import errors
from common.api import kinds
from common.informer import SharedInformers
from controller_manager.endpoints import (
    HEADLESS_LABEL,
    TRIGGER_TIME_ANNOTATION,
    EndpointsController,
    TriggerTimeTracker,
    desired_subsets,
    endpoints_equal,
    find_port,
)

Obj = dict[str, Any]


class RecordingClient(FakeListWatch):
    """Records every write as (verb, plural, namespace, name, body)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str, str | None, str, Any]] = []

    async def create(self, rt: Any, obj: Obj, namespace: str | None = None, **_: Any) -> Obj:
        self.writes.append(("create", rt.plural, namespace, obj["metadata"]["name"], copy.deepcopy(obj)))
        return obj

    async def update(self, rt: Any, obj: Obj, subresource: str | None = None) -> Obj:
        self.writes.append(("update", rt.plural, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                            copy.deepcopy(obj)))
        return obj

    async def delete(self, rt: Any, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self.writes.append(("delete", rt.plural, namespace, name, None))
        return {}


def seed(informers: SharedInformers, rt: Any, *objs: Obj) -> None:
    informers.get(rt)._replace([copy.deepcopy(o) for o in objs], "1")


def service(name: str = "web", selector: dict[str, str] | None = None, ports: list[Obj] | None = None,
            **spec: Any) -> Obj:
    spec = {"selector": {"app": "web"} if selector is None else selector,
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}] if ports is None else ports, **spec}
    if not spec["selector"]:
        del spec["selector"]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def pod(name: str, ip: str = "", ready: bool = True, labels: dict[str, str] | None = None,
        container_ports: list[Obj] | None = None, deleting: bool = False, phase: str = "Running",
        restart_policy: str = "Always") -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "n1", "restartPolicy": restart_policy,
                     "containers": [{"name": "c", "ports": container_ports or []}]},
            "status": status}


def ips(subsets: list[Obj], field: str = "addresses") -> list[str]:
    return [a["ip"] for s in subsets for a in s.get(field, [])]


@pytest.mark.parametrize("target, container_ports, expected", [
    (8080, [], 8080),
    ("8080", [], 8080),
    ("http", [{"name": "http", "containerPort": 9000}], 9000),
    ("http", [{"name": "http", "containerPort": 9000, "protocol": "UDP"}], None),
    ("http", [{"name": "other", "containerPort": 9000}], None),
    (None, [], 80),
])
def test_find_port(target: Any, container_ports: list[Obj], expected: int | None) -> None:
    service_port = {"port": 80, "protocol": "TCP"}
    if target is not None:
        service_port["targetPort"] = target
    assert find_port(pod("p", container_ports=container_ports), service_port) == expected


@pytest.mark.parametrize("pods, publish, ready_ips, not_ready_ips", [
    ([pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)], False, ["10.0.0.1"], ["10.0.0.2"]),
    ([pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)], True, ["10.0.0.1", "10.0.0.2"], []),
    ([pod("a", "10.0.0.1", deleting=True)], False, [], []),
    ([pod("a", "10.0.0.1", deleting=True)], True, ["10.0.0.1"], []),
    ([pod("a")], False, [], []),  # no IP yet
    ([pod("a", "10.0.0.1", ready=False, phase="Succeeded", restart_policy="Never")], False, [], []),
    ([pod("a", "10.0.0.1", ready=False, phase="Failed", restart_policy="Always")], False, [], ["10.0.0.1"]),
    ([pod("b", "10.0.0.9"), pod("a", "10.0.0.3")], False, ["10.0.0.3", "10.0.0.9"], []),
])
def test_addresses(pods: list[Obj], publish: bool, ready_ips: list[str], not_ready_ips: list[str]) -> None:
    subsets = desired_subsets(service(publishNotReadyAddresses=publish), pods)
    assert ips(subsets) == ready_ips
    assert ips(subsets, "notReadyAddresses") == not_ready_ips


def test_address_carries_node_and_target_ref() -> None:
    [subset] = desired_subsets(service(), [pod("a", "10.0.0.1")])
    assert subset["addresses"] == [{"ip": "10.0.0.1", "nodeName": "n1",
                                    "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}]
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_named_ports_group_pods_into_subsets_by_resolved_port_set() -> None:
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}])
    pods = [pod("a", "10.0.0.1", container_ports=[{"name": "http", "containerPort": 8080}]),
            pod("b", "10.0.0.2", container_ports=[{"name": "http", "containerPort": 9090}]),
            pod("c", "10.0.0.3", container_ports=[{"name": "http", "containerPort": 8080}]),
            pod("d", "10.0.0.4", container_ports=[])]  # the port does not resolve: left out
    subsets = desired_subsets(svc, pods)
    assert [(ips([s]), s["ports"]) for s in subsets] == [
        (["10.0.0.1", "10.0.0.3"], [{"name": "http", "port": 8080, "protocol": "TCP"}]),
        (["10.0.0.2"], [{"name": "http", "port": 9090, "protocol": "TCP"}]),
    ]


def test_headless_service_without_ports_lists_addresses_only() -> None:
    subsets = desired_subsets(service(ports=[], clusterIP="None"), [pod("a", "10.0.0.1")])
    assert subsets == [{"addresses": subsets[0]["addresses"]}]


def test_equality_ignores_order_and_server_defaults() -> None:
    subsets = desired_subsets(service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")])
    stored = copy.deepcopy(subsets)
    stored[0]["addresses"].reverse()
    stored[0]["ports"][0].pop("protocol")
    assert endpoints_equal({"metadata": {}, "subsets": stored}, subsets, {})
    assert not endpoints_equal({"metadata": {}, "subsets": stored}, subsets, {"a": "b"})
    assert not endpoints_equal({"metadata": {}, "subsets": []}, subsets, {})


# -- the controller against seeded caches ---------------------------------------------

def make_controller() -> tuple[EndpointsController, RecordingClient, SharedInformers]:
    client = RecordingClient()
    informers = SharedInformers(client)
    return EndpointsController(client, informers), client, informers


async def test_creates_endpoints_then_writes_nothing_while_unchanged() -> None:
    controller, client, informers = make_controller()
    seed(informers, kinds.SERVICES, service(clusterIP="None"))
    seed(informers, kinds.PODS, pod("a", "10.0.0.1"), pod("x", "10.0.0.5", labels={"app": "other"}))
    await controller.reconcile("ns/web")
    [(verb, plural, ns, name, body)] = client.writes
    assert (verb, plural, ns, name) == ("create", "endpoints", "ns", "web")
    assert body["metadata"]["labels"] == {HEADLESS_LABEL: ""}
    assert ips(body["subsets"]) == ["10.0.0.1"]
    seed(informers, kinds.ENDPOINTS, {**body, "metadata": {**body["metadata"], "resourceVersion": "5"}})
    await controller.reconcile("ns/web")
    assert len(client.writes) == 1


async def test_updates_from_the_cached_copy_when_pods_change() -> None:
    controller, client, informers = make_controller()
    seed(informers, kinds.SERVICES, service())
    seed(informers, kinds.PODS, pod("a", "10.0.0.1", ready=False))
    cached = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"}, "subsets": []}
    seed(informers, kinds.ENDPOINTS, cached)
    await controller.reconcile("ns/web")
    [(verb, _, _, _, body)] = client.writes
    assert verb == "update" and body["metadata"]["resourceVersion"] == "7"
    assert ips(body["subsets"], "notReadyAddresses") == ["10.0.0.1"]
    assert informers.get(kinds.ENDPOINTS).get("ns/web")["subsets"] == []  # the cache was not touched


@pytest.mark.parametrize("svc, endpoints_cached, expected_writes", [
    (None, True, [("delete", "endpoints", "ns", "web", None)]),
    (None, False, []),
    (service(selector={}), True, []),
    (service(type="ExternalName"), True, []),
])
async def test_services_gone_or_without_selector(svc: Obj | None, endpoints_cached: bool,
                                                 expected_writes: list[Any]) -> None:
    controller, client, informers = make_controller()
    if svc:
        seed(informers, kinds.SERVICES, svc)
    if endpoints_cached:
        seed(informers, kinds.ENDPOINTS, {"metadata": {"name": "web", "namespace": "ns"}, "subsets": []})
    await controller.reconcile("ns/web")
    assert client.writes == expected_writes


async def test_delete_of_already_deleted_endpoints_is_fine() -> None:
    controller, client, informers = make_controller()
    seed(informers, kinds.ENDPOINTS, {"metadata": {"name": "web", "namespace": "ns"}})

    async def gone(*_: Any, **__: Any) -> Obj:
        raise errors.NotFound("endpoints \"web\" not found")
    client.delete = gone  # type: ignore[method-assign]
    await controller.reconcile("ns/web")


async def queued_keys(controller: EndpointsController) -> set[str]:
    keys = set()
    while len(controller.queue):
        key = await controller.queue.get()
        controller.queue.done(key)
        keys.add(str(key))
    return keys


async def test_pod_events_map_to_matching_services_in_the_pods_namespace() -> None:
    controller, _, informers = make_controller()
    other_ns = service("web")
    other_ns["metadata"]["namespace"] = "elsewhere"
    seed(informers, kinds.SERVICES, service("web"), service("db", selector={"app": "db"}), other_ns,
         service("manual", selector={}))
    await queued_keys(controller)
    pods = informers.get(kinds.PODS)
    pods._upsert(pod("a", "10.0.0.1"))
    assert await queued_keys(controller) == {"ns/web"}
    moved = pod("a", "10.0.0.1", labels={"app": "db"})
    pods._upsert(moved)  # relabelled: both the old and the new service
    assert await queued_keys(controller) == {"ns/web", "ns/db"}
    pods._upsert(copy.deepcopy(moved) | {"metadata": {**moved["metadata"], "resourceVersion": "9"}})
    assert await queued_keys(controller) == set()  # nothing endpoint-relevant changed
    pods._upsert(pod("a", "10.0.0.1", labels={"app": "db"}, ready=False))
    assert await queued_keys(controller) == {"ns/db"}


@pytest.mark.parametrize("error, raises", [
    (errors.Forbidden("terminating", causes=[{"reason": "NamespaceTerminating"}]), False),
    (errors.Forbidden("denied"), True),
])
async def test_create_in_a_terminating_namespace_is_given_up(error: Exception, raises: bool) -> None:
    controller, client, informers = make_controller()
    seed(informers, kinds.SERVICES, service())

    async def refuse(*_: Any, **__: Any) -> Obj:
        raise error
    client.create = refuse  # type: ignore[method-assign]
    if raises:
        with pytest.raises(errors.Forbidden):
            await controller.reconcile("ns/web")
    else:
        await controller.reconcile("ns/web")


# -- last-change-trigger-time ---------------------------------------------------------

def ready_at(name: str, when: str) -> Obj:
    p = pod(name, "10.0.0.1")
    p["status"]["conditions"][0]["lastTransitionTime"] = when
    return p


def test_trigger_time_is_the_earliest_change_not_yet_seen() -> None:
    tracker = TriggerTimeTracker()
    svc = service()
    svc["metadata"]["creationTimestamp"] = "2026-01-01T00:00:05Z"
    a, b = ready_at("a", "2026-01-01T00:00:07Z"), ready_at("b", "2026-01-01T00:00:03Z")
    assert tracker.compute("ns/web", svc, [a, b]) == "2026-01-01T00:00:03Z"  # the service and both pods are new
    assert tracker.compute("ns/web", svc, [a, b]) is None  # nothing changed since
    later = ready_at("b", "2026-01-01T00:00:09Z")
    c = ready_at("c", "2026-01-01T00:00:08.5Z")
    assert tracker.compute("ns/web", svc, [a, later, c]) == "2026-01-01T00:00:08.5Z"
    assert tracker.compute("ns/web", svc, [a]) is None  # pods leaving are not a trigger of their own
    tracker.forget("ns/web")
    assert tracker.compute("ns/web", svc, [a]) == "2026-01-01T00:00:05Z"


async def test_endpoints_writes_carry_the_trigger_time_and_drop_it_when_there_is_none() -> None:
    controller, client, informers = make_controller()
    seed(informers, kinds.SERVICES, service())
    seed(informers, kinds.PODS, ready_at("a", "2026-01-01T00:00:07Z"))
    await controller.reconcile("ns/web")
    [(_, _, _, _, created)] = client.writes
    assert created["metadata"]["annotations"] == {TRIGGER_TIME_ANNOTATION: "2026-01-01T00:00:07Z"}
    cached = copy.deepcopy(created)
    cached["metadata"]["annotations"]["keep"] = "me"
    cached["subsets"] = []  # stale: forces an update although no pod changed since
    seed(informers, kinds.ENDPOINTS, cached)
    await controller.reconcile("ns/web")
    updated = client.writes[-1][4]
    assert updated["metadata"]["annotations"] == {"keep": "me"}
