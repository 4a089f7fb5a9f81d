"""Pod status: the pure functions that turn a pod, what Docker has for it and probe results into `status`.

Mirrors upstream's kubelet: generateAPIPodStatus, convertToAPIContainerStatuses and
getPhase (pkg/kubelet/kubelet_pods.go), the condition generators of
pkg/kubelet/status/generate.go, the probe manager's UpdatePodStatus (ready and
started), and the status manager's bookkeeping (lastTransitionTime and startTime
kept across updates, timestamps cut to seconds, isPodStatusByKubeletEqual).
Docker states map to container states the way dockershim mapped them.  No I/O.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from apiserver.defaults import qos_class

from .runtime import ContainerInfo

Obj = dict[str, Any]

CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"
# The conditions the kubelet owns (kubetypes.PodConditionByKubelet), in the order upstream writes them.
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
_TERMINAL_PHASES = ("Succeeded", "Failed")
_RUNNING_DOCKER_STATES = ("running", "paused", "restarting")  # Docker's State.Running is true for all three
_UNKNOWN_TERMINATION = "The container could not be located when the pod was terminated"
_VANISHED_TERMINATION = ("The container could not be located when the pod was deleted.  "
                         "The container used to be Running")
_INIT_INFERRED_MESSAGE = ("Unable to get init container status from container runtime and pod has been "
                          "initialized, treat it as exited normally")
_UNIX_EPOCH = "1970-01-01T00:00:00Z"
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


# ---------------------------------------------------------------------------
# Small helpers.


def rfc3339(value: str | None) -> str | None:
    """A timestamp cut to whole seconds in UTC (metav1.Time's wire form); None for unset or Go's zero time."""
    if not value or value.startswith("0001-01-01"):
        return None
    match = _TIMESTAMP.match(value)
    if match is None:
        return value
    seconds, _, zone = match.groups()
    if zone == "Z":
        return seconds + "Z"
    moment = datetime.fromisoformat(seconds + zone).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _go_list(names: Iterable[str]) -> str:
    """fmt's %s of a []string: [a b]."""
    return "[" + " ".join(names) + "]"


def is_sidecar(container: Obj) -> bool:
    """A restartable init container (restartPolicy: Always) runs beside the app containers."""
    return container.get("restartPolicy") == "Always"


def _state_kind(state: Any) -> str | None:
    for kind in ("running", "terminated", "waiting"):
        if isinstance(_dict(state).get(kind), dict):
            return kind
    return None


def _terminated(state: Any) -> Obj | None:
    value = _dict(state).get("terminated")
    return value if isinstance(value, dict) else None


def _exit_code(state: Any) -> int:
    return int(_dict(_terminated(state)).get("exitCode") or 0)


# ---------------------------------------------------------------------------
# One Docker container → one container state.


def runtime_state(info: ContainerInfo) -> str:
    """The CRI state upstream sees: running, exited, created or unknown."""
    if info.state in _RUNNING_DOCKER_STATES:
        return "running"
    if info.state == "removing":
        return "unknown"
    if info.state in ("exited", "dead") or rfc3339(info.finished_at) or (info.exit_code or 0) != 0:
        return "exited"  # ran and finished, or never could start (an exit code but no run)
    return "created"


def _terminated_reason(info: ContainerInfo) -> str:
    """The runtime's reason when it gives one; else dockershim's reading of Docker's state."""
    if info.reason:
        return info.reason
    if not rfc3339(info.finished_at):
        return "ContainerCannotRun"  # Docker could not start it: State.Error says why
    if info.oom_killed:
        return "OOMKilled"
    return "Completed" if (info.exit_code or 0) == 0 else "Error"


def _run_times(info: ContainerInfo, reason: str) -> tuple[str | None, str | None]:
    """startedAt/finishedAt of a finished container, as upstream shows those that never ran."""
    started, finished = rfc3339(info.started_at), rfc3339(info.finished_at)
    if reason == "StartError" and started is None:
        started = _UNIX_EPOCH  # the CRI's zero start time, which kubectl shows as 1970
    if reason == "ContainerCannotRun":
        started = finished = rfc3339(info.created_at)  # dockershim: both are the creation time
    return started, finished


def container_state(info: ContainerInfo) -> Obj:
    """What upstream reports as `state` for this Docker container."""
    kind = runtime_state(info)
    if kind == "running":
        return {"running": {"startedAt": rfc3339(info.started_at)}}
    if kind != "exited":
        return {"waiting": {}}  # created but not started: "waiting to be running"
    reason = _terminated_reason(info)
    terminated: Obj = {"exitCode": info.exit_code or 0, "reason": reason}
    if info.error:
        terminated["message"] = info.error
    started, finished = _run_times(info, reason)
    terminated.update(startedAt=started, finishedAt=finished, containerID=docker_id(info))
    return terminated_state(terminated)


def terminated_state(terminated: Obj) -> Obj:
    return {"terminated": terminated}


def docker_id(info: ContainerInfo) -> str:
    return f"docker://{info.id}"


def _attempts(containers: list[ContainerInfo], name: str, kind: str) -> list[ContainerInfo]:
    """This container's attempts that Docker still has, latest first (the restart count orders them)."""
    mine = [c for c in containers if c.name == name and c.type == kind]
    return sorted(mine, key=lambda c: (c.restart_count, rfc3339(c.started_at) or ""), reverse=True)


# ---------------------------------------------------------------------------
# Container statuses (convertToAPIContainerStatuses).


def _volume_mounts(container: Obj) -> list[Obj]:
    """status.volumeMounts: recursive read-only is never in effect here, so read-only mounts say Disabled."""
    mounts = []
    for mount in _dicts(container.get("volumeMounts")):
        entry: Obj = {"name": mount.get("name", ""), "mountPath": mount.get("mountPath", "")}
        if mount.get("readOnly"):
            entry.update(readOnly=True, recursiveReadOnly="Disabled")
        mounts.append(entry)
    return mounts


def _default_status(container: Obj, default_reason: str, old: Obj | None) -> Obj:
    """Before anything is known from Docker: waiting, with the old status's counters carried over."""
    if old is not None and _terminated(old.get("state")) is not None:
        return copy.deepcopy(old)
    status: Obj = {"name": container["name"], "state": {"waiting": {"reason": default_reason}}, "lastState": {},
                   "ready": False, "restartCount": 0, "image": container.get("image", ""), "imageID": ""}
    if old is not None:
        status["restartCount"] = old.get("restartCount", 0)
        status["lastState"] = copy.deepcopy(_dict(old.get("lastState")))
    return status


def _vanished_status(status: Obj, old: Obj | None, default_reason: str, deleting: bool) -> Obj:
    """A container that was running and that Docker no longer has: it terminated, we don't know how."""
    if old is None or _state_kind(old.get("state")) != "running":
        return status
    if _dict(status["state"].get("waiting")).get("reason") != default_reason:
        return status
    if _terminated(status.get("lastState")) is not None:
        return status
    status["lastState"] = terminated_state({"exitCode": 137, "reason": "ContainerStatusUnknown",
                                            "message": _VANISHED_TERMINATION})
    if not deleting:
        status["restartCount"] = status.get("restartCount", 0) + 1
    return status


def _runtime_status(container: Obj, info: ContainerInfo, old: Obj | None) -> Obj:
    """The status of the latest attempt Docker has."""
    status: Obj = {"name": container["name"], "state": container_state(info), "lastState": {}, "ready": False,
                   "restartCount": info.restart_count, "image": info.image or container.get("image", ""),
                   "imageID": info.image_id, "containerID": docker_id(info)}
    if runtime_state(info) == "unknown" and old is not None and _state_kind(old.get("state")) == "running":
        status["state"] = terminated_state({"exitCode": 137, "reason": "ContainerStatusUnknown",
                                            "message": _UNKNOWN_TERMINATION})
        status["restartCount"] = old.get("restartCount", 0) + 1
    return status


def _last_state_from_old(old: Obj | None, current_id: str) -> Obj:
    """lastState when Docker no longer has the previous attempt: what the old status knew of it."""
    if old is None:
        return {}
    if old.get("containerID") == current_id:
        return copy.deepcopy(_dict(old.get("lastState")))
    state = _dict(old.get("state"))
    if _terminated(state) is not None:
        return terminated_state(copy.deepcopy(state["terminated"]))
    previous = _terminated(old.get("lastState"))
    if _state_kind(state) == "waiting" and previous is not None and previous.get("containerID") != current_id:
        return terminated_state(copy.deepcopy(previous))
    return {}


def _should_restart(container: Obj, pod: Obj, latest: ContainerInfo | None, sidecar: bool) -> bool:
    """upstream ShouldContainerBeRestarted: will the next sync start this container (again)?"""
    if _dict(pod.get("metadata")).get("deletionTimestamp"):
        return False
    if latest is None:
        return True
    state = runtime_state(latest)
    if state == "running":
        return False
    if state in ("unknown", "created") or sidecar:
        return True
    return container_should_restart(container, pod, latest.exit_code or 0)


def container_should_restart(container: Obj, pod: Obj, exit_code: int) -> bool:
    """The container's own restartPolicy if it has one, else the pod's: Always, OnFailure (exit != 0), Never."""
    policy = container.get("restartPolicy") or _dict(pod.get("spec")).get("restartPolicy") or "Always"
    if policy == "Never":
        return False
    return policy == "Always" or exit_code != 0


def _apply_waiting_reason(status: Obj, reason: tuple[str, str]) -> None:
    """A container the worker could not (re)start waits with the worker's reason; its last run moves to lastState."""
    if _terminated(status.get("state")) is not None:
        status["lastState"] = status["state"]
    waiting: Obj = {"reason": reason[0]}
    if reason[1]:
        waiting["message"] = reason[1]
    status["state"] = {"waiting": waiting}


def _container_statuses(pod: Obj, specs: list[Obj], containers: list[ContainerInfo], old_statuses: Any,
                        waiting: dict[str, tuple[str, str]], *, is_init: bool) -> list[Obj]:
    spec = _dict(pod.get("spec"))
    kind = "init" if is_init else "app"
    has_init = bool(_dicts(spec.get("initContainers")))
    default_reason = POD_INITIALIZING if has_init else CONTAINER_CREATING
    deleting = bool(_dict(pod.get("metadata")).get("deletionTimestamp"))
    old_by_name = {s.get("name"): s for s in _dicts(old_statuses)}
    any_app_created = any(c.type == "app" for c in containers)
    statuses = []
    for container in specs:
        name, old = container["name"], old_by_name.get(container["name"])
        attempts = _attempts(containers, name, kind)
        status = _default_status(container, default_reason, old)
        if not attempts:
            status = _vanished_status(status, old, default_reason, deleting)
        else:
            status = _runtime_status(container, attempts[0], old)
            status["lastState"] = (container_state(attempts[1]) if len(attempts) > 1
                                   else _last_state_from_old(old, status["containerID"]))
        latest = attempts[0] if attempts else None
        if is_init and _init_done(status, latest, any_app_created, container):
            statuses.append(status)
            continue
        if name in waiting and _should_restart(container, pod, latest, is_init and is_sidecar(container)):
            _apply_waiting_reason(status, waiting[name])
        statuses.append(status)
    return statuses


def _init_done(status: Obj, latest: ContainerInfo | None, any_app_created: bool, container: Obj) -> bool:
    """An init container that exited 0 is never restarted; one Docker lost after the app started is taken as done."""
    if latest is not None:
        return runtime_state(latest) == "exited" and (latest.exit_code or 0) == 0
    if any_app_created and not is_sidecar(container) and _state_kind(status.get("state")) == "waiting":
        status["state"] = terminated_state({"exitCode": 0, "reason": "Completed", "message": _INIT_INFERRED_MESSAGE})
        return True
    return False


# ---------------------------------------------------------------------------
# ready and started (the probe manager's UpdatePodStatus).


def _started(container: Obj, status: Obj, started: dict[str, bool]) -> bool:
    if _state_kind(status.get("state")) != "running":
        return False
    return started.get(container["name"], container.get("startupProbe") is None)


def _ready(container: Obj, readiness: dict[str, bool]) -> bool:
    return readiness.get(container["name"], container.get("readinessProbe") is None)


def _set_probe_results(specs: list[Obj], statuses: list[Obj], readiness: dict[str, bool],
                       started: dict[str, bool], *, is_init: bool) -> None:
    for container, status in zip(specs, statuses):
        status["started"] = _started(container, status, started)
        if is_init and not is_sidecar(container):
            status["ready"] = _terminated(status.get("state")) is not None and _exit_code(status["state"]) == 0
        elif status["started"]:
            status["ready"] = _ready(container, readiness)
        else:
            status["ready"] = False


def _with_spec_fields(container: Obj, status: Obj, from_runtime: bool) -> Obj:
    """Upstream's field order, plus what the spec tells: resources (runtime-backed statuses) and volumeMounts."""
    ordered = {key: status[key] for key in ("name", "state", "lastState", "ready", "restartCount", "image",
                                            "imageID", "containerID", "started") if key in status}
    resources = _dict(container.get("resources"))
    if from_runtime:
        if resources.get("requests"):
            ordered["allocatedResources"] = copy.deepcopy(resources["requests"])
        ordered["resources"] = copy.deepcopy(resources)
    mounts = _volume_mounts(container)
    if mounts:
        ordered["volumeMounts"] = mounts
    return ordered


# ---------------------------------------------------------------------------
# Phase (getPhase).


def get_phase(pod: Obj, init_statuses: list[Obj], app_statuses: list[Obj], *, terminal: bool,
              initialized: bool) -> str:
    """Pending, Running, Succeeded or Failed from the container statuses, as upstream getPhase decides."""
    spec = _dict(pod.get("spec"))
    by_name = {s.get("name"): s for s in [*app_statuses, *init_statuses]}
    inits = _dicts(spec.get("initContainers"))
    pending_init, init_not_restartable = _regular_init_counts(pod, inits, by_name)
    pending_sidecars, counts = _sidecar_counts(inits, by_name)
    _count_app_containers(pod, _dicts(spec.get("containers")), by_name, counts)
    if init_not_restartable:
        return "Failed"
    if pending_init or (pending_sidecars and not initialized) or counts["waiting"]:
        return "Pending"  # one or more containers has not been started
    if counts["running"] and not counts["unknown"]:
        return "Running"
    if not counts["running"] and counts["stopped"] and not counts["unknown"]:
        return _stopped_phase(terminal, counts)
    return "Pending"


def _stopped_phase(terminal: bool, counts: dict[str, int]) -> str:
    """Every container has stopped: restarting ones keep the pod Running, else it succeeded or failed."""
    if terminal or counts["stopped"] == counts["not_restartable"]:
        return "Succeeded" if counts["stopped"] == counts["succeeded"] else "Failed"
    return "Running"


def _regular_init_counts(pod: Obj, inits: list[Obj], by_name: dict) -> tuple[int, int]:
    pending = failed_for_good = 0
    for container in inits:
        if is_sidecar(container):
            continue
        status = by_name.get(container["name"])
        state = _dict(status.get("state")) if status else {}
        kind = _state_kind(state)
        last = _terminated(status.get("lastState")) if status else None
        if kind == "terminated" or (kind == "waiting" and last is not None):
            code = _exit_code(state) if kind == "terminated" else int(last.get("exitCode") or 0)
            failed_for_good += code != 0 and not container_should_restart(container, pod, code)
        else:
            pending += 1  # missing, running, waiting for its first run
    return pending, failed_for_good


def _sidecar_counts(inits: list[Obj], by_name: dict) -> tuple[int, dict[str, int]]:
    counts = dict.fromkeys(("unknown", "running", "waiting", "stopped", "not_restartable", "succeeded"), 0)
    pending = 0
    for container in inits:
        if not is_sidecar(container):
            continue
        status = by_name.get(container["name"])
        if status is None:
            counts["unknown"] += 1
            continue
        kind = _state_kind(status.get("state"))
        if kind == "running":
            pending += status.get("started") is not True
            counts["running"] += 1
        elif kind == "waiting" and _terminated(status.get("lastState")) is None:
            pending += 1
            counts["waiting"] += 1
        elif kind is None:
            pending += 1
            counts["unknown"] += 1
    return pending, counts


def _count_app_containers(pod: Obj, apps: list[Obj], by_name: dict, counts: dict[str, int]) -> None:
    for container in apps:
        status = by_name.get(container["name"])
        kind = _state_kind(status.get("state")) if status else None
        last = _terminated(status.get("lastState")) if status else None
        if kind == "running":
            counts["running"] += 1
        elif kind == "terminated" or (kind == "waiting" and last is not None):
            code = _exit_code(status["state"]) if kind == "terminated" else int(last.get("exitCode") or 0)
            counts["stopped"] += 1
            counts["not_restartable"] += not container_should_restart(container, pod, code)
            counts["succeeded"] += kind == "terminated" and code == 0
        elif kind == "waiting":
            counts["waiting"] += 1
        else:
            counts["unknown"] += 1


# ---------------------------------------------------------------------------
# Conditions (pkg/kubelet/status/generate.go).


def _condition(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    condition: Obj = {"type": type_, "status": "True" if ok else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _ready_to_start_condition(pod: Obj, containers: list[ContainerInfo], pod_ip: str) -> Obj:
    """True when exactly one sandbox runs and has the pod's network (an IP, unless hostNetwork)."""
    sandboxes = [c for c in containers if c.type == "sandbox" and runtime_state(c) == "running"]
    host_network = bool(_dict(pod.get("spec")).get("hostNetwork"))
    ok = len(sandboxes) == 1 and (host_network or bool(sandboxes[0].ip or pod_ip))
    return _condition("PodReadyToStartContainers", ok)


def _any_app_started(statuses: list[Obj]) -> bool:
    return any(_state_kind(s.get("state")) in ("running", "terminated") for s in statuses)


def _initialized_condition(pod: Obj, init_statuses: list[Obj], app_statuses: list[Obj], phase: str) -> Obj:
    by_name = {s.get("name"): s for s in init_statuses}
    unknown, incomplete = [], []
    for container in _dicts(_dict(pod.get("spec")).get("initContainers")):
        status = by_name.get(container["name"])
        if status is None:
            unknown.append(container["name"])
        elif not (status.get("started") is True if is_sidecar(container) else status.get("ready") is True):
            incomplete.append(container["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    if _any_app_started(app_statuses):
        return _condition("Initialized", True)  # initialized before; sidecars may be restarting
    messages = ([f"containers with unknown status: {_go_list(unknown)}"] if unknown else []) + \
               ([f"containers with incomplete status: {_go_list(incomplete)}"] if incomplete else [])
    if messages:
        return _condition("Initialized", False, "ContainersNotInitialized", ", ".join(messages))
    return _condition("Initialized", True)


def _containers_ready_condition(pod: Obj, statuses: list[Obj], phase: str) -> Obj:
    spec = _dict(pod.get("spec"))
    by_name = {s.get("name"): s for s in statuses}
    wanted = [c for c in _dicts(spec.get("initContainers")) if is_sidecar(c)] + _dicts(spec.get("containers"))
    unknown = [c["name"] for c in wanted if c["name"] not in by_name]
    unready = [c["name"] for c in wanted if c["name"] in by_name and by_name[c["name"]].get("ready") is not True]
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == "Failed":
        return _condition("ContainersReady", False, "PodFailed")
    messages = ([f"containers with unknown status: {_go_list(unknown)}"] if unknown else []) + \
               ([f"containers with unready status: {_go_list(unready)}"] if unready else [])
    if messages:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _condition("ContainersReady", True)


def _ready_condition(pod: Obj, conditions: list[Obj], containers_ready: Obj) -> Obj:
    """Ready copies ContainersReady unless that is True; then every readiness gate must be True too."""
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    by_type = {c.get("type"): c for c in conditions}
    messages = []
    for gate in _dicts(_dict(pod.get("spec")).get("readinessGates")):
        gate_type = gate.get("conditionType", "")
        condition = by_type.get(gate_type)
        if condition is None:
            messages.append(f"corresponding condition of pod readiness gate \"{gate_type}\" does not exist.")
        elif condition.get("status") != "True":
            messages.append(f"the status of pod readiness gate \"{gate_type}\" is not \"True\", "
                            f"but {condition.get('status')}")
    if messages:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(messages))
    return _condition("Ready", True)


def _stamped(condition: Obj, old_conditions: list[Obj], now: str, generation: int) -> Obj:
    """Upstream's condition shape; lastTransitionTime only moves when the status does."""
    old = next((c for c in old_conditions if c.get("type") == condition["type"]), None)
    transition = now
    if old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
        transition = rfc3339(old["lastTransitionTime"]) or now
    stamped: Obj = {"type": condition["type"]}
    if generation:
        stamped["observedGeneration"] = generation
    stamped.update(status=condition["status"], lastProbeTime=None, lastTransitionTime=transition)
    stamped.update({key: condition[key] for key in ("reason", "message") if key in condition})
    return stamped


def _conditions(pod: Obj, containers: list[ContainerInfo], init_statuses: list[Obj], app_statuses: list[Obj],
                phase: str, pod_ip: str, old: Obj, now: str) -> list[Obj]:
    api_conditions = _dicts(_dict(pod.get("status")).get("conditions"))
    foreign = [copy.deepcopy(c) for c in api_conditions if c.get("type") not in KUBELET_CONDITIONS]
    all_statuses = [*init_statuses, *app_statuses]
    ready_to_start = _ready_to_start_condition(pod, containers, pod_ip)
    initialized = _initialized_condition(pod, init_statuses, app_statuses, phase)
    containers_ready = _containers_ready_condition(pod, all_statuses, phase)
    ready = _ready_condition(pod, [*foreign, ready_to_start, initialized], containers_ready)
    owned = [ready_to_start, initialized, ready, containers_ready, _condition("PodScheduled", True)]
    old_conditions = _dicts(old.get("conditions")) or api_conditions
    generation = int(_dict(pod.get("metadata")).get("generation") or 0)
    return foreign + [_stamped(c, old_conditions, now, generation) for c in owned]


# ---------------------------------------------------------------------------
# The pod's status.


def compute_status(pod: Obj, containers: list[ContainerInfo], *, readiness: dict[str, bool],
                   started: dict[str, bool], waiting: dict[str, tuple[str, str]], pod_ip: str, host_ip: str,
                   now: str, previous: Obj | None = None, terminal: bool = False) -> Obj:
    """The pod's whole `status`, as the kubelet writes it.

    `containers` is everything Docker has for the pod (sandbox and earlier attempts
    included); `readiness`/`started` are the probe results by container name (a
    missing name means "as if it had no such probe"); `waiting` names the containers
    the worker could not (re)start with their (reason, message); `previous` is the
    last status written (default: the pod's own); `terminal` says the pod will run
    nothing more, so stopped containers decide Succeeded or Failed.
    """
    spec, meta = _dict(pod.get("spec")), _dict(pod.get("metadata"))
    api_status = _dict(pod.get("status"))
    old = previous if previous is not None else api_status
    now = rfc3339(now) or now
    init_specs, app_specs = _dicts(spec.get("initContainers")), _dicts(spec.get("containers"))
    init_statuses = _container_statuses(pod, init_specs, containers, old.get("initContainerStatuses"), waiting,
                                        is_init=True)
    app_statuses = _container_statuses(pod, app_specs, containers, old.get("containerStatuses"), waiting,
                                       is_init=False)
    _set_probe_results(init_specs, init_statuses, readiness, started, is_init=True)
    _set_probe_results(app_specs, app_statuses, readiness, started, is_init=False)
    initialized = any(c.type == "app" for c in containers)
    phase = get_phase(pod, init_statuses, app_statuses, terminal=terminal, initialized=initialized)
    phase = _sticky_terminal_phase(phase, old, api_status)
    status: Obj = {"phase": phase,
                   "conditions": _conditions(pod, containers, init_statuses, app_statuses, phase, pod_ip, old, now)}
    if phase == old.get("phase"):  # the reason and message belong to the phase
        status.update({key: old[key] for key in ("message", "reason") if old.get(key)})
    status.update(_addresses(phase, pod_ip, host_ip, old, containers))
    status["startTime"] = rfc3339(old.get("startTime")) or now
    if init_specs:
        status["initContainerStatuses"] = _finish(init_specs, init_statuses, containers, "init")
    status["containerStatuses"] = _finish(app_specs, app_statuses, containers, "app")
    status["qosClass"] = qos_class(spec)
    if meta.get("generation"):
        status["observedGeneration"] = meta["generation"]
    return status


def _finish(specs: list[Obj], statuses: list[Obj], containers: list[ContainerInfo], kind: str) -> list[Obj]:
    return [_with_spec_fields(spec, status, bool(_attempts(containers, spec["name"], kind)))
            for spec, status in zip(specs, statuses)]


def _sticky_terminal_phase(phase: str, old: Obj, api_status: Obj) -> str:
    """A pod never leaves Succeeded or Failed."""
    if phase in _TERMINAL_PHASES:
        return phase if api_status.get("phase") not in _TERMINAL_PHASES else api_status["phase"]
    for source in (old, api_status):
        if source.get("phase") in _TERMINAL_PHASES:
            return source["phase"]
    return phase


def _addresses(phase: str, pod_ip: str, host_ip: str, old: Obj, containers: list[ContainerInfo]) -> Obj:
    """hostIP(s) and podIP(s); a finished pod keeps the IP it had after its sandbox stopped, as upstream."""
    addresses: Obj = {}
    if host_ip:
        addresses.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}])
    sandbox_running = any(c.type == "sandbox" and runtime_state(c) == "running" for c in containers)
    if pod_ip:
        addresses.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    elif phase in _TERMINAL_PHASES and not sandbox_running and old.get("podIP"):
        addresses.update(podIP=old["podIP"], podIPs=copy.deepcopy(old.get("podIPs") or [{"ip": old["podIP"]}]))
    return addresses


# ---------------------------------------------------------------------------
# Has anything the kubelet owns changed? (isPodStatusByKubeletEqual)


def status_changed(old: Obj | None, new: Obj) -> bool:
    """Whether `new` says something `old` doesn't: condition times and others' conditions don't count."""
    if old is None:
        return True
    if _owned_conditions(old) != _owned_conditions(new):
        return True
    rest_old = {k: v for k, v in old.items() if k != "conditions"}
    rest_new = {k: v for k, v in new.items() if k != "conditions"}
    return _normalized(rest_old) != _normalized(rest_new)


def _owned_conditions(status: Obj) -> dict[str, tuple]:
    return {c.get("type"): (c.get("status"), c.get("reason") or "", c.get("message") or "",
                            c.get("observedGeneration") or 0)
            for c in _dicts(status.get("conditions")) if c.get("type") in KUBELET_CONDITIONS}


def _normalized(value: Any) -> Any:
    """Drop what omitempty drops, cut timestamps to seconds, order app container statuses by name."""
    if isinstance(value, dict):
        items = {k: _normalized(v) for k, v in value.items()}
        if isinstance(items.get("containerStatuses"), list):
            items["containerStatuses"] = sorted(items["containerStatuses"], key=lambda s: str(_dict(s).get("name")))
        return {k: v for k, v in items.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return rfc3339(value)
    return value
