"""kubelet/hollow.py without a server: spread schedules, fake addresses, the Node, Lease and pod status it writes."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from kubelet.hollow import (HOLLOW_LABEL, HollowSettings, PodIPs, SpreadTicker, allocatable, check_settings,
                            container_id, first_leaf, hollow_node, is_reported, node_ip, node_lease, parse_args,
                            pod_block_size, renewed, running_status)

NOW = "2026-01-01T00:00:00Z"
BOOT = "6f1d2c34-0000-4000-8000-000000000000"


def pod(uid: str = "u1", *, inits: tuple[str, ...] = (), gates: tuple[str, ...] = (), **status: Any) -> dict:
    spec: dict[str, Any] = {"nodeName": "hollow-3", "containers": [{"name": "app", "image": "nginx:1.27"},
                                                                   {"name": "side", "image": "busybox"}]}
    if inits:
        spec["initContainers"] = [{"name": n, "image": "busybox"} for n in inits]
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    return {"metadata": {"name": "web", "namespace": "ns", "uid": uid, "generation": 1}, "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort", **status}}


# -- spreading ----------------------------------------------------------------------------------------------------

def test_ticker_spreads_each_node_once_per_period() -> None:
    ticker = SpreadTicker(count=4, period_s=10.0, start=100.0)
    assert ticker.due(99.0) == []
    assert ticker.due(100.0) == [0]
    assert ticker.next_at() == 102.5
    assert ticker.due(102.4) == []
    assert ticker.due(107.5) == [1, 2, 3]
    assert ticker.due(110.0) == [0]  # the next period
    assert ticker.next_at() == 112.5


def test_ticker_far_behind_hands_out_every_node_once() -> None:
    ticker = SpreadTicker(count=3, period_s=1.0, start=0.0)
    turns = ticker.due(57.2)
    assert sorted(turns) == [0, 1, 2]  # no burst of catch-up turns
    assert ticker.due(57.3) == []


def test_ticker_over_a_period_gives_even_turns() -> None:
    ticker = SpreadTicker(count=1000, period_s=10.0, start=0.0)
    turns: list[int] = []
    per_tick = []
    for step in range(1, 501):  # 20 ms ticks over 10 s
        due = ticker.due(step * 0.02 - 1e-9)
        per_tick.append(len(due))
        turns += due
    assert Counter(turns) == Counter(range(1000))
    assert max(per_tick) <= 3


# -- addresses ----------------------------------------------------------------------------------------------------

def test_node_and_pod_addresses_do_not_overlap() -> None:
    assert node_ip(0) == "10.64.0.1" and node_ip(255) == "10.64.1.0" and node_ip(999) == "10.64.3.232"
    assert pod_block_size(110) == 256 and pod_block_size(254) == 256 and pod_block_size(255) == 512
    ips = PodIPs(index=3, max_pods=110)
    assert ips.assign("a") == "10.128.3.1" and ips.assign("b") == "10.128.3.2"
    assert ips.assign("a") == "10.128.3.1"  # stable per pod
    ips.release("a")
    assert ips.assign("c") == "10.128.3.1"  # lowest free first
    assert ips.assign("d") == "10.128.3.3"


def test_pod_addresses_claimed_after_a_restart_are_not_handed_out() -> None:
    ips = PodIPs(index=0, max_pods=110)
    ips.claim("old", "10.128.0.3")
    ips.claim("elsewhere", "10.128.1.3")  # another node's block: ignored
    assert [ips.assign(u) for u in ("a", "b", "c")] == ["10.128.0.1", "10.128.0.2", "10.128.0.4"]
    ips.release("a")
    ips.claim("old2", "10.128.0.1")
    assert ips.assign("d") == "10.128.0.5"


def test_a_full_block_says_so() -> None:
    ips = PodIPs(index=0, max_pods=1)
    for n in range(254):
        ips.assign(str(n))
    with pytest.raises(RuntimeError, match="no free pod address in 10.128.0.0/24"):
        ips.assign("one-more")


# -- settings -----------------------------------------------------------------------------------------------------

def test_flags() -> None:
    s = parse_args(["--hollow", "--count", "7", "--node-name-prefix", "hn-", "--cpu", "8", "--memory", "32Gi",
                    "--no-pod-status", "--node-lease-duration-seconds", "8", "--node-labels", "rack=r1",
                    "--register-with-taints", "hollow=true:NoSchedule", "--node-status-report-frequency", "1m"])
    assert (s.count, s.prefix, s.cpu, s.memory, s.pod_status) == (7, "hn-", "8", "32Gi", False)
    assert (s.lease_renew_interval_s, s.status_report_frequency_s) == (2.0, 60.0)
    assert s.labels == {"rack": "r1"} and s.taints == [{"key": "hollow", "value": "true", "effect": "NoSchedule"}]


@pytest.mark.parametrize("changes, message", [
    ({"count": 0}, "--count must be at least 1"),
    ({"prefix": "Hollow_"}, "does not make valid node names"),
    ({"prefix": "x" * 62, "count": 11}, "at most 63 characters"),
    ({"memory": "lots"}, "--memory: invalid quantity"),
    ({"count": 40000}, "do not fit the fake pod range"),
])
def test_bad_settings_name_the_flag(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_settings(HollowSettings(**{"count": 10, **changes}))


def test_bad_flags_exit_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--hollow", "--count", "3", "--node-name-prefix", "UPPER-"])
    assert exit_.value.code == 2 and "does not make valid node names" in capsys.readouterr().err


# -- the Node and its Lease ---------------------------------------------------------------------------------------

def test_the_node_looks_like_a_real_kubelets() -> None:
    node = hollow_node(HollowSettings(count=10, labels={"rack": "r1"}), 7, BOOT, NOW)
    meta, status = node["metadata"], node["status"]
    assert meta["name"] == "hollow-7"
    assert meta["labels"]["kubernetes.io/hostname"] == "hollow-7" and meta["labels"][HOLLOW_LABEL] == "true"
    assert meta["labels"]["rack"] == "r1" and meta["labels"]["kubernetes.io/os"] == "linux"
    assert status["capacity"] == {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "100Gi", "pods": "110"}
    assert status["allocatable"]["memory"] == "16284Mi"  # less the 100Mi hard eviction threshold
    assert 0.8999 * 100 * 2**30 < int(status["allocatable"]["ephemeral-storage"]) <= 0.9 * 100 * 2**30
    assert status["addresses"] == [{"type": "InternalIP", "address": "10.64.0.8"},
                                   {"type": "Hostname", "address": "hollow-7"}]
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("MemoryPressure", "False"), ("DiskPressure", "False"), ("PIDPressure", "False"), ("Ready", "True")]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
    info = status["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.") and info["containerRuntimeVersion"].startswith("hollow://")
    other = hollow_node(HollowSettings(count=10), 8, BOOT, NOW)["status"]["nodeInfo"]
    assert all(info[k] != other[k] for k in ("machineID", "systemUUID", "bootID"))
    assert node["spec"] == {}


def test_allocatable_keeps_cpu_and_pods() -> None:
    assert allocatable({"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "10Gi", "pods": "3"})["cpu"] == "500m"


def test_lease_is_owned_by_its_node_and_renewal_copies_shallowly() -> None:
    lease = node_lease("hollow-1", "node-uid", 40)
    assert lease["metadata"] == {"name": "hollow-1", "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "hollow-1",
                                                      "uid": "node-uid"}]}
    assert lease["spec"]["holderIdentity"] == "hollow-1" and lease["spec"]["leaseDurationSeconds"] == 40
    stored = {**lease, "metadata": {**lease["metadata"], "resourceVersion": "5"},
              "spec": {**lease["spec"], "renewTime": "2020-01-01T00:00:00.000000Z"}}
    again = renewed(stored)
    assert again["metadata"]["resourceVersion"] == "5" and again["spec"]["renewTime"] > "2020"
    assert stored["spec"]["renewTime"] == "2020-01-01T00:00:00.000000Z"  # the original is untouched


# -- pod status ---------------------------------------------------------------------------------------------------

def test_running_status() -> None:
    p = pod(inits=("setup",), conditions=[{"type": "example.com/gate", "status": "True"}])
    status = running_status(p, "10.128.3.1", "10.64.0.4", NOW)
    assert (status["phase"], status["podIP"], status["hostIP"]) == ("Running", "10.128.3.1", "10.64.0.4")
    assert status["podIPs"] == [{"ip": "10.128.3.1"}] and status["startTime"] == NOW
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("example.com/gate", "True"), ("PodReadyToStartContainers", "True"), ("Initialized", "True"),
        ("Ready", "True"), ("ContainersReady", "True"), ("PodScheduled", "True")]
    app, side = status["containerStatuses"]
    assert app["state"] == {"running": {"startedAt": NOW}} and app["ready"] and app["started"]
    assert (app["restartCount"], app["image"], app["containerID"]) == (0, "nginx:1.27", "hollow://u1-app")
    assert app["imageID"].startswith("sha256:") and side["containerID"] == "hollow://u1-side"
    (init,) = status["initContainerStatuses"]
    assert init["state"]["terminated"]["reason"] == "Completed" and init["ready"] and not init["started"]
    assert "qosClass" not in status  # the apiserver's, left alone


def test_readiness_gates_hold_ready_back() -> None:
    status = running_status(pod(gates=("example.com/lb",)), "10.128.0.1", "10.64.0.1", NOW)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReadinessGatesNotReady")


def test_is_reported() -> None:
    p = pod()
    assert not is_reported(p)
    p["status"] = running_status(p, "10.128.0.1", "10.64.0.1", NOW)
    assert is_reported(p)
    gated = pod(gates=("example.com/lb",))
    gated["status"] = running_status(gated, "10.128.0.1", "10.64.0.1", NOW)
    assert is_reported(gated)
    gated["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    assert not is_reported(gated)  # the gate opened: Ready must follow
    other = pod(uid="u2")
    other["status"] = p["status"]  # a new pod under the old name
    assert not is_reported(other)
    assert container_id("u1", "app") == "hollow://u1-app"


def test_first_leaf_unwraps_nested_groups() -> None:
    error = ValueError("bad")
    assert first_leaf(ExceptionGroup("a", [ExceptionGroup("b", [error])])) is error
