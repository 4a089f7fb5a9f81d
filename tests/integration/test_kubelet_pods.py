"""The kubelet against a live apiserver and the real Docker engine: pods become containers and report status."""
from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from conftest import wait_until
from kubelet.runtime import LABEL_CONTAINER_NAME, LABEL_POD_NAME
from kubelet_harness import (BUSYBOX, Node, condition, create, docker_client, get, node, phase,  # noqa: F401
                             pod, sh, statuses, until_pod)

Obj = dict[str, Any]


def test_two_containers_share_localhost(http: httpx.Client, namespace: str, node: Node) -> None:
    server = sh("server", "mkdir -p /www && echo shared-localhost > /www/index.html && httpd -f -p 8080 -h /www")
    client = sh("client", "for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1")
    create(http, namespace, pod("pair", node, [server, client], restartPolicy="OnFailure"))
    done = until_pod(http, namespace, "pair", lambda p: statuses(p).get("client", {}).get("state", {})
                     .get("terminated") is not None)
    assert statuses(done)["client"]["state"]["terminated"]["exitCode"] == 0
    assert statuses(done)["server"]["state"].get("running")
    assert done["status"]["podIP"] and done["status"]["hostIP"]


def test_init_containers_run_in_order_before_apps(http: httpx.Client, namespace: str, node: Node) -> None:
    volume = [{"name": "work", "emptyDir": {}}]
    mount = [{"name": "work", "mountPath": "/work"}]
    inits = [sh("first", "echo first >> /work/log", volumeMounts=mount),
             sh("second", "echo second >> /work/log", volumeMounts=mount)]
    app = sh("app", "echo app >> /work/log; test \"$(cat /work/log)\" = \"$(printf 'first\\nsecond\\napp')\" "
                    "&& sleep 3600", volumeMounts=mount)
    create(http, namespace, pod("ordered", node, [app], initContainers=inits, volumes=volume))
    running = until_pod(http, namespace, "ordered", lambda p: statuses(p).get("app", {}).get("ready") is True)
    for name in ("first", "second"):
        terminated = statuses(running, init=True)[name]["state"]["terminated"]
        assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert condition(running, "Initialized") == "True" and phase(running) == "Running"


def test_failing_init_container_is_retried(http: httpx.Client, namespace: str, node: Node) -> None:
    volume = [{"name": "work", "emptyDir": {}}]
    flaky = sh("flaky", "test -f /work/tried && exit 0; touch /work/tried; exit 3",
               volumeMounts=[{"name": "work", "mountPath": "/work"}])
    create(http, namespace, pod("retry", node, [sh("app", "sleep 3600")], initContainers=[flaky], volumes=volume))
    running = until_pod(http, namespace, "retry", lambda p: phase(p) == "Running"
                        and statuses(p).get("app", {}).get("ready") is True)
    flaky_status = statuses(running, init=True)["flaky"]
    assert flaky_status["restartCount"] == 1
    assert flaky_status["lastState"]["terminated"]["exitCode"] == 3


def test_failed_init_container_with_restart_never_fails_the_pod(http: httpx.Client, namespace: str,
                                                                  node: Node) -> None:
    create(http, namespace, pod("doomed", node, [sh("app", "sleep 3600")], restartPolicy="Never",
                                initContainers=[sh("broken", "exit 7")]))
    failed = until_pod(http, namespace, "doomed", lambda p: phase(p) == "Failed")
    assert statuses(failed, init=True)["broken"]["state"]["terminated"]["exitCode"] == 7
    assert "running" not in statuses(failed).get("app", {}).get("state", {})


@pytest.mark.parametrize("policy,exit_code,expected_phase,restarts", [
    ("Never", 0, "Succeeded", False),
    ("Never", 1, "Failed", False),
    ("OnFailure", 0, "Succeeded", False),
    ("OnFailure", 1, "Running", True),
    ("Always", 0, "Running", True),
])
def test_restart_policies(http: httpx.Client, namespace: str, node: Node, policy: str, exit_code: int,
                          expected_phase: str, restarts: bool) -> None:
    name = f"rp-{policy.lower()}-{exit_code}"
    create(http, namespace, pod(name, node, [sh("main", f"sleep 0.3; exit {exit_code}")], restartPolicy=policy))
    if restarts:
        p = until_pod(http, namespace, name, lambda p: statuses(p).get("main", {}).get("restartCount", 0) >= 1)
        assert phase(p) == expected_phase
        assert statuses(p)["main"]["lastState"]["terminated"]["exitCode"] == exit_code
    else:
        p = until_pod(http, namespace, name, lambda p: phase(p) == expected_phase)
        terminated = statuses(p)["main"]["state"]["terminated"]
        assert terminated["exitCode"] == exit_code
        assert terminated["reason"] == ("Completed" if exit_code == 0 else "Error")
        assert statuses(p)["main"]["restartCount"] == 0


def test_readiness_flips_ready_both_ways(http: httpx.Client, namespace: str, node: Node) -> None:
    probe = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    app = sh("app", "sleep 2; touch /tmp/ready; sleep 4; rm /tmp/ready; sleep 3600", readinessProbe=probe)
    create(http, namespace, pod("ready", node, [app]))
    until_pod(http, namespace, "ready", lambda p: phase(p) == "Running" and condition(p, "Ready") == "False")
    until_pod(http, namespace, "ready", lambda p: condition(p, "Ready") == "True"
              and condition(p, "ContainersReady") == "True" and statuses(p)["app"]["ready"] is True)
    flipped = until_pod(http, namespace, "ready", lambda p: condition(p, "Ready") == "False", timeout=20)
    assert statuses(flipped)["app"]["ready"] is False and statuses(flipped)["app"]["restartCount"] == 0


def test_liveness_failure_restarts_the_container(http: httpx.Client, namespace: str, node: Node) -> None:
    probe = {"exec": {"command": ["test", "-f", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2}
    create(http, namespace, pod("liveness", node, [sh("app", "sleep 3600", livenessProbe=probe)]))
    restarted = until_pod(http, namespace, "liveness", lambda p: statuses(p).get("app", {}).get("restartCount", 0) >= 1,
                          timeout=40)
    assert statuses(restarted)["app"]["lastState"]["terminated"]
    events = http.get(f"/api/v1/namespaces/{namespace}/events",
                      params={"fieldSelector": "involvedObject.name=liveness"}).json()["items"]
    assert any(e["reason"] == "Unhealthy" and "Liveness probe failed" in e["message"] for e in events)


def test_env_configmap_and_secret_volumes(http: httpx.Client, namespace: str, node: Node) -> None:
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={
        "metadata": {"name": "settings"}, "data": {"color": "blue", "greeting": "hello"}})
    http.post(f"/api/v1/namespaces/{namespace}/secrets", json={
        "metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}})
    script = ('test "$COLOR" = blue && test "$cfg_greeting" = hello && test "$PASSWORD" = s3cret '
              '&& test "$POD_NAME" = vols && test "$(cat /etc/settings/color)" = blue '
              '&& test "$(cat /etc/creds/password)" = s3cret')
    app = sh("app", script, env=[
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        envFrom=[{"prefix": "cfg_", "configMapRef": {"name": "settings"}}],
        volumeMounts=[{"name": "settings", "mountPath": "/etc/settings"},
                      {"name": "creds", "mountPath": "/etc/creds", "readOnly": True}])
    create(http, namespace, pod("vols", node, [app], restartPolicy="Never", volumes=[
        {"name": "settings", "configMap": {"name": "settings"}},
        {"name": "creds", "secret": {"secretName": "creds"}}]))
    done = until_pod(http, namespace, "vols", lambda p: phase(p) in ("Succeeded", "Failed"))
    assert phase(done) == "Succeeded", statuses(done)


def running_container(node: Node, pod_name: str, name: str) -> Any:
    """The Docker container now running the pod's container `name`."""
    found = [c for c in node.containers() if c.status == "running" and c.labels.get(LABEL_POD_NAME) == pod_name
             and c.labels.get(LABEL_CONTAINER_NAME) == name]
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def cat(container: Any, path: str) -> str:
    code, output = container.exec_run(["cat", path])
    assert code == 0, output
    return output.decode()


def test_command_and_args_expand_env_references(http: httpx.Client, namespace: str, node: Node) -> None:
    script = "echo $(GREETING) \"$0\" '$$(GREETING)' '$(UNDEFINED)' > /tmp/x; cat /tmp/x; sleep 3600"
    app = sh("app", script, args=["$(GREETING)-arg"], env=[{"name": "GREETING", "value": "hello"}])
    create(http, namespace, pod("expand", node, [app]))
    until_pod(http, namespace, "expand", lambda p: statuses(p).get("app", {}).get("ready") is True)
    container = running_container(node, "expand", "app")
    expected = "hello hello-arg $(GREETING) $(UNDEFINED)\n"  # defined: expanded; $$: escaped; undefined: kept
    assert cat(container, "/tmp/x") == expected
    wait_until(lambda: container.logs().decode() == expected, timeout=10, what="the echo in the container's log")
    assert get(http, namespace, "expand")["spec"]["containers"][0]["command"][2] == script  # the spec is unchanged


def test_configmap_volume_follows_the_configmap(http: httpx.Client, namespace: str, node: Node) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    assert http.post(configmaps, json={"metadata": {"name": "live"}, "data": {"color": "blue"}}).status_code == 201
    app = sh("app", "sleep 3600", volumeMounts=[{"name": "live", "mountPath": "/etc/live"}])
    create(http, namespace, pod("follows", node, [app], volumes=[{"name": "live", "configMap": {"name": "live"}}]))
    until_pod(http, namespace, "follows", lambda p: statuses(p).get("app", {}).get("ready") is True)
    container = running_container(node, "follows", "app")
    assert cat(container, "/etc/live/color") == "blue"
    configmap = http.get(f"{configmaps}/live").json()
    configmap["data"] = {"color": "red", "size": "large"}
    assert http.put(f"{configmaps}/live", json=configmap).status_code == 200
    # the kubelet refreshes every 10 s (Timings.volume_refresh_s); one ..data swap brings both keys at once
    wait_until(lambda: cat(container, "/etc/live/color") == "red", timeout=10, what="the new color in the volume")
    assert cat(container, "/etc/live/size") == "large"
    code, link = container.exec_run(["readlink", "/etc/live/..data"])
    assert code == 0 and link.decode().startswith(".."), link
    after = get(http, namespace, "follows")
    assert statuses(after)["app"]["restartCount"] == 0  # files change under a running container, as upstream
    assert running_container(node, "follows", "app").id == container.id


def test_graceful_termination_within_the_grace_period(http: httpx.Client, namespace: str, node: Node) -> None:
    polite = sh("polite", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
    stubborn = sh("stubborn", "trap '' TERM; while true; do sleep 0.1; done")
    create(http, namespace, pod("polite", node, [polite], terminationGracePeriodSeconds=30))
    create(http, namespace, pod("stubborn", node, [stubborn], terminationGracePeriodSeconds=3))
    for name in ("polite", "stubborn"):
        until_pod(http, namespace, name, lambda p: phase(p) == "Running")
    took = {}
    for name in ("polite", "stubborn"):
        start = time.monotonic()
        http.delete(f"/api/v1/namespaces/{namespace}/pods/{name}")
        wait_until(lambda: http.get(f"/api/v1/namespaces/{namespace}/pods/{name}").status_code == 404, timeout=30,
                   what=f"{name} to be deleted")
        took[name] = time.monotonic() - start
    assert took["polite"] < 5, took  # SIGTERM honoured at once, far inside its 30 s
    assert 2.5 < took["stubborn"] < 10, took  # SIGKILL after its 3 s grace period
    assert not [c for c in node.containers() if "polite" in c.name or "stubborn" in c.name]


def test_restarted_kubelet_adopts_running_containers(http: httpx.Client, namespace: str, node: Node) -> None:
    create(http, namespace, pod("adopted", node, [sh("app", "sleep 3600")]))
    before = until_pod(http, namespace, "adopted", lambda p: statuses(p).get("app", {}).get("ready") is True)
    ids_before = sorted(c.id for c in node.containers())
    node.restart(kill=True)
    time.sleep(3)  # a few relists and sync passes of the new kubelet
    after = get(http, namespace, "adopted")
    assert sorted(c.id for c in node.containers()) == ids_before
    assert statuses(after)["app"]["containerID"] == statuses(before)["app"]["containerID"]
    assert statuses(after)["app"]["restartCount"] == 0


def test_bad_specs_become_reasons_and_others_keep_running(http: httpx.Client, namespace: str, node: Node) -> None:
    create(http, namespace, pod("healthy", node, [sh("app", "sleep 3600")]))
    create(http, namespace, pod("no-image", node, [{"name": "app", "image": "kubelab/does-not-exist:1"}]))
    create(http, namespace, pod("never", node, [{"name": "app", "image": "kubelab/missing:2",
                                                  "imagePullPolicy": "Never"}]))
    create(http, namespace, pod("bad-command", node, [{"name": "app", "image": BUSYBOX, "command": ["/nope"]}]))
    create(http, namespace, pod("no-config", node, [sh("app", "true", env=[
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}])]))

    def waiting(p: Obj) -> str:
        return statuses(p).get("app", {}).get("state", {}).get("waiting", {}).get("reason", "")
    until_pod(http, namespace, "no-image", lambda p: waiting(p) in ("ErrImagePull", "ImagePullBackOff"))
    until_pod(http, namespace, "never", lambda p: waiting(p) == "ErrImageNeverPull")
    until_pod(http, namespace, "no-config", lambda p: waiting(p) == "CreateContainerConfigError")
    bad = until_pod(http, namespace, "bad-command", lambda p: statuses(p).get("app", {}).get("lastState", {})
                    .get("terminated", {}).get("reason") == "StartError"
                    or statuses(p).get("app", {}).get("state", {}).get("terminated", {}).get("reason") == "StartError")
    assert "/nope" in str(statuses(bad)["app"])
    until_pod(http, namespace, "healthy", lambda p: phase(p) == "Running" and statuses(p)["app"]["ready"] is True)
    assert node.process.proc is not None and node.process.proc.poll() is None  # the kubelet is still up


@pytest.mark.slow
def test_crash_loop_back_off_doubles(http: httpx.Client, namespace: str, node: Node) -> None:
    create(http, namespace, pod("crashy", node, [sh("app", "exit 1")]))
    backing_off = until_pod(http, namespace, "crashy", lambda p: statuses(p).get("app", {}).get("state", {})
                            .get("waiting", {}).get("reason") == "CrashLoopBackOff", timeout=30)
    assert "back-off 10s" in statuses(backing_off)["app"]["state"]["waiting"]["message"]
    start = time.monotonic()
    until_pod(http, namespace, "crashy", lambda p: statuses(p)["app"]["restartCount"] >= 2, timeout=30)
    assert time.monotonic() - start > 5  # waited out (most of) the 10 s back-off
    later = until_pod(http, namespace, "crashy", lambda p: "back-off 20s" in str(statuses(p)["app"]), timeout=30)
    assert statuses(later)["app"]["restartCount"] >= 2


def test_docker_has_nothing_left_after_pods_are_deleted(http: httpx.Client, namespace: str, node: Node) -> None:
    for i in range(3):
        create(http, namespace, pod(f"gone-{i}", node, [sh("app", "sleep 3600")]))
    for i in range(3):
        until_pod(http, namespace, f"gone-{i}", lambda p: phase(p) == "Running")
    for i in range(3):
        http.delete(f"/api/v1/namespaces/{namespace}/pods/gone-{i}")
    wait_until(lambda: not node.containers(), timeout=30, what="every container to be removed")
