"""The pod network agent's pure core: desired routes/neighbours/FDB from Node objects, the diff, the iptables text."""
from __future__ import annotations

from typing import Any

from kube_proxy.links import Fdb, Neigh, Route
from kube_proxy.podnet import (BACKEND_TYPE, PUBLIC_IP, VTEP_MAC, Config, State, cleanup_rules, desired_state,
                               iptables_rules, lease_of, own_annotations, plan)

CLUSTER = "10.244.0.0/16"


def node(name: str, cidr: str | None = None, ip: str | None = None, **annotations: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "annotations": annotations}, "spec": {}, "status": {}}
    if cidr:
        obj["spec"]["podCIDR"] = cidr
    if ip:
        obj["status"]["addresses"] = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]
    return obj


def vxlan_node(name: str, cidr: str, ip: str, mac: str) -> dict[str, Any]:
    return node(name, cidr, ip, **{BACKEND_TYPE: "vxlan", PUBLIC_IP: ip, VTEP_MAC: mac})


HOST_GW = Config("n1", "host-gw", CLUSTER)
VXLAN = Config("n1", "vxlan", CLUSTER)


def test_host_gw_routes_every_other_node_via_its_ip() -> None:
    nodes = [node("n1", "10.244.1.0/24", "192.168.1.1"), node("n2", "10.244.2.0/24", "192.168.1.2"),
             node("n3", "10.244.3.0/24", "192.168.1.3")]
    state = desired_state(nodes, HOST_GW, "eth0")
    assert state.routes == {Route("10.244.2.0/24", "192.168.1.2", "eth0"),
                            Route("10.244.3.0/24", "192.168.1.3", "eth0")}
    assert not state.neighs and not state.fdbs


def test_published_public_ip_wins_over_internal_ip() -> None:
    nodes = [node("n2", "10.244.2.0/24", "192.168.1.2", **{PUBLIC_IP: "10.0.0.2"})]
    assert desired_state(nodes, HOST_GW, "eth1").routes == {Route("10.244.2.0/24", "10.0.0.2", "eth1")}


def test_nodes_without_pod_cidr_or_address_are_skipped() -> None:
    nodes = [node("n2", None, "192.168.1.2"), node("n3", "10.244.3.0/24", None), node("n4", "garbage", "1.2.3.4"),
             node("n5", "10.244.5.0/24", "192.168.1.5")]
    assert {r.dst for r in desired_state(nodes, HOST_GW, "eth0").routes} == {"10.244.5.0/24"}
    assert lease_of(node("x", "10.244.9.0/24")) is None


def test_host_gw_skips_nodes_announcing_another_backend() -> None:
    nodes = [vxlan_node("n2", "10.244.2.0/24", "192.168.1.2", "aa:aa:aa:aa:aa:02"),
             node("n3", "10.244.3.0/24", "192.168.1.3", **{BACKEND_TYPE: "host-gw"})]
    assert {r.dst for r in desired_state(nodes, HOST_GW, "eth0").routes} == {"10.244.3.0/24"}


def test_vxlan_route_neighbour_and_fdb_per_other_node() -> None:
    nodes = [vxlan_node("n1", "10.244.1.0/24", "192.168.1.1", "aa:aa:aa:aa:aa:01"),
             vxlan_node("n2", "10.244.2.0/24", "192.168.1.2", "aa:aa:aa:aa:aa:02")]
    state = desired_state(nodes, VXLAN, "eth0")
    assert state.routes == {Route("10.244.2.0/24", "10.244.2.0", "kubelab.1", onlink=True)}
    assert state.neighs == {Neigh("10.244.2.0", "aa:aa:aa:aa:aa:02", "kubelab.1")}
    assert state.fdbs == {Fdb("aa:aa:aa:aa:aa:02", "192.168.1.2", "kubelab.1")}


def test_vxlan_ignores_nodes_whose_agent_has_not_published_a_vtep() -> None:
    nodes = [node("n2", "10.244.2.0/24", "192.168.1.2"),  # no agent yet
             node("n3", "10.244.3.0/24", "192.168.1.3", **{BACKEND_TYPE: "vxlan"}),  # no MAC yet
             node("n4", "10.244.4.0/24", "192.168.1.4", **{BACKEND_TYPE: "host-gw", VTEP_MAC: "aa:aa:aa:aa:aa:04"})]
    assert desired_state(nodes, VXLAN, "eth0") == State()


def test_vxlan_device_follows_the_vni() -> None:
    config = Config("n1", "vxlan", CLUSTER, vxlan_id=42)
    nodes = [vxlan_node("n2", "10.244.2.0/24", "192.168.1.2", "aa:aa:aa:aa:aa:02")]
    assert {r.dev for r in desired_state(nodes, config, "eth0").routes} == {"kubelab.42"}


def test_plan_removes_stale_routes_of_deleted_nodes_and_keeps_current_ones() -> None:
    current = Route("10.244.2.0/24", "192.168.1.2", "eth0")
    stale = Route("10.244.3.0/24", "192.168.1.3", "eth0")
    desired = State(routes={current})
    changes = plan(desired, State(routes={current, stale}))
    assert changes.routes_to_delete == [stale]
    assert changes.routes_to_replace == []
    assert plan(desired, desired).empty()


def test_plan_replaces_a_route_whose_gateway_changed_without_deleting_it() -> None:
    old = Route("10.244.2.0/24", "192.168.1.2", "eth0")
    new = Route("10.244.2.0/24", "192.168.1.22", "eth0")
    changes = plan(State(routes={new}), State(routes={old}))
    assert changes.routes_to_replace == [new] and changes.routes_to_delete == []


def test_plan_for_vxlan_adds_missing_and_removes_stale_tunnel_entries() -> None:
    nodes = [vxlan_node("n2", "10.244.2.0/24", "192.168.1.2", "aa:aa:aa:aa:aa:02")]
    desired = desired_state(nodes, VXLAN, "eth0")
    gone_neigh = Neigh("10.244.3.0", "aa:aa:aa:aa:aa:03", "kubelab.1")
    gone_fdb = Fdb("aa:aa:aa:aa:aa:03", "192.168.1.3", "kubelab.1")
    moved_fdb = Fdb("aa:aa:aa:aa:aa:02", "192.168.1.99", "kubelab.1")  # n2's host changed address
    changes = plan(desired, State(neighs={gone_neigh}, fdbs={gone_fdb, moved_fdb}))
    assert changes.routes_to_replace == sorted(desired.routes)
    assert changes.neighs_to_replace == sorted(desired.neighs) and changes.neighs_to_delete == [gone_neigh]
    assert changes.fdbs_to_replace == sorted(desired.fdbs)
    assert changes.fdbs_to_delete == sorted([gone_fdb, moved_fdb])


def test_own_annotations() -> None:
    assert own_annotations(VXLAN, "192.168.1.1", "aa:aa:aa:aa:aa:01") == {
        BACKEND_TYPE: "vxlan", PUBLIC_IP: "192.168.1.1", VTEP_MAC: "aa:aa:aa:aa:aa:01"}
    assert own_annotations(HOST_GW, "192.168.1.1") == {BACKEND_TYPE: "host-gw", PUBLIC_IP: "192.168.1.1"}


EMPTY_NAT = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
EMPTY_FILTER = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n"
NAT_WITH_JUMP = ("*nat\n:POSTROUTING ACCEPT [0:0]\n:KUBELAB-POSTRTG - [0:0]\n"
                 "-A POSTROUTING -m comment --comment kubelab-pod-network -j KUBELAB-POSTRTG\n"
                 "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n")
FILTER_WITH_JUMP = ("*filter\n:FORWARD DROP [0:0]\n:KUBELAB-FWD - [0:0]\n"
                    "-A FORWARD -m comment --comment kubelab-pod-network -j KUBELAB-FWD\n"
                    "-A FORWARD -j DOCKER-USER\nCOMMIT\n")


def test_iptables_masquerades_only_traffic_leaving_the_cluster_and_accepts_forwarding() -> None:
    text = iptables_rules(CLUSTER, EMPTY_NAT, EMPTY_FILTER)
    nat, filter_ = text.split("*filter")
    assert ":KUBELAB-POSTRTG - [0:0]" in nat
    assert f"-A KUBELAB-POSTRTG -s {CLUSTER} ! -d {CLUSTER} -j MASQUERADE --random-fully" in nat
    assert nat.count("MASQUERADE") == 1  # pod to pod keeps the pod's IP
    assert "-I POSTROUTING 1 -m comment --comment kubelab-pod-network -j KUBELAB-POSTRTG" in nat
    assert f"-A KUBELAB-FWD -s {CLUSTER} -j ACCEPT" in filter_
    assert f"-A KUBELAB-FWD -d {CLUSTER} -j ACCEPT" in filter_
    assert "-I FORWARD 1 -m comment --comment kubelab-pod-network -j KUBELAB-FWD" in filter_
    assert text.count("COMMIT") == 2 and "KUBE-" not in text


def test_iptables_jumps_are_not_added_twice() -> None:
    text = iptables_rules(CLUSTER, NAT_WITH_JUMP, FILTER_WITH_JUMP)
    assert "-I POSTROUTING" not in text and "-I FORWARD" not in text
    assert f"-A KUBELAB-POSTRTG -s {CLUSTER}" in text  # the chains are still rewritten (drift repair)


def test_cleanup_rules_remove_jumps_and_chains_only_when_present() -> None:
    text = cleanup_rules(NAT_WITH_JUMP, FILTER_WITH_JUMP)
    assert "-D POSTROUTING -m comment --comment kubelab-pod-network -j KUBELAB-POSTRTG" in text
    assert "-D FORWARD -m comment --comment kubelab-pod-network -j KUBELAB-FWD" in text
    assert "-X KUBELAB-POSTRTG" in text and "-X KUBELAB-FWD" in text
    assert "docker0" not in text and "DOCKER-USER" not in text
    assert cleanup_rules(EMPTY_NAT, EMPTY_FILTER) == ""


def test_subnets_outside_the_cluster_or_overlapping_our_own_are_never_routed() -> None:
    nodes = [node("n1", "10.244.1.0/24", "192.168.1.1"),
             node("n2", "10.244.1.0/24", "192.168.1.2"),  # duplicate of ours: would replace the bridge's route
             node("n3", "10.99.3.0/24", "192.168.1.3"),  # not the cluster's
             node("n4", "10.244.4.0/24", "192.168.1.4")]
    assert {r.dst for r in desired_state(nodes, HOST_GW, "eth0").routes} == {"10.244.4.0/24"}


def test_an_existing_vxlan_device_is_kept_only_when_it_matches() -> None:
    from kube_proxy.links import VxlanSpec, vxlan_matches
    spec = VxlanSpec("kubelab.1", 1, 8472, "192.168.1.1", "eth0", 1450)
    found = {"linkinfo": {"info_kind": "vxlan", "info_data": {"id": 1, "port": 8472, "local": "192.168.1.1",
                                                              "learning": False}}}
    assert vxlan_matches(found, spec)
    assert not vxlan_matches(found, VxlanSpec("kubelab.1", 1, 8472, "192.168.1.9", "eth0", 1450))  # host moved
    assert not vxlan_matches(found, VxlanSpec("kubelab.1", 2, 8472, "192.168.1.1", "eth0", 1450))
    assert not vxlan_matches({"linkinfo": {"info_kind": "bridge"}}, spec)


def test_kubelet_pod_network_config_and_match() -> None:
    from kubelet.runtime import POD_NETWORK_OPTIONS, pod_network_config, pod_network_matches
    wanted = pod_network_config("10.244.3.0/24")
    assert wanted == {"subnet": "10.244.3.0/24", "gateway": "10.244.3.1", "options": POD_NETWORK_OPTIONS}
    assert POD_NETWORK_OPTIONS["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert pod_network_config("10.244.3.0/24", mtu=1450)["options"]["com.docker.network.driver.mtu"] == "1450"
    attrs = {"Driver": "bridge", "IPAM": {"Config": [{"Subnet": "10.244.3.0/24", "Gateway": "10.244.3.1"}]},
             "Options": dict(POD_NETWORK_OPTIONS)}
    assert pod_network_matches(attrs, wanted)
    assert not pod_network_matches(attrs, pod_network_config("10.244.4.0/24"))  # the podCIDR changed
    assert not pod_network_matches({**attrs, "Options": {}}, wanted)  # Docker would masquerade pod traffic


async def test_kubelet_waits_for_the_pod_cidr_and_reports_a_network_it_cannot_make() -> None:
    import asyncio

    from types import SimpleNamespace

    from kubelet.main import PodNetworkSetup
    from kubelet.runtime import PodNetworkError

    class FakeClient:
        pod_cidr = ""

        async def get(self, _rt: Any, _name: str) -> dict[str, Any]:
            return {"spec": {"podCIDR": self.pod_cidr} if self.pod_cidr else {}}

    class FakeRuntime:
        calls: list[tuple[str, str]] = []
        refuse = True

        async def ensure_pod_network(self, name: str, subnet: str, _mtu: int | None) -> None:
            self.calls.append((name, subnet))
            if self.refuse:
                raise PodNetworkError("Docker network pods is on 10.9.0.0/24 and 1 container(s) still use it")

    settings = SimpleNamespace(node_name="n1", pod_cidr_network="pods", pod_network_mtu=None)
    client, runtime = FakeClient(), FakeRuntime()
    setup = PodNetworkSetup(client, runtime, settings)  # type: ignore[arg-type]  # fakes: unit test
    task = asyncio.create_task(setup.run(retry_s=0.01))
    await asyncio.sleep(0.05)
    assert setup.readiness() == (False, "network not ready: waiting for the node's podCIDR") and not runtime.calls
    client.pod_cidr = "10.244.7.0/24"
    while not runtime.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    ready, message = setup.readiness()
    assert not ready and "still use it" in message
    runtime.refuse = False
    await asyncio.wait_for(task, 2)
    assert setup.readiness() == (True, "") and runtime.calls[-1] == ("pods", "10.244.7.0/24")
    calls = len(runtime.calls)
    assert await setup.sync_once() and len(runtime.calls) == calls  # unchanged podCIDR: Docker is not asked
    client.pod_cidr = "10.244.8.0/24"  # the Node was registered again and got another one
    assert await setup.sync_once() and runtime.calls[-1] == ("pods", "10.244.8.0/24")
