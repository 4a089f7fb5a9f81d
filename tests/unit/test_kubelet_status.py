"""kubelet/status.py: pod status from spec + Docker containers + probe results, and what kubectl prints of it."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from apiserver.tables import row_cells
from common.api import kinds
from kubelet.runtime import ContainerInfo
from kubelet.status import compute_status, container_state, get_phase, rfc3339, status_changed

T0, T1, NOW = "2024-05-01T11:00:00Z", "2024-05-01T11:30:00Z", "2024-05-01T12:00:00Z"
PRINT_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
UID = "uid-1"
START_ERROR = ('failed to create containerd task: exec: "nope": executable file not found in $PATH: unknown')
CRASH = ("CrashLoopBackOff", "back-off 10s restarting failed container=app pod=web_default(uid-1)")


def make_pod(apps: tuple[str, ...] = ("app",), inits: tuple[str, ...] = (), policy: str = "Always",
             **containers_extra: dict) -> dict:
    def container(name: str) -> dict:
        return {"name": name, "image": f"img/{name}", **containers_extra.get(name, {})}
    spec: dict[str, Any] = {"containers": [container(n) for n in apps], "restartPolicy": policy, "nodeName": "n1"}
    if inits:
        spec["initContainers"] = [container(n) for n in inits]
    return {"metadata": {"name": "web", "namespace": "default", "uid": UID, "creationTimestamp": T0},
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                       "lastTransitionTime": T0}]}}


def sandbox(state: str = "running", ip: str = "10.244.0.5", attempt: int = 0) -> ContainerInfo:
    return ContainerInfo(id=f"pause{attempt}", pod_uid=UID, pod_name="web", pod_namespace="default", name="POD",
                         type="sandbox", restart_count=attempt, spec_hash="", state=state, ip=ip,
                         started_at="2024-05-01T11:00:01Z")


def ctr(name: str = "app", state: str = "running", *, kind: str = "app", attempt: int = 0, code: int | None = None,
        oom: bool = False, error: str = "", started: str | None = "2024-05-01T11:00:02.123456789Z",
        finished: str | None = None, reason: str = "") -> ContainerInfo:
    if state == "exited" and finished is None:
        finished = "2024-05-01T11:10:00.5Z"
    return ContainerInfo(id=f"{name}{attempt}", pod_uid=UID, pod_name="web", pod_namespace="default", name=name,
                         type=kind, restart_count=attempt, spec_hash="h", state=state, exit_code=code,
                         started_at=started, finished_at=finished, oom_killed=oom, error=error,
                         image=f"img/{name}", image_id=f"docker-pullable://img/{name}@sha256:ab", reason=reason,
                         created_at="2024-05-01T11:00:01.9Z")


def status_of(pod: dict, containers: list[ContainerInfo], **overrides: Any) -> dict:
    arguments: dict[str, Any] = {"readiness": {}, "started": {}, "waiting": {}, "pod_ip": "10.244.0.5",
                                 "host_ip": "192.168.1.10", "now": NOW, "previous": None}
    arguments.update(overrides)
    if not any(c.type == "sandbox" for c in containers) and arguments["pod_ip"] == "10.244.0.5":
        arguments["pod_ip"] = ""
    return compute_status(pod, containers, **arguments)


def printed(pod: dict, status: dict) -> tuple[str, str]:
    """kubectl get's READY and STATUS columns for the pod with this status."""
    cells = row_cells(kinds.PODS, {**pod, "status": status}, PRINT_TIME)
    return cells[1], cells[2]


def condition(status: dict, type_: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == type_)


def by_name(statuses: list[dict]) -> dict[str, dict]:
    return {s["name"]: s for s in statuses}


# ---------------------------------------------------------------------------
# The whole shape, once.


def test_running_pod_has_upstreams_exact_shape() -> None:
    pod = make_pod()
    pod["metadata"]["generation"] = 1
    status = status_of(pod, [sandbox(), ctr()])
    assert status == {
        "phase": "Running",
        "conditions": [
            {"type": "PodReadyToStartContainers", "observedGeneration": 1, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": NOW},
            {"type": "Initialized", "observedGeneration": 1, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": NOW},
            {"type": "Ready", "observedGeneration": 1, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": NOW},
            {"type": "ContainersReady", "observedGeneration": 1, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": NOW},
            {"type": "PodScheduled", "observedGeneration": 1, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": T0},
        ],
        "hostIP": "192.168.1.10", "hostIPs": [{"ip": "192.168.1.10"}],
        "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
        "startTime": NOW,
        "containerStatuses": [{
            "name": "app", "state": {"running": {"startedAt": "2024-05-01T11:00:02Z"}}, "lastState": {},
            "ready": True, "restartCount": 0, "image": "img/app", "imageID": "docker-pullable://img/app@sha256:ab",
            "containerID": "docker://app0", "started": True, "resources": {},
        }],
        "qosClass": "BestEffort",
        "observedGeneration": 1,
    }
    assert printed(pod, status) == ("1/1", "Running")


def test_waiting_container_before_docker_has_it() -> None:
    pod = make_pod(app={"volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
                                         {"name": "data", "mountPath": "/data"}]})
    status = status_of(pod, [])
    assert status["containerStatuses"] == [{
        "name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}, "ready": False,
        "restartCount": 0, "image": "img/app", "imageID": "", "started": False,
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True, "recursiveReadOnly": "Disabled"},
                         {"name": "data", "mountPath": "/data"}],
    }]
    assert "podIP" not in status and status["phase"] == "Pending"
    assert condition(status, "PodReadyToStartContainers")["status"] == "False"
    assert printed(pod, status) == ("0/1", "ContainerCreating")


# ---------------------------------------------------------------------------
# Phase: every rule of getPhase, and the STATUS column kubectl prints for it.


@pytest.mark.parametrize("policy, containers, waiting, terminal, phase, shown", [
    ("Always", [ctr()], {}, False, "Running", "Running"),
    ("Always", [ctr(state="exited", code=0)], {}, False, "Running", "Completed"),
    ("Always", [ctr(state="exited", code=1)], {"app": CRASH}, False, "Running", "CrashLoopBackOff"),
    ("Always", [ctr(state="exited", code=1)], {}, False, "Running", "Error"),
    ("Always", [ctr(state="exited", code=143)], {}, True, "Failed", "Error"),
    ("Always", [ctr(state="exited", code=0)], {}, True, "Succeeded", "Completed"),
    ("OnFailure", [ctr(state="exited", code=0)], {}, False, "Succeeded", "Completed"),
    ("OnFailure", [ctr(state="exited", code=2)], {}, False, "Running", "Error"),
    ("OnFailure", [ctr(state="exited", code=2)], {"app": CRASH}, False, "Running", "CrashLoopBackOff"),
    ("OnFailure", [ctr(state="exited", code=0)], {"app": CRASH}, False, "Succeeded", "Completed"),
    ("Never", [ctr(state="exited", code=0)], {}, False, "Succeeded", "Completed"),
    ("Never", [ctr(state="exited", code=1)], {}, False, "Failed", "Error"),
    ("Never", [ctr(state="exited", code=1)], {"app": CRASH}, False, "Failed", "Error"),  # never restarted
    ("Never", [ctr(state="exited", code=137, oom=True)], {}, False, "Failed", "OOMKilled"),
    ("Never", [ctr(state="created", code=127, started=None, error='exec: "nope": executable file not found')],
     {}, False, "Failed", "ContainerCannotRun"),
    ("Never", [ctr(state="exited", code=128, started=None, reason="StartError", error=START_ERROR)],
     {}, False, "Failed", "StartError"),
    ("Always", [ctr(state="exited", code=128, started=None, reason="StartError", error=START_ERROR)],
     {"app": CRASH}, False, "Running", "CrashLoopBackOff"),
    ("Always", [ctr(state="created", code=None, started=None)], {}, False, "Pending", "Pending"),
    ("Always", [], {"app": ("ErrImagePull", "pull access denied")}, False, "Pending", "ErrImagePull"),
    ("Always", [], {"app": ("ImagePullBackOff", 'Back-off pulling image "img/app"')}, False, "Pending",
     "ImagePullBackOff"),
    ("Always", [], {"app": ("CreateContainerConfigError", 'configmap "x" not found')}, False, "Pending",
     "CreateContainerConfigError"),
    ("Always", [ctr(state="removing")], {}, False, "Pending", "Pending"),
])
def test_phase_rules_and_printed_status(policy: str, containers: list[ContainerInfo], waiting: dict,
                                        terminal: bool, phase: str, shown: str) -> None:
    pod = make_pod(policy=policy)
    status = status_of(pod, [sandbox(), *containers], waiting=waiting, terminal=terminal)
    assert status["phase"] == phase
    assert printed(pod, status)[1] == shown


@pytest.mark.parametrize("policy, first, second, phase, shown", [
    ("Never", ctr("a", "exited", code=0), ctr("b"), "Running", "NotReady"),
    ("Never", ctr("a", "exited", code=1), ctr("b", "exited", code=0), "Failed", "Error"),
    ("Never", ctr("a", "exited", code=0), ctr("b", "exited", code=0), "Succeeded", "Completed"),
    ("OnFailure", ctr("a", "exited", code=0), ctr("b", "exited", code=3), "Running", "Completed"),
    ("Always", ctr("a"), ctr("b", "created", started=None), "Pending", "Pending"),
])
def test_phase_with_two_containers(policy: str, first: ContainerInfo, second: ContainerInfo, phase: str,
                                   shown: str) -> None:
    pod = make_pod(("a", "b"), policy=policy)
    status = status_of(pod, [sandbox(), first, second])
    assert (status["phase"], printed(pod, status)[1]) == (phase, shown)


def test_get_phase_counts_missing_statuses_as_unknown() -> None:
    pod = make_pod(("a", "b"))
    running = {"name": "a", "state": {"running": {}}}
    assert get_phase(pod, [], [running], terminal=False, initialized=True) == "Pending"
    assert get_phase(pod, [], [running, {"name": "b", "state": {"running": {}}}], terminal=False,
                     initialized=True) == "Running"


@pytest.mark.parametrize("api_phase, previous_phase, expected", [
    ("Succeeded", None, "Succeeded"),
    ("Running", "Failed", "Failed"),
    ("Failed", "Running", "Failed"),
])
def test_terminal_phases_are_final(api_phase: str, previous_phase: str | None, expected: str) -> None:
    pod = make_pod()
    pod["status"]["phase"] = api_phase
    previous = None if previous_phase is None else {"phase": previous_phase}
    assert status_of(pod, [sandbox(), ctr()], previous=previous)["phase"] == expected


def test_reason_and_message_stay_with_their_phase() -> None:
    pod = make_pod(policy="Never")
    previous = {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
    status = status_of(pod, [ctr(state="exited", code=137)], previous=previous)
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "Evicted", previous["message"])
    assert "reason" not in status_of(pod, [sandbox(), ctr()], previous={"phase": "Pending", "reason": "X"})


# ---------------------------------------------------------------------------
# Init containers, one at a time, as kubectl prints them.

INITS = ("init1", "init2")


@pytest.mark.parametrize("policy, containers, waiting, phase, shown, initialized", [
    ("Always", [], {}, "Pending", "Init:0/2", "containers with incomplete status: [init1 init2]"),
    ("Always", [ctr("init1", kind="init")], {}, "Pending", "Init:0/2",
     "containers with incomplete status: [init1 init2]"),
    ("Always", [ctr("init1", "exited", kind="init", code=0)], {}, "Pending", "Init:1/2",
     "containers with incomplete status: [init2]"),
    ("Always", [ctr("init1", "exited", kind="init", code=0), ctr("init2", kind="init")], {}, "Pending", "Init:1/2",
     "containers with incomplete status: [init2]"),
    ("Always", [ctr("init1", "exited", kind="init", code=1)], {}, "Pending", "Init:Error",
     "containers with incomplete status: [init1 init2]"),
    ("Always", [ctr("init1", "exited", kind="init", code=1)], {"init1": CRASH}, "Pending", "Init:CrashLoopBackOff",
     "containers with incomplete status: [init1 init2]"),
    ("OnFailure", [ctr("init1", "exited", kind="init", code=1)], {"init1": CRASH}, "Pending",
     "Init:CrashLoopBackOff", "containers with incomplete status: [init1 init2]"),
    ("Never", [ctr("init1", "exited", kind="init", code=1)], {}, "Failed", "Init:Error",
     "containers with incomplete status: [init1 init2]"),
    ("Never", [ctr("init1", "exited", kind="init", code=1)], {"init1": CRASH}, "Failed", "Init:Error",
     "containers with incomplete status: [init1 init2]"),
    ("Always", [ctr("init1", "exited", kind="init", code=137, oom=True)], {}, "Pending", "Init:OOMKilled",
     "containers with incomplete status: [init1 init2]"),
    ("Always", [], {"init1": ("ErrImagePull", "not found")}, "Pending", "Init:ErrImagePull",
     "containers with incomplete status: [init1 init2]"),
    ("Always", [ctr("init1", "exited", kind="init", code=0), ctr("init2", "exited", kind="init", code=0)], {},
     "Pending", "PodInitializing", None),
    ("Always", [ctr("init1", "exited", kind="init", code=0), ctr("init2", "exited", kind="init", code=0), ctr()],
     {}, "Running", "Running", None),
    # Docker lost the init containers after the app started: taken as done, as upstream.
    ("Always", [ctr()], {}, "Running", "Running", None),
])
def test_init_container_progression(policy: str, containers: list[ContainerInfo], waiting: dict, phase: str,
                                    shown: str, initialized: str | None) -> None:
    pod = make_pod(inits=INITS, policy=policy)
    status = status_of(pod, [sandbox(), *containers], waiting=waiting)
    assert status["phase"] == phase
    assert printed(pod, status)[1] == shown
    cond = condition(status, "Initialized")
    if initialized is None:
        assert (cond["status"], cond.get("reason")) == ("True", None)
    else:
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "ContainersNotInitialized",
                                                                     initialized)
    assert [s["name"] for s in status["initContainerStatuses"]] == list(INITS)


def test_init_statuses_in_detail() -> None:
    pod = make_pod(inits=INITS)
    status = status_of(pod, [sandbox(), ctr("init1", "exited", kind="init", code=0), ctr("init2", kind="init")])
    init1, init2 = status["initContainerStatuses"]
    assert init1["state"]["terminated"] == {
        "exitCode": 0, "reason": "Completed", "startedAt": "2024-05-01T11:00:02Z",
        "finishedAt": "2024-05-01T11:10:00Z", "containerID": "docker://init10"}
    assert (init1["ready"], init1["started"]) == (True, False)
    assert (init2["ready"], init2["started"]) == (False, True)
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert condition(status, "ContainersReady")["message"] == "containers with unready status: [app]"


def test_lost_init_container_is_inferred_completed() -> None:
    status = status_of(make_pod(inits=("init1",)), [sandbox(), ctr()])
    assert status["initContainerStatuses"][0]["state"] == {"terminated": {
        "exitCode": 0, "reason": "Completed",
        "message": "Unable to get init container status from container runtime and pod has been initialized, "
                   "treat it as exited normally"}}


def test_sidecar_counts_as_a_container() -> None:
    pod = make_pod(inits=("proxy",), proxy={"restartPolicy": "Always", "readinessProbe": {"exec": {}}})
    running = [sandbox(), ctr("proxy", kind="init"), ctr()]
    status = status_of(pod, running, readiness={"proxy": False})
    assert status["phase"] == "Running"
    assert condition(status, "ContainersReady")["message"] == "containers with unready status: [proxy]"
    assert printed(pod, status) == ("1/2", "Running")
    status = status_of(pod, running, readiness={"proxy": True})
    assert printed(pod, status) == ("2/2", "Running")
    starting = status_of(pod, [sandbox(), ctr("proxy", kind="init")], started={"proxy": False})
    assert (starting["phase"], printed(pod, starting)[1]) == ("Pending", "Init:0/1")


# ---------------------------------------------------------------------------
# Restarts: restartCount, lastState, CrashLoopBackOff.


def test_crash_loop_shows_the_last_run() -> None:
    pod = make_pod()
    attempts = [sandbox(), ctr(state="exited", code=1, attempt=0), ctr(state="exited", code=2, attempt=1,
                                                                          finished="2024-05-01T11:55:00Z")]
    status = status_of(pod, attempts, waiting={"app": CRASH})
    app = status["containerStatuses"][0]
    assert app["state"] == {"waiting": {"reason": CRASH[0], "message": CRASH[1]}}
    assert app["lastState"]["terminated"]["exitCode"] == 2
    assert app["lastState"]["terminated"]["containerID"] == "docker://app1"
    assert app["containerID"] == "docker://app1"
    assert app["restartCount"] == 1 and app["ready"] is False and app["started"] is False
    assert printed(pod, status) == ("0/1", "CrashLoopBackOff")
    restarts = row_cells(kinds.PODS, {**pod, "status": status}, PRINT_TIME)[3]
    assert restarts == "1 (5m ago)"


def test_restarted_container_reports_the_previous_attempt() -> None:
    status = status_of(make_pod(), [sandbox(), ctr(state="exited", code=137, attempt=2), ctr(attempt=3)])
    app = status["containerStatuses"][0]
    assert app["restartCount"] == 3 and "running" in app["state"]
    assert app["lastState"] == {"terminated": {
        "exitCode": 137, "reason": "Error", "startedAt": "2024-05-01T11:00:02Z", "finishedAt": "2024-05-01T11:10:00Z",
        "containerID": "docker://app2"}}


@pytest.mark.parametrize("previous_app, expected_last", [
    # the previous status saw the old attempt terminate
    ({"state": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "docker://app0"}},
      "containerID": "docker://app0"},
     {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "docker://app0"}}),
    # it was waiting in CrashLoopBackOff, its lastState the old attempt
    ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "containerID": "docker://app0",
      "lastState": {"terminated": {"exitCode": 2, "containerID": "docker://app0"}}},
     {"terminated": {"exitCode": 2, "containerID": "docker://app0"}}),
    # the same attempt as now: its lastState still holds
    ({"state": {"running": {}}, "containerID": "docker://app1",
      "lastState": {"terminated": {"exitCode": 3, "containerID": "docker://app0"}}},
     {"terminated": {"exitCode": 3, "containerID": "docker://app0"}}),
    # an old attempt seen only running: nothing known of how it ended
    ({"state": {"running": {}}, "containerID": "docker://app0"}, {}),
])
def test_last_state_from_previous_status_when_docker_lost_the_old_attempt(previous_app: dict,
                                                                           expected_last: dict) -> None:
    previous = {"phase": "Running", "containerStatuses": [{"name": "app", **previous_app}]}
    status = status_of(make_pod(), [sandbox(), ctr(attempt=1)], previous=previous)
    assert status["containerStatuses"][0]["lastState"] == expected_last


def test_container_docker_lost_while_running_is_reported_terminated() -> None:
    previous = {"phase": "Running", "containerStatuses": [{"name": "app", "state": {"running": {}},
                                                            "restartCount": 4, "containerID": "docker://app4"}]}
    status = status_of(make_pod(), [sandbox()], previous=previous)
    app = status["containerStatuses"][0]
    assert app["lastState"]["terminated"]["reason"] == "ContainerStatusUnknown"
    assert app["lastState"]["terminated"]["exitCode"] == 137
    assert app["restartCount"] == 5
    assert status["phase"] == "Running"  # stopped and restarting, not back to Pending


def test_terminated_container_docker_forgot_keeps_its_old_status() -> None:
    terminated = {"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "restartCount": 0,
                  "image": "img/app", "imageID": "x", "containerID": "docker://app0", "lastState": {}, "ready": False}
    pod = make_pod(policy="Never")
    status = status_of(pod, [], previous={"phase": "Succeeded", "containerStatuses": [terminated]})
    assert status["containerStatuses"][0]["state"] == terminated["state"]
    assert status["phase"] == "Succeeded"


def test_deleted_pod_shows_no_waiting_reason() -> None:
    pod = make_pod()
    pod["metadata"]["deletionTimestamp"] = NOW
    status = status_of(pod, [sandbox(), ctr(state="exited", code=143)], waiting={"app": CRASH})
    assert "terminated" in status["containerStatuses"][0]["state"]
    assert printed(pod, status)[1] == "Terminating"


# ---------------------------------------------------------------------------
# Readiness and startup: container ready/started and the conditions, both ways.


@pytest.mark.parametrize("extra, readiness, started, ready, is_started", [
    ({}, {}, {}, True, True),  # no probes: ready once running
    ({"readinessProbe": {"exec": {}}}, {}, {}, False, True),  # a readiness probe starts failed
    ({"readinessProbe": {"exec": {}}}, {"app": True}, {}, True, True),
    ({"readinessProbe": {"exec": {}}}, {"app": False}, {}, False, True),
    ({"startupProbe": {"exec": {}}}, {"app": True}, {}, False, False),  # startup gates readiness
    ({"startupProbe": {"exec": {}}}, {"app": True}, {"app": False}, False, False),
    ({"startupProbe": {"exec": {}}}, {"app": True}, {"app": True}, True, True),
])
def test_ready_and_started(extra: dict, readiness: dict, started: dict, ready: bool, is_started: bool) -> None:
    pod = make_pod(app=extra)
    status = status_of(pod, [sandbox(), ctr()], readiness=readiness, started=started)
    app = status["containerStatuses"][0]
    assert (app["ready"], app["started"]) == (ready, is_started)
    for type_ in ("ContainersReady", "Ready"):
        cond = condition(status, type_)
        assert cond["status"] == ("True" if ready else "False")
        if not ready:
            assert (cond["reason"], cond["message"]) == ("ContainersNotReady",
                                                         "containers with unready status: [app]")
    assert printed(pod, status)[0] == ("1/1" if ready else "0/1")


def test_unready_containers_are_listed_in_spec_order() -> None:
    pod = make_pod(("b", "a", "c"), b={"readinessProbe": {}}, a={"readinessProbe": {}})
    status = status_of(pod, [sandbox(), ctr("b"), ctr("a"), ctr("c")])
    assert condition(status, "Ready")["message"] == "containers with unready status: [b a]"


@pytest.mark.parametrize("policy, code, phase, reason", [
    ("Never", 0, "Succeeded", "PodCompleted"),
    ("Never", 1, "Failed", "PodFailed"),
])
def test_finished_pod_conditions(policy: str, code: int, phase: str, reason: str) -> None:
    pod = make_pod(policy=policy)
    status = status_of(pod, [sandbox(state="exited", ip=""), ctr(state="exited", code=code)])
    assert status["phase"] == phase
    for type_ in ("ContainersReady", "Ready"):
        assert (condition(status, type_)["status"], condition(status, type_)["reason"]) == ("False", reason)
    assert condition(status, "PodReadyToStartContainers")["status"] == "False"
    initialized = condition(status, "Initialized")
    assert initialized["status"] == "True" and initialized.get("reason") == ("PodCompleted" if code == 0 else None)


@pytest.mark.parametrize("conditions, ready, message", [
    ([{"type": "example.com/lb", "status": "True"}], "True", None),
    ([{"type": "example.com/lb", "status": "False"}], "False",
     'the status of pod readiness gate "example.com/lb" is not "True", but False'),
    ([], "False", 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'),
])
def test_readiness_gates(conditions: list[dict], ready: str, message: str | None) -> None:
    pod = make_pod()
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]
    pod["status"]["conditions"] += conditions
    status = status_of(pod, [sandbox(), ctr()])
    cond = condition(status, "Ready")
    assert (cond["status"], cond.get("message")) == (ready, message)
    assert condition(status, "ContainersReady")["status"] == "True"
    assert status["conditions"][:len(conditions)] == conditions  # others' conditions kept, first


# ---------------------------------------------------------------------------
# Times: preserved while nothing changes, moved when a status flips.


def test_transition_times_move_only_with_the_status() -> None:
    pod = make_pod(app={"readinessProbe": {"exec": {}}})
    containers = [sandbox(), ctr()]
    first = status_of(pod, containers, now=T1, readiness={"app": False})
    again = status_of(pod, containers, now=NOW, readiness={"app": False}, previous=first)
    assert again["conditions"] == first["conditions"]
    assert again["startTime"] == first["startTime"] == T1
    assert not status_changed(first, again)
    flipped = status_of(pod, containers, now=NOW, readiness={"app": True}, previous=again)
    assert condition(flipped, "Ready")["lastTransitionTime"] == NOW
    assert condition(flipped, "ContainersReady")["lastTransitionTime"] == NOW
    assert condition(flipped, "Initialized")["lastTransitionTime"] == T1
    assert condition(flipped, "PodScheduled")["lastTransitionTime"] == T0  # the binding's
    assert status_changed(again, flipped)


def test_start_time_comes_from_the_api_status_after_a_kubelet_restart() -> None:
    pod = make_pod()
    pod["status"]["startTime"] = T0
    assert status_of(pod, [sandbox(), ctr()])["startTime"] == T0


@pytest.mark.parametrize("raw, expected", [
    ("2024-05-01T11:00:02.123456789Z", "2024-05-01T11:00:02Z"),
    ("2024-05-01T13:00:02.5+02:00", "2024-05-01T11:00:02Z"),
    ("2024-05-01T11:00:02Z", "2024-05-01T11:00:02Z"),
    ("0001-01-01T00:00:00Z", None),
    (None, None),
    ("", None),
])
def test_timestamps_are_cut_to_seconds(raw: str | None, expected: str | None) -> None:
    assert rfc3339(raw) == expected


# ---------------------------------------------------------------------------
# Docker states.


@pytest.mark.parametrize("info, expected", [
    (ctr(), {"running": {"startedAt": "2024-05-01T11:00:02Z"}}),
    (ctr(state="paused"), {"running": {"startedAt": "2024-05-01T11:00:02Z"}}),
    (ctr(state="created", started=None), {"waiting": {}}),
    (ctr(state="exited", code=0), {"terminated": {"exitCode": 0, "reason": "Completed",
                                                  "startedAt": "2024-05-01T11:00:02Z",
                                                  "finishedAt": "2024-05-01T11:10:00Z",
                                                  "containerID": "docker://app0"}}),
    (ctr(state="exited", code=137, oom=True),
     {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2024-05-01T11:00:02Z",
                     "finishedAt": "2024-05-01T11:10:00Z", "containerID": "docker://app0"}}),
    (ctr(state="created", code=127, started=None, error="exec: \"x\": executable file not found in $PATH"),
     {"terminated": {"exitCode": 127, "reason": "ContainerCannotRun",
                     "message": "exec: \"x\": executable file not found in $PATH",
                     "startedAt": "2024-05-01T11:00:01Z", "finishedAt": "2024-05-01T11:00:01Z",
                     "containerID": "docker://app0"}}),
    (ctr(state="exited", code=128, started=None, reason="StartError", error=START_ERROR),
     {"terminated": {"exitCode": 128, "reason": "StartError", "message": START_ERROR,
                     "startedAt": "1970-01-01T00:00:00Z", "finishedAt": "2024-05-01T11:10:00Z",
                     "containerID": "docker://app0"}}),
    (ctr(state="exited", code=1, reason="Error"), {"terminated": {
        "exitCode": 1, "reason": "Error", "startedAt": "2024-05-01T11:00:02Z", "finishedAt": "2024-05-01T11:10:00Z",
        "containerID": "docker://app0"}}),
])
def test_container_state_from_docker(info: ContainerInfo, expected: dict) -> None:
    assert container_state(info) == expected


# ---------------------------------------------------------------------------
# Addresses, QoS, generation.


def test_finished_pod_keeps_its_ip_after_the_sandbox_stopped() -> None:
    pod = make_pod(policy="Never")
    previous = {"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}]}
    status = status_of(pod, [sandbox(state="exited", ip=""), ctr(state="exited", code=0)], pod_ip="",
                       previous=previous)
    assert (status["phase"], status["podIP"], status["podIPs"]) == ("Succeeded", "10.244.0.5",
                                                                    [{"ip": "10.244.0.5"}])
    assert "podIP" not in status_of(make_pod(), [sandbox(state="exited", ip="")], pod_ip="", previous=previous)


def test_qos_class_and_resources() -> None:
    resources = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}
    status = status_of(make_pod(app={"resources": resources}), [sandbox(), ctr()])
    assert status["qosClass"] == "Guaranteed"
    app = status["containerStatuses"][0]
    assert (app["allocatedResources"], app["resources"]) == (resources["requests"], resources)


def test_observed_generation_follows_the_pod() -> None:
    pod = make_pod()
    pod["metadata"]["generation"] = 3
    status = status_of(pod, [sandbox(), ctr()])
    assert status["observedGeneration"] == 3
    assert {c["observedGeneration"] for c in status["conditions"]} == {3}
    pod["metadata"].pop("generation")
    assert "observedGeneration" not in status_of(pod, [sandbox(), ctr()])


# ---------------------------------------------------------------------------
# status_changed


def test_status_changed_ignores_others_conditions_and_formatting() -> None:
    pod = make_pod()
    status = status_of(pod, [sandbox(), ctr()])
    assert status_changed(None, status)
    from_api = {**status, "conditions": [*status["conditions"], {"type": "example.com/x", "status": "True"}],
                "nominatedNodeName": ""}
    from_api["startTime"] = "2024-05-01T12:00:00.000Z"
    assert not status_changed(from_api, status)
    moved = {**status, "containerStatuses": [{**status["containerStatuses"][0], "restartCount": 1}]}
    assert status_changed(status, moved)
    unready = {**status, "conditions": [{**c, "status": "False"} if c["type"] == "Ready" else c
                                        for c in status["conditions"]]}
    assert status_changed(status, unready)
