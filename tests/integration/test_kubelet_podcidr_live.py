"""`kubelet --pod-cidr-network`: pod IPs come from the Node's spec.podCIDR, on a Docker network made for it.

Real kubelet, real apiserver, real Docker engine; every network the test makes is removed at the end.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from common.localcluster import ChildProcess
from conftest import wait_until
from kubelet import images
from kubelet.runtime import POD_NETWORK_OPTIONS, DockerRuntime, PodNetworkError
from kubelet_harness import (BUSYBOX, Node, create, docker_client, phase, pod, sh, until_pod)  # noqa: F401
from netns_harness import netns  # noqa: F401
from test_podnet_live import create_node, fetch, running_lab, serve_echo


def free_subnet(client: docker.DockerClient) -> str:
    """A /24 no Docker network on this engine uses (10.250.0.0/16: neither Docker's pools nor the cluster's)."""
    used = {cfg.get("Subnet") for n in client.networks.list() for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []}
    while (subnet := f"10.250.{random.randint(0, 255)}.0/24") in used:
        pass
    return subnet


def remove_network(client: docker.DockerClient, name: str) -> None:
    try:
        client.networks.get(name).remove()
    except docker.errors.NotFound:
        pass


class PodCidrNode(Node):
    """The harness's kubelet, with its sandboxes on a network of the Node's podCIDR."""

    @property
    def network(self) -> str:
        return f"kl-pods-{self.name}"

    def _process(self) -> ChildProcess:
        process = super()._process()
        process.argv += ["--pod-cidr-network", self.network]
        return process


@pytest.fixture
def podcidr_node(apiserver: Any, tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[PodCidrNode]:  # noqa: F811
    kubelet_node = PodCidrNode(apiserver.url, tmp_path, docker_client)
    try:
        yield kubelet_node
    finally:
        print(kubelet_node.process.log_tail(60))
        kubelet_node.cleanup()
        remove_network(docker_client, kubelet_node.network)


def ready_condition(http: httpx.Client, name: str) -> dict[str, Any]:
    node = http.get(f"/api/v1/nodes/{name}").json()
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def test_pod_ip_comes_from_the_node_pod_cidr(http: httpx.Client, namespace: str, podcidr_node: PodCidrNode,
                                            docker_client: docker.DockerClient) -> None:  # noqa: F811
    # a network of that name on another subnet (the podCIDR changed) and unused: the kubelet replaces it
    docker_client.networks.create(podcidr_node.network, driver="bridge", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=free_subnet(docker_client))]))
    pod_cidr = free_subnet(docker_client)
    podcidr_node.start()
    condition = wait_until(lambda: ready_condition(http, podcidr_node.name), timeout=15, what="a Ready condition")
    assert condition["status"] == "False" and "podCIDR" in condition["message"]

    resp = http.patch(f"/api/v1/nodes/{podcidr_node.name}", json={"spec": {"podCIDR": pod_cidr,
                                                                          "podCIDRs": [pod_cidr]}},
                      headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    create(http, namespace, pod("web", podcidr_node, [sh("web", "sleep 3600")]))
    running = until_pod(http, namespace, "web", lambda p: phase(p) == "Running" and p["status"].get("podIP"),
                        timeout=60)
    pod_ip = ipaddress.ip_address(running["status"]["podIP"])
    network = ipaddress.ip_network(pod_cidr)
    assert pod_ip in network and pod_ip != network.network_address + 1

    attrs = docker_client.networks.get(podcidr_node.network).attrs
    assert attrs["Driver"] == "bridge"
    assert attrs["IPAM"]["Config"] == [{"Subnet": pod_cidr, "Gateway": str(network.network_address + 1)}]
    for key, value in POD_NETWORK_OPTIONS.items():
        assert attrs["Options"][key] == value
    assert wait_until(lambda: ready_condition(http, podcidr_node.name).get("status") == "True", timeout=30,
                      what="the node to become Ready")


async def test_a_network_in_use_on_another_subnet_is_an_error_not_a_takeover(
        docker_client: docker.DockerClient) -> None:  # noqa: F811
    name = f"kl-pods-{uuid.uuid4().hex[:8]}"
    old_subnet = new_subnet = free_subnet(docker_client)
    while new_subnet == old_subnet:
        new_subnet = free_subnet(docker_client)
    docker_client.networks.create(name, driver="bridge", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=old_subnet)]))
    user = docker_client.containers.run(BUSYBOX, ["sleep", "60"], network=name, detach=True, init=True)
    runtime = DockerRuntime(f"test-{name}", client=docker_client)
    try:
        with pytest.raises(PodNetworkError, match=f"{old_subnet}.*{new_subnet}.*1 container"):
            await runtime.ensure_pod_network(name, new_subnet)
        assert docker_client.networks.get(name).attrs["IPAM"]["Config"][0]["Subnet"] == old_subnet
        user.remove(force=True)
        await runtime.ensure_pod_network(name, new_subnet)
        assert docker_client.networks.get(name).attrs["IPAM"]["Config"][0]["Subnet"] == new_subnet
        assert runtime.network == name
        await runtime.ensure_pod_network(name, new_subnet)  # idempotent: the same network stays
    finally:
        if _exists(user):
            user.remove(force=True)
        remove_network(docker_client, name)
        await runtime.close()


def _exists(container: Any) -> bool:
    try:
        container.reload()
        return True
    except docker.errors.NotFound:
        return False


# -- a Docker host on the pod network ---------------------------------------------------------------------------

# busybox httpd answers /cgi-bin/ip with the client's address as the server saw it
CGI_ECHO = ("mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' "
            "> /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 8080 -h /www")


class NetnsEngine:
    """A dockerd of its own inside a host namespace (as the lab runs one per host), with the test images loaded."""

    def __init__(self, ns: Any) -> None:
        self.ns = ns
        self.dir = Path(tempfile.mkdtemp(prefix="kld", dir="/tmp"))  # short: unix socket paths are limited
        self.socket = self.dir / "docker.sock"
        argv = ["dockerd", "--config-file", str(self._config()), "--data-root", str(self.dir / "data"),
                "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "pid"),
                "-H", f"unix://{self.socket}", "--storage-driver", "vfs", "--bridge", "none",
                "--cgroup-parent", f"/{ns.name}", "--log-level", "warn"]
        script = "mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\""  # `ip netns exec` remounts /sys bare
        self.log = open(self.dir / "dockerd.log", "ab")
        self.process = ns.popen(["sh", "-c", script, "dockerd", *argv], stdout=self.log, stderr=subprocess.STDOUT)
        self.client: docker.DockerClient | None = None

    def ready(self, root_client: docker.DockerClient) -> docker.DockerClient:
        wait_until(self._ping, timeout=30, what="the host's dockerd")
        self.client = docker.DockerClient(base_url=f"unix://{self.socket}")
        for image in (BUSYBOX, images.DEFAULT_PAUSE_IMAGE):
            self.client.images.load(b"".join(root_client.images.get(image).save(named=True)))
        return self.client

    def _config(self) -> Path:
        path = self.dir / "daemon.json"
        path.write_text("{}\n")  # not the machine's daemon.json, whose data-root would clash
        return path

    def _ping(self) -> bool:
        assert self.process.poll() is None, (self.dir / "dockerd.log").read_text()[-2000:]
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), timeout=1) as client:
                return client.get("http://docker/_ping").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        try:
            if self.client is not None:
                for container in self.client.containers.list(all=True):
                    container.remove(force=True)
                for network in self.client.networks.list():
                    if network.name not in ("none", "host", "bridge"):
                        network.remove()
                self.client.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(f"/sys/fs/cgroup/{self.ns.name}")


def in_container(client: docker.DockerClient, container_id: str, *cmd: str) -> str:
    result = client.containers.get(container_id).exec_run(list(cmd))
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return result.output.decode().strip()


@pytest.mark.parametrize("backend", ["host-gw", "vxlan"])
async def test_docker_pods_are_routed_between_hosts_with_their_own_ip(
        netns: Any, tmp_path: Path, docker_client: docker.DockerClient, backend: str) -> None:  # noqa: F811
    with running_lab(netns, tmp_path, docker_hosts=("a",)) as (lab, api_url):
        a, b, _c = lab.hosts
        with httpx.Client(base_url=api_url, timeout=10) as http:
            for host in lab.hosts:
                create_node(http, host)
        engine = NetnsEngine(a.ns)
        runtime: DockerRuntime | None = None
        try:
            client = engine.ready(docker_client)
            runtime = DockerRuntime(a.name, client=client, pause_image=images.DEFAULT_PAUSE_IMAGE)
            # what `kubelet --pod-cidr-network kubelab` does on host a, then a pod there
            await runtime.ensure_pod_network("kubelab", a.pod_cidr)
            web = {"metadata": {"name": "web", "namespace": "default", "uid": uuid.uuid4().hex}, "spec": {}}
            sandbox = await runtime.run_sandbox(web)
            assert ipaddress.ip_address(sandbox.ip) in ipaddress.ip_network(a.pod_cidr)
            server = client.containers.run(BUSYBOX, ["sh", "-c", CGI_ECHO], detach=True, init=True,
                                                  network_mode=f"container:{sandbox.id}")
            for host in (a, b):
                lab.start_agent(host, api_url, backend)
            wait_until(lambda: b.pod_cidr in a.routes() and a.pod_cidr in b.routes(), timeout=30,
                       what="routes between a and b")

            # pod on b → Docker pod on a, through Docker's FORWARD chain: the server sees b's pod IP
            seen = wait_until(lambda: fetch(b.pod, f"http://{sandbox.ip}:8080/cgi-bin/ip"), timeout=15,
                              what="pod b to reach the Docker pod on a")
            assert seen.strip("[]").removeprefix("::ffff:") == b.pod_ip  # busybox httpd listens on IPv6 too
            # Docker pod → pod on b: b sees the Docker pod's own IP
            serve_echo(b.pod, b.pod_ip)
            wget = ["timeout", "5", "wget", "-qO-"]  # (busybox wget -T crashes)
            assert wait_until(lambda: in_container(client, server.id, *wget, f"http://{b.pod_ip}:8080/"),
                              timeout=15, what="the Docker pod to reach pod b") == sandbox.ip
            # Docker pod → outside: masqueraded by the agent (Docker's own masquerade is off)
            serve_echo(lab.outside, f"{lab.prefix}.100")
            assert wait_until(lambda: in_container(client, server.id, *wget,
                                                   f"http://{lab.prefix}.100:8080/"),
                              timeout=15, what="the Docker pod to reach the outside") == a.ip
        finally:
            if runtime is not None:
                await runtime.close()
            engine.close()
