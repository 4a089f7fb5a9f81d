"""The endpoints controller: keeps one Endpoints object per selector Service, listing its pods' IPs and ports.

Modelled on upstream pkg/controller/endpoint: `reconcile("ns/name")` reads the
Service, selects its pods in the namespace, turns each (pod, service port) pair
into an address + port, repacks them into subsets (addresses sharing the same
resolved port set), and writes the Endpoints only when the subsets or labels
differ from what is cached.  Ready pods go in `addresses`, not-ready ones in
`notReadyAddresses` (unless `publishNotReadyAddresses`); terminating pods, pods
without an IP and finished pods are left out.  Services without a selector
(and ExternalName services) are left alone; the Endpoints of a deleted
Service are deleted.

Each write carries upstream's `endpoints.kubernetes.io/last-change-trigger-time`:
the earliest change (a pod's Ready transition, the Service's creation) not yet
reflected in the Endpoints, so kube-proxy's network-programming latency counts
from the change itself rather than from when kube-proxy heard of it.
"""
from __future__ import annotations

import logging
from typing import Any

from common import errors
from common.api import kinds
from common.controller import Controller
from common.informer import Informer, Obj, SharedInformers, deep_copy, key_of, split_key
from common.selectors import LabelSelector, Requirement

from .pods import parse_time

log = logging.getLogger(__name__)

HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"

PortKey = tuple[str, int, str, str]  # (name, port, protocol, appProtocol)


# -- pure helpers ------------------------------------------------------------------

def service_selector(service: Obj) -> LabelSelector | None:
    """The Service's selector as a matcher; None when it has no selector (endpoints managed by hand)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return None
    return LabelSelector(tuple(Requirement(k, "=", (str(v),)) for k, v in sorted(selector.items())))


def is_pod_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    if status.get("podIP"):
        return str(status["podIP"])
    ips = status.get("podIPs") or []
    return str(ips[0].get("ip") or "") if ips else ""


def should_be_in_endpoints(pod: Obj) -> bool:
    """Upstream ShouldPodBeInEndpoints: not finished for good (given its restart policy)."""
    phase = (pod.get("status") or {}).get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port for a service port: a numeric targetPort as is, a named one looked up in its containers."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def pod_address(pod: Obj, service: Obj) -> Obj:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    address: Obj = {"ip": pod_ip(pod)}
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"],
                            "uid": meta.get("uid", "")}
    svc_spec = service.get("spec") or {}
    if (spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]
            and svc_spec.get("clusterIP") == "None"):
        address["hostname"] = spec["hostname"]
    return address


def _port_key(service_port: Obj, number: int) -> PortKey:
    return (service_port.get("name", ""), number, service_port.get("protocol", "TCP"),
            service_port.get("appProtocol", ""))


def _port_obj(key: PortKey) -> Obj:
    name, number, protocol, app_protocol = key
    port: Obj = {"port": number, "protocol": protocol}
    if name:
        port["name"] = name
    if app_protocol:
        port["appProtocol"] = app_protocol
    return port


def pod_ports(pod: Obj, service: Obj) -> frozenset[PortKey] | None:
    """The pod's resolved port set for the service; None when no service port resolves (pod left out)."""
    service_ports = (service.get("spec") or {}).get("ports") or []
    if not service_ports:
        return frozenset()
    keys = set()
    for service_port in service_ports:
        number = find_port(pod, service_port)
        if number is not None:
            keys.add(_port_key(service_port, number))
    return frozenset(keys) if keys else None


def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The Endpoints subsets for `service` over the pods its selector matched, repacked and sorted."""
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[frozenset[PortKey], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not pod_ip(pod) or (pod["metadata"].get("deletionTimestamp") and not publish_not_ready):
            continue
        ports = pod_ports(pod, service)
        if ports is None:
            continue
        ready, not_ready = groups.setdefault(ports, ([], []))
        if publish_not_ready or is_pod_ready(pod):
            ready.append(pod_address(pod, service))
        elif should_be_in_endpoints(pod):
            not_ready.append(pod_address(pod, service))
    return _sorted_subsets(groups)


def _sorted_subsets(groups: dict[frozenset[PortKey], tuple[list[Obj], list[Obj]]]) -> list[Obj]:
    def address_order(address: Obj) -> tuple[str, str]:
        return address["ip"], address["targetRef"]["uid"]

    subsets = []
    for ports, (ready, not_ready) in sorted(groups.items(), key=lambda item: sorted(item[0])):
        if not ready and not not_ready:
            continue
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=address_order)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=address_order)
        if ports:
            subset["ports"] = [_port_obj(key) for key in sorted(ports)]
        subsets.append(subset)
    return subsets


def desired_labels(service: Obj) -> dict[str, str]:
    labels = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def _normalized_address(address: Obj) -> Obj:
    ref = {k: v for k, v in (address.get("targetRef") or {}).items() if k != "resourceVersion"}
    return {**address, "targetRef": ref}


def _normalized(subsets: list[Obj] | None) -> list[Obj]:
    """Subsets in a canonical order so semantically equal ones compare equal (server defaults included)."""
    def addresses(items: list[Obj] | None) -> list[Obj]:
        normalized = [_normalized_address(a) for a in items or []]
        return sorted(normalized, key=lambda a: (a.get("ip", ""), a["targetRef"].get("uid", "")))

    def ports(items: list[Obj] | None) -> list[Obj]:
        full = [{"protocol": "TCP", **p} for p in items or []]
        return sorted(full, key=lambda p: (p.get("name", ""), p.get("port", 0), p["protocol"]))

    normalized = [{"addresses": addresses(s.get("addresses")),
                   "notReadyAddresses": addresses(s.get("notReadyAddresses")),
                   "ports": ports(s.get("ports"))} for s in subsets or []]
    return sorted(normalized, key=repr)


def endpoints_equal(current: Obj, subsets: list[Obj], labels: dict[str, str]) -> bool:
    return (_normalized(current.get("subsets")) == _normalized(subsets)
            and (current["metadata"].get("labels") or {}) == labels)


# -- the controller --------------------------------------------------------------------

class TriggerTimeTracker:
    """Upstream's TriggerTimeTracker: per Service, the trigger times last seen (the Service's creation, each
    selected pod's Ready transition); `compute` returns the earliest one that is new since the previous call."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, dict[str, str]]] = {}

    def compute(self, key: str, service: Obj, pods: list[Obj]) -> str | None:
        service_time = service["metadata"].get("creationTimestamp") or ""
        last_service_time, last_pod_times = self._seen.get(key, ("", {}))
        pod_times = {p["metadata"]["name"]: t for p in pods if (t := _ready_transition(p))}
        changed = [t for name, t in pod_times.items() if last_pod_times.get(name) != t]
        if service_time and service_time != last_service_time:
            changed.append(service_time)
        self._seen[key] = (service_time, pod_times)
        return min(changed, key=lambda t: parse_time(t) or 0.0) if changed else None

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


def _ready_transition(pod: Obj) -> str | None:
    ready = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    return (ready or {}).get("lastTransitionTime") or None


class EndpointsController(Controller):
    name = "endpoints-controller"

    def __init__(self, client: Any, informers: SharedInformers, **options: Any) -> None:
        super().__init__(client, **options)
        self.services: Informer = self.add_informer(informers.get(kinds.SERVICES))
        self.pods: Informer = self.add_informer(informers.get(kinds.PODS))
        self.endpoints: Informer = self.add_informer(informers.get(kinds.ENDPOINTS))
        self.enqueue_on_events(self.services)
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod)
        self.endpoints.add_handler(self._on_endpoints, lambda _old, new: self._on_endpoints(new),
                                   self.enqueue)
        self.trigger_times = TriggerTimeTracker()

    # -- event mapping ---------------------------------------------------------------

    def services_for_pod(self, pod: Obj) -> list[str]:
        """Keys of the services in the pod's namespace whose selector matches its labels."""
        namespace = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels") or {}
        keys = []
        for service in self.services.list(namespace):
            selector = service_selector(service)
            if selector is not None and selector.matches(labels):
                keys.append(key_of(service))
        return keys

    def _on_pod(self, pod: Obj) -> None:
        for key in self.services_for_pod(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if _endpoint_relevant(old) == _endpoint_relevant(new):
            return
        for key in set(self.services_for_pod(old)) | set(self.services_for_pod(new)):
            self.queue.add(key)

    def _on_endpoints(self, endpoints: Obj) -> None:
        """Leftover Endpoints whose Service is gone get reconciled (deleted)."""
        if key_of(endpoints) not in self.services:
            self.enqueue(endpoints)

    # -- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.get(key)
        if service is None:
            self.trigger_times.forget(key)
            await self._delete_endpoints(namespace, name)
            return
        if (service.get("spec") or {}).get("type") == "ExternalName":
            return
        selector = service_selector(service)
        if selector is None:
            return  # endpoints of a selector-less service are managed by hand
        pods = [p for p in self.pods.list(namespace) if selector.matches(p["metadata"].get("labels") or {})]
        trigger_time = self.trigger_times.compute(key, service, pods)
        await self._write(service, desired_subsets(service, pods), desired_labels(service), trigger_time)

    async def _delete_endpoints(self, namespace: str | None, name: str) -> None:
        if f"{namespace}/{name}" not in self.endpoints:
            return
        try:
            await self.client.delete(kinds.ENDPOINTS, name, namespace)
        except errors.NotFound:
            pass

    async def _write(self, service: Obj, subsets: list[Obj], labels: dict[str, str], trigger_time: str | None) -> None:
        current = self.endpoints.get(key_of(service))
        if current is not None and endpoints_equal(current, subsets, labels):
            return
        meta = service["metadata"]
        if current is None:
            body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                         "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                                      "annotations": _with_trigger_time({}, trigger_time)},
                         "subsets": subsets}
            log.info("endpoints-controller: creating endpoints %s/%s", meta["namespace"], meta["name"])
            try:
                await self.client.create(kinds.ENDPOINTS, body, meta["namespace"])
            except errors.Forbidden as exc:
                if not any(c.get("reason") == "NamespaceTerminating" for c in exc.causes):
                    raise  # a terminating namespace takes no new content; its service is going too
            return
        updated = deep_copy(current)
        updated["metadata"]["labels"] = labels
        updated["metadata"]["annotations"] = _with_trigger_time(updated["metadata"].get("annotations") or {},
                                                                trigger_time)
        updated["subsets"] = subsets
        log.debug("endpoints-controller: updating endpoints %s/%s", meta["namespace"], meta["name"])
        await self.client.update(kinds.ENDPOINTS, updated)


def _with_trigger_time(annotations: dict[str, str], trigger_time: str | None) -> dict[str, str]:
    """The annotations with the trigger time set, or removed when there is none (as upstream)."""
    result = {k: v for k, v in annotations.items() if k != TRIGGER_TIME_ANNOTATION}
    if trigger_time:
        result[TRIGGER_TIME_ANNOTATION] = trigger_time
    return result


def _endpoint_relevant(pod: Obj) -> tuple[Any, ...]:
    """What of a pod can change its service's endpoints."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    return (meta.get("labels"), meta.get("deletionTimestamp") is not None, pod_ip(pod), is_pod_ready(pod),
            (pod.get("status") or {}).get("phase"), spec.get("nodeName"), spec.get("hostname"),
            spec.get("subdomain"), [c.get("ports") for c in spec.get("containers") or []])
