"""The whole cluster on three simulated hosts (kubelab/lab.py), as a user runs it: secured as deploy/LAB.md secures VMs
(HTTPS and tokens, kubectl through the admin kubeconfig, kubelets that take only the apiserver's client certificate); a
Deployment spread over the hosts by
the scheduler and reached by name through a Service and cluster DNS; a rolling update under continuous traffic with
readiness probes and a graceful shutdown, losing no request; a host cut off, its pods replaced on the others while
the Service keeps answering, and the host healed; etcd killed and restarted, losing nothing, with every daemon riding
out the outage and the controllers converging afterwards.

Requests come from a client pod pinned to h1 (`docker -H <host socket> exec`), through the pod's resolv.conf to the
cluster DNS, and through kube-proxy's rules to the backends; WHO_SERVER answers with its pod's name."""
from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelab.daemon import read_pid
from kubelab.lab import Lab

from .lab_helpers import (BUSYBOX, SLEEPER, WHO_SERVER, create_pods, create_service, pod_exec, pod_manifest,
                          service_manifest, wait_for, who, who_many)

pytestmark = pytest.mark.slow

WEB = {"app": "web"}
# WHO_SERVER that shuts down the way real apps do: on SIGTERM it keeps serving for a moment, while kube-proxy takes the
# terminating pod out of rotation everywhere, and only then stops.
GRACEFUL_WHO_SERVER = WHO_SERVER.replace("exec httpd -f -p 8080 -h /www", """httpd -f -p 8080 -h /www &
PID=$!
trap 'sleep 3; kill $PID' TERM
wait""")
assert GRACEFUL_WHO_SERVER != WHO_SERVER
NO_EXECUTE_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")


# -- helpers -------------------------------------------------------------------------------------------------------

def web_deployment(replicas: int, tolerate_s: int | None = None) -> dict[str, Any]:
    """`web`: WHO_SERVER pods with requests (the scheduler's LeastAllocated scoring spreads them), an HTTP readiness
    probe and a graceful shutdown; with `tolerate_s`, they stay that long on an unreachable or not-ready node."""
    container = {"name": "web", "image": BUSYBOX, "command": ["sh", "-c", GRACEFUL_WHO_SERVER],
                 "ports": [{"containerPort": 8080}],
                 "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/cgi-bin/who", "port": 8080}, "periodSeconds": 1,
                                    "failureThreshold": 1, "timeoutSeconds": 1}}
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 10, "containers": [container]}
    if tolerate_s is not None:
        spec["tolerations"] = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": tolerate_s} for key in NO_EXECUTE_TAINTS]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": WEB},
            "spec": {"replicas": replicas, "selector": {"matchLabels": WEB},
                     "template": {"metadata": {"labels": WEB}, "spec": spec}}}


def deployments(ns: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments"


def wait_rolled_out(api: httpx.Client, ns: str, name: str = "web", timeout: float = 60) -> dict[str, Any]:
    """Until the Deployment's status says its latest generation is rolled out: every replica updated and available,
    no old one left (upstream's `kubectl rollout status`)."""
    def done() -> dict[str, Any] | None:
        d = api.get(f"{deployments(ns)}/{name}").raise_for_status().json()
        want, status = d["spec"]["replicas"], d.get("status") or {}
        if (status.get("observedGeneration", 0) >= d["metadata"]["generation"]
                and status.get("updatedReplicas") == want and status.get("replicas") == want
                and status.get("availableReplicas") == want):
            return d
        return None
    return wait_for(done, timeout, f"deployment {ns}/{name} rolled out", interval=0.5)


def pods(api: httpx.Client, ns: str, labels: dict[str, str] = WEB) -> list[dict[str, Any]]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": selector}).raise_for_status(
    ).json()["items"]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def live_pods(api: httpx.Client, ns: str) -> list[dict[str, Any]]:
    """The web pods not terminating."""
    return [p for p in pods(api, ns) if not p["metadata"].get("deletionTimestamp")]


def names(items: list[dict[str, Any]]) -> set[str]:
    return {i["metadata"]["name"] for i in items}


def client_pod(api: httpx.Client, ns: str) -> None:
    """The client, pinned to h1 (nodeName) so that it never sits on the host a test cuts off."""
    create_pods(api, ns, pod_manifest("client", "h1", SLEEPER))


def answers(lab: Lab, ns: str, count: int, url: str = "http://web") -> Counter[str]:
    """`count` requests by name from the client pod: answering pod → requests; failures count as FAIL."""
    return Counter(who_many(lab, "h1", ns, "client", url, count))


def all_backends_answer(lab: Lab, ns: str, backends: set[str], count: int = 30) -> Counter[str] | None:
    served = answers(lab, ns, count)
    return served if set(served) == backends else None


@pytest.fixture
def cns(api: httpx.Client, ns: str) -> Iterator[str]:
    """The test's namespace, emptied before it goes: Deployments first (else their ReplicaSets recreate the pods the
    namespace fixture deletes), then until no pod is left, so that the next test starts on empty nodes."""
    yield ns
    api.delete(deployments(ns), params={"propagationPolicy": "Foreground"})
    api.delete(f"/apis/apps/v1/namespaces/{ns}/replicasets")
    api.delete(f"/api/v1/namespaces/{ns}/pods")
    try:
        wait_for(lambda: not api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"], 60, f"the pods of {ns} gone",
                 interval=0.5)
    except AssertionError as exc:
        print(f"cleanup: {exc}")


# -- tests ---------------------------------------------------------------------------------------------------------

def test_the_lab_is_secured_as_the_vm_lab_is(lab: Lab, api: httpx.Client, cns: str, kubectl_dir: Path,
                                             tmp_path: Path) -> None:
    """HTTPS and tokens at the apiserver, kubectl through the admin kubeconfig, and logs/exec from the apiserver to a
    kubelet that takes only the apiserver's client certificate."""
    ca = ssl.create_default_context(cafile=str(lab.pki / "ca.crt"))
    anonymous = httpx.get(f"{lab.api_url}/api/v1/namespaces", verify=ca, trust_env=False)
    assert anonymous.status_code == 401 and anonymous.json()["reason"] == "Unauthorized", anonymous.text
    ns = cns
    create_pods(api, ns, pod_manifest("talker", "h2", "echo hello from h2; touch /tmp/ready; exec sleep 3600"))

    def kubectl(*args: str) -> str:
        done = subprocess.run([str(kubectl_dir / "kubectl"), "--kubeconfig", str(lab.kubeconfig), "--cache-dir",
                               str(tmp_path / "cache"), "-n", ns, *args], capture_output=True, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout
    assert kubectl("get", "nodes", "-o", "name").split() == ["node/h1", "node/h2", "node/h3"]
    assert "hello from h2" in kubectl("logs", "talker")
    assert kubectl("exec", "talker", "--", "hostname") == "talker\n"

    h2 = lab.host("h2")
    with pytest.raises(httpx.HTTPError):  # no client certificate: refused at the handshake
        httpx.get(f"https://{h2.ip}:10250/pods", verify=ca, trust_env=False)
    client = ssl.create_default_context(cafile=str(lab.pki / "ca.crt"))
    client.load_cert_chain(str(lab.pki / "apiserver-kubelet-client.crt"), str(lab.pki / "apiserver-kubelet-client.key"))
    pods = httpx.get(f"https://{h2.ip}:10250/pods", verify=client, trust_env=False).json()
    assert "talker" in {p["metadata"]["name"] for p in pods["items"]}


def test_deployment_spreads_over_hosts_and_its_service_answers_by_name(lab: Lab, api: httpx.Client, cns: str) -> None:
    ns = cns
    # First, while the nodes are equally empty: LeastAllocated scoring puts each replica on another host.
    api.post(deployments(ns), json=web_deployment(3)).raise_for_status()
    wait_rolled_out(api, ns)
    web_pods = live_pods(api, ns)
    assert len(web_pods) == 3 and all(is_ready(p) for p in web_pods), web_pods
    placement = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in web_pods}
    assert sorted(placement.values()) == ["h1", "h2", "h3"], f"not spread over the hosts: {placement}"

    create_service(api, ns, service_manifest("web", WEB))
    client_pod(api, ns)
    first = wait_for(lambda: who(lab, "h1", ns, "client", "http://web"), 30, "http://web to answer the client")
    assert first.split()[0] in placement, first
    served = wait_for(lambda: all_backends_answer(lab, ns, set(placement)), 30, "every backend to answer by name")
    assert "FAIL" not in served, served
    print(f"placement {placement}; requests by name served {dict(served)}")


def test_rolling_update_under_traffic_loses_no_request(lab: Lab, api: httpx.Client, cns: str) -> None:
    ns = cns
    api.post(deployments(ns), json=web_deployment(3)).raise_for_status()
    old = wait_rolled_out(api, ns)
    assert old["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}, old["spec"]
    old_pods = names(live_pods(api, ns))
    create_service(api, ns, service_manifest("web", WEB))
    client_pod(api, ns)
    wait_for(lambda: all_backends_answer(lab, ns, old_pods), 30, "every old backend to answer by name")

    # Requests one after the other until /tmp/stop appears (at most 3000), each answered or FAIL.
    loop = ("i=0; while [ ! -e /tmp/stop ] && [ $i -lt 3000 ]; do i=$((i+1)); "
            "timeout 3 wget -qO- http://web/cgi-bin/who || echo FAIL; done")
    output: list[str] = []
    client = threading.Thread(target=lambda: output.append(pod_exec(lab, "h1", ns, "client", loop, check=False,
                                                                    timeout=180)))
    client.start()
    try:
        time.sleep(1)
        started = time.monotonic()
        api.patch(f"{deployments(ns)}/web", json={"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "VERSION", "value": "2"}]}]}}}},
            headers={"Content-Type": "application/strategic-merge-patch+json"}).raise_for_status()
        new = wait_rolled_out(api, ns, timeout=90)
        took = time.monotonic() - started
        assert new["metadata"]["generation"] > old["metadata"]["generation"]
        # Every old pod through its graceful shutdown, the traffic still flowing.
        wait_for(lambda: not names(pods(api, ns)) & old_pods, 30, "the old pods gone", interval=0.5)
        time.sleep(1)
    finally:
        pod_exec(lab, "h1", ns, "client", "touch /tmp/stop", check=False)
        client.join(60)
    assert output, "the client loop did not finish"
    served = Counter(line.split()[0] for line in output[0].splitlines() if line.strip())
    new_pods = names(live_pods(api, ns))
    assert len(new_pods) == 3 and not new_pods & old_pods, (old_pods, new_pods)
    print(f"rollout took {took:.1f}s; {sum(served.values())} requests: {dict(served)}")
    assert served["FAIL"] == 0, f"{served['FAIL']} of {sum(served.values())} requests failed: {dict(served)}"
    assert sum(served.values()) >= 50, f"too few requests during the rollout: {dict(served)}"
    assert set(served) <= old_pods | new_pods, served
    assert set(served) & old_pods and set(served) & new_pods, f"not both old and new pods answered: {dict(served)}"


def test_cut_host_pods_move_and_service_keeps_answering(lab: Lab, api: httpx.Client, cns: str) -> None:
    ns = cns
    api.post(deployments(ns), json=web_deployment(3, tolerate_s=2)).raise_for_status()
    wait_rolled_out(api, ns)
    before = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in live_pods(api, ns)}
    on_h3 = {name for name, node in before.items() if node == "h3"}
    assert on_h3, f"no web pod on h3 to move: {before}"
    create_service(api, ns, service_manifest("web", WEB))
    client_pod(api, ns)
    wait_for(lambda: all_backends_answer(lab, ns, set(before)), 30, "every backend to answer by name")

    def node_ready(node: str) -> str | None:
        conditions = api.get(f"/api/v1/nodes/{node}").raise_for_status().json()["status"]["conditions"]
        return next(c["status"] for c in conditions if c["type"] == "Ready")

    lab.cut("h3")
    try:
        cut = time.monotonic()
        wait_for(lambda: node_ready("h3") in ("Unknown", "False"), 40, "node h3 to turn NotReady/Unknown", interval=1)
        unknown = time.monotonic() - cut
        # From the time the node is seen gone, its pods are marked not ready and leave the Service's endpoints.
        wait_for(lambda: answers(lab, ns, 20)["FAIL"] == 0, 20, "20 requests in a row to succeed", interval=0)
        answering = time.monotonic() - cut
        # Its pods leave the Service's endpoints (marked not ready), and are evicted once their toleration runs out;
        # the ReplicaSet replaces them on the hosts still there.
        def replaced() -> list[dict[str, Any]] | None:
            live = live_pods(api, ns)
            ok = len(live) == 3 and all(is_ready(p) and p["spec"]["nodeName"] in ("h1", "h2") for p in live)
            return live if ok else None
        live = wait_for(replaced, 40, "h3's pods replaced by Ready pods on h1 and h2", interval=0.5)
        moved = time.monotonic() - cut
        evicted = {p["metadata"]["name"] for p in pods(api, ns) if p["metadata"].get("deletionTimestamp")}
        assert on_h3 <= evicted, f"h3's pods {on_h3} not terminating: {evicted}"
        backends = names(live)
        served = wait_for(lambda: all_backends_answer(lab, ns, backends), 20, "the pods on h1 and h2 to answer")
        assert "FAIL" not in served, served
        streak = answers(lab, ns, 40)
        assert streak["FAIL"] == 0 and set(streak) <= backends, f"the Service failed with h3 cut off: {dict(streak)}"
        print(f"h3 Unknown after {unknown:.1f}s, Service all answering after {answering:.1f}s, pods replaced after {moved:.1f}s; then {dict(streak)}")
    finally:
        lab.heal("h3")
    wait_for(lambda: node_ready("h3") == "True", 40, "node h3 to be Ready again", interval=1)
    # Back on the network, h3's kubelet finishes its evicted pods.
    wait_for(lambda: not names(pods(api, ns)) & on_h3, 40, "h3's evicted pods gone", interval=1)
    assert all(v == "running" for v in lab.status()["hosts"]["h3"]["processes"].values())


def test_etcd_killed_and_restarted_loses_nothing_and_controllers_converge(lab: Lab, api: httpx.Client,
                                                                          cns: str) -> None:
    ns = cns
    api.post(deployments(ns), json=web_deployment(2)).raise_for_status()
    for i in range(3):
        api.post(f"/api/v1/namespaces/{ns}/configmaps", json={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"},
            "data": {"i": str(i)}}).raise_for_status()
    create_service(api, ns, service_manifest("web", WEB))
    wait_rolled_out(api, ns)
    client_pod(api, ns)
    wait_for(lambda: all_backends_answer(lab, ns, names(live_pods(api, ns))), 30, "both backends to answer by name")

    def snapshot() -> dict[str, list[tuple[str, str, Any]]]:
        listed = {}
        for what, path in (("configmaps", f"/api/v1/namespaces/{ns}/configmaps"), ("deployments", deployments(ns)),
                           ("services", f"/api/v1/namespaces/{ns}/services")):
            items = api.get(path).raise_for_status().json()["items"]
            listed[what] = sorted((i["metadata"]["name"], i["metadata"]["uid"], i.get("spec") or i.get("data"))
                                  for i in items)
        return listed
    before = snapshot()
    assert [n for n, _, _ in before["configmaps"]] == ["cm-0", "cm-1", "cm-2"] and before["deployments"], before
    others = {name: read_pid(lab.state_dir / f"{name}.pid") for name in lab.control_plane_daemons()[1:]}
    etcd_pid = read_pid(lab.state_dir / "etcd.pid")

    outage: list[httpx.Response | Exception] = []

    def while_down() -> None:
        try:
            with lab.http(timeout=20) as client:
                outage.append(client.post(f"/api/v1/namespaces/{ns}/configmaps", json={
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "during-outage"}}))
        except httpx.HTTPError as exc:
            outage.append(exc)
        time.sleep(3)  # long enough for every watch and client of the cluster to notice
    lab.restart_control_plane_daemon("etcd", signal.SIGKILL, while_down=while_down)
    started = time.monotonic()
    # While etcd was down the apiserver refused the write it could not store, with a Status, rather than hang.
    resp = outage[0]
    assert isinstance(resp, httpx.Response), f"the apiserver did not answer a write while etcd was down: {resp!r}"
    assert resp.status_code >= 500 and resp.json().get("kind") == "Status", (resp.status_code, resp.text)
    assert read_pid(lab.state_dir / "etcd.pid") not in (None, etcd_pid)

    after = wait_for(snapshot, 30, "the apiserver to list again")
    assert after == before, f"objects changed across the etcd restart:\nbefore {before}\nafter  {after}"
    assert api.get(f"/api/v1/namespaces/{ns}/configmaps/during-outage").status_code == 404
    alive = {name: read_pid(lab.state_dir / f"{name}.pid") for name in others}
    assert alive == others, f"control-plane daemons died or restarted with etcd: {others} → {alive}"
    for host, state in lab.status()["hosts"].items():
        assert all(v == "running" for v in state["processes"].values()), f"{host}: {state['processes']}"

    # Controllers (and the scheduler, kubelets, kube-proxies) converge: scale up, the new replica serves by name.
    old_pods = names(live_pods(api, ns))
    api.patch(f"{deployments(ns)}/web", json={"spec": {"replicas": 3}},
              headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    wait_rolled_out(api, ns, timeout=60)
    web_pods = live_pods(api, ns)
    assert len(web_pods) == 3 and old_pods < names(web_pods) and all(is_ready(p) for p in web_pods), web_pods
    served = wait_for(lambda: all_backends_answer(lab, ns, names(web_pods)), 30, "all three backends to answer")
    assert "FAIL" not in served, served
    nodes = lab.nodes()
    assert all(n["ready"] == "True" for n in nodes.values()), nodes
    print(f"write during the outage: HTTP {resp.status_code}; converged {time.monotonic() - started:.1f}s after the restart")
