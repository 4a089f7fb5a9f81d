"""Simulated hosts: one Linux machine made into N "hosts", each a network namespace with its own dockerd and node
daemons, and the control plane in the root namespace.

    python -m kubelab.lab up|down|status [--nodes N] [--backend host-gw|vxlan] [--state-dir D]
    python -m kubelab.lab cut H | heal H

The wiring (names for the default lab name `klab`)::

    root namespace                      klab-net (the switch)            klab-h1 … klab-hN (the hosts)
    klab0 10.77.0.1/24  ── veth ──  cp ─┐                              ┌─ eth0 10.77.0.11/24, default via .1
    etcd (127.0.0.1), apiserver,        ├─ br0 ── h1 … hN ── veth ──────┤   dockerd (own data/exec root, socket)
    scheduler, controller-manager, DNS  ┘                              └─ kubelet, pod-network agent, kube-proxy

The switch lives in a namespace of its own rather than in the root namespace: with br_netfilter loaded (Docker
loads it) frames crossing a root-namespace bridge go through the root FORWARD chain, whose policy Docker sets to
DROP, so host-to-host traffic would die there.  The root namespace only gains the veth `klab0` with one address.

The lab is secured as deploy/LAB.md secures VMs: `up` makes a CA, certificates, tokens and kubeconfigs with
`kubelab certs` into <state dir>/pki; the apiserver serves HTTPS with bearer tokens, every daemon uses its own
kubeconfig, and the kubelets' API takes only the apiserver's client certificate.

Every `up` starts a fresh cluster (a lab is throwaway: `down` removes the pods' containers anyway).  Everything
the lab starts is found again from pid files under the state dir and from the namespace names, so `down` also
cleans up after a crash; /run/kubelab-lab/<name>.state-dir points a new lab at the state dir of a lost one.
Optional pieces (kube-proxy, the pod-network agent, cluster DNS and the kubelet flags they need) are switched on
when their modules exist in this checkout.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kubelab.daemon import Daemon, in_netns, pid_alive, send_signal
from kubelab.daemon import wait_for as _wait_for

IMAGES = ("kubelab/pause:3.9", "kubelab/busybox:1.35")
CLUSTER_CIDR = "10.244.0.0/16"
CLUSTER_DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
POD_NETWORK = "kubelab"  # the Docker network each kubelet makes from its node's podCIDR
BACKENDS = ("host-gw", "vxlan")
VXLAN_MTU = 1450  # the lab's links are 1500; VXLAN over IPv4 costs 50 bytes
CONFIG_FILE = "lab.json"
BREADCRUMB_DIR = Path("/run/kubelab-lab")


class LabError(RuntimeError):
    """The lab cannot start or stop; the message says why (and which log to read)."""


wait_for = functools.partial(_wait_for, error=LabError)


def run(*argv: str, check: bool = True, timeout: float = 60) -> str:
    proc = subprocess.run(argv, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode(errors="replace")


def netns_list() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list", check=False).splitlines() if line.strip()]


def netns_pids(netns: str) -> list[int]:
    return [int(p) for p in run("ip", "netns", "pids", netns, check=False).split()]


# -- cgroups: where a host's containers are, to stop any the engine left behind ----------------------------------

def cgroup2_mount() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def kill_cgroup_tree(relative: str) -> None:
    """Kill every process under cgroup2 `relative` (the hosts' --cgroup-parent), then remove the cgroups."""
    root = cgroup2_mount()
    top = root / relative if root else None
    if top is None or not top.is_dir():
        return
    cgroups = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True) + [top]
    for cgroup in cgroups:
        for pid in (cgroup / "cgroup.procs").read_text().split() if (cgroup / "cgroup.procs").exists() else []:
            send_signal(int(pid), signal.SIGKILL, group=False)
    for cgroup in cgroups:
        for _ in range(50):
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # still populated for a moment after SIGKILL
                time.sleep(0.05)


# -- the lab ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Host:
    """One simulated host: a network namespace with an address on the lab network and its own Docker engine."""
    name: str  # h1: also its Node's name
    netns: str  # klab-h1
    ip: str
    directory: Path

    @property
    def docker_socket(self) -> Path:
        return self.directory / "docker.sock"

    @property
    def docker_host(self) -> str:
        """DOCKER_HOST for this host's engine (`docker -H …`, docker.DockerClient(base_url=…))."""
        return f"unix://{self.docker_socket}"

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> str:
        """A command inside this host's network namespace."""
        return run(*in_netns(self.netns, argv), check=check, timeout=timeout)

    def docker(self, *argv: str, check: bool = True, timeout: float = 60) -> str:
        return run("docker", "-H", self.docker_host, *argv, check=check, timeout=timeout)


class Lab:
    """N simulated hosts running kubelets, and a control plane on the lab network's first address."""

    def __init__(self, state_dir: Path | str, hosts: int = 3, backend: str = "host-gw", *, name: str = "klab",
                 subnet: str = "10.77.0", api_port: int = 6443, node_monitor_grace_period: str = "40s") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if not 1 <= hosts <= 200:
            raise ValueError("hosts must be between 1 and 200")
        self.state_dir = Path(state_dir).resolve()
        self.backend, self.name, self.subnet, self.api_port = backend, name, subnet, api_port
        self.node_monitor_grace_period = node_monitor_grace_period
        self.control_plane_ip = f"{subnet}.1"
        self.hosts = [Host(f"h{i}", f"{name}-h{i}", f"{subnet}.{10 + i}", self.state_dir / f"h{i}")
                      for i in range(1, hosts + 1)]

    @classmethod
    def load(cls, state_dir: Path | str, **defaults: Any) -> Lab:
        """The lab recorded in state_dir by `up` (so `down`/`cut` need no flags), else one built from defaults."""
        try:
            recorded = json.loads((Path(state_dir) / CONFIG_FILE).read_text())
        except (OSError, ValueError):
            recorded = {}
        return cls(state_dir, **{**defaults, **recorded})

    @property
    def api_url(self) -> str:
        return f"https://{self.control_plane_ip}:{self.api_port}"

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        """The admin's kubeconfig (the CA inline, a bearer token)."""
        return self.pki / "admin.kubeconfig"

    def http(self, timeout: float = 30) -> httpx.Client:
        """An API client as the admin: the lab's CA trusted, the admin token sent, no proxy (none reaches the lab)."""
        token = _token_of(self.kubeconfig)
        return httpx.Client(base_url=self.api_url, timeout=timeout, trust_env=False,
                            verify=ssl.create_default_context(cafile=str(self.pki / "ca.crt")),
                            headers={"Authorization": f"Bearer {token}"} if token else {})

    @property
    def switch_netns(self) -> str:
        return f"{self.name}-net"

    @property
    def root_link(self) -> str:
        return f"{self.name}0"

    @property
    def _breadcrumb(self) -> Path:
        """Names the state dir of the lab running under this name, so that a new lab stops it even after a crash
        (its control plane would otherwise keep the lab's address and port)."""
        return BREADCRUMB_DIR / f"{self.name}.state-dir"

    def _breadcrumb_target(self) -> Path | None:
        try:
            return Path(self._breadcrumb.read_text().strip())
        except OSError:
            return None

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if name in (host.name, host.netns, host.ip):
                return host
        raise LabError(f"no host {name!r} in this lab (hosts: {', '.join(h.name for h in self.hosts)})")

    # -- up ------------------------------------------------------------------------------------------------

    def up(self, timeout: float = 120, progress: Callable[[str], None] = lambda _: None) -> None:
        """Start everything and wait until every host's Node is Ready; a half-started lab is taken down first.
        `progress` hears each step as it is done, with the time since the start."""
        started = time.monotonic()

        def done(step: str) -> None:
            progress(f"{step} ({time.monotonic() - started:.1f}s)")
        preflight()
        if self.running() and _recorded(self.state_dir) == self._config():
            return done("already running")
        self._clear_earlier()
        try:
            self._create_network()
            self._make_pki()
            images_tar = self._save_images()
            done("network, certificates and images")
            with ThreadPoolExecutor(max_workers=len(self.hosts) + 1) as pool:
                hosts = [pool.submit(self._start_host, host, images_tar) for host in self.hosts]
                self._start_control_plane()
                for host in hosts:
                    host.result()
                done("docker engines and node daemons started")
            self._wait_http(self._daemon_stub("apiserver"), f"{self.api_url}/readyz", 60)
            done("apiserver ready")
            self._wait_nodes_ready(timeout)
            done("nodes Ready")
        except BaseException:
            self.down()
            raise

    def _clear_earlier(self) -> None:
        """Stop whatever an earlier lab in this state dir, or of this name elsewhere, left; start a fresh cluster."""
        if _recorded(self.state_dir):
            Lab.load(self.state_dir).down()  # as recorded: its host count or name may differ from ours
        self.down()  # and whatever runs under this name elsewhere (the breadcrumb)
        self._breadcrumb.parent.mkdir(parents=True, exist_ok=True)
        self._breadcrumb.write_text(str(self.state_dir))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)  # no stale Nodes that would read as Ready
        self._write_config()

    def running(self) -> bool:
        """Every process of the lab alive and every Node Ready."""
        try:
            state = self.status()
        except (LabError, OSError):
            return False
        return state["control_plane_running"] and all(
            h["node"] == "Ready" and all(v == "running" for v in h["processes"].values())
            for h in state["hosts"].values())

    def _config(self) -> dict[str, Any]:
        return {"hosts": len(self.hosts), "backend": self.backend, "name": self.name, "subnet": self.subnet,
                  "api_port": self.api_port, "node_monitor_grace_period": self.node_monitor_grace_period}

    def _write_config(self) -> None:
        (self.state_dir / CONFIG_FILE).write_text(json.dumps(self._config(), indent=2) + "\n")

    def _create_network(self) -> None:
        switch = self.switch_netns
        run("ip", "netns", "add", switch)
        run("ip", "-n", switch, "link", "set", "lo", "up")
        run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", switch, "link", "set", "br0", "up")
        run("ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "cp", "netns", switch)
        run("ip", "addr", "add", f"{self.control_plane_ip}/24", "dev", self.root_link)
        run("ip", "link", "set", self.root_link, "up")
        run("ip", "-n", switch, "link", "set", "cp", "master", "br0", "up")
        for host in self.hosts:
            self._create_host_network(host)

    def _create_host_network(self, host: Host) -> None:
        switch = self.switch_netns
        run("ip", "netns", "add", host.netns)
        run("ip", "-n", host.netns, "link", "set", "lo", "up")
        run("ip", "-n", switch, "link", "add", host.name, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        run("ip", "-n", switch, "link", "set", host.name, "master", "br0", "up")
        run("ip", "-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
        run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        run("ip", "-n", host.netns, "route", "add", "default", "via", self.control_plane_ip)

    def _make_pki(self) -> None:
        from kubelab import certs
        certs.create(self.pki, self.api_url, [self.control_plane_ip, "127.0.0.1", "10.96.0.1"],
                     ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
                     [f"{host.name}={host.ip}" for host in self.hosts])

    def _save_images(self) -> Path:
        """The pod images from this machine's engine, saved once and loaded into every host's engine."""
        if subprocess.run(["docker", "image", "inspect", *IMAGES], capture_output=True, timeout=30).returncode:
            run(sys.executable, "-m", "kubelet.images", timeout=300)
        tar = self.state_dir / "images.tar"
        run("docker", "save", "-o", str(tar), *IMAGES, timeout=120)
        return tar

    # -- control plane -----------------------------------------------------------------------------------

    def _control_plane(self) -> list[Daemon]:
        from common.localcluster import apiserver_argv, etcd_argv, free_port
        etcd_port = free_port()
        etcd = Daemon("etcd", etcd_argv(self.name, self.state_dir / "etcd", etcd_port, free_port()), self.state_dir)
        pki = self.pki
        apiserver = Daemon("apiserver", apiserver_argv(
            f"http://127.0.0.1:{etcd_port}", self.api_port, "--bind-address", self.control_plane_ip,
            "--advertise-address", self.control_plane_ip, "--tls-cert-file", str(pki / "apiserver.crt"),
            "--tls-private-key-file", str(pki / "apiserver.key"), "--token-auth-file", str(pki / "tokens.csv"),
            "--kubelet-client-certificate", str(pki / "apiserver-kubelet-client.crt"),
            "--kubelet-client-key", str(pki / "apiserver-kubelet-client.key"),
            "--kubelet-certificate-authority", str(pki / "ca.crt")), self.state_dir)
        scheduler = Daemon("scheduler", [sys.executable, "-m", "scheduler", *self._client("scheduler"),
                                         "--leader-elect", "false", "--port", "0"], self.state_dir)
        controllers = Daemon("controller-manager",
                             [sys.executable, "-m", "controller_manager", *self._client("controller-manager"),
                              "--leader-elect", "false", "--port", "0", "--cluster-cidr", CLUSTER_CIDR,
                              "--node-monitor-grace-period", self.node_monitor_grace_period], self.state_dir)
        dns = Daemon("dns", [sys.executable, "-m", "kube_proxy.dns", *self._client("dns"),
                             "--listen", f"{self.control_plane_ip}:53", "--register-service",
                             "--advertise-address", self.control_plane_ip,
                             "--health-bind-address", self.control_plane_ip], self.state_dir)
        return [etcd, apiserver, scheduler, controllers, dns]

    def _client(self, who: str) -> list[str]:
        """The flags that make a daemon talk to the apiserver as `who` (its kubeconfig from `kubelab certs`)."""
        return ["--kubeconfig", str(self.pki / f"{who}.kubeconfig")]

    def _start_control_plane(self) -> None:
        """etcd, then the rest at once: every daemon retries until the apiserver answers, and their start-up is
        mostly Python imports, which overlap the apiserver's own."""
        etcd, *rest = self._control_plane()
        etcd.start()
        etcd_url = etcd.argv[etcd.argv.index("--listen-client-urls") + 1]
        self._wait_http(etcd, f"{etcd_url}/health", 30)
        for daemon in rest:
            daemon.start()

    def _daemon_stub(self, name: str, host: Host | None = None) -> Daemon:
        """A started daemon's pid file and log, without its command line."""
        return Daemon(name, [], host.directory if host else self.state_dir, host.netns if host else None)

    def _wait_http(self, daemon: Daemon, url: str, timeout: float) -> None:
        def ready() -> bool:
            if daemon.pid is None:
                raise LabError(f"{daemon.name} exited; its log ({daemon.log_file}) ends:\n{daemon.log_tail()}")
            return _http_ok(url, self.pki / "ca.crt")
        try:
            wait_for(ready, timeout, f"{daemon.name} at {url}", 0.05)
        except LabError as exc:
            raise LabError(f"{exc}\n{daemon.log_tail()}") from None

    def control_plane_daemons(self) -> list[str]:
        return ["etcd", "apiserver", "scheduler", "controller-manager", "dns"]

    def restart_control_plane_daemon(self, name: str, kill_signal: int = signal.SIGTERM,
                                     while_down: Callable[[], None] | None = None, timeout: float = 30) -> None:
        """Stop a control-plane daemon with `kill_signal` (SIGKILL: a crash) and start it again with the command
        line it ran with, read from /proc: the same data dir and ports (`up` picks fresh ones each time).
        `while_down` runs once it is gone; etcd and the apiserver are waited for until they answer again."""
        if name not in self.control_plane_daemons():
            raise LabError(f"no control-plane daemon {name!r} (they are {', '.join(self.control_plane_daemons())})")
        stub = self._daemon_stub(name)
        pid = stub.pid
        if pid is None:
            raise LabError(f"{name} is not running (no live pid in {stub.pid_file})")
        argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
        send_signal(pid, kill_signal, group=True)
        wait_for(lambda: not pid_alive(pid), timeout, f"{name} (pid {pid}) to exit after signal {kill_signal}", 0.05)
        stub.pid_file.unlink(missing_ok=True)
        if while_down is not None:
            while_down()
        daemon = Daemon(name, argv, self.state_dir)
        daemon.start()
        if name == "etcd":
            self._wait_http(daemon, f"{argv[argv.index('--listen-client-urls') + 1]}/health", timeout)
        elif name == "apiserver":
            self._wait_http(daemon, f"{self.api_url}/readyz", timeout)

    # -- hosts ---------------------------------------------------------------------------------------------

    def _engine(self, host: Host) -> Daemon:
        """dockerd in the host's namespace.  `ip netns exec` gives it a fresh mount namespace with the netns's own
        /sys, where no cgroup fs is mounted: mount cgroup2 there first.  Containers go under the cgroup
        <netns>, so `down` can find any the engine leaves behind."""
        docker_dir = host.directory / "docker"
        config = host.directory / "daemon.json"
        config.write_text("{}\n")  # not the machine's /etc/docker/daemon.json (its data-root would clash)
        # Pods join the kubelet's podCIDR network: no default bridge.
        dockerd = ["dockerd", "--config-file", str(config), "--data-root", str(docker_dir / "data"),
                   "--exec-root", str(docker_dir / "exec"), "--pidfile", str(docker_dir / "engine.pid"),
                   "-H", host.docker_host, "--storage-driver", "vfs", "--cgroup-parent", f"/{host.netns}",
                   "--log-level", "warn", "--bridge", "none"]
        script = "mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\""
        return Daemon("dockerd", ["sh", "-c", script, "dockerd", *dockerd], host.directory, host.netns)

    def _start_host(self, host: Host, images_tar: Path) -> None:
        """The host's engine with the pod images, then its node daemons (which wait for the apiserver)."""
        host.directory.mkdir(parents=True, exist_ok=True)
        engine = self._engine(host)
        engine.start()
        self._wait_engine(host, engine)
        host.docker("load", "-i", str(images_tar), timeout=120)
        for daemon in self._node_daemons(host):
            daemon.start()

    def _wait_engine(self, host: Host, engine: Daemon) -> None:
        def ping() -> bool:
            if engine.pid is None:
                raise LabError(f"dockerd of {host.name} exited:\n{engine.log_tail()}")
            try:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(host.docker_socket)), timeout=1) as c:
                    return c.get("http://docker/_ping").status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(ping, 30, f"dockerd of {host.name}", 0.05)

    def _node_daemons(self, host: Host) -> list[Daemon]:
        pki, node = self.pki, ["--node-name", host.name]
        kubelet = [sys.executable, "-m", "kubelet", *self._client(f"kubelet-{host.name}"), *node,
                   "--tls-cert-file", str(pki / f"kubelet-{host.name}.crt"),
                   "--tls-private-key-file", str(pki / f"kubelet-{host.name}.key"),
                   "--client-ca-file", str(pki / "ca.crt"), "--node-ip", host.ip, "--root-dir",
                   str(host.directory / "kubelet"), "--healthz-bind-address", host.ip, "--healthz-port", "10248",
                   "--port", "10250", "--pod-cidr-network", POD_NETWORK,
                   "--cluster-dns", CLUSTER_DNS_IP, "--cluster-domain", CLUSTER_DOMAIN]
        if self.backend == "vxlan":
            kubelet += ["--pod-network-mtu", str(VXLAN_MTU)]
        podnet = [sys.executable, "-m", "kube_proxy.podnet", *self._client("kube-proxy"), *node, "--backend", self.backend, "--iface", "eth0",
                  "--cluster-cidr", CLUSTER_CIDR]
        kube_proxy = [sys.executable, "-m", "kube_proxy", *self._client("kube-proxy"), *node,
                      "--cluster-cidr", CLUSTER_CIDR]
        return [Daemon("kubelet", kubelet, host.directory, host.netns, {"DOCKER_HOST": host.docker_host}),
                Daemon("podnet", podnet, host.directory, host.netns),
                Daemon("kube-proxy", kube_proxy, host.directory, host.netns)]

    def node_daemon_names(self) -> list[str]:
        return ["dockerd"] + [d.name for d in self._node_daemons(self.hosts[0])] if self.hosts else []

    def node_daemon(self, host: str, name: str) -> Daemon:
        for daemon in self._node_daemons(self.host(host)):
            if daemon.name == name:
                return daemon
        raise LabError(f"{host} runs no {name}")

    def stop_daemon(self, host: str, name: str) -> None:
        """Stop one of a host's node daemons (kubelet, podnet, kube-proxy); start_daemon brings it back."""
        self.node_daemon(host, name).stop()

    def start_daemon(self, host: str, name: str) -> None:
        daemon = self.node_daemon(host, name)
        if daemon.pid is None:
            daemon.start()

    def _wait_nodes_ready(self, timeout: float) -> None:
        def all_ready() -> bool:
            self._check_alive()
            nodes = self.nodes()
            return all(nodes.get(h.name, {}).get("ready") == "True" and nodes[h.name]["pod_cidr"]
                       for h in self.hosts)
        wait_for(all_ready, timeout, f"nodes {', '.join(h.name for h in self.hosts)} Ready", 0.25)

    def _check_alive(self) -> None:
        """Fail fast, with its log, when a daemon died during start-up."""
        daemons = [self._daemon_stub(name) for name in self.control_plane_daemons()]
        daemons += [self._daemon_stub(name, host) for host in self.hosts for name in self.node_daemon_names()]
        for daemon in daemons:
            if daemon.pid is None:
                raise LabError(f"{daemon.name} ({daemon.netns or 'root namespace'}) exited; {daemon.log_file} "
                               f"ends:\n{daemon.log_tail()}")

    def nodes(self) -> dict[str, dict[str, str | None]]:
        """Node name → its Ready condition status and podCIDR, from the apiserver."""
        with self.http(timeout=5) as client:
            items = client.get("/api/v1/nodes").raise_for_status().json()["items"]
        result: dict[str, dict[str, str | None]] = {}
        for node in items:
            ready = next((c["status"] for c in node.get("status", {}).get("conditions") or []
                          if c["type"] == "Ready"), None)
            result[node["metadata"]["name"]] = {"ready": ready, "pod_cidr": node.get("spec", {}).get("podCIDR")}
        return result

    # -- cut / heal ------------------------------------------------------------------------------------------

    def cut(self, host: str) -> None:
        """Unplug the host from the lab network (its switch port goes down; its own eth0 and routes stay)."""
        run("ip", "-n", self.switch_netns, "link", "set", self.host(host).name, "down")

    def heal(self, host: str) -> None:
        run("ip", "-n", self.switch_netns, "link", "set", self.host(host).name, "up")

    # -- status --------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        control = {name: _state(self._daemon_stub(name)) for name in self.control_plane_daemons()}
        try:
            nodes = self.nodes() if control["apiserver"] == "running" else {}
        except httpx.HTTPError:
            nodes = {}
        namespaces = set(netns_list())
        hosts = {}
        for host in self.hosts:
            node = nodes.get(host.name)
            hosts[host.name] = {
                "ip": host.ip,
                "link": self._link_state(host) if host.netns in namespaces else "absent",
                "processes": {name: _state(self._daemon_stub(name, host)) for name in self.node_daemon_names()},
                "node": "absent" if node is None else {"True": "Ready", "False": "NotReady"}.get(
                    node["ready"] or "", "Unknown"),
                "pod_cidr": node and node["pod_cidr"],
            }
        return {"api": self.api_url, "backend": self.backend, "control_plane": control,
                "control_plane_running": all(v == "running" for v in control.values()), "hosts": hosts}

    def _link_state(self, host: Host) -> str:
        out = run("ip", "-n", self.switch_netns, "-o", "link", "show", host.name, check=False)
        return "down" if not out else ("up" if "state UP" in out or ",UP" in out.split(">")[0] else "down")

    # -- down ----------------------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop and remove everything the lab made, found by pid files and names (works after a crash)."""
        elsewhere = self._breadcrumb_target()
        if elsewhere not in (None, self.state_dir) and _recorded(elsewhere):
            Lab.load(elsewhere).down()  # the lab of this name lives there: its namespaces are about to go anyway
        with ThreadPoolExecutor(max_workers=max(1, len(self.hosts))) as pool:
            list(pool.map(self._stop_host, self.hosts))
        for name in reversed(self.control_plane_daemons()):
            self._daemon_stub(name).stop()
        self._remove_network()
        (self.state_dir / "images.tar").unlink(missing_ok=True)
        if self._breadcrumb_target() == self.state_dir:
            self._breadcrumb.unlink(missing_ok=True)

    def _stop_host(self, host: Host) -> None:
        for name in ("kube-proxy", "podnet", "kubelet"):  # the kubelet first would leave its pods to the engine
            self._daemon_stub(name, host).stop()
        engine = self._daemon_stub("dockerd", host)
        if engine.pid is not None:
            ids = host.docker("ps", "-aq", check=False, timeout=30).split()
            if ids:
                host.docker("rm", "-f", *ids, check=False, timeout=60)
        engine.stop(grace_s=15, group=False)  # it stops its containerd itself
        if host.netns in netns_list():
            for pid in netns_pids(host.netns):  # containerd, shims or anything else left in the host
                send_signal(pid, signal.SIGKILL, group=False)
        kill_cgroup_tree(host.netns)
        shutil.rmtree(host.directory / "docker", ignore_errors=True)  # vfs layers: nothing is mounted there

    def _remove_network(self) -> None:
        ours = [ns for ns in netns_list() if ns == self.switch_netns or
                (ns.startswith(f"{self.name}-h") and ns[len(self.name) + 2:].isdigit())]
        for ns in ours:
            for pid in netns_pids(ns):
                send_signal(pid, signal.SIGKILL, group=False)
            kill_cgroup_tree(ns)  # pods of a host the recorded config no longer names
            run("ip", "netns", "del", ns, check=False)
        if run("ip", "link", "show", self.root_link, check=False):
            run("ip", "link", "del", self.root_link, check=False)


def _state(daemon: Daemon) -> str:
    return "running" if daemon.pid is not None else "stopped"


def _http_ok(url: str, ca_file: Path) -> bool:
    """200 from a health URL (open without a token); HTTPS ones must present a certificate of the lab's CA."""
    verify: ssl.SSLContext | bool = True
    if url.startswith("https:"):
        verify = ssl.create_default_context(cafile=str(ca_file))
    try:
        return httpx.get(url, timeout=1, trust_env=False, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def _token_of(kubeconfig_path: Path) -> str | None:
    from common import kubeconfig
    try:
        return kubeconfig.load(kubeconfig_path).token
    except (OSError, ValueError, KeyError):
        return None


def preflight() -> None:
    """What the lab needs from this machine, each missing piece named."""
    problems = []
    if os.geteuid() != 0:
        problems.append("it must run as root (network namespaces, veths, a dockerd per host)")
    for tool in ("ip", "dockerd", "docker", "iptables"):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` is not installed")
    if shutil.which("docker") and subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        problems.append("this machine's Docker engine does not answer (`docker version`): the pod images come from it")
    if problems:
        raise LabError("the lab cannot start: " + "; ".join(problems))


# -- CLI -----------------------------------------------------------------------------------------------------

def print_status(state: dict[str, Any]) -> None:
    print(f"apiserver {state['api']}  backend {state['backend']}")
    print("control plane: " + ", ".join(f"{k} {v}" for k, v in state["control_plane"].items()))
    for name, host in state["hosts"].items():
        procs = ", ".join(f"{k} {v}" for k, v in host["processes"].items())
        print(f"  {name:<4} {host['ip']:<12} link {host['link']:<6} node {host['node']:<9} "
              f"podCIDR {host['pod_cidr'] or '-':<14} {procs}")


def default_state_dir() -> Path:
    return Path(os.environ.get("KUBELAB_LAB_HOME", ".kubelab-lab")).resolve()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kubelab.lab", description="Simulated hosts on this machine.")
    p.add_argument("command", choices=["up", "down", "cut", "heal", "status"])
    p.add_argument("host", nargs="?", help="with cut/heal: the host (h1, …)")
    p.add_argument("--nodes", type=int, default=None, help="number of hosts (default 3)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="pod network backend (default host-gw)")
    p.add_argument("--state-dir", type=Path, default=default_state_dir(),
                   help="where the lab keeps its state and logs (default $KUBELAB_LAB_HOME or .kubelab-lab)")
    args = p.parse_args(argv)
    if args.command in ("cut", "heal") and not args.host:
        p.error(f"{args.command} needs a host")
    try:
        return _dispatch(args)
    except (LabError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("hosts", args.nodes), ("backend", args.backend)) if v is not None}
    lab = Lab.load(args.state_dir) if args.command != "up" else Lab(args.state_dir, **{
        **_recorded(args.state_dir), **overrides})
    if args.command == "up":
        lab.up(progress=lambda step: print(f"  {step}", flush=True))
        print(f"lab up; export KUBECONFIG={lab.kubeconfig}")
        print_status(lab.status())
    elif args.command == "down":
        lab.down()
        print("lab down")
    elif args.command == "status":
        print_status(lab.status())
    else:
        getattr(lab, args.command)(args.host)
    return 0


def _recorded(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
