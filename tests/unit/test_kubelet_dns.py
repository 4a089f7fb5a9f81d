"""Pod resolv.conf composition (kubelet/dns.py) as upstream's kubelet does it: every dnsPolicy, every dnsConfig merge."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelet import dns as kdns

HOST = kdns.ResolvConf(nameservers=("10.0.0.2", "10.0.0.3"), searches=("corp.example", "example"),
                       options=("edns0", "attempts:2"))
CLUSTER = kdns.DNSSettings(cluster_dns=("10.96.0.10",), cluster_domain="cluster.local", host=HOST)
NO_CLUSTER_DNS = kdns.DNSSettings(cluster_dns=(), cluster_domain="cluster.local", host=HOST)
NO_RESOLV_CONF = kdns.DNSSettings(cluster_dns=("10.96.0.10",), cluster_domain="cluster.local", host=None)
CLUSTER_SEARCH = ["ns1.svc.cluster.local", "svc.cluster.local", "cluster.local"]


def pod(policy: str | None = None, *, host_network: bool = False, dns_config: dict[str, Any] | None = None,
        namespace: str = "ns1") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if policy is not None:
        spec["dnsPolicy"] = policy
    if host_network:
        spec["hostNetwork"] = True
    if dns_config is not None:
        spec["dnsConfig"] = dns_config
    return {"metadata": {"name": "p", "namespace": namespace, "uid": "u1"}, "spec": spec}


def triple(result: kdns.PodDNS) -> tuple[list[str], list[str], list[str]]:
    return result.nameservers, result.searches, result.options


HOST_TRIPLE = (["10.0.0.2", "10.0.0.3"], ["corp.example", "example"], ["edns0", "attempts:2"])
CLUSTER_TRIPLE = (["10.96.0.10"], [*CLUSTER_SEARCH, "corp.example", "example"], ["ndots:5"])


@pytest.mark.parametrize("policy, host_network, settings, expected, warning", [
    (None, False, CLUSTER, CLUSTER_TRIPLE, None),  # the default policy is ClusterFirst
    ("ClusterFirst", False, CLUSTER, CLUSTER_TRIPLE, None),
    ("ClusterFirst", True, CLUSTER, HOST_TRIPLE, None),  # hostNetwork: the host's
    ("ClusterFirstWithHostNet", True, CLUSTER, CLUSTER_TRIPLE, None),
    ("ClusterFirstWithHostNet", False, CLUSTER, CLUSTER_TRIPLE, None),
    ("Default", False, CLUSTER, HOST_TRIPLE, None),
    ("Default", True, CLUSTER, HOST_TRIPLE, None),
    ("None", False, CLUSTER, ([], [], []), None),
    ("ClusterFirst", False, NO_CLUSTER_DNS, HOST_TRIPLE, "MissingClusterDNS"),  # falls back to Default
    ("ClusterFirstWithHostNet", True, NO_CLUSTER_DNS, HOST_TRIPLE, "MissingClusterDNS"),
    ("ClusterFirst", True, NO_CLUSTER_DNS, HOST_TRIPLE, None),  # Default already: nothing missing
    ("Default", False, NO_RESOLV_CONF, (["127.0.0.1"], ["."], []), None),  # --resolv-conf "": the node's resolver
    ("ClusterFirst", False, NO_RESOLV_CONF, (["10.96.0.10"], CLUSTER_SEARCH, ["ndots:5"]), None),
    ("Bogus", False, CLUSTER, CLUSTER_TRIPLE, None),  # unknown policy: ClusterFirst, as upstream
], ids=lambda v: str(v) if isinstance(v, (str, bool)) or v is None else None)
def test_policies(policy: str | None, host_network: bool, settings: kdns.DNSSettings,
                  expected: tuple[list[str], list[str], list[str]], warning: str | None) -> None:
    result = kdns.compose(pod(policy, host_network=host_network), settings)
    assert triple(result) == expected
    assert [reason for reason, _ in result.warnings] == ([warning] if warning else [])


def test_cluster_searches_follow_namespace_and_domain() -> None:
    settings = kdns.DNSSettings(("10.96.0.10",), "kube.example", kdns.ResolvConf(searches=("svc.kube.example",)))
    result = kdns.compose(pod(namespace="team-a"), settings)
    # host searches already in the cluster list appear once
    assert result.searches == ["team-a.svc.kube.example", "svc.kube.example", "kube.example"]


def test_empty_cluster_domain_uses_host_searches_only() -> None:
    settings = kdns.DNSSettings(("10.96.0.10",), "", HOST)
    assert kdns.compose(pod(), settings).searches == ["corp.example", "example"]


def test_missing_cluster_dns_message_is_upstreams() -> None:
    [(reason, message)] = kdns.compose(pod(), NO_CLUSTER_DNS).warnings
    assert reason == "MissingClusterDNS"
    assert message == ('pod: "p_ns1(u1)". kubelet does not have ClusterDNS IP configured and cannot create Pod '
                       'using "ClusterFirst" policy. Falling back to "Default" policy.')


@pytest.mark.parametrize("policy, dns_config, expected", [
    # None: only dnsConfig
    ("None", {"nameservers": ["1.1.1.1"], "searches": ["a.example"], "options": [{"name": "ndots", "value": "2"}]},
     (["1.1.1.1"], ["a.example"], ["ndots:2"])),
    # appended after the policy's, duplicates dropped
    ("ClusterFirst", {"nameservers": ["1.1.1.1", "10.96.0.10"], "searches": ["a.example", "svc.cluster.local"]},
     (["10.96.0.10", "1.1.1.1"], [*CLUSTER_SEARCH, "corp.example", "example", "a.example"], ["ndots:5"])),
    # options override by name, new ones are added; a value-less option is just its name
    ("ClusterFirst", {"options": [{"name": "ndots", "value": "1"}, {"name": "edns0"}, {"name": "timeout", "value": "3"}]},
     (["10.96.0.10"], [*CLUSTER_SEARCH, "corp.example", "example"], ["ndots:1", "edns0", "timeout:3"])),
    ("Default", {"options": [{"name": "attempts", "value": "5"}, {"name": "edns0", "value": None}]},
     (["10.0.0.2", "10.0.0.3"], ["corp.example", "example"], ["edns0", "attempts:5"])),
    # an option given with a value, then overridden without one, loses its value
    ("None", {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "3"}, {"name": "ndots"}]},
     (["1.1.1.1"], [], ["ndots"])),
    # an empty dnsConfig changes nothing
    ("Default", {}, HOST_TRIPLE),
    # nameservers: at most 3, the rest dropped with a warning
    ("Default", {"nameservers": ["1.1.1.1", "8.8.8.8"]}, (["10.0.0.2", "10.0.0.3", "1.1.1.1"],
                                                        ["corp.example", "example"], ["edns0", "attempts:2"])),
], ids=["none", "append-dedupe", "options-override", "default-options", "option-loses-value", "empty",
        "nameserver-limit"])
def test_dns_config_merge(policy: str, dns_config: dict[str, Any],
                          expected: tuple[list[str], list[str], list[str]]) -> None:
    assert triple(kdns.compose(pod(policy, dns_config=dns_config), CLUSTER)) == expected


def test_nameserver_limit_warns() -> None:
    result = kdns.compose(pod("Default", dns_config={"nameservers": ["1.1.1.1", "8.8.8.8"]}), CLUSTER)
    assert result.warnings == [("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been "
                                "omitted, the applied nameserver line is: 10.0.0.2 10.0.0.3 1.1.1.1")]


def _domains(count: int, length: int = 10) -> list[str]:
    return [f"{i:0{length - 2}d}.x" for i in range(count)]


@pytest.mark.parametrize("searches, expected_count, cut", [
    (_domains(32), 32, False),
    (_domains(33), 32, True),  # at most 32 paths
    (_domains(4) + ["a" * 254], 4, True),  # a path over 253 characters is dropped
    (["a" * 253], 1, False),
    (_domains(8, 250), 8, False),  # 8 x 250 + 7 spaces = 2007 characters: fits
    (_domains(9, 250), 8, True),  # 2258: the last one goes
    (_domains(3, 250) + ["b" * 253] * 6, 8, True),  # cut from the end until 2048 or less
], ids=["32", "33", "too-long-path", "253", "2007-chars", "2258-chars", "cut-from-end"])
def test_search_limits(searches: list[str], expected_count: int, cut: bool) -> None:
    kept, was_cut = kdns.fit_search_limits(list(searches))
    assert len(kept) == expected_count and was_cut == cut
    assert kept == [s for s in searches if len(s) <= 253][:expected_count]
    assert len(" ".join(kept)) <= 2048


def test_search_limit_applies_to_the_composed_line() -> None:
    result = kdns.compose(pod(dns_config={"searches": _domains(40)}), CLUSTER)
    assert len(result.searches) == 32 and result.searches[:3] == CLUSTER_SEARCH
    [(reason, message)] = result.warnings
    assert reason == "DNSConfigForming" and message.startswith("Search Line limits were exceeded")


@pytest.mark.parametrize("text, expected", [
    ("nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch a.example b.example.\noptions ndots:2 edns0\n",
     kdns.ResolvConf(("10.0.0.2", "10.0.0.3"), ("a.example", "b.example"), ("ndots:2", "edns0"))),
    ("# comment\nsearch old.example\nsearch new.example\noptions a\noptions b\n",  # last search/options win
     kdns.ResolvConf((), ("new.example",), ("b",))),
    ("  nameserver   10.0.0.9  \nnameserver\ndomain x.example\n", kdns.ResolvConf(("10.0.0.9",), (), ())),
    ("", kdns.ResolvConf()),
])
def test_parse_resolv_conf(text: str, expected: kdns.ResolvConf) -> None:
    assert kdns.parse_resolv_conf(text) == expected


@pytest.mark.parametrize("result, expected", [
    (kdns.PodDNS(["10.96.0.10"], ["a"], ["ndots:5"]), {"nameservers": ["10.96.0.10"], "searches": ["a"],
                                                     "options": ["ndots:5"]}),
    # no search path must not become the host's (Docker fills an empty one): "." says none
    (kdns.PodDNS(["1.1.1.1"], [], []), {"nameservers": ["1.1.1.1"], "searches": ["."], "options": []}),
])
def test_runtime_config(result: kdns.PodDNS, expected: dict[str, Any]) -> None:
    assert result.runtime_config() == expected


def test_configurer_reads_the_host_file_each_time(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.2\nsearch corp.example\n")
    configurer = kdns.Configurer(("10.96.0.10",), "cluster.local", str(resolv))
    assert configurer(pod())["searches"] == [*CLUSTER_SEARCH, "corp.example"]
    resolv.write_text("nameserver 10.0.0.2\nsearch other.example\n")
    assert configurer(pod())["searches"] == [*CLUSTER_SEARCH, "other.example"]
    assert configurer(pod("Default"))["nameservers"] == ["10.0.0.2"]
    missing = kdns.Configurer(("10.96.0.10",), "cluster.local", str(tmp_path / "nope"))
    assert missing(pod())["searches"] == CLUSTER_SEARCH


@pytest.mark.parametrize("etc, resolved_exists, expected", [
    ("nameserver 127.0.0.53\n", True, "resolved"),  # systemd-resolved's stub: pods cannot reach it
    ("nameserver 127.0.0.53\n", False, "etc"),
    ("nameserver 10.0.0.2\n", True, "etc"),
    ("nameserver 127.0.0.53\nnameserver 10.0.0.2\n", True, "etc"),
])
def test_default_resolv_conf(tmp_path: Path, etc: str, resolved_exists: bool, expected: str) -> None:
    (tmp_path / "etc").write_text(etc)
    if resolved_exists:
        (tmp_path / "resolved").write_text("nameserver 10.0.0.2\n")
    found = kdns.default_resolv_conf(str(tmp_path / "etc"), str(tmp_path / "resolved"))
    assert found == str(tmp_path / expected)


def test_parse_cluster_dns() -> None:
    assert kdns.parse_cluster_dns("10.96.0.10, fd00::a") == ("10.96.0.10", "fd00::a")
    assert kdns.parse_cluster_dns("") == ()
    with pytest.raises(ValueError):
        kdns.parse_cluster_dns("10.96.0.10,kube-dns")
