"""kubelet/node.py against a live apiserver on etcd: Node registration, status, Lease heartbeats, kubectl's view."""
from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiserver.discovery import GIT_VERSION
from common import kubeconfig
from common.client import ApiClient
from kubelet.node import (DEFAULT_EVICTION_HARD, NOT_READY_AT_START, NodeAgent, NodeConfig, detect_node_ip,
                          parse_thresholds, read_meminfo)

NODE_IP = "192.0.2.10"
RUNTIME = "docker://20.10.24"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
MICRO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture
def node_name(http: httpx.Client) -> Iterator[str]:
    """A node name of the test's own; the Node and its Lease are deleted afterwards."""
    name = f"node-{uuid.uuid4().hex[:8]}"
    yield name
    http.delete(f"/api/v1/nodes/{name}")
    http.delete(f"{LEASES}/{name}")


@pytest.fixture
async def client(apiserver: Any) -> AsyncIterator[ApiClient]:
    async with ApiClient(apiserver.url) as api:
        yield api


def agent_for(client: ApiClient, name: str, **config: Any) -> NodeAgent:
    return NodeAgent(client, NodeConfig(node_name=name, node_ip=NODE_IP, container_runtime_version=RUNTIME,
                                        **config))


def condition(node: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in node["status"]["conditions"] if c["type"] == type_)


def goarch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def rootfs_bytes() -> int:
    path = Path("/var/lib/kubelet")
    while not path.exists():
        path = path.parent
    fs = os.statvfs(path)
    return fs.f_blocks * fs.f_frsize


def os_image() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


# -- registration ---------------------------------------------------------------------------------------------


async def test_register_creates_the_node_from_the_host(client: ApiClient, http: httpx.Client,
                                                       node_name: str) -> None:
    agent = agent_for(client, node_name, labels={"example.com/rack": "r1"},
                      taints=[{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}],
                      system_reserved={"cpu": "100m", "memory": "256Mi"})
    await agent.register()
    node = http.get(f"/api/v1/nodes/{node_name}").json()

    arch = goarch()
    assert node["metadata"]["labels"] == {
        "kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, "example.com/rack": "r1"}
    assert node["metadata"]["annotations"] == {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}
    assert node["spec"] == {"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}

    status = node["status"]
    assert status["addresses"] == [{"type": "InternalIP", "address": NODE_IP},
                                   {"type": "Hostname", "address": node_name}]
    memory_kib = read_meminfo()["MemTotal"] // 1024
    cores = os.cpu_count() or 1
    capacity, allocatable = status["capacity"], status["allocatable"]
    assert (capacity["cpu"], capacity["memory"], capacity["pods"]) == (str(cores), f"{memory_kib}Ki", "110")
    assert capacity["ephemeral-storage"] == f"{rootfs_bytes() // 1024}Ki"
    # allocatable = capacity - system-reserved - the hard eviction thresholds (100Mi of memory, 10% of nodefs)
    assert allocatable["cpu"] == f"{cores * 1000 - 100}m"
    assert allocatable["memory"] == f"{memory_kib - 256 * 1024 - 100 * 1024}Ki"
    assert allocatable["pods"] == "110"
    ephemeral = int(allocatable["ephemeral-storage"])
    assert 0.8999 * rootfs_bytes() < ephemeral <= 0.9 * rootfs_bytes()
    for name in (n for n in capacity if n.startswith("hugepages-")):
        assert re.fullmatch(r"hugepages-\d+[KMG]i", name) and allocatable[name] == capacity[name]

    info = status["nodeInfo"]
    assert info["machineID"] == Path("/etc/machine-id").read_text().strip()
    assert info["bootID"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert info["kernelVersion"] == os.uname().release and info["osImage"] == os_image()
    assert info["containerRuntimeVersion"] == RUNTIME and info["kubeletVersion"] == GIT_VERSION
    assert (info["operatingSystem"], info["architecture"], info["kubeProxyVersion"]) == ("linux", arch, "")
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert "podCIDR" not in node["spec"] and "images" not in status

    types = [c["type"] for c in status["conditions"]]
    assert types == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]  # Ready last, as upstream
    assert [(c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("False", "KubeletNotReady", NOT_READY_AT_START)]

    await agent.recorder.flush()  # events go out in the background
    events = http.get("/api/v1/namespaces/default/events",
                      params={"fieldSelector": f"involvedObject.name={node_name}"}).json()["items"]
    reasons = {e["reason"]: e for e in events}
    assert {"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"} <= set(reasons)
    assert reasons["NodeHasSufficientMemory"]["message"] == f"Node {node_name} status is now: NodeHasSufficientMemory"
    assert reasons["NodeHasSufficientMemory"]["source"] == {"component": "kubelet", "host": node_name}


async def test_unschedulable_registration_taints_the_node(client: ApiClient, http: httpx.Client,
                                                          node_name: str) -> None:
    await agent_for(client, node_name, register_schedulable=False).register()
    spec = http.get(f"/api/v1/nodes/{node_name}").json()["spec"]
    assert spec == {"unschedulable": True,
                    "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}


def test_node_labels_in_kubernetes_namespaces_are_refused() -> None:
    with pytest.raises(ValueError, match="node-role.kubernetes.io/worker"):
        NodeConfig(node_name="n", node_ip=NODE_IP, labels={"node-role.kubernetes.io/worker": ""})
    NodeConfig(node_name="n", node_ip=NODE_IP, labels={"node.kubernetes.io/pool": "a", "example.com/x": "y"})


def test_default_node_ip_is_an_ipv4_of_this_host() -> None:
    address = detect_node_ip()
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address)
    if address != "127.0.0.1" and shutil.which("ip"):  # no route at all falls back to loopback
        listed = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        assert f" {address}/" in listed


async def test_reregistration_keeps_what_others_set(client: ApiClient, http: httpx.Client, node_name: str) -> None:
    await agent_for(client, node_name).register()
    path = f"/api/v1/nodes/{node_name}"
    strategic = {"Content-Type": "application/strategic-merge-patch+json"}
    resp = http.patch(path, headers=strategic, json={
        "metadata": {"labels": {"kubernetes.io/hostname": "someone-else", "team": "a",
                                "beta.kubernetes.io/arch": None}},
        "spec": {"unschedulable": True, "podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]}})
    assert resp.status_code == 200, resp.text
    resp = http.patch(f"{path}/status", headers=strategic,
                      json={"status": {"capacity": {"example.com/dongle": "4"}}})
    assert resp.status_code == 200, resp.text
    before = http.get(path).json()

    restarted = agent_for(client, node_name, labels={"example.com/added-later": "x"})
    await restarted.register()
    node = http.get(path).json()
    assert node["metadata"]["uid"] == before["metadata"]["uid"]
    assert node["spec"] == before["spec"]  # unschedulable and the pod CIDR stay as others set them
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node_name and labels["beta.kubernetes.io/arch"] == goarch()
    assert labels["team"] == "a"
    assert "example.com/added-later" not in labels  # --node-labels apply at first registration only
    assert node["status"]["capacity"]["example.com/dongle"] == "4"

    assert await restarted.update_status(True)
    status = http.get(path).json()["status"]
    assert status["capacity"]["example.com/dongle"] == status["allocatable"]["example.com/dongle"] == "4"

    # A device manager that finds no checkpoint (a recreated node) zeroes extended resources.
    await agent_for(client, node_name, reset_extended_resources=True).register()
    status = http.get(path).json()["status"]
    assert status["capacity"]["example.com/dongle"] == status["allocatable"]["example.com/dongle"] == "0"


# -- status -----------------------------------------------------------------------------------------------------


async def test_ready_transition_times_move_only_on_flips(client: ApiClient, http: httpx.Client,
                                                         node_name: str) -> None:
    agent = agent_for(client, node_name)
    await agent.register()
    path = f"/api/v1/nodes/{node_name}"
    registered = http.get(path).json()
    memory_since = condition(registered, "MemoryPressure")["lastTransitionTime"]

    assert await agent.update_status(False, "container runtime is down")
    node = http.get(path).json()
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "KubeletNotReady",
                                                                    "container runtime is down")
    not_ready_since = ready["lastTransitionTime"]
    assert not_ready_since == condition(registered, "Ready")["lastTransitionTime"]  # still False: no flip

    await asyncio.sleep(1.1)  # timestamps have whole seconds
    assert await agent.update_status(True)
    ready = condition(http.get(path).json(), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "KubeletReady",
                                                                    "kubelet is posting ready status")
    assert ready["lastTransitionTime"] > not_ready_since
    assert ready["lastHeartbeatTime"] == ready["lastTransitionTime"]
    ready_since = ready["lastTransitionTime"]

    await asyncio.sleep(1.1)
    agent.config.status_report_frequency_s = 0  # due: a heartbeat-only status goes out
    assert await agent.update_status(True)
    node = http.get(path).json()
    ready = condition(node, "Ready")
    assert ready["lastTransitionTime"] == ready_since and ready["lastHeartbeatTime"] > ready_since
    memory = condition(node, "MemoryPressure")
    assert memory["lastTransitionTime"] == memory_since and memory["lastHeartbeatTime"] > memory_since

    await agent.recorder.flush()
    events = http.get("/api/v1/namespaces/default/events",
                      params={"fieldSelector": f"involvedObject.name={node_name}"}).json()["items"]
    assert "NodeReady" in {e["reason"] for e in events}


async def test_status_is_patched_only_when_changed_or_due(client: ApiClient, http: httpx.Client,
                                                          node_name: str) -> None:
    images = [{"names": ["busybox:1.36"], "sizeBytes": 4_000_000},
              {"names": [f"sha256:{i}" for i in range(7)], "sizeBytes": 9_000_000}]
    agent = NodeAgent(client, NodeConfig(node_name=node_name, node_ip=NODE_IP, container_runtime_version=RUNTIME),
                      images=lambda: images)
    await agent.register()
    path = f"/api/v1/nodes/{node_name}"
    assert await agent.update_status(True)  # the first sync always reports
    node = http.get(path).json()
    assert node["status"]["images"] == [{"names": [f"sha256:{i}" for i in range(5)], "sizeBytes": 9_000_000},
                                        {"names": ["busybox:1.36"], "sizeBytes": 4_000_000}]
    version = node["metadata"]["resourceVersion"]

    await asyncio.sleep(1.1)  # a new heartbeat time alone is no change
    assert [await agent.update_status(True) for _ in range(3)] == [False, False, False]
    assert http.get(path).json()["metadata"]["resourceVersion"] == version

    images.append({"names": ["pause:3.9"], "sizeBytes": 700_000})
    assert await agent.update_status(True)
    node = http.get(path).json()
    assert node["metadata"]["resourceVersion"] != version and len(node["status"]["images"]) == 3
    version = node["metadata"]["resourceVersion"]

    assert await agent.update_status(False, "PLEG is not healthy")
    assert condition(http.get(path).json(), "Ready")["message"] == "PLEG is not healthy"
    assert not await agent.update_status(False, "PLEG is not healthy")

    # Someone removes a label the kubelet needs: it is put back with the next status.
    http.patch(path, headers={"Content-Type": "application/merge-patch+json"},
               json={"metadata": {"labels": {"kubernetes.io/os": None}}})
    assert await agent.update_status(False, "PLEG is not healthy")
    assert http.get(path).json()["metadata"]["labels"]["kubernetes.io/os"] == "linux"


async def test_addresses_are_replaced_whole(client: ApiClient, http: httpx.Client, node_name: str) -> None:
    agent = agent_for(client, node_name)
    await agent.register()
    path = f"/api/v1/nodes/{node_name}/status"
    resp = http.patch(path, headers={"Content-Type": "application/strategic-merge-patch+json"},
                      json={"status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.7"}]}})
    assert resp.status_code == 200 and len(resp.json()["status"]["addresses"]) == 3, resp.text
    agent.config.node_ip = "192.0.2.11"
    assert await agent.update_status(True)
    assert http.get(path).json()["status"]["addresses"] == [{"type": "InternalIP", "address": "192.0.2.11"},
                                                            {"type": "Hostname", "address": node_name}]


async def test_pressure_conditions_follow_thresholds_and_hold(client: ApiClient, http: httpx.Client,
                                                              node_name: str) -> None:
    agent = agent_for(client, node_name, eviction_hard={"memory.available": "1Ei", "nodefs.available": "100%",
                                                        "pid.available": "100%"})
    await agent.register()
    path = f"/api/v1/nodes/{node_name}"
    node = http.get(path).json()
    assert [(c["type"], c["status"], c["reason"]) for c in node["status"]["conditions"][:3]] == [
        ("MemoryPressure", "True", "KubeletHasInsufficientMemory"),
        ("DiskPressure", "True", "KubeletHasDiskPressure"),
        ("PIDPressure", "True", "KubeletHasInsufficientPID")]
    assert condition(node, "MemoryPressure")["message"] == "kubelet has insufficient memory available"
    pressure_since = condition(node, "MemoryPressure")["lastTransitionTime"]
    assert node["status"]["allocatable"]["memory"] == "0"  # reserved beyond capacity: clamped, never negative

    # The thresholds are no longer met, but pressure holds for the transition period ...
    agent.pressure.thresholds = parse_thresholds(DEFAULT_EVICTION_HARD)
    await agent.update_status(True)
    assert condition(http.get(path).json(), "MemoryPressure")["status"] == "True"
    # ... and lifts once it has passed.
    agent.config.eviction_pressure_transition_period_s = 0
    await asyncio.sleep(1.1)
    assert await agent.update_status(True)
    node = http.get(path).json()
    memory = condition(node, "MemoryPressure")
    assert (memory["status"], memory["reason"]) == ("False", "KubeletHasSufficientMemory")
    assert memory["lastTransitionTime"] > pressure_since
    assert condition(node, "DiskPressure")["status"] == condition(node, "PIDPressure")["status"] == "False"


# -- lease ------------------------------------------------------------------------------------------------------


async def test_lease_is_created_owned_and_renewed(client: ApiClient, http: httpx.Client, node_name: str) -> None:
    agent = agent_for(client, node_name)
    assert await agent.renew_lease() is None  # no Node to own it yet: not created
    assert http.get(f"{LEASES}/{node_name}").status_code == 404

    await agent.register()
    await agent.renew_lease()
    lease = http.get(f"{LEASES}/{node_name}").json()
    node = http.get(f"/api/v1/nodes/{node_name}").json()
    assert lease["spec"]["holderIdentity"] == node_name and lease["spec"]["leaseDurationSeconds"] == 40
    assert MICRO_TIME.fullmatch(lease["spec"]["renewTime"])
    assert lease["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node["metadata"]["uid"]}]

    await asyncio.sleep(0.01)
    before = request_counts(http)
    await agent.renew_lease()
    delta = request_counts(http) - before
    assert delta["GET", "leases"] == 0 and delta["PUT", "leases"] == 1  # an optimistic PUT of our last copy
    renewed = http.get(f"{LEASES}/{node_name}").json()
    assert renewed["spec"]["renewTime"] > lease["spec"]["renewTime"]
    assert int(renewed["metadata"]["resourceVersion"]) > int(lease["metadata"]["resourceVersion"])

    # Another writer makes our copy stale: the conflict is resolved from the server's copy.
    resp = http.patch(f"{LEASES}/{node_name}", headers={"Content-Type": "application/merge-patch+json"},
                      json={"metadata": {"annotations": {"touched": "yes"}}})
    assert resp.status_code == 200, resp.text
    await agent.renew_lease()
    after = http.get(f"{LEASES}/{node_name}").json()
    assert after["spec"]["renewTime"] > renewed["spec"]["renewTime"]
    assert after["metadata"]["annotations"] == {"touched": "yes"}


async def test_run_registers_heartbeats_and_follows_readiness(client: ApiClient, http: httpx.Client,
                                                              node_name: str) -> None:
    readiness = [(False, "container runtime is down")]
    agent = agent_for(client, node_name, lease_renew_interval_s=0.2, status_update_frequency_s=0.2)
    task = asyncio.create_task(agent.run(lambda: readiness[0]))
    try:
        node = await poll(lambda: _get(http, f"/api/v1/nodes/{node_name}"))
        assert condition(node, "Ready")["message"] == "container runtime is down"
        first = (await poll(lambda: _get(http, f"{LEASES}/{node_name}")))["spec"]["renewTime"]
        await poll(lambda: (_get(http, f"{LEASES}/{node_name}") or {}).get("spec", {}).get("renewTime", "") > first)

        readiness[0] = (True, "")
        await poll(lambda: condition(http.get(f"/api/v1/nodes/{node_name}").json(), "Ready")["status"] == "True")
        readiness[0] = (False, "network plugin is not ready")
        await poll(lambda: condition(http.get(f"/api/v1/nodes/{node_name}").json(), "Ready")["message"]
                   == "network plugin is not ready")
        assert not task.done()
    finally:
        task.cancel()


async def test_run_survives_an_apiserver_restart(private_cluster: Any) -> None:
    _etcd, api = private_cluster
    async with ApiClient(api.url, timeout=2) as client, httpx.AsyncClient(base_url=api.url) as http:
        agent = agent_for(client, "survivor", lease_renew_interval_s=0.2, status_update_frequency_s=0.2)
        task = asyncio.create_task(agent.run(lambda: (True, "")))
        try:
            lease_path = f"{LEASES}/survivor"
            await poll_async(lambda: _aget(http, lease_path))
            await asyncio.to_thread(api.stop)
            await asyncio.sleep(0.5)  # renewals fail meanwhile; the loops log and go on
            await asyncio.to_thread(api.start)
            before = (await _aget(http, lease_path))["spec"]["renewTime"]
            await poll_async(lambda: _renewed_after(http, lease_path, before), timeout=20)
            assert not task.done()
        finally:
            task.cancel()


# -- kubectl ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.33", "1.37"])
async def test_kubectl_get_nodes_shows_the_node_ready(client: ApiClient, kubectl_dir: Path, apiserver: Any,
                                                      tmp_path: Path, node_name: str, version: str) -> None:
    agent = agent_for(client, node_name)
    await agent.register()
    await agent.update_status(True)
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, apiserver.url)
    argv = [str(kubectl_dir / f"kubectl-{version}"), "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "c")]

    def kubectl(*args: str) -> list[list[str]]:
        result = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return [re.split(r"\s{2,}", line.strip()) for line in result.stdout.strip().splitlines()]

    rows = kubectl("get", "nodes", node_name)
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows[1][:3] == [node_name, "Ready", "<none>"] and rows[1][4] == GIT_VERSION
    assert re.fullmatch(r"\d+s", rows[1][3])
    wide = kubectl("get", "nodes", node_name, "-o", "wide")
    assert wide[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                       "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert wide[1][5:] == [NODE_IP, "<none>", os_image(), os.uname().release, RUNTIME]


# -- helpers ----------------------------------------------------------------------------------------------------


def request_counts(http: httpx.Client) -> Counter[tuple[str, str]]:
    """apiserver_request_total by (verb, resource), from the apiserver's /metrics."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in http.get("/metrics").text.splitlines():
        match = re.match(r'apiserver_request_total\{(.*)\} ([0-9.e+]+)$', line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match[1]))
            counts[labels["verb"], labels["resource"]] += int(float(match[2]))
    return counts


def _get(http: httpx.Client, path: str) -> dict[str, Any] | None:
    resp = http.get(path)
    return resp.json() if resp.status_code == 200 else None


async def _aget(http: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    try:
        resp = await http.get(path)
    except httpx.HTTPError:
        return None
    return resp.json() if resp.status_code == 200 else None


async def _renewed_after(http: httpx.AsyncClient, path: str, before: str) -> bool:
    lease = await _aget(http, path)
    return bool(lease) and lease["spec"]["renewTime"] > before


async def poll(predicate: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            try:
                result = await asyncio.to_thread(predicate)
            except (StopIteration, KeyError):
                result = None
            if result:
                return result
            await asyncio.sleep(0.05)


async def poll_async(predicate: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := await predicate()):
            await asyncio.sleep(0.05)
        return result
