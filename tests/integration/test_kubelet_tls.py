"""The kubelet API behind TLS and client certificates (`kubelab certs`): the apiserver reaches it with its client
certificate, checking the kubelet's serving certificate against the cluster CA, so `kubectl logs` and `kubectl exec`
work; any caller without a certificate of that CA is refused at the handshake, and plain HTTP gets nothing."""
from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from common import kubeconfig
from conftest import ApiServer
from kubectl_harness import Kubectl
from kubelab import certs
from kubelet.node import detect_node_ip
from kubelet_harness import Node, create, docker_client, pod, sh, statuses, until_pod  # noqa: F401 - fixtures

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The cluster CA, the apiserver's kubelet-client certificate and node `tls-node`'s serving certificate."""
    node_ip = detect_node_ip()
    directory = certs.create(tmp_path_factory.mktemp("pki"), "https://127.0.0.1:6443", ["127.0.0.1"], ["localhost"],
                             [f"tls-node={node_ip}"]).directory
    return directory, node_ip


@pytest.fixture(scope="module")
def cluster(etcd: Any, pki: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory,
            docker_client: docker.DockerClient) -> Iterator[tuple[ApiServer, Node]]:
    directory, node_ip = pki
    workdir = tmp_path_factory.mktemp("kubelet-tls")
    api = ApiServer(workdir, etcd.url, "--kubelet-client-certificate", str(directory / "apiserver-kubelet-client.crt"),
                    "--kubelet-client-key", str(directory / "apiserver-kubelet-client.key"),
                    "--kubelet-certificate-authority", str(directory / "ca.crt"))
    node = Node(api.url, workdir, docker_client, "--node-ip", node_ip,
                "--tls-cert-file", str(directory / "kubelet-tls-node.crt"),
                "--tls-private-key-file", str(directory / "kubelet-tls-node.key"),
                "--client-ca-file", str(directory / "ca.crt"), name="tls-node")
    api.start()
    try:
        node.start()
        yield api, node
    finally:
        print(node.process.log_tail(40))
        node.cleanup()
        api.stop()


def kubelet_url(api: ApiServer, node: Node, path: str, scheme: str = "https") -> str:
    status = httpx.get(f"{api.url}/api/v1/nodes/{node.name}").json()["status"]
    port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    address = next(a["address"] for a in status["addresses"] if a["type"] == "InternalIP")
    return f"{scheme}://{address}:{port}{path}"


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_logs_and_exec_go_through_with_the_apiserver_certificate(cluster: tuple[ApiServer, Node], tmp_path: Path,
                                                                  kubectl_dir: Path) -> None:
    api, node = cluster
    namespace = "default"
    with httpx.Client(base_url=api.url, timeout=30) as http:
        create(http, namespace, pod("tls-talker", node, [sh("main", "echo over tls; sleep 3600")]))
        until_pod(http, namespace, "tls-talker", lambda p: bool(statuses(p).get("main", {}).get("state", {})
                                                                .get("running")), what="tls-talker running")
        config = tmp_path / "kubeconfig"
        kubeconfig.write(config, api.url, namespace=namespace)
        kubectl = Kubectl(kubectl_dir / "kubectl-1.37", config, tmp_path / "cache", namespace, "1.37")
        until_pod(http, namespace, "tls-talker", lambda _: "over tls" in kubectl.ok("logs", "tls-talker"),
                  what="its log through the kubelet")
        assert kubectl.ok("exec", "tls-talker", "--", "echo", "exec over tls") == "exec over tls\n"
        http.delete(f"/api/v1/namespaces/{namespace}/pods/tls-talker", params={"gracePeriodSeconds": "0"})


def test_callers_without_a_certificate_of_the_cluster_ca_are_refused(cluster: tuple[ApiServer, Node],
                                                                    pki: tuple[Path, str], tmp_path: Path) -> None:
    api, node = cluster
    directory = pki[0]
    ca = directory / "ca.crt"
    url = kubelet_url(api, node, "/pods")
    allowed = httpx.get(url, verify=client_context(ca, directory / "apiserver-kubelet-client.crt",
                                                   directory / "apiserver-kubelet-client.key"))
    assert allowed.status_code == 200 and allowed.json()["kind"] == "PodList"

    stranger = certs.create(tmp_path / "other", "https://127.0.0.1:6443", ["127.0.0.1"], [], []).directory
    for context in (client_context(ca),  # no client certificate at all
                    client_context(ca, stranger / "apiserver-kubelet-client.crt",  # another CA's client
                                   stranger / "apiserver-kubelet-client.key")):
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(url, verify=context)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.get(kubelet_url(api, node, "/pods", scheme="http"))  # no plain HTTP beside it


@pytest.mark.parametrize("daemon,flags,complaint", [
    ("kubelet", ["--tls-cert-file", "x.crt"], "--tls-cert-file and --tls-private-key-file go together"),
    ("kubelet", ["--client-ca-file", "ca.crt"], "--client-ca-file needs --tls-cert-file"),
    ("kubelet", ["--tls-cert-file", "/nonexistent/k.crt", "--tls-private-key-file", "/nonexistent/k.key"],
     "/nonexistent/k.crt: no such file"),
    ("apiserver", ["--kubelet-client-certificate", "c.crt"], "--kubelet-client-certificate and --kubelet-client-key"),
    ("apiserver", ["--kubelet-certificate-authority", "/nonexistent/ca.crt"], "--kubelet-certificate-authority"),
])
def test_half_a_tls_setup_is_refused_in_one_line(daemon: str, flags: list[str], complaint: str) -> None:
    server = ["--server", "http://127.0.0.1:1"] if daemon == "kubelet" else ["--etcd-servers", "http://127.0.0.1:1"]
    done = subprocess.run([sys.executable, "-m", daemon, *server, *flags], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and complaint in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
