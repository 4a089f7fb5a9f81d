"""Which container a log request means, log options, exec statuses, and the apiserver's side of the proxy."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from apiserver.kubelet_proxy import _kubelet_error, choose_container, kubelet_address
from common.errors import BadRequest, Invalid, NotFound, ServiceUnavailable
from kubelet.runtime import ContainerInfo
from kubelet.server import LogOptions, exit_status, log_target

UID = "uid-1"


def pod(waiting: str = "", init: list[str] | None = None, containers: tuple[str, ...] = ("app",)) -> dict[str, Any]:
    status = {"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": waiting}} if waiting else {}}]}
    return {"metadata": {"name": "web", "uid": UID},
            "spec": {"containers": [{"name": n} for n in containers],
                     "initContainers": [{"name": n} for n in init or []]},
            "status": status}


def attempt(n: int, state: str = "exited", started: bool = True, name: str = "app") -> ContainerInfo:
    return ContainerInfo(id=f"c{n}", pod_uid=UID, pod_name="web", pod_namespace="ns", name=name, type="app",
                         restart_count=n, spec_hash="", state=state,
                         started_at="2026-01-01T00:00:00Z" if started else None)


@pytest.mark.parametrize("attempts, previous, expected", [
    ([attempt(0, "running")], False, "c0"),
    ([attempt(0), attempt(1, "running")], False, "c1"),
    ([attempt(0), attempt(1, "running")], True, "c0"),
    ([attempt(0), attempt(1), attempt(2, "created", started=False)], False, "c1"),  # newest never ran
    ([attempt(0), attempt(1), attempt(2, "running")], True, "c1"),
    ([attempt(0)], False, "c0"),  # a finished container still has its log
])
def test_log_target_picks_the_attempt(attempts: list[ContainerInfo], previous: bool, expected: str) -> None:
    assert log_target(pod(), attempts, "app", previous).id == expected


@pytest.mark.parametrize("attempts, previous, waiting, message", [
    ([attempt(0, "running")], True, "",
     'previous terminated container "app" in pod "web" not found'),
    ([], False, "ErrImagePull", 'container "app" in pod "web" is waiting to start: image can\'t be pulled'),
    ([], False, "ImagePullBackOff",
     'container "app" in pod "web" is waiting to start: trying and failing to pull image'),
    ([], False, "", 'container "app" in pod "web" is waiting to start: ContainerCreating'),
    ([attempt(0, "created", started=False)], False, "CreateContainerConfigError",
     'container "app" in pod "web" is waiting to start: CreateContainerConfigError'),
])
def test_log_target_explains_why_there_is_no_log(attempts: list[ContainerInfo], previous: bool, waiting: str,
                                                 message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        log_target(pod(waiting), attempts, "app", previous)
    assert caught.value.message == message


def test_log_target_ignores_other_containers_and_pods() -> None:
    other_pod = dataclasses.replace(attempt(5, "running"), pod_uid="someone-else")
    with pytest.raises(BadRequest):
        log_target(pod(), [other_pod, attempt(3, "running", name="sidecar")], "app", False)


def test_log_options_parse_and_validate() -> None:
    options = LogOptions.parse({"follow": "true", "tailLines": "5", "sinceSeconds": "60", "limitBytes": "9"}, "web")
    assert (options.follow, options.tail_lines, options.limit_bytes, options.previous) == (True, 5, 9, False)
    assert options.since is not None
    with pytest.raises(Invalid) as caught:
        LogOptions.parse({"tailLines": "-1", "sinceSeconds": "0"}, "web")
    assert [c["field"] for c in caught.value.causes] == ["tailLines", "sinceSeconds"]
    with pytest.raises(Invalid):
        LogOptions.parse({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, "web")
    with pytest.raises(BadRequest, match="tailLines"):
        LogOptions.parse({"tailLines": "many"}, "web")


def test_exit_status_carries_the_code() -> None:
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ["sh", "-c", "exit 3"])
    assert failed["reason"] == "NonZeroExitCode" and failed["details"]["causes"] == [
        {"reason": "ExitCode", "message": "3"}]


@pytest.mark.parametrize("name, containers, init, expected", [
    (None, ("app",), [], "app"),
    ("app", ("app", "side"), [], "app"),
    ("setup", ("app",), ["setup"], "setup"),
])
def test_choose_container(name: str | None, containers: tuple[str, ...], init: list[str], expected: str) -> None:
    assert choose_container(pod(containers=containers, init=init), name) == expected


@pytest.mark.parametrize("name, containers, init, message", [
    (None, ("a", "b"), [], "a container name must be specified for pod web, choose one of: [a b]"),
    (None, ("a", "b"), ["i"], "a container name must be specified for pod web, choose one of: [a b] "
                              "or one of the init containers: [i]"),
    ("nope", ("a",), [], "container nope is not valid for pod web"),
])
def test_choose_container_errors(name: str | None, containers: tuple[str, ...], init: list[str],
                                 message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        choose_container(pod(containers=containers, init=init), name)
    assert caught.value.message == message


def test_kubelet_address_prefers_the_internal_ip() -> None:
    node = {"metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}
    assert kubelet_address(node) == ("10.0.0.5", 10250)
    with pytest.raises(ServiceUnavailable):
        kubelet_address({"metadata": {"name": "n2"}, "status": {}})


def test_kubelet_errors_become_api_errors() -> None:
    status = NotFound('pod "x" not found on this node').to_status()
    assert isinstance(_kubelet_error(404, json.dumps(status).encode()), NotFound)
    plain = _kubelet_error(502, b"bad gateway")
    assert isinstance(plain, ServiceUnavailable) and "bad gateway" in plain.message
