"""`kubelab up` / `down` / `status` (and `make up` / `make down`): the local single-node cluster — etcd,
apiserver, scheduler, controller-manager and a kubelet for this machine — in the background; state and
logs in .kubelab/ ($KUBELAB_HOME).

Idempotent: `up` starts only what is not already running and healthy (etcd first,
then the rest at once: each daemon retries until the apiserver answers, and their
start-up is mostly Python imports that overlap), then waits until this machine's
Node is Ready; `down` stops what `up` started (found by pid
files) and removes the pod containers the kubelet leaves running (it does not
stop them itself, as upstream's does not).  etcd's data directory survives
`down` and a reboot, so the next `up` brings the same objects back and the
kubelet starts their pods again; `up --fresh` starts from an empty cluster.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import kubeconfig
from common.localcluster import apiserver_argv, etcd_argv, http_ok
from kubelab.daemon import Daemon

STATE = Path(os.environ.get("KUBELAB_HOME", ".kubelab")).resolve()  # tests point this at a temp dir
ETCD_PORT = int(os.environ.get("KUBELAB_ETCD_PORT", 2379))
ETCD_PEER_PORT = int(os.environ.get("KUBELAB_ETCD_PEER_PORT", 2380))
API_PORT = int(os.environ.get("KUBELAB_API_PORT", 8080))
KUBELET_HEALTHZ_PORT = int(os.environ.get("KUBELAB_KUBELET_HEALTHZ_PORT", 10248))
KUBELET_PORT = int(os.environ.get("KUBELAB_KUBELET_PORT", 10250))  # the kubelet API: logs, exec, stats
SCHEDULER_PORT = int(os.environ.get("KUBELAB_SCHEDULER_PORT", 10259))  # its /healthz and /metrics
CONTROLLER_MANAGER_PORT = int(os.environ.get("KUBELAB_CONTROLLER_MANAGER_PORT", 10257))
KUBE_PROXY_HEALTHZ_PORT = int(os.environ.get("KUBELAB_KUBE_PROXY_HEALTHZ_PORT", 10256))
KUBE_PROXY_METRICS_PORT = int(os.environ.get("KUBELAB_KUBE_PROXY_METRICS_PORT", 10249))
DNS_PORT = int(os.environ.get("KUBELAB_DNS_PORT", 53))  # on the node IP: pods reach it through 10.96.0.10:53
DNS_HEALTH_PORT = int(os.environ.get("KUBELAB_DNS_HEALTH_PORT", 10054))
CLUSTER_DNS_IP = "10.96.0.10"
NODE_NAME_FILE = STATE / "kubelet.node"  # the node `up` started, so `down` cleans up the same one
NODE_READY_TIMEOUT_S = 60
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
COMPONENTS_IN_STOP_ORDER = ("kubelet", "kube-proxy", "dns", "controller-manager", "scheduler", "apiserver", "etcd")
SERVICES = ("kube-proxy", "dns")  # started only where they can run (root, iptables, a node IP)
HEALTH_URLS = {
    "etcd": f"http://127.0.0.1:{ETCD_PORT}/health",
    "apiserver": f"http://127.0.0.1:{API_PORT}/readyz",
    "scheduler": f"http://127.0.0.1:{SCHEDULER_PORT}/healthz",
    "controller-manager": f"http://127.0.0.1:{CONTROLLER_MANAGER_PORT}/healthz",
    "kube-proxy": f"http://127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}/healthz",
    "dns": f"http://127.0.0.1:{DNS_HEALTH_PORT}/healthz",
    "kubelet": f"http://127.0.0.1:{KUBELET_HEALTHZ_PORT}/healthz",
}
START_TIMEOUT_S = 60


class UpError(Exception):
    """Why `up` could not finish: printed as one line, never a traceback."""


@dataclass
class Component:
    name: str
    argv: list[str]
    ports: list[int]

    @property
    def health_url(self) -> str:
        return HEALTH_URLS[self.name]

    @property
    def daemon(self) -> Daemon:
        return daemon(self.name, self.argv)


def daemon(name: str, argv: list[str] | None = None) -> Daemon:
    """The pid file and log of a component under $KUBELAB_HOME (argv only to start it)."""
    return Daemon(name, argv or [], STATE, cwd=STATE)


def control_plane() -> list[Component]:
    etcd_url = f"http://127.0.0.1:{ETCD_PORT}"
    return [
        Component("etcd", etcd_argv("kubelab", STATE / "etcd", ETCD_PORT, ETCD_PEER_PORT), [ETCD_PORT]),
        Component("apiserver", apiserver_argv(etcd_url, API_PORT), [API_PORT]),
        Component("scheduler", [sys.executable, "-m", "scheduler", "--server", f"http://127.0.0.1:{API_PORT}",
                                "--port", str(SCHEDULER_PORT)], [SCHEDULER_PORT]),
        Component("controller-manager", [sys.executable, "-m", "controller_manager", "--server",
                                         f"http://127.0.0.1:{API_PORT}", "--port", str(CONTROLLER_MANAGER_PORT)],
                  [CONTROLLER_MANAGER_PORT]),
    ]


def services_components(node: str, node_ip: str) -> list[Component]:
    """kube-proxy (Services as this machine's iptables rules) and the cluster DNS behind 10.96.0.10."""
    server = f"http://127.0.0.1:{API_PORT}"
    return [
        Component("kube-proxy", [sys.executable, "-m", "kube_proxy", "--server", server, "--node-name", node,
                                 "--healthz-port", str(KUBE_PROXY_HEALTHZ_PORT),
                                 "--metrics-port", str(KUBE_PROXY_METRICS_PORT)],
                  [KUBE_PROXY_HEALTHZ_PORT, KUBE_PROXY_METRICS_PORT]),
        Component("dns", [sys.executable, "-m", "kube_proxy.dns", "--server", server,
                          "--listen", f"{node_ip}:{DNS_PORT}", "--register-service", "--advertise-address", node_ip,
                          "--service-ip", CLUSTER_DNS_IP, "--health-bind-address", "127.0.0.1",
                          "--health-port", str(DNS_HEALTH_PORT)],
                  [DNS_HEALTH_PORT]),
    ]


def services_unavailable(node_ip: str) -> str | None:
    """Why this machine cannot run kube-proxy and the DNS server, or None."""
    if os.geteuid() != 0:
        return "kube-proxy writes iptables rules and needs root"
    if shutil.which("iptables-restore") is None:
        return "iptables is not installed"
    if node_ip.startswith("127."):
        return "this machine has no non-loopback address for pods to reach the DNS server at"
    return None


def services_or_why_not(node: str) -> tuple[list[Component], str | None]:
    """(kube-proxy and DNS, None), or ([], why Services and DNS are not available on this machine)."""
    from kubelet.node import detect_node_ip  # the address the kubelet registers too
    node_ip = detect_node_ip()
    problem = services_unavailable(node_ip)
    return ([], problem) if problem is not None else (services_components(node, node_ip), None)


def node_name() -> str:
    """$KUBELAB_NODE_NAME if set (it must be a valid name), else this host's name made a DNS-1123 subdomain."""
    chosen = os.environ.get("KUBELAB_NODE_NAME")
    if chosen:
        if len(chosen) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(chosen):
            raise UpError(f"KUBELAB_NODE_NAME={chosen!r} is not a valid node name "
                          "(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)")
        return chosen
    labels = (re.sub(r"[^a-z0-9-]+", "-", part).strip("-") for part in socket.gethostname().lower().split("."))
    return ".".join(filter(None, labels))[:253].strip("-.") or "localhost"


def recorded_node() -> str | None:
    try:
        return NODE_NAME_FILE.read_text().strip() or None
    except OSError:
        return None


def kubelet_component(node: str, cluster_dns: bool = False) -> Component:
    argv = [sys.executable, "-m", "kubelet", "--node-name", node, "--server", f"http://127.0.0.1:{API_PORT}",
            "--root-dir", str(STATE / "kubelet"), "--healthz-port", str(KUBELET_HEALTHZ_PORT),
            "--port", str(KUBELET_PORT)]
    if cluster_dns:
        argv += ["--cluster-dns", CLUSTER_DNS_IP]
    return Component("kubelet", argv, [KUBELET_HEALTHZ_PORT, KUBELET_PORT])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def running(name: str) -> bool:
    return daemon(name).pid is not None and http_ok(HEALTH_URLS[name])


def launch(components: list[Component]) -> list[Component]:
    """Start those not already running, without waiting for them (UpError if a port is taken): the ones started."""
    started = []
    for component in components:
        if running(component.name):
            print(f"  {component.name:<18} already running")
            continue
        for port in component.ports:
            if port_in_use(port):
                raise UpError(f"port {port} ({component.name}) is in use by another program; "
                              "stop it or run `kubelab down` first")
        component.daemon.start()
        started.append(component)
    return started


def wait_healthy(components: list[Component]) -> None:
    """Until each answers its health URL, printed as it does; UpError, naming its log, if one exits or hangs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(components)
    while waiting:
        for component in list(waiting):
            if http_ok(component.health_url):
                waiting.remove(component)
                print(f"  {component.name:<18} started (pid {component.daemon.pid})", flush=True)
            elif component.daemon.pid is None or time.monotonic() > deadline:
                raise UpError(f"{component.name} did not start; see {component.daemon.log_file}")
        time.sleep(0.1)


def build_images() -> str | None:
    """`python -m kubelet.images` (builds kubelab/pause and kubelab/busybox if missing); None, or why it failed."""
    done = subprocess.run([sys.executable, "-m", "kubelet.images"], cwd=STATE, capture_output=True, text=True,
                          check=False)
    for line in done.stdout.splitlines():  # "kubelab/pause:3.9: present sha256:..."
        tag, _, rest = line.partition(": ")
        print(f"  {'image':<18} {tag} {rest.split(' ')[0]}")
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else f"python -m kubelet.images exited {done.returncode}"


def launch_kubelet(node: str, cluster_dns: bool) -> tuple[list[Component], str | None]:
    """The kubelet for this machine, after the images it needs: (started, None), or ([], why there is no kubelet)."""
    if running("kubelet"):
        print(f"  {'kubelet':<18} already running")
        return [], None
    problem = build_images()
    if problem is not None:
        return [], problem
    NODE_NAME_FILE.write_text(node)
    return launch([kubelet_component(node, cluster_dns)]), None


def up(fresh: bool = False) -> None:
    """Start what is not running, then wait for this machine's Node to be Ready (UpError: why not)."""
    if fresh:
        down(quiet=True)
        for data in ("etcd", "kubelet"):
            shutil.rmtree(STATE / data, ignore_errors=True)
    STATE.mkdir(parents=True, exist_ok=True)
    print("Starting kubelab" + (" from an empty cluster:" if fresh else ":"), flush=True)
    node = node_name()
    etcd, *control = control_plane()
    wait_healthy(launch([etcd]))
    services, no_services = services_or_why_not(node)
    starting = launch(control + services)
    if no_services:
        print(f"  {'kube-proxy, dns':<18} not started: {no_services} (Service IPs and cluster DNS will not answer)")
    kubelet, problem = launch_kubelet(node, cluster_dns=no_services is None)  # images are built meanwhile
    wait_healthy(starting + kubelet)
    config = STATE / "kubeconfig"
    kubeconfig.write(config, f"http://127.0.0.1:{API_PORT}")
    if problem is None:
        wait_node_ready(node)
    print(f"""
kubelab is up.  Logs and data: {STATE}
  export KUBECONFIG={config}
  kubectl get nodes               (kubectl: `make tools` puts one in .tools/)""")
    if problem is None:
        print(f"Pods run on node {recorded_node() or node_name()}; the scheduler places them.")
    print("Stop it with `kubelab down` (or `make down`).")
    if problem is not None:
        raise UpError(f"no kubelet: {problem}.  The control plane is up (kubectl works), but no kubelet runs "
                      "pods; fix that and run `kubelab up` again.")


def node_status(node: str) -> str:
    """"Ready", "NotReady", "Unknown" (its Ready condition), or "absent"."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/api/v1/nodes/{node}", timeout=2) as resp:
            conditions = (json.load(resp).get("status") or {}).get("conditions") or []
    except OSError:
        return "absent"
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return "Unknown"
    return "Ready" if ready.get("status") == "True" else "NotReady"


def wait_node_ready(node: str) -> None:
    """A progress line until the kubelet's Node reports Ready."""
    started = time.monotonic()
    state = ""
    while (state := node_status(node)) != "Ready":
        waited = time.monotonic() - started
        if waited > NODE_READY_TIMEOUT_S:
            raise UpError(f"node {node} is {state} after {NODE_READY_TIMEOUT_S}s; see {STATE / 'kubelet.log'}")
        if sys.stdout.isatty():
            print(f"\r  {'node ' + node:<18} {state}, waiting for Ready ({waited:.0f}s)", end="", flush=True)
        time.sleep(0.25)
    clear = "\r\x1b[K" if sys.stdout.isatty() else ""
    print(f"{clear}  {'node ' + node:<18} Ready after {time.monotonic() - started:.1f}s", flush=True)


def status() -> int:
    """One line per component; 0 when everything runs and the node is Ready."""
    node = recorded_node()
    names = [name for name in reversed(COMPONENTS_IN_STOP_ORDER)
             if (name not in SERVICES or daemon(name).pid_file.exists()) and (name != "kubelet" or node)]
    healthy = True
    for name in names:
        alive = running(name)
        healthy &= alive
        print(f"  {name:<18} {'running' if alive else 'stopped'}")
    if node:
        state = node_status(node)
        healthy &= state == "Ready"
        print(f"  {'node ' + node:<18} {state}")
    print(f"state and logs: {STATE}")
    return 0 if healthy else 1


def stop(name: str, quiet: bool = False) -> None:
    if daemon(name).stop() and not quiet:
        print(f"  {name:<18} stopped")


def remove_pod_containers(node: str) -> None:
    """The containers the kubelet of `node` made (the kubelet leaves them running when it stops)."""
    import docker  # only here: stopping the processes needs neither Docker nor the kubelet's modules
    import docker.errors

    from kubelet.runtime import LABEL_NODE
    try:
        client = docker.from_env()
        containers = client.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node}"})
        for container in containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
    except docker.errors.DockerException as err:
        print(f"warning: cannot reach Docker to remove node {node}'s pod containers: {err}", file=sys.stderr)
        return
    if containers:
        print(f"  {'pods':<18} removed {len(containers)} container(s) of node {node}")


def down(quiet: bool = False) -> None:
    stop("kubelet", quiet)  # first, or it would start the pod containers again
    node = recorded_node()
    if node:
        remove_pod_containers(node)
        time.sleep(0.5)  # a create the kubelet had in flight when stopped lands in Docker a moment later
        remove_pod_containers(node)
    proxy_was_running = daemon("kube-proxy").pid is not None
    for name in COMPONENTS_IN_STOP_ORDER[1:]:
        stop(name, quiet)
    if proxy_was_running:  # its rules would keep sending Service traffic to pods that are gone
        subprocess.run([sys.executable, "-m", "kube_proxy", "--cleanup"], capture_output=True, check=False,
                       cwd=STATE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kubelab", description="Run a local kubelab cluster in the background.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start it (idempotent)").add_argument(
        "--fresh", action="store_true", help="start from an empty cluster (deletes the saved objects)")
    sub.add_parser("down", help="stop it; the objects stay for the next up")
    sub.add_parser("status", help="what runs, and whether the node is Ready")
    args = parser.parse_args(argv)
    sys.exit(run(args))


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "up":
            up(args.fresh)
        elif args.command == "down":
            down()
        else:
            return status()
    except UpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    main()
