"""The pure side of Service allocation: ranges, choosing free values, what a Service holds, claims and releases."""
from __future__ import annotations

import random
from typing import Any

import pytest

from apiserver.servicealloc import (IP_PREFIX, PORT_PREFIX, IPRange, PortRange, RangeFull, ServiceAllocator,
                                    choose_free, held, kubernetes_service)
from common.errors import Invalid


def svc(**spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": {"type": "ClusterIP", **spec}}


def allocator(cidr: str = "10.96.0.0/12", ports: str = "30000-32767", seed: int = 1) -> ServiceAllocator:
    return ServiceAllocator(None, IPRange.parse(cidr), PortRange.parse(ports), random.Random(seed))  # type: ignore


def test_ip_range_excludes_network_and_broadcast_addresses() -> None:
    r = IPRange.parse("10.96.0.0/12")
    assert r.size == 2**20 - 2 and r.first() == "10.96.0.1" and r.at(r.size - 1) == "10.111.255.254"
    assert not r.contains("10.96.0.0") and not r.contains("10.111.255.255")
    assert r.contains("10.96.0.1") and r.contains("10.111.255.254") and not r.contains("10.112.0.1")
    assert r.offset("10.96.0.10") == 9 and not r.contains("not-an-ip")


@pytest.mark.parametrize("cidr, fragment", [("10.96.0.0/33", "invalid service cluster IP range"),
                                            ("10.96.0.1/12", "has host bits set"),
                                            ("fd00::/108", "only IPv4"), ("10.0.0.0/31", "too small")])
def test_bad_ip_ranges_are_refused(cidr: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        IPRange.parse(cidr)


def test_port_ranges_parse_like_upstream() -> None:
    assert PortRange.parse("30000-32767") == PortRange(30000, 32767)
    assert PortRange.parse("30000+767") == PortRange(30000, 30767)
    assert PortRange.parse("30000-32767").size == 2768
    for bad in ("32767-30000", "0-10", "abc", "30000-70000"):
        with pytest.raises(ValueError, match="invalid port range"):
            PortRange.parse(bad)


def test_static_bands_follow_upstream_offsets() -> None:
    assert IPRange.parse("10.96.0.0/12").static_band == 256
    assert IPRange.parse("10.96.0.0/24").static_band == 16
    assert IPRange.parse("10.96.0.0/28").static_band == 0
    assert PortRange.parse("30000-32767").static_band == 86


def test_choose_free_prefers_the_dynamic_band_and_falls_back_to_the_static_one() -> None:
    rng = random.Random(7)
    picks = {choose_free(100, set(), 16, rng) for _ in range(200)}
    assert picks <= set(range(16, 100)) and len(picks) > 50  # random, above the static band
    assert choose_free(100, set(range(16, 100)), 16, rng) in range(16)
    assert choose_free(10, set(range(10)) - {3}, 0, rng) == 3  # the scan finds the last free one
    assert choose_free(10, set(range(10)), 4, rng) is None


def test_an_exhausted_range_says_so_in_upstream_words() -> None:
    small = allocator("10.1.0.0/30", "31000-31001")  # two usable IPs, two ports
    small._taken_ips, small._taken_ports = {0, 1}, {0, 1}
    with pytest.raises(RangeFull, match="failed to allocate a serviceIP: range is full"):
        small.assign(svc())
    with pytest.raises(RangeFull, match="failed to allocate a nodePort: range is full"):
        small.assign(svc(type="NodePort", clusterIP="None"))
    with pytest.raises(Invalid) as refused:
        small._assign_or_fail(svc())
    assert refused.value.code == 422 and refused.value.causes[0]["field"] == "spec.clusterIPs"


def test_assign_fills_ip_families_node_ports_and_health_check_port() -> None:
    alloc = allocator()
    service = svc(type="LoadBalancer", externalTrafficPolicy="Local", allocateLoadBalancerNodePorts=True,
                  ports=[{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53,
                                                                          "protocol": "TCP"},
                         {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    alloc.assign(service)
    spec = service["spec"]
    assert IPRange.parse("10.96.0.0/12").contains(spec["clusterIP"]) and spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    udp, tcp, http = (p["nodePort"] for p in spec["ports"])
    assert udp == tcp != http == 30080  # one port number, one node port for both protocols (upstream)
    assert spec["healthCheckNodePort"] not in (udp, http)


@pytest.mark.parametrize("spec", [dict(clusterIP="None", clusterIPs=["None"]),
                                  dict(type="ExternalName", externalName="db.example.com", ports=[]),
                                  dict(type="LoadBalancer", allocateLoadBalancerNodePorts=False, clusterIP="None")])
def test_services_that_need_nothing_get_nothing(spec: dict[str, Any]) -> None:
    service = svc(**spec)
    allocator().assign(service)
    assert held(service) == {}
    assert "clusterIP" not in service["spec"] or service["spec"]["clusterIP"] == "None"


def test_plan_claims_new_values_and_releases_dropped_ones() -> None:
    alloc = allocator()
    old = svc(type="NodePort", clusterIP="10.96.0.9", clusterIPs=["10.96.0.9"],
              ports=[{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30002}])
    new = svc(type="NodePort", clusterIP="10.96.0.9", clusterIPs=["10.96.0.9"],
              ports=[{"name": "a", "port": 80, "nodePort": 30001}, {"name": "c", "port": 82, "nodePort": 30003}])
    plan = alloc.plan(new, old, {f"{PORT_PREFIX}30003"})
    assert list(plan.claims) == [f"{PORT_PREFIX}30003"] and plan.releases == [f"{PORT_PREFIX}30002"]
    assert plan.requested[f"{PORT_PREFIX}30003"].path == "spec.ports[1].nodePort"
    to_external = svc(type="ExternalName", externalName="x.example.com", ports=[])
    assert sorted(alloc.plan(to_external, old, set()).releases) == sorted(
        [IP_PREFIX + "10.96.0.9", f"{PORT_PREFIX}30001", f"{PORT_PREFIX}30002"])
    assert alloc.plan(None, old, set()).claims == {}


def test_requested_values_outside_the_ranges_are_refused_with_upstream_messages() -> None:
    alloc = allocator()
    service = svc(clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"])
    with pytest.raises(Invalid) as refused:
        alloc.plan(service, None, set(held(service)))
    assert refused.value.causes == [{
        "reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
        "message": 'Invalid value: "10.0.0.5": failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in '
                   "the valid range. The range of valid IPs is 10.96.0.0/12"}]
    service = svc(type="NodePort", clusterIP="None", ports=[{"name": "a", "port": 80, "nodePort": 29999}])
    with pytest.raises(Invalid, match="provided port is not in the valid range. The range of valid ports is "
                                      "30000-32767"):
        alloc.plan(service, None, set(held(service)))


def test_values_kept_from_before_a_range_change_are_neither_claimed_nor_refused() -> None:
    alloc = allocator()
    old = svc(clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"])
    new = svc(clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"], selector={"app": "v2"})
    plan = alloc.plan(new, old, set(held(new)))
    assert plan.claims == {} and plan.releases == []


def test_the_kubernetes_service_takes_the_first_ip() -> None:
    service = kubernetes_service(IPRange.parse("10.96.0.0/12").first(), 6443)
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]


@pytest.mark.parametrize("spec, field, message", [
    (dict(clusterIP="fd00::10", clusterIPs=["fd00::10"], ipFamilies=["IPv6"]), "spec.ipFamilies[0]",
     'Invalid value: "IPv6": not configured on this cluster'),
    (dict(ipFamilyPolicy="RequireDualStack"), "spec.ipFamilyPolicy",
     'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services'),
])
def test_this_single_stack_cluster_refuses_ipv6_and_dual_stack(spec: dict[str, Any], field: str,
                                                                message: str) -> None:
    with pytest.raises(Invalid) as refused:
        allocator().plan(svc(**spec), None, set())
    assert [(c["field"], c["message"]) for c in refused.value.causes] == [(field, message)]
    headless = svc(clusterIP="None", clusterIPs=["None"], ipFamilyPolicy="RequireDualStack")
    assert allocator().plan(headless, None, set()).claims == {}  # no IPs, so any policy goes


def test_a_write_too_big_for_one_etcd_transaction_is_refused_not_failed() -> None:
    ports = [{"name": f"p{i}", "port": 1000 + i, "nodePort": 30000 + i} for i in range(130)]
    service = svc(type="NodePort", clusterIP="None", ports=ports)
    with pytest.raises(Invalid) as refused:
        allocator().plan(service, None, set())
    assert refused.value.code == 422 and refused.value.causes[0]["field"] == "spec.ports"


def test_health_check_node_port_may_not_be_one_of_the_node_ports() -> None:
    service = svc(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=30080,
                  ports=[{"name": "http", "port": 80, "nodePort": 30080}])
    with pytest.raises(Invalid) as refused:
        allocator().plan(service, None, set(held(service)))
    assert refused.value.causes[0]["field"] == "spec.healthCheckNodePort"
    assert refused.value.causes[0]["message"] == ("Invalid value: 30080: failed to allocate requested HealthCheck "
                                                  "NodePort 30080: provided port is already allocated")
