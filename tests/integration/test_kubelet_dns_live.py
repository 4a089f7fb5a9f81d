"""A real kubelet with --cluster-dns on the real Docker engine: the /etc/resolv.conf its pods' containers see."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from common.localcluster import ChildProcess
from conftest import wait_until
from kubelet.dns import ResolvConf, parse_resolv_conf
from kubelet_harness import Node, create, docker_client, pod, sh  # noqa: F401 - docker_client is a fixture

CLUSTER_DNS = "10.96.0.10"
HOST_RESOLV_CONF = "nameserver 192.0.2.1\nsearch corp.example\noptions attempts:2\n"


class DnsNode(Node):
    """The harness's node, with a cluster DNS IP and a host resolv.conf of the test's own."""

    def __init__(self, apiserver_url: str, workdir: Path, docker_client: docker.DockerClient,  # noqa: F811
                 network: str | None = None) -> None:
        self.network = network  # a user-defined Docker network for the pods, as --pod-cidr-network makes
        super().__init__(apiserver_url, workdir, docker_client)

    def _process(self) -> ChildProcess:
        process = super()._process()
        resolv = self.workdir / "host-resolv.conf"
        resolv.write_text(HOST_RESOLV_CONF)
        process.argv += ["--cluster-dns", CLUSTER_DNS, "--cluster-domain", "cluster.local",
                         "--resolv-conf", str(resolv)]
        if self.network:
            process.argv += ["--docker-network", self.network]
        return process


@pytest.fixture(params=["bridge", "user-defined"])
def dns_node(request: pytest.FixtureRequest, apiserver: Any, tmp_path: Path,
             docker_client: docker.DockerClient) -> Iterator[DnsNode]:  # noqa: F811
    """On Docker's default bridge and on a user-defined network, where Docker would otherwise write its
    embedded resolver (127.0.0.11) into the pod's resolv.conf."""
    network = None
    if request.param == "user-defined":
        network = docker_client.networks.create(f"kl-dns-{uuid.uuid4().hex[:8]}", driver="bridge")
    node = DnsNode(apiserver.url, tmp_path, docker_client, network.name if network else None)
    try:
        node.start()
        yield node
    finally:
        print(node.process.log_tail(60))
        node.cleanup()
        if network is not None:
            network.remove()


def resolv_conf_of(node: DnsNode, pod_name: str) -> ResolvConf:
    """What the pod's app container printed from its /etc/resolv.conf."""
    def printed() -> str:
        for container in node.containers():
            labels = container.labels
            if labels.get("io.kubernetes.pod.name") == pod_name and labels.get("io.kubernetes.container.name") == "c":
                text = container.logs().decode()
                if "nameserver" in text:
                    return text
        return ""
    return parse_resolv_conf(wait_until(printed, timeout=60, what=f"{pod_name}'s resolv.conf"))


def test_pods_get_resolv_conf_by_dns_policy(dns_node: DnsNode, http: httpx.Client, namespace: str) -> None:
    show = [sh("c", "cat /etc/resolv.conf; sleep 3600")]
    create(http, namespace, pod("cluster-first", dns_node, show))  # no dnsPolicy: ClusterFirst
    create(http, namespace, pod("default", dns_node, show, dnsPolicy="Default"))
    create(http, namespace, pod("custom", dns_node, show, dnsPolicy="None",
                                dnsConfig={"nameservers": ["192.0.2.9"], "searches": ["only.example"],
                                           "options": [{"name": "ndots", "value": "2"}]}))
    create(http, namespace, pod("host-net", dns_node, show, hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"))

    cluster_first = ResolvConf((CLUSTER_DNS,), (f"{namespace}.svc.cluster.local", "svc.cluster.local",
                                                "cluster.local", "corp.example"), ("ndots:5",))
    assert resolv_conf_of(dns_node, "cluster-first") == cluster_first
    assert resolv_conf_of(dns_node, "default") == ResolvConf(("192.0.2.1",), ("corp.example",), ("attempts:2",))
    assert resolv_conf_of(dns_node, "custom") == ResolvConf(("192.0.2.9",), ("only.example",), ("ndots:2",))
    assert resolv_conf_of(dns_node, "host-net") == cluster_first
