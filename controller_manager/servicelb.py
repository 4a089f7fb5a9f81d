"""The ServiceLB controller: LoadBalancer Services on bare metal, the way k3s's ServiceLB (klipper-lb) does it.

There is no cloud to ask for a load balancer; every node answers on the Service's node ports (kube-proxy),
so the controller publishes the nodes themselves as the load balancer: `status.loadBalancer.ingress` of each
LoadBalancer Service lists `{"ip": <InternalIP>, "ipMode": "VIP"}` for every Ready, schedulable node,
written through the services/status subresource.  A Service that stops being a LoadBalancer has its
ingress cleared.  Services with a `loadBalancerClass` belong to another implementation and are left
alone, as are nodes labelled `node.kubernetes.io/exclude-from-external-load-balancers` (upstream's label).
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Any

from common.api import kinds
from common.controller import Controller
from common.informer import Informer, Obj, SharedInformers, deep_copy, key_of

log = logging.getLogger(__name__)

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


# -- pure helpers ----------------------------------------------------------------------

def node_is_ready(node: Obj) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def node_internal_ip(node: Obj) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return None


def serves_load_balancers(node: Obj) -> bool:
    """A node takes load-balancer traffic when Ready, schedulable, not excluded and with an InternalIP."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return (node_is_ready(node) and not (node.get("spec") or {}).get("unschedulable")
            and EXCLUDE_LABEL not in labels and node_internal_ip(node) is not None)


def _ip_order(ip: str) -> tuple[int, int, str]:
    try:
        address = ipaddress.ip_address(ip)
        return address.version, int(address), ip
    except ValueError:
        return 9, 0, ip


def desired_ingress(nodes: list[Obj]) -> list[Obj]:
    ips = {node_internal_ip(node) for node in nodes if serves_load_balancers(node)}
    return [{"ip": ip, "ipMode": "VIP"} for ip in sorted((ip for ip in ips if ip), key=_ip_order)]


def is_ours(service: Obj) -> bool:
    spec = service.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def desired_load_balancer_status(service: Obj, nodes: list[Obj]) -> Obj | None:
    """The status.loadBalancer this controller wants; None when the Service is another implementation's."""
    if is_ours(service):
        ingress = desired_ingress(nodes)
        return {"ingress": ingress} if ingress else {}
    if (service.get("spec") or {}).get("type") == "LoadBalancer":
        return None  # someone else's loadBalancerClass
    return {}


def _load_balancer_relevant(node: Obj) -> tuple[Any, ...]:
    return serves_load_balancers(node), node_internal_ip(node)


# -- the controller --------------------------------------------------------------------

class ServiceLBController(Controller):
    name = "servicelb-controller"

    def __init__(self, client: Any, informers: SharedInformers, **options: Any) -> None:
        super().__init__(client, **options)
        self.services: Informer = self.add_informer(informers.get(kinds.SERVICES))
        self.nodes: Informer = self.add_informer(informers.get(kinds.NODES))
        self.enqueue_on_events(self.services)
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node)

    def _on_node(self, _node: Obj) -> None:
        self._enqueue_load_balancers()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        if _load_balancer_relevant(old) != _load_balancer_relevant(new):
            self._enqueue_load_balancers()

    def _enqueue_load_balancers(self) -> None:
        for service in self.services.list():
            if is_ours(service):
                self.queue.add(key_of(service))

    async def reconcile(self, key: str) -> None:
        service = self.services.get(key)
        if service is None:
            return
        wanted = desired_load_balancer_status(service, self.nodes.list())
        status = service.get("status") or {}
        if wanted is None or (status.get("loadBalancer") or {}) == wanted:
            return
        updated = deep_copy(service)
        updated.setdefault("status", {})["loadBalancer"] = wanted
        log.info("%s: %s/%s load balancer ingress %s", self.name, service["metadata"].get("namespace"),
                 service["metadata"]["name"], [entry["ip"] for entry in wanted.get("ingress", [])] or "cleared")
        await self.client.update_status(kinds.SERVICES, updated)
