"""`python -m kubelet`: flags, then the node agent, the pod workers and the health server in one TaskGroup."""
from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from apiserver.discovery import GIT_VERSION
from common import errors
from common.api import kinds
from common.client import ApiClient
from common.daemon import (ServingTLS, add_client_flags, add_logging_flags, env_default, health_server, http_server,
                           parse_duration, run_main, setup_logging)
from common.events import EventRecorder

from . import images, status
from .dns import Configurer, default_resolv_conf, parse_cluster_dns
from .kubelet import Kubelet, StatusWriter, Timings
from .node import NodeAgent, NodeConfig, detect_node_ip, parse_node_labels, parse_taints
from .podworker import PodSyncer, field_path
from .probes import ProbeManager
from .runtime import DockerRuntime, PodNetworkError
from .server import KubeletServer
from .volumes import VolumeManager

log = logging.getLogger("kubelet")


@dataclass
class Settings:
    node_name: str
    server: str | None
    kubeconfig: str | None
    root_dir: Path
    pause_image: str
    network: str
    node_ip: str
    healthz_bind_address: str
    healthz_port: int
    address: str
    port: int
    node_labels: dict[str, str]
    taints: list[dict[str, Any]]
    max_pods: int
    status_update_frequency_s: float
    sync_frequency_s: float
    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"
    pod_cidr_network: str | None = None
    pod_network_mtu: int | None = None
    tls: ServingTLS | None = None


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m kubelet", description="kubelab kubelet: runs this node's pods "
                                "as Docker containers.")
    p.add_argument("--node-name", default=env_default("--node-name", socket.gethostname().lower()),
                   help="the Node this kubelet registers and runs pods for (env KUBELAB_NODE_NAME)")
    add_client_flags(p)
    p.add_argument("--root-dir", type=Path, default=Path(env_default("--root-dir", "/var/lib/kubelab/kubelet") or ""),
                   help="where pod volumes live; Docker must see the same path (env KUBELAB_ROOT_DIR)")
    p.add_argument("--pod-infra-container-image", default=env_default("--pod-infra-container-image",
                                                                      images.DEFAULT_PAUSE_IMAGE),
                   help="the pause image; built locally from busybox when missing")
    p.add_argument("--docker-network", default=env_default("--docker-network", "bridge"),
                   help="the Docker network pod sandboxes join")
    p.add_argument("--pod-cidr-network", default=env_default("--pod-cidr-network"),
                   help="a Docker bridge network to create on this Node's spec.podCIDR (waited for) for pod "
                        "sandboxes, instead of --docker-network: pod IPs unique cluster-wide, routed between nodes "
                        "by the pod network agent (python -m kube_proxy.podnet)")
    p.add_argument("--pod-network-mtu", type=int, default=int(env_default("--pod-network-mtu", "0") or 0),
                   help="with --pod-cidr-network: the network's MTU (e.g. the VXLAN device's); 0: Docker's default")
    p.add_argument("--node-ip", default=env_default("--node-ip"), help="this node's InternalIP (default: detected)")
    p.add_argument("--healthz-bind-address", default=env_default("--healthz-bind-address", "127.0.0.1"))
    p.add_argument("--healthz-port", type=int, default=int(env_default("--healthz-port", "10248") or 10248),
                   help="port of /healthz and /metrics; 0 disables")
    p.add_argument("--address", default=env_default("--address"),
                   help="address of the kubelet API (logs, exec, stats); default: the node IP, not every "
                        "interface, since without --client-ca-file anyone who reaches it may exec into pods")
    p.add_argument("--port", type=int, default=int(env_default("--port", "10250") or 10250),
                   help="port of the kubelet API; 0 picks a free one (reported in the Node's daemonEndpoints)")
    p.add_argument("--tls-cert-file", default=env_default("--tls-cert-file"),
                   help="serve the kubelet API over HTTPS with this certificate (`kubelab certs --node` makes one)")
    p.add_argument("--tls-private-key-file", default=env_default("--tls-private-key-file"),
                   help="the private key of --tls-cert-file")
    p.add_argument("--client-ca-file", default=env_default("--client-ca-file"),
                   help="with --tls-cert-file: accept only callers with a client certificate this CA signed "
                        "(the apiserver's --kubelet-client-certificate)")
    p.add_argument("--node-labels", default=env_default("--node-labels", ""), help="k=v,... added at registration")
    p.add_argument("--register-with-taints", default=env_default("--register-with-taints", ""),
                   help="key=value:Effect,... set at registration")
    p.add_argument("--max-pods", type=int, default=int(env_default("--max-pods", "110") or 110))
    p.add_argument("--cluster-dns", default=env_default("--cluster-dns", ""),
                   help="comma list of DNS server IPs for ClusterFirst pods (the kube-dns Service's clusterIP); "
                        "without it they get the host's resolv.conf, as upstream")
    p.add_argument("--cluster-domain", default=env_default("--cluster-domain", "cluster.local"),
                   help="the cluster's DNS domain: pods search <ns>.svc.<domain> svc.<domain> <domain>")
    p.add_argument("--resolv-conf", default=env_default("--resolv-conf"),
                   help="the host resolv.conf pods' DNS builds on (default /etc/resolv.conf, or systemd-resolved's "
                        "upstream list when that names only its local stub); \"\" for none")
    p.add_argument("--node-status-update-frequency", type=parse_duration,
                   default=env_default("--node-status-update-frequency", "10s"))
    p.add_argument("--sync-frequency", type=parse_duration, default=env_default("--sync-frequency", "1m"),
                   help="longest time before a running pod's configMap and secret volumes follow their objects")
    p.add_argument("--hollow", action="store_true",
                   help="run many hollow nodes instead, without containers (see `--hollow --help`)")
    p.add_argument("--count", type=int, help="with --hollow: how many nodes")
    add_logging_flags(p)
    args = p.parse_args(argv)
    if args.count is not None:
        p.error("--count needs --hollow")
    setup_logging("kubelet", args.verbosity)
    try:
        labels, taints = parse_node_labels(args.node_labels), parse_taints(args.register_with_taints)
    except ValueError as exc:
        p.error(str(exc))
    node_ip = args.node_ip or detect_node_ip()
    tls = _serving_tls(p, args)
    try:
        cluster_dns = parse_cluster_dns(args.cluster_dns)
    except ValueError as exc:
        p.error(f"--cluster-dns: {exc}")
    return Settings(node_name=args.node_name, server=args.server, kubeconfig=args.kubeconfig,
                    root_dir=args.root_dir, pause_image=args.pod_infra_container_image, network=args.docker_network,
                    node_ip=node_ip, healthz_bind_address=args.healthz_bind_address, healthz_port=args.healthz_port,
                    address=args.address or node_ip, port=args.port, node_labels=labels, taints=taints,
                    max_pods=args.max_pods, status_update_frequency_s=_seconds(args.node_status_update_frequency),
                    sync_frequency_s=_seconds(args.sync_frequency), pod_cidr_network=args.pod_cidr_network,
                    pod_network_mtu=args.pod_network_mtu or None, cluster_dns=cluster_dns,
                    cluster_domain=args.cluster_domain, tls=tls,
                    resolv_conf=default_resolv_conf() if args.resolv_conf is None else args.resolv_conf)


def _serving_tls(p: argparse.ArgumentParser, args: argparse.Namespace) -> ServingTLS | None:
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        p.error("--tls-cert-file and --tls-private-key-file go together")
    if args.client_ca_file and not args.tls_cert_file:
        p.error("--client-ca-file needs --tls-cert-file and --tls-private-key-file (client certificates need TLS)")
    for flag in ("tls_cert_file", "tls_private_key_file", "client_ca_file"):
        path = getattr(args, flag)
        if path and not Path(path).is_file():
            p.error(f"--{flag.replace('_', '-')} {path}: no such file")
    return ServingTLS(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file) if args.tls_cert_file \
        else None


def _seconds(value: float | str) -> float:
    """A duration flag: argparse converts given values, defaults arrive as text."""
    return parse_duration(value) if isinstance(value, str) else value


class ApiObjectFetcher:
    """ConfigMaps and Secrets for env and volumes, read from the API (None when missing)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(kinds.CONFIGMAPS, namespace, name)

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(kinds.SECRETS, namespace, name)

    async def _get(self, rt: Any, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(rt, name, namespace)
        except errors.NotFound:
            return None


async def serve(settings: Settings) -> int:
    client = ApiClient.from_flags(settings.server, settings.kubeconfig,
                                  user_agent=f"kubelet/{GIT_VERSION} ({settings.node_name})")
    runtime = DockerRuntime(settings.node_name, pause_image=settings.pause_image, network=settings.network)
    await asyncio.to_thread(images.ensure_pause_image, runtime.client, settings.pause_image)
    recorder = EventRecorder(client, "kubelet", host=settings.node_name)
    fetch = ApiObjectFetcher(client)
    kubelet: Kubelet | None = None

    def poke(uid: str) -> None:
        if kubelet is not None:
            kubelet.poke(uid)

    async def probe_event(pod: dict[str, Any], container: str, type_: str, reason: str, message: str) -> None:
        await recorder.record(pod, type_, reason, message, field_path(pod, container))

    def liveness_failed(uid: str, container: str, message: str) -> None:
        syncer.liveness_kills[(uid, container)] = message
        poke(uid)

    probes = ProbeManager(exec_run=runtime.exec_run, on_change=poke, on_liveness_failure=liveness_failed,
                          on_event=probe_event)
    volumes = VolumeManager(settings.root_dir, fetch)
    dns_config = Configurer(settings.cluster_dns, settings.cluster_domain, settings.resolv_conf, recorder.record)
    syncer = PodSyncer(runtime, volumes, probes, recorder, fetch, node_name=settings.node_name,
                       host_ip=settings.node_ip, dns_config=dns_config)
    kubelet = Kubelet(client, runtime, syncer, StatusWriter(client, status.status_changed), settings.node_name,
                      Timings(volume_refresh_s=settings.sync_frequency_s))
    api_socket = _bind(settings.address, settings.port)  # before registering: the Node reports the port
    node = NodeAgent(client, NodeConfig(settings.node_name, node_ip=settings.node_ip, labels=settings.node_labels,
                                        taints=settings.taints, max_pods=settings.max_pods,
                                        root_dir=str(settings.root_dir), kubelet_port=api_socket.getsockname()[1],
                                        container_runtime_version=await runtime.version(),
                                        status_update_frequency_s=settings.status_update_frequency_s),
                     recorder=recorder)
    network = PodNetworkSetup(client, runtime, settings)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(node.run(network.readiness))  # registers the Node, then keeps its Lease and status

        async def start_pods() -> None:
            if settings.pod_cidr_network:
                await network.run()  # no pod starts before the pod network has the node's podCIDR
                tg.create_task(network.follow())
            await kubelet.run(tg)
        tg.create_task(start_pods())
        if settings.healthz_port:
            tg.create_task(health_server(settings.healthz_bind_address, settings.healthz_port).serve())
        api = KubeletServer(runtime, lambda ns, name: kubelet.pods.get(f"{ns}/{name}"), kubelet.pods.list)
        tg.create_task(http_server(api.app(), settings.address, 0, settings.tls).serve(sockets=[api_socket]))
        log.info("kubelet %s running pods for node %s (%s)", GIT_VERSION, settings.node_name, settings.node_ip)
    return 0


class PodNetworkSetup:
    """--pod-cidr-network: wait for the Node's spec.podCIDR, then make pod sandboxes join a network on it.

    Until then the node reports NotReady with the reason, as upstream's kubelet does while its network plugin is
    not ready.  A podCIDR that changes later (the Node was deleted and registered again) is followed, as
    upstream's updatePodCIDR does: the network is replaced once no container uses it."""

    def __init__(self, client: ApiClient, runtime: DockerRuntime, settings: Settings) -> None:
        self.client, self.runtime, self.settings = client, runtime, settings
        self.problem = "network not ready: waiting for the node's podCIDR" if settings.pod_cidr_network else ""
        self.pod_cidr = ""  # the one the network is on

    def readiness(self) -> tuple[bool, str]:
        return (not self.problem, self.problem)

    async def run(self, retry_s: float = 1.0) -> None:
        """Return once the network is on the node's podCIDR."""
        while not await self.sync_once():
            await asyncio.sleep(retry_s)

    async def follow(self, period_s: float = 10.0) -> None:
        while True:
            await asyncio.sleep(period_s)
            await self.sync_once()

    async def sync_once(self) -> bool:
        """Whether the network is on the node's podCIDR (unchanged when the Node or its podCIDR is missing)."""
        pod_cidr = await self._pod_cidr()
        if not pod_cidr or pod_cidr == self.pod_cidr:
            return bool(self.pod_cidr)
        name = self.settings.pod_cidr_network or ""
        try:
            await self.runtime.ensure_pod_network(name, pod_cidr, self.settings.pod_network_mtu)
        except PodNetworkError as err:
            problem = f"network not ready: {err}"
            if problem != self.problem:  # once, not every retry
                log.error("%s", err)
            self.problem = problem
            return False
        log.info("pod sandboxes join Docker network %s on podCIDR %s", name, pod_cidr)
        self.pod_cidr, self.problem = pod_cidr, ""
        return True

    async def _pod_cidr(self) -> str:
        try:
            node = await self.client.get(kinds.NODES, self.settings.node_name)
        except (errors.ApiError, OSError, TimeoutError):
            return ""  # not registered yet, or the API is away: ask again
        return (node.get("spec") or {}).get("podCIDR") or ""


def _bind(address: str, port: int) -> socket.socket:
    """The kubelet API's listening socket, bound early so a port of 0 is known before the Node registers."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    return sock


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "--hollow" in args:  # kubemark-style hollow nodes: no Docker, their own flags (kubelet/hollow.py)
        from .hollow import main as hollow_main
        hollow_main(args)
        return
    settings = parse_args(argv)
    run_main("kubelet", lambda: serve(settings), fatal=(docker.errors.DockerException, images.ImageBuildError))
