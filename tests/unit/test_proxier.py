"""kube_proxy.proxier (pure rule generation, golden text) and the ServiceProxy sync loop with a fake iptables."""
from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from fake_listwatch import FakeListWatch, eventually

from common.api.registry import ResourceType
from common.informer import SharedInformers
from kube_proxy import iptables, main, metrics
from kube_proxy.proxier import (JUMPS, ProxyConfig, RuleCache, build_ruleset, chain_name, cleanup_rules,
                                missing_jumps, ready_endpoints, saved_chains)

CONFIG = ProxyConfig("10.244.0.0/16")

FILTER_HEAD = """\
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-FIREWALL - [0:0]"""
FORWARD_RULES = """\
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 \
-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED \
-j ACCEPT"""
NAT_HEAD = """\
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]"""
NAT_STATIC = """\
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"""
NODEPORTS_LAST = ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last '
                  'rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')


def service(name: str, ip: str = "10.96.0.41", *, ns: str = "ns1", type_: str = "ClusterIP",
            ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": ns, "name": name},
            "spec": {"type": type_, "clusterIP": ip,
                     "ports": ports or [{"name": "p80", "port": 80, "protocol": "TCP"}], **spec}}


def endpoints(name: str, ready: list[str], not_ready: list[str] = (), *, ns: str = "ns1", port: int = 8080,
              port_name: str = "p80") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"namespace": ns, "name": name},
            "subsets": [{"addresses": [{"ip": ip} for ip in ready],
                         "notReadyAddresses": [{"ip": ip} for ip in not_ready],
                         "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}]}


def text(*blocks: str) -> str:
    return "\n".join(blocks) + "\n"


# -- names -------------------------------------------------------------------------------------------------

def test_chain_names_hash_like_upstream() -> None:
    # From upstream's proxier_test.go: ns1/svc1:p80 and its endpoint 10.180.0.1:80.
    assert chain_name("KUBE-SVC-", "ns1/svc1:p80tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert chain_name("KUBE-SEP-", "ns1/svc1:p80tcp10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert chain_name("KUBE-EXT-", "ns1/svc1:p80tcp") == "KUBE-EXT-XPGD46QRK7WJZT7O"


# -- golden rule text --------------------------------------------------------------------------------------

def test_service_without_endpoints_is_rejected_in_filter() -> None:
    rules = build_ruleset([service("svc1")], {}, CONFIG).text
    assert rules == text(
        FILTER_HEAD, FORWARD_RULES,
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 10.96.0.41 '
        '--dport 80 -j REJECT',
        "COMMIT", NAT_HEAD, NAT_STATIC, NODEPORTS_LAST, "COMMIT")


def test_service_with_one_endpoint() -> None:
    rules = build_ruleset([service("svc1")], {"ns1/svc1": endpoints("svc1", ["10.244.1.2"])}, CONFIG).text
    assert rules == text(
        FILTER_HEAD, FORWARD_RULES, "COMMIT",
        NAT_HEAD,
        ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
        ":KUBE-SEP-HJ4XRC6RYIVW74AV - [0:0]",
        NAT_STATIC,
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 --dport 80 '
        '-j KUBE-SVC-XPGD46QRK7WJZT7O',
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 '
        '--dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.1.2:8080" '
        '-j KUBE-SEP-HJ4XRC6RYIVW74AV',
        "-A KUBE-SEP-HJ4XRC6RYIVW74AV -m comment --comment ns1/svc1:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-HJ4XRC6RYIVW74AV -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT "
        "--to-destination 10.244.1.2:8080",
        NODEPORTS_LAST, "COMMIT")


MANY_NAT = """\
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-HJ4XRC6RYIVW74AV - [0:0]
:KUBE-SEP-U2BF2LENKUUQ43DM - [0:0]
:KUBE-SEP-BUUI4ES5VYOVTJEG - [0:0]
""" + NAT_STATIC + """
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 --dport 80 \
-j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 --dport 80 \
! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.1.2:8080" -m statistic --mode random \
--probability 0.3333333333 -j KUBE-SEP-HJ4XRC6RYIVW74AV
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.1.3:8080" -m statistic --mode random \
--probability 0.5000000000 -j KUBE-SEP-U2BF2LENKUUQ43DM
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.1.10:8080" -j KUBE-SEP-BUUI4ES5VYOVTJEG
-A KUBE-SEP-HJ4XRC6RYIVW74AV -m comment --comment ns1/svc1:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-HJ4XRC6RYIVW74AV -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-U2BF2LENKUUQ43DM -m comment --comment ns1/svc1:p80 -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-U2BF2LENKUUQ43DM -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:8080
-A KUBE-SEP-BUUI4ES5VYOVTJEG -m comment --comment ns1/svc1:p80 -s 10.244.1.10 -j KUBE-MARK-MASQ
-A KUBE-SEP-BUUI4ES5VYOVTJEG -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.10:8080
"""


def test_many_endpoints_spread_with_decreasing_probabilities_over_ready_ones_only() -> None:
    # Unsorted input, a duplicate, and a not-ready address that must not receive traffic.
    eps = endpoints("svc1", ["10.244.1.10", "10.244.1.2", "10.244.1.3", "10.244.1.2"], ["10.244.1.9"])
    rules = build_ruleset([service("svc1")], {"ns1/svc1": eps}, CONFIG).text
    assert rules == text(FILTER_HEAD, FORWARD_RULES, "COMMIT", NAT_HEAD, MANY_NAT + NODEPORTS_LAST, "COMMIT")
    assert "10.244.1.9" not in rules


def test_only_not_ready_endpoints_means_no_endpoints() -> None:
    rules = build_ruleset([service("svc1")], {"ns1/svc1": endpoints("svc1", [], ["10.244.1.9"])}, CONFIG).text
    assert '"ns1/svc1:p80 has no endpoints"' in rules
    assert "KUBE-SVC-" not in rules and "10.244.1.9" not in rules


def test_nodeport_service_goes_through_ext_chain_with_masquerade() -> None:
    svc = service("web", "10.96.0.50", type_="NodePort",
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    rules = build_ruleset([svc], {"ns1/web": endpoints("web", ["10.244.1.2"], port_name="http")}, CONFIG).text
    assert rules == text(
        FILTER_HEAD, FORWARD_RULES, "COMMIT",
        NAT_HEAD,
        ":KUBE-EXT-4LVCYZMTA5CQO6SX - [0:0]",
        ":KUBE-SVC-4LVCYZMTA5CQO6SX - [0:0]",
        ":KUBE-SEP-TCHSYJU4C2SBUOO7 - [0:0]",
        NAT_STATIC,
        '-A KUBE-SERVICES -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 --dport 80 '
        '-j KUBE-SVC-4LVCYZMTA5CQO6SX',
        "-A KUBE-NODEPORTS -m comment --comment ns1/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-4LVCYZMTA5CQO6SX",
        '-A KUBE-SVC-4LVCYZMTA5CQO6SX -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 '
        '--dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
        '-A KUBE-EXT-4LVCYZMTA5CQO6SX -m comment --comment "masquerade traffic for ns1/web:http external '
        'destinations" -j KUBE-MARK-MASQ',
        "-A KUBE-EXT-4LVCYZMTA5CQO6SX -j KUBE-SVC-4LVCYZMTA5CQO6SX",
        '-A KUBE-SVC-4LVCYZMTA5CQO6SX -m comment --comment "ns1/web:http -> 10.244.1.2:8080" '
        '-j KUBE-SEP-TCHSYJU4C2SBUOO7',
        "-A KUBE-SEP-TCHSYJU4C2SBUOO7 -m comment --comment ns1/web:http -s 10.244.1.2 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-TCHSYJU4C2SBUOO7 -m comment --comment ns1/web:http -m tcp -p tcp -j DNAT "
        "--to-destination 10.244.1.2:8080",
        NODEPORTS_LAST, "COMMIT")


def test_nodeport_and_load_balancer_without_endpoints_are_rejected_as_external() -> None:
    svc = service("web", "10.96.0.50", type_="LoadBalancer", externalIPs=["192.0.2.7"],
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.4"}, {"hostname": "lb.example"}]}}
    filter_rules = build_ruleset([svc], {}, CONFIG).text.split("COMMIT")[0]
    comment = '-m comment --comment "ns1/web:http has no endpoints"'
    assert filter_rules.splitlines()[-4:] == [
        f"-A KUBE-SERVICES {comment} -m tcp -p tcp -d 10.96.0.50 --dport 80 -j REJECT",
        f"-A KUBE-EXTERNAL-SERVICES {comment} -m tcp -p tcp -d 192.0.2.7 --dport 80 -j REJECT",
        f"-A KUBE-EXTERNAL-SERVICES {comment} -m tcp -p tcp -d 198.51.100.4 --dport 80 -j REJECT",
        f"-A KUBE-EXTERNAL-SERVICES {comment} -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT"]


def test_load_balancer_ingress_and_external_ips_jump_to_ext_chain() -> None:
    svc = service("lb", "10.96.0.70", type_="LoadBalancer", externalIPs=["192.0.2.7"],
                  ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30090}])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.4"}, {"ip": "198.51.100.5", "ipMode": "Proxy"}]}}
    rules = build_ruleset([svc], {"ns1/lb": endpoints("lb", ["10.244.1.2"])}, CONFIG).text
    ext = chain_name("KUBE-EXT-", "ns1/lb:p80tcp")
    assert f'-A KUBE-SERVICES -m comment --comment "ns1/lb:p80 external IP" -m tcp -p tcp -d 192.0.2.7 ' \
           f"--dport 80 -j {ext}\n" in rules
    assert f'-A KUBE-SERVICES -m comment --comment "ns1/lb:p80 loadbalancer IP" -m tcp -p tcp -d 198.51.100.4 ' \
           f"--dport 80 -j {ext}\n" in rules
    assert "198.51.100.5" not in rules  # ipMode Proxy: the load balancer proxies, no VIP on the node


def test_external_traffic_policy_local_sends_outside_traffic_to_local_endpoints_only() -> None:
    svc = service("loc", "10.96.0.75", type_="NodePort", externalTrafficPolicy="Local",
                  ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30075}])
    eps = endpoints("loc", ["10.244.1.2", "10.244.2.3"])
    eps["subsets"][0]["addresses"][0]["nodeName"] = "node-a"
    eps["subsets"][0]["addresses"][1]["nodeName"] = "node-b"
    config = ProxyConfig("10.244.0.0/16", node_name="node-a")
    rules = build_ruleset([svc], {"ns1/loc": eps}, config).text.splitlines()
    ext, svc_chain, svl = (chain_name(p, "ns1/loc:p80tcp") for p in ("KUBE-EXT-", "KUBE-SVC-", "KUBE-SVL-"))
    local_sep = chain_name("KUBE-SEP-", "ns1/loc:p80tcp10.244.1.2:8080")
    assert [line for line in rules if line.startswith((f"-A {ext}", f"-A {svl}"))] == [
        f'-A {ext} -m comment --comment "pod traffic for ns1/loc:p80 external destinations" -s 10.244.0.0/16 '
        f"-j {svc_chain}",
        f'-A {ext} -m comment --comment "masquerade LOCAL traffic for ns1/loc:p80 external destinations" '
        f"-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
        f'-A {ext} -m comment --comment "route LOCAL traffic for ns1/loc:p80 external destinations" '
        f"-m addrtype --src-type LOCAL -j {svc_chain}",
        f"-A {ext} -j {svl}",
        f'-A {svl} -m comment --comment "ns1/loc:p80 -> 10.244.1.2:8080" -j {local_sep}']
    # Both endpoints stay behind the cluster IP.
    assert len([line for line in rules if line.startswith(f"-A {svc_chain} ") and "-j KUBE-SEP-" in line]) == 2
    elsewhere = build_ruleset([svc], {"ns1/loc": eps}, ProxyConfig("10.244.0.0/16", node_name="node-c")).text
    assert f"-j {svl}" not in elsewhere
    assert '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/loc:p80 has no local endpoints" -m addrtype ' \
           "--dst-type LOCAL -m tcp -p tcp --dport 30075 -j DROP" in elsewhere


def test_client_ip_affinity_uses_recent_like_upstream() -> None:
    svc = service("sticky", "10.96.0.60", sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}})
    rules = build_ruleset([svc], {"ns1/sticky": endpoints("sticky", ["10.244.1.2", "10.244.1.3"])}, CONFIG).text
    nat = [line for line in rules.splitlines() if "KUBE-SVC-F7REZHQFGEE5SPJR -m" in line or "-A KUBE-SEP" in line]
    assert nat == [
        '-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 cluster IP" -m tcp -p tcp -d 10.96.0.60 '
        '--dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
        '-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.2:8080" -m recent '
        '--name KUBE-SEP-T7DSECR4GK3STBZI --rcheck --seconds 600 --reap -j KUBE-SEP-T7DSECR4GK3STBZI',
        '-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.3:8080" -m recent '
        '--name KUBE-SEP-OPWITKDY3XTRZAQ2 --rcheck --seconds 600 --reap -j KUBE-SEP-OPWITKDY3XTRZAQ2',
        '-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.2:8080" -m statistic '
        '--mode random --probability 0.5000000000 -j KUBE-SEP-T7DSECR4GK3STBZI',
        '-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.3:8080" '
        '-j KUBE-SEP-OPWITKDY3XTRZAQ2',
        "-A KUBE-SEP-T7DSECR4GK3STBZI -m comment --comment ns1/sticky:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-T7DSECR4GK3STBZI -m comment --comment ns1/sticky:p80 -m recent --name KUBE-SEP-T7DSECR4GK3STBZI "
        "--set -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080",
        "-A KUBE-SEP-OPWITKDY3XTRZAQ2 -m comment --comment ns1/sticky:p80 -s 10.244.1.3 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-OPWITKDY3XTRZAQ2 -m comment --comment ns1/sticky:p80 -m recent --name KUBE-SEP-OPWITKDY3XTRZAQ2 "
        "--set -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:8080"]


def test_client_ip_affinity_defaults_to_three_hours() -> None:
    rules = build_ruleset([service("sticky", sessionAffinity="ClientIP")],
                          {"ns1/sticky": endpoints("sticky", ["10.244.1.2"])}, CONFIG).text
    assert "--rcheck --seconds 10800 --reap" in rules


def test_headless_external_name_and_unallocated_services_are_skipped() -> None:
    skipped = [service("headless", "None"), service("unset", ""),
               service("ext", "", type_="ExternalName", externalName="example.com"),
               service("v6", "fd00::10")]
    eps = {f"ns1/{s['metadata']['name']}": endpoints(s["metadata"]["name"], ["10.244.1.2"]) for s in skipped}
    assert build_ruleset(skipped, eps, CONFIG).text == build_ruleset([], {}, CONFIG).text


def test_ports_are_matched_by_name_and_unnamed_port_has_no_suffix() -> None:
    svc = service("multi", "10.96.0.80", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                               {"name": "dns", "port": 53, "protocol": "UDP"}])
    eps = {"subsets": [{"addresses": [{"ip": "10.244.1.2"}],
                        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"},
                                  {"name": "http", "port": 8080, "protocol": "TCP"}]}]}
    rules = build_ruleset([svc], {"ns1/multi": eps}, CONFIG).text
    assert "-m udp -p udp -j DNAT --to-destination 10.244.1.2:5353" in rules
    assert "-m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080" in rules
    unnamed = service("plain", "10.96.0.81", ports=[{"port": 80}])
    rules = build_ruleset([unnamed], {"ns1/plain": endpoints("plain", ["10.244.1.2"], port_name="")}, CONFIG).text
    assert f'--comment "ns1/plain cluster IP" -m tcp -p tcp -d 10.96.0.81 --dport 80 -j ' \
           f'{chain_name("KUBE-SVC-", "ns1/plaintcp")}' in rules


def test_without_cluster_cidr_no_clusterip_masquerade_and_masquerade_all_marks_everything() -> None:
    state = ([service("svc1")], {"ns1/svc1": endpoints("svc1", ["10.244.1.2"])})
    no_cidr = build_ruleset(*state, ProxyConfig(None)).text.splitlines()
    assert not [line for line in no_cidr if line.startswith("-A KUBE-SVC-") and "KUBE-MARK-MASQ" in line]
    all_masq = build_ruleset(*state, ProxyConfig(None, masquerade_all=True)).text
    assert '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp ' \
           '-d 10.96.0.41 --dport 80 -j KUBE-MARK-MASQ' in all_masq
    assert "--or-mark 0x1000" in build_ruleset(*state, ProxyConfig(None, masquerade_bit=12)).text


def test_malformed_objects_do_not_break_the_ruleset() -> None:
    bad = [service("badport", "10.96.0.90", ports=[{"port": "eighty"}, {"port": 70000}, {"port": 80, "protocol": "X"}]),
           {"metadata": {"namespace": "ns1", "name": "nospec"}}]
    eps = {"ns1/svc1": {"subsets": [{"addresses": [{"ip": "not-an-ip"}, {}, {"ip": "10.244.1.2"}],
                                     "ports": [{"name": "p80", "port": 8080}, {"name": "p80"}]}]}}
    rules = build_ruleset([*bad, service("svc1")], eps, CONFIG).text
    assert "not-an-ip" not in rules and "badport" not in rules
    assert "--to-destination 10.244.1.2:8080" in rules


def test_output_is_deterministic_whatever_the_input_order() -> None:
    services = [service(f"s{i}", f"10.96.1.{i}") for i in range(20)]
    eps = {f"ns1/s{i}": endpoints(f"s{i}", [f"10.244.2.{j}" for j in range(i % 4)]) for i in range(20)}
    first = build_ruleset(services, eps, CONFIG).text
    random.Random(7).shuffle(services)
    assert build_ruleset(services, dict(reversed(list(eps.items()))), CONFIG).text == first


def test_stale_chains_are_flushed_and_deleted_in_the_same_transaction() -> None:
    before = build_ruleset([service("svc1"), service("gone", "10.96.0.99")],
                           {"ns1/svc1": endpoints("svc1", ["10.244.1.2"]),
                            "ns1/gone": endpoints("gone", ["10.244.1.7"])}, CONFIG)
    gone_svc = chain_name("KUBE-SVC-", "ns1/gone:p80tcp")
    gone_sep = chain_name("KUBE-SEP-", "ns1/gone:p80tcp10.244.1.7:8080")
    existing = {t: set(c) | {"DOCKER", "KUBE-KUBELET-CANARY"} for t, c in before.chains.items()}
    after = build_ruleset([service("svc1")], {"ns1/svc1": endpoints("svc1", ["10.244.1.2"])}, CONFIG,
                          existing_chains=existing)
    nat = after.text.split("*nat\n")[1].splitlines()
    stale = sorted([gone_sep, gone_svc])
    assert nat[6:8] == [f":{c} - [0:0]" for c in stale]  # declared (so flushed) after the live chains
    assert nat[-3:] == [f"-X {stale[0]}", f"-X {stale[1]}", "COMMIT"]
    assert "DOCKER" not in after.text and "KUBE-KUBELET-CANARY" not in after.text  # not ours: untouched
    assert gone_svc not in after.chains["nat"]


def test_partial_sync_rewrites_only_changed_services_chains() -> None:
    services = [service("svc1"), service("other", "10.96.0.42")]
    eps = {"ns1/svc1": endpoints("svc1", ["10.244.1.2"]), "ns1/other": endpoints("other", ["10.244.1.5"])}
    full = build_ruleset(services, eps, CONFIG)
    eps["ns1/svc1"] = endpoints("svc1", ["10.244.1.3"])
    partial = build_ruleset(services, eps, CONFIG, existing_chains=full.chains, changed={"ns1/svc1"})
    other_svc = chain_name("KUBE-SVC-", "ns1/other:p80tcp")
    other_sep = chain_name("KUBE-SEP-", "ns1/other:p80tcp10.244.1.5:8080")
    lines = partial.text.splitlines()
    # The other service keeps its jump in the rewritten KUBE-SERVICES, but its own chains are not touched...
    assert f'-A KUBE-SERVICES -m comment --comment "ns1/other:p80 cluster IP" -m tcp -p tcp -d 10.96.0.42 ' \
           f"--dport 80 -j {other_svc}" in lines
    assert not [line for line in lines if line.startswith((f":{other_svc}", f"-A {other_svc}", f":{other_sep}"))]
    assert {other_svc, other_sep} <= partial.chains["nat"]  # ...nor deleted as stale
    # ...while the changed one is rewritten and its old endpoint chain removed.
    old_sep = chain_name("KUBE-SEP-", "ns1/svc1:p80tcp10.244.1.2:8080")
    assert "-A KUBE-SEP-U2BF2LENKUUQ43DM -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT " \
           "--to-destination 10.244.1.3:8080" in lines
    assert f"-X {old_sep}" in lines and lines.count("-X " + old_sep) == 1
    assert build_ruleset(services, eps, CONFIG, changed=None).text.count(":KUBE-SEP-") == 2


def test_rule_cache_reuses_unchanged_services_by_resource_version() -> None:
    services = [service(f"s{i}", f"10.96.1.{i}") for i in range(5)]
    eps = {f"ns1/s{i}": endpoints(f"s{i}", [f"10.244.2.{i}"]) for i in range(5)}
    for i, obj in enumerate([*services, *eps.values()]):
        obj["metadata"]["resourceVersion"] = str(100 + i)
    cache = RuleCache()
    plain = build_ruleset(services, eps, CONFIG).text
    assert build_ruleset(services, eps, CONFIG, cache=cache).text == plain
    assert build_ruleset(services, eps, CONFIG, cache=cache).text == plain  # from the cache
    eps["ns1/s1"] = endpoints("s1", ["10.244.3.3"])  # same resourceVersion as before...
    eps["ns1/s1"]["metadata"]["resourceVersion"] = "106"
    assert "10.244.3.3" not in build_ruleset(services, eps, CONFIG, cache=cache).text  # ...so the cached rules
    eps["ns1/s1"]["metadata"]["resourceVersion"] = "200"  # a real change has a new one
    assert build_ruleset(services, eps, CONFIG, cache=cache).text == build_ruleset(services, eps, CONFIG).text
    assert "10.244.3.3" in build_ruleset(services, eps, CONFIG, cache=cache).text
    # Partial and full syncs alternate without evicting each other's variant.
    partial = build_ruleset(services, eps, CONFIG, cache=cache, changed={"ns1/s0"}).text
    assert partial == build_ruleset(services, eps, CONFIG, changed={"ns1/s0"}).text
    assert build_ruleset(services, eps, CONFIG, cache=cache).text == build_ruleset(services, eps, CONFIG).text


def test_jumps_are_inserted_only_when_missing() -> None:
    rules = build_ruleset([], {}, CONFIG, missing_jumps=JUMPS).text
    assert '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n' in rules
    assert '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service ' \
           'portals" -j KUBE-EXTERNAL-SERVICES\n' in rules
    assert "-I OUTPUT 1 -j KUBE-FIREWALL\n" in rules  # upstream's kubelet-style jump has no comment
    saved_nat = ('*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n'
                 '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
                 '-A OUTPUT -j DOCKER\nCOMMIT\n')
    missing = missing_jumps({"nat": saved_nat, "filter": ""})
    assert ("nat", "PREROUTING") not in {(j.table, j.src_chain) for j in missing}
    assert len(missing) == len(JUMPS) - 1
    assert "-I " not in build_ruleset([], {}, CONFIG).text


def test_saved_chains_and_cleanup_remove_only_ours() -> None:
    saved = {
        "nat": "# Generated\n*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n:KUBE-SERVICES - [0:0]\n"
               ":KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
               '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
               "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
               "-A KUBE-SERVICES -d 10.96.0.1/32 -j KUBE-SVC-AAAAAAAAAAAAAAAA\nCOMMIT\n",
        "filter": "*filter\n:INPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n"}
    assert saved_chains(saved["nat"]) == {"PREROUTING", "DOCKER", "KUBE-SERVICES", "KUBE-SVC-AAAAAAAAAAAAAAAA",
                                          "KUBE-POSTROUTING"}
    assert cleanup_rules(saved) == (
        "*nat\n:KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n"
        '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
        "-X KUBE-POSTROUTING\n-X KUBE-SERVICES\n-X KUBE-SVC-AAAAAAAAAAAAAAAA\nCOMMIT\n")
    assert cleanup_rules({"filter": saved["filter"]}) == ""


def test_ready_endpoints_merges_subsets_per_port_name() -> None:
    eps = {"subsets": [
        {"addresses": [{"ip": "10.244.1.3"}], "ports": [{"name": "a", "port": 1}]},
        {"addresses": [{"ip": "10.244.1.2"}], "notReadyAddresses": [{"ip": "10.244.1.4"}],
         "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}]}
    ready = ready_endpoints(eps)
    assert [str(e) for e in ready["a"]] == ["10.244.1.2:1", "10.244.1.3:1"]
    assert [str(e) for e in ready["b"]] == ["10.244.1.2:2"]


def test_trigger_time_annotation_or_event_time() -> None:
    annotated = {"metadata": {"annotations": {main.TRIGGER_TIME_ANNOTATION: "2026-01-02T03:04:05.250Z"}}}
    assert main.trigger_time(annotated, 1.0) == pytest.approx(1767323045.25)
    assert main.trigger_time({"metadata": {}}, 42.0) == 42.0
    broken = {"metadata": {"annotations": {main.TRIGGER_TIME_ANNOTATION: "yesterday"}}}
    assert main.trigger_time(broken, 42.0) == 42.0


# -- the sync loop with fake informers and a fake iptables ---------------------------------------------------

class FakeClient:
    """list/watch per resource, each backed by its own FakeListWatch store."""

    def __init__(self) -> None:
        self.stores = {"services": FakeListWatch(), "endpoints": FakeListWatch()}

    async def list(self, rt: ResourceType, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self.stores[rt.plural].list(rt, *args, **kwargs)

    def watch(self, rt: ResourceType, *args: Any, **kwargs: Any) -> Any:
        return self.stores[rt.plural].watch(rt, *args, **kwargs)


class FakeKernel:
    def __init__(self) -> None:
        self.restores: list[str] = []
        self.saves = 0
        self.fail_next = 0
        self.jumps_in = False  # whether the jumps from built-in chains are "in the kernel"

    async def restore(self, rules: str, *, noflush: bool = True) -> None:
        assert noflush
        if self.fail_next:
            self.fail_next -= 1
            raise iptables.IptablesError("iptables-restore exited 1: line 3 failed")
        self.restores.append(rules)
        self.jumps_in = self.jumps_in or "-I PREROUTING 1" in rules

    async def save_tables(self, tables: tuple[str, ...] = ("filter", "nat")) -> dict[str, str]:
        """The jumps as iptables-save prints them once a restore inserted them (and nobody removed them)."""
        self.saves += 1
        jumps = {t: [f"-A {j.src_chain} {j.spec()}" for j in JUMPS if j.table == t and self.jumps_in] for t in tables}
        return {t: "\n".join([f"*{t}", *jumps[t], "COMMIT", ""]) for t in tables}


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = FakeKernel()
    monkeypatch.setattr(iptables, "restore", fake.restore)
    monkeypatch.setattr(iptables, "save_tables", fake.save_tables)
    return fake


async def start_proxy(client: FakeClient, **kwargs: Any) -> tuple[main.ServiceProxy, list[asyncio.Task[Any]]]:
    proxy = main.ServiceProxy(SharedInformers(client), CONFIG, **kwargs)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(proxy.services.run()), asyncio.create_task(proxy.endpoints.run()),
             asyncio.create_task(proxy.run())]
    return proxy, tasks


async def stop(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_first_sync_is_full_and_a_burst_of_changes_coalesces(kernel: FakeKernel) -> None:
    client = FakeClient()
    client.stores["services"].put(service("svc1"))
    proxy, tasks = await start_proxy(client, min_sync_period_s=0.3, sync_period_s=60)
    try:
        await eventually(lambda: len(kernel.restores) == 1)
        assert kernel.saves == 1 and "-I PREROUTING 1" in kernel.restores[0]  # full: jumps checked and inserted
        assert "has no endpoints" in kernel.restores[0]
        stream = await client.stores["endpoints"].stream(0)
        for i in range(10):
            ips = [f"10.244.1.{j}" for j in range(2, 3 + i)]
            stream.send("ADDED" if i == 0 else "MODIFIED", client.stores["endpoints"].put(endpoints("svc1", ips)))
            await asyncio.sleep(0.01)
        await eventually(lambda: "10.244.1.11:8080" in kernel.restores[-1], timeout=3)
        assert len(kernel.restores) <= 3, "ten changes inside min-sync-period must coalesce"
        assert kernel.saves == 1 and "-I " not in kernel.restores[-1]  # partial syncs don't re-read the kernel
        assert proxy.healthy()
    finally:
        await stop(tasks)


async def test_removed_service_chains_are_deleted_on_the_next_sync(kernel: FakeKernel) -> None:
    client = FakeClient()
    client.stores["services"].put(service("svc1"))
    client.stores["endpoints"].put(endpoints("svc1", ["10.244.1.2"]))
    _, tasks = await start_proxy(client, min_sync_period_s=0.0, sync_period_s=60)
    try:
        await eventually(lambda: len(kernel.restores) == 1)
        stream = await client.stores["services"].stream(0)
        stream.send("DELETED", client.stores["services"].remove("ns1/svc1"))
        await eventually(lambda: len(kernel.restores) == 2)
        assert "-X KUBE-SVC-XPGD46QRK7WJZT7O\n" in kernel.restores[1]
        assert "-X KUBE-SEP-HJ4XRC6RYIVW74AV\n" in kernel.restores[1]
    finally:
        await stop(tasks)


async def test_failed_restore_is_retried_as_a_full_sync_and_counted(kernel: FakeKernel) -> None:
    client = FakeClient()
    client.stores["services"].put(service("svc1"))
    kernel.fail_next = 1
    failures = metrics.RESTORE_FAILURES._value.get()
    _, tasks = await start_proxy(client, min_sync_period_s=0.0, sync_period_s=60)
    try:
        await eventually(lambda: len(kernel.restores) == 1, timeout=5)
        assert metrics.RESTORE_FAILURES._value.get() == failures + 1
        assert kernel.saves == 2  # both attempts were full syncs
    finally:
        await stop(tasks)


async def test_periodic_resync_reapplies_everything(kernel: FakeKernel) -> None:
    client = FakeClient()
    client.stores["services"].put(service("svc1"))
    _, tasks = await start_proxy(client, min_sync_period_s=0.0, sync_period_s=0.2)
    try:
        await eventually(lambda: len(kernel.restores) >= 3, timeout=3)
        # Same state: byte-identical text; the kernel is read back after each periodic sync, not before it.
        assert len(set(kernel.restores[1:])) == 1 and "-I " not in kernel.restores[1]
        await eventually(lambda: kernel.saves >= 3)
    finally:
        await stop(tasks)


async def test_drift_seen_after_a_periodic_sync_is_repaired_by_the_next(kernel: FakeKernel) -> None:
    client = FakeClient()
    client.stores["services"].put(service("svc1"))
    _, tasks = await start_proxy(client, min_sync_period_s=0.0, sync_period_s=0.3)
    try:
        await eventually(lambda: len(kernel.restores) == 2, timeout=3)  # first sync, then one periodic
        assert "-I PREROUTING 1" not in kernel.restores[1]
        kernel.jumps_in = False  # someone removed them
        await eventually(lambda: kernel.jumps_in, timeout=3)
        assert "-I PREROUTING 1" in kernel.restores[-1]
    finally:
        await stop(tasks)


async def test_network_programming_latency_is_observed_for_endpoint_changes(kernel: FakeKernel) -> None:
    client = FakeClient()
    client.stores["services"].put(service("svc1"))
    before = metrics.NETWORK_PROGRAMMING._sum.get(), _histogram_count(metrics.NETWORK_PROGRAMMING)
    _, tasks = await start_proxy(client, min_sync_period_s=0.0, sync_period_s=60)
    try:
        await eventually(lambda: len(kernel.restores) == 1)
        stream = await client.stores["endpoints"].stream(0)
        eps = endpoints("svc1", ["10.244.1.2"])
        eps["metadata"]["annotations"] = {main.TRIGGER_TIME_ANNOTATION: "2000-01-01T00:00:00Z"}
        stream.send("ADDED", client.stores["endpoints"].put(eps))
        await eventually(lambda: len(kernel.restores) == 2)
        assert _histogram_count(metrics.NETWORK_PROGRAMMING) == before[1] + 1
        assert metrics.NETWORK_PROGRAMMING._sum.get() - before[0] > 20 * 365 * 86400  # measured from the annotation
    finally:
        await stop(tasks)


def _histogram_count(histogram: Any) -> float:
    return sum(bucket.get() for bucket in histogram._buckets)


def test_set_sysctls_writes_only_what_differs(tmp_path: Any) -> None:
    for name in main.SYSCTLS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("0\n")
    main.set_sysctls(tmp_path)
    assert all((tmp_path / name).read_text() == "1" for name in main.SYSCTLS)
