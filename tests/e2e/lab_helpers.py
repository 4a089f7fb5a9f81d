"""Shared helpers of the whole-cluster tests on simulated hosts (kubelab/lab.py): pod and Service manifests, waiting
for pods, commands in pods through their host's Docker engine and in hosts, the WHO_SERVER web server and what it
answers, kube-proxy's rules, and what a lab leaves behind after `down`."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import httpx

from conftest import wait_until
from kubelab.daemon import read_pid
from kubelab.lab import Lab, cgroup2_mount, netns_list

BUSYBOX = "kubelab/busybox:1.35"
# A web server that answers /cgi-bin/who with "<its hostname> <the client's address>"; ready while /tmp/ready exists.
WHO_SERVER = r"""mkdir -p /www/cgi-bin
printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$(hostname) $REMOTE_ADDR"\n' > /www/cgi-bin/who
chmod +x /www/cgi-bin/who
touch /tmp/ready
head -c 300000 /dev/zero > /www/big
exec httpd -f -p 8080 -h /www"""
BIG_FILE_BYTES = 300000
SLEEPER = "exec sleep 3600"
READY_FILE_PROBE = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition",
             interval: float = 0.2) -> Any:
    """conftest.wait_until, with the lab tests' (timeout, what) argument order and slower polling."""
    return wait_until(predicate, timeout, interval, what)


def pod_manifest(name: str, node: str, command: str, labels: dict[str, str] | None = None,
                 readiness: dict[str, Any] | None = None) -> dict[str, Any]:
    """A busybox pod pinned to `node` (nodeName: the scheduler is not under test here)."""
    container: dict[str, Any] = {"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command],
                                 "ports": [{"containerPort": 8080}]}
    if readiness:
        container["readinessProbe"] = readiness
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [container]}}


def service_manifest(name: str, selector: dict[str, str], type_: str = "ClusterIP") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": type_, "selector": selector,
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}


def create_pods(api: httpx.Client, ns: str, *manifests: dict[str, Any]) -> dict[str, str]:
    """Create the pods and wait until every one is Ready; returns name → pod IP."""
    for manifest in manifests:
        api.post(f"/api/v1/namespaces/{ns}/pods", json=manifest).raise_for_status()
    return {m["metadata"]["name"]: wait_pod_ready(api, ns, m["metadata"]["name"]) for m in manifests}


def wait_pod_ready(api: httpx.Client, ns: str, name: str, timeout: float = 60) -> str:
    def ready() -> str | None:
        status = api.get(f"/api/v1/namespaces/{ns}/pods/{name}").raise_for_status().json().get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return status.get("podIP") if conditions.get("Ready") == "True" else None
    return wait_for(ready, timeout, f"pod {ns}/{name} Ready")


def create_service(api: httpx.Client, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(f"/api/v1/namespaces/{ns}/services", json=manifest)
    assert resp.status_code == 201, resp.text
    service = resp.json()
    assert service["spec"].get("clusterIP") not in (None, "", "None"), f"no clusterIP allocated: {service['spec']}"
    return service


def pod_exec(lab: Lab, host: str, ns: str, pod: str, command: str, check: bool = True,
             timeout: float = 60) -> str:
    """`sh -c command` in the pod's app container, through its host's engine."""
    docker_host = lab.host(host).docker_host
    ids = subprocess.run(["docker", "-H", docker_host, "ps", "-q",
                          "--filter", f"label=io.kubernetes.pod.namespace={ns}",
                          "--filter", f"label=io.kubernetes.pod.name={pod}",
                          "--filter", "label=io.kubernetes.container.type=app"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert ids, f"no running container of pod {ns}/{pod} on {host}"
    done = subprocess.run(["docker", "-H", docker_host, "exec", ids[0], "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"{command!r} in {ns}/{pod} exited {done.returncode}: {done.stdout}{done.stderr}"
    return done.stdout


def who(lab: Lab, host: str, ns: str, client: str, url: str) -> str | None:
    """One request from the client pod; the server's "<hostname> <client address>" or None when it failed."""
    answer = pod_exec(lab, host, ns, client, f"timeout 3 wget -qO- {url}/cgi-bin/who", check=False).strip()
    return answer or None


def who_many(lab: Lab, host: str, ns: str, client: str, url: str, count: int) -> list[str]:
    """`count` requests in one exec; a failed one reads FAIL."""
    script = f"for i in $(seq {count}); do timeout 3 wget -qO- {url}/cgi-bin/who || echo FAIL; done"
    return [line.split()[0] for line in pod_exec(lab, host, ns, client, script, check=False).splitlines() if line]


def host_curl(lab: Lab, host: str, url: str, timeout_s: float = 2) -> str:
    """GET url from the host itself (its network namespace, not a pod); "" when it fails."""
    return lab.host(host).run("curl", "--noproxy", "*", "-sf", "-m", str(timeout_s), url, check=False).strip()


def remote_address(who_answer: str) -> str:
    """The client address a WHO_SERVER saw: httpd reports IPv4 clients as [::ffff:a.b.c.d]."""
    return who_answer.split()[1].strip("[]").removeprefix("::ffff:")


def kube_rules(lab: Lab, host: str) -> list[str]:
    """kube-proxy's iptables rules in a host (nat and filter), without counters and comments."""
    lines = []
    for table in ("nat", "filter"):
        for line in lab.host(host).run("iptables-save", "-t", table).splitlines():
            if "KUBE-" in line and not line.startswith("#"):
                lines.append(f"{table} {line.split(' [')[0] if line.startswith(':') else line}")
    return sorted(lines)


def stable_rules(lab: Lab, host: str) -> list[str]:
    """The rules once two reads a second apart agree (earlier tests' Services may still be going)."""
    previous: list[str] = []

    def settled() -> list[str] | None:
        nonlocal previous
        current = kube_rules(lab, host)
        same, previous = current == previous, current
        return current if same else None
    return wait_for(settled, 20, f"kube-proxy rules on {host} to settle", interval=1.0)


def leftovers(lab: Lab) -> list[str]:
    """What of a lab is still there after `down`: namespaces, the root link, processes, cgroups."""
    found = [f"netns {ns}" for ns in netns_list() if ns.startswith(f"{lab.name}-")]
    if subprocess.run(["ip", "link", "show", lab.root_link], capture_output=True).returncode == 0:
        found.append(f"link {lab.root_link}")
    for pid_file in lab.state_dir.rglob("*.pid"):
        pid = read_pid(pid_file)
        if pid is not None:
            found.append(f"process {pid} ({pid_file})")
    cgroups = cgroup2_mount()
    found += [f"cgroup {h.netns}" for h in lab.hosts if cgroups and (cgroups / h.netns).exists()]
    return found
