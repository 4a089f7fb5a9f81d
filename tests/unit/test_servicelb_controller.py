"""ServiceLBController: which nodes back a LoadBalancer Service, status writes only on change, event mapping."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from fake_listwatch import FakeListWatch

from common.api import kinds
from common.informer import SharedInformers
from controller_manager.servicelb import EXCLUDE_LABEL, ServiceLBController, desired_ingress

Obj = dict[str, Any]


class RecordingClient(FakeListWatch):
    def __init__(self) -> None:
        super().__init__()
        self.status_writes: list[Obj] = []

    async def update_status(self, rt: Any, obj: Obj) -> Obj:
        assert rt is kinds.SERVICES
        self.status_writes.append(copy.deepcopy(obj))
        return obj


def node(name: str, ip: str | None = "192.0.2.1", ready: bool = True, unschedulable: bool = False,
         labels: dict[str, str] | None = None) -> Obj:
    status: Obj = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "addresses": [{"type": "Hostname", "address": name}]}
    if ip:
        status["addresses"].append({"type": "InternalIP", "address": ip})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"unschedulable": unschedulable} if unschedulable else {}, "status": status}


def service(name: str = "web", type_: str = "LoadBalancer", ingress: list[Obj] | None = None, **spec: Any) -> Obj:
    svc: Obj = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "ns", "resourceVersion": "3"},
                "spec": {"type": type_, "ports": [{"port": 80, "nodePort": 30080}], **spec}, "status": {}}
    if ingress is not None:
        svc["status"]["loadBalancer"] = {"ingress": ingress}
    return svc


def seed(informers: SharedInformers, rt: Any, *objs: Obj) -> None:
    informers.get(rt)._replace([copy.deepcopy(o) for o in objs], "1")


def make() -> tuple[ServiceLBController, RecordingClient, SharedInformers]:
    client = RecordingClient()
    informers = SharedInformers(client)
    return ServiceLBController(client, informers), client, informers


def test_only_ready_schedulable_included_nodes_with_an_ip_back_the_balancer() -> None:
    nodes = [node("b", "10.0.0.20"), node("a", "10.0.0.3"), node("down", "10.0.0.4", ready=False),
             node("cordoned", "10.0.0.5", unschedulable=True), node("no-ip", None),
             node("excluded", "10.0.0.6", labels={EXCLUDE_LABEL: ""}), node("twin", "10.0.0.3")]
    assert desired_ingress(nodes) == [{"ip": "10.0.0.3", "ipMode": "VIP"}, {"ip": "10.0.0.20", "ipMode": "VIP"}]


async def test_load_balancer_gets_every_ready_node_through_the_status_subresource() -> None:
    controller, client, informers = make()
    seed(informers, kinds.SERVICES, service())
    seed(informers, kinds.NODES, node("n1", "192.0.2.1"), node("n2", "192.0.2.2"), node("n3", "192.0.2.3",
                                                                                           ready=False))
    await controller.reconcile("ns/web")
    [written] = client.status_writes
    assert written["status"]["loadBalancer"] == {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"},
                                                             {"ip": "192.0.2.2", "ipMode": "VIP"}]}
    assert written["metadata"]["resourceVersion"] == "3"  # a compare-and-swap on what was cached
    assert informers.get(kinds.SERVICES).get("ns/web")["status"] == {}  # the cache was not touched


async def test_nothing_is_written_while_the_ingress_is_right() -> None:
    controller, client, informers = make()
    seed(informers, kinds.SERVICES, service(ingress=[{"ip": "192.0.2.1", "ipMode": "VIP"}]))
    seed(informers, kinds.NODES, node("n1", "192.0.2.1"))
    await controller.reconcile("ns/web")
    assert client.status_writes == []


@pytest.mark.parametrize("svc, expected", [
    (service(type_="ClusterIP", ingress=[{"ip": "192.0.2.1", "ipMode": "VIP"}]), [{}]),  # no longer an LB: cleared
    (service(type_="ClusterIP"), []),
    (service(loadBalancerClass="example.com/other"), []),  # another implementation's
    (service(ingress=[{"ip": "192.0.2.9", "ipMode": "VIP"}]), [{"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}]}]),
])
async def test_type_changes_and_foreign_classes(svc: Obj, expected: list[Obj]) -> None:
    controller, client, informers = make()
    seed(informers, kinds.SERVICES, svc)
    seed(informers, kinds.NODES, node("n1", "192.0.2.1"))
    await controller.reconcile("ns/web")
    assert [w["status"]["loadBalancer"] for w in client.status_writes] == expected


async def test_no_ready_node_means_no_ingress() -> None:
    controller, client, informers = make()
    seed(informers, kinds.SERVICES, service(ingress=[{"ip": "192.0.2.1", "ipMode": "VIP"}]))
    seed(informers, kinds.NODES, node("n1", "192.0.2.1", ready=False))
    await controller.reconcile("ns/web")
    assert client.status_writes[0]["status"]["loadBalancer"] == {}


async def test_deleted_service_is_done() -> None:
    controller, client, _ = make()
    await controller.reconcile("ns/gone")
    assert client.status_writes == []


async def test_node_changes_that_matter_enqueue_every_load_balancer() -> None:
    controller, _, informers = make()
    seed(informers, kinds.SERVICES, service("lb1"), service("lb2"), service("plain", type_="ClusterIP"))
    while len(controller.queue):  # the services' own add events
        controller.queue.done(await controller.queue.get())
    ready, not_ready = node("n1"), node("n1", ready=False)
    controller._on_node_update(ready, copy.deepcopy(ready))  # a heartbeat: nothing to do
    assert len(controller.queue) == 0
    controller._on_node_update(ready, not_ready)
    assert sorted(controller.queue._queue) == ["ns/lb1", "ns/lb2"]
