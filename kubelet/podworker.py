"""Per-pod sync: each pass compares what a pod asks for with what Docker runs, and does the next step.

Level-triggered, as upstream's SyncPod: a pass reads the pod (from the informer)
and the pod's containers (from Docker, by label), decides what is missing —
volumes, the sandbox, the next init container, app containers to (re)start —
acts, and reports the resulting status.  Nothing is remembered between passes
except back-off timers and probe results, so a restarted kubelet picks up where
Docker is.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from . import env as envs
from . import status as statuses
from .backoff import Backoff
from .runtime import ContainerInfo, DockerRuntime, ImageError, RuntimeError_
from .volumes import VolumeError, VolumeManager

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NEVER_PULL_RECHECK_S = 10.0  # imagePullPolicy Never: how soon to look again for an image loaded by hand


class Recorder(Protocol):
    async def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None: ...


class ProbeResults(Protocol):
    def update(self, pod: Obj, containers: list[ContainerInfo]) -> None: ...
    def readiness(self, pod_uid: str) -> dict[str, bool]: ...
    def started(self, pod_uid: str) -> dict[str, bool]: ...
    def stop(self, pod_uid: str) -> None: ...


@dataclass
class PassResult:
    """What one sync pass wants next: another pass after `retry_in_s` (None: only when something changes)."""
    status: Obj | None = None
    retry_in_s: float | None = None
    finished: bool = False  # the pod is gone and everything of it was removed


@dataclass
class _Pass:
    """The facts one pass gathers and the reasons it collects for containers it could not run."""
    pod: Obj
    containers: list[ContainerInfo]
    sandbox: ContainerInfo | None = None
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    retry_in_s: float | None = None

    def retry(self, seconds: float) -> None:
        self.retry_in_s = seconds if self.retry_in_s is None else min(self.retry_in_s, seconds)


def spec_hash(container: Obj) -> str:
    """Changes when the container's spec does: a changed container is restarted, as upstream."""
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:16]


def latest(containers: list[ContainerInfo], name: str, kind: str) -> ContainerInfo | None:
    mine = [c for c in containers if c.name == name and c.type == kind]
    return max(mine, key=lambda c: c.restart_count) if mine else None


def _epoch(rfc3339: str | None) -> float:
    if not rfc3339:
        return time.time()
    text = rfc3339.replace("Z", "+00:00")
    if "." in text:  # Docker gives nanoseconds; Python takes microseconds
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    return datetime.fromisoformat(text).timestamp()


class PodSyncer:
    """One sync pass for one pod; the kubelet runs passes per pod in its own task."""

    def __init__(self, runtime: DockerRuntime, volumes: VolumeManager, probes: ProbeResults,
                 recorder: Recorder, fetch: envs.ObjectFetcher, *, node_name: str, host_ip: str,
                 dns_config: Callable[[Obj], dict[str, Any] | None] = lambda _pod: None) -> None:
        self.runtime, self.volumes, self.probes, self.recorder, self.fetch = runtime, volumes, probes, recorder, fetch
        self.node_name, self.host_ip, self.dns_config = node_name, host_ip, dns_config
        self.restarts = Backoff()
        self.pulls = Backoff()
        self.liveness_kills: dict[tuple[str, str], str] = {}  # (uid, container) -> message, set by the prober

    async def sync(self, pod: Obj, containers: list[ContainerInfo]) -> PassResult:
        if pod["metadata"].get("deletionTimestamp"):
            return PassResult(status=await self.terminate(pod, containers), finished=True)
        p = _Pass(pod, containers)
        if _terminal(pod):
            await self._stop_running(p, reason="the pod has completed")
            return PassResult(status=self._status(p, terminal=True))
        if await self._volumes_ready(p) and await self._sandbox_ready(p):
            if await self._init_containers_done(p):
                await self._app_containers(p)
        self.probes.update(pod, p.containers)
        return PassResult(status=self._status(p), retry_in_s=p.retry_in_s)

    # -- steps ---------------------------------------------------------------

    async def _volumes_ready(self, p: _Pass) -> bool:
        try:
            await self.volumes.setup(p.pod)
            return True
        except VolumeError as err:  # containers stay at their default waiting reason (ContainerCreating)
            await self.recorder.record(p.pod, "Warning", err.event_reason, err.event_message)
            p.retry(2.0)
            return False

    async def _sandbox_ready(self, p: _Pass) -> bool:
        sandbox = latest(p.containers, "POD", "sandbox")
        if sandbox is not None and sandbox.state == "running":
            p.sandbox = sandbox
            return True
        attempt = 0 if sandbox is None else sandbox.restart_count + 1
        if sandbox is not None:  # the sandbox died: everything in it goes with it, as upstream
            await self.recorder.record(p.pod, "Normal", "SandboxChanged",
                                       "Pod sandbox changed, it will be killed and re-created.")
            await self._stop_running(p, reason="the pod sandbox changed")
        try:
            await self.runtime.ensure_image(self.runtime.pause_image, "IfNotPresent")
            p.sandbox = await self.runtime.run_sandbox(p.pod, dns=self.dns_config(p.pod), attempt=attempt)
        except RuntimeError_ as err:
            await self.recorder.record(p.pod, "Warning", "FailedCreatePodSandBox",
                                       f"Failed to create pod sandbox: {err.message}")
            p.retry(2.0)
            return False
        p.containers = [*p.containers, p.sandbox]
        return True

    async def _init_containers_done(self, p: _Pass) -> bool:
        policy = p.pod["spec"].get("restartPolicy", "Always")
        for container in p.pod["spec"].get("initContainers") or []:
            if container.get("restartPolicy") == "Always":  # a sidecar: started once, then kept running
                if not await self._keep_running(p, container, "init", sidecar=True):
                    return False
                continue
            last = latest(p.containers, container["name"], "init")
            if last is not None and last.state == "exited" and last.exit_code == 0:
                continue
            if last is not None and last.state == "running":
                return False
            if last is not None and last.state == "exited" and policy == "Never":
                return False  # the pod has failed; status says so
            await self._start_with_backoff(p, container, "init", last)
            return False
        return True

    async def _app_containers(self, p: _Pass) -> None:
        policy = p.pod["spec"].get("restartPolicy", "Always")
        for container in p.pod["spec"]["containers"]:
            last = latest(p.containers, container["name"], "app")
            if last is not None and last.state == "running":
                await self._check_running(p, container, last)
                continue
            if last is not None and last.state in ("exited", "dead", "created"):
                if policy == "Never" or (policy == "OnFailure" and last.exit_code == 0):
                    continue
            await self._start_with_backoff(p, container, "app", last)

    async def _keep_running(self, p: _Pass, container: Obj, kind: str, sidecar: bool = False) -> bool:
        last = latest(p.containers, container["name"], kind)
        if last is not None and last.state == "running":
            await self._check_running(p, container, last)
            return True
        await self._start_with_backoff(p, container, kind, last)
        return False

    async def _check_running(self, p: _Pass, container: Obj, running: ContainerInfo) -> None:
        """Restart a running container whose spec changed or whose liveness probe failed."""
        uid = p.pod["metadata"]["uid"]
        message = self.liveness_kills.pop((uid, container["name"]), None)
        if message is None and running.spec_hash == spec_hash(container):
            return
        why = message or f"Container {container['name']} definition changed, will be restarted"
        await self.recorder.record(p.pod, "Normal", "Killing", why, field_path(p.pod, container["name"]))
        await self.runtime.stop_container(running.id, _grace(p.pod))
        p.retry(0.0)

    async def _start_with_backoff(self, p: _Pass, container: Obj, kind: str, last: ContainerInfo | None) -> None:
        uid, name = p.pod["metadata"]["uid"], container["name"]
        key = f"{uid}/{name}"
        if last is not None:
            finished = _epoch(last.finished_at)
            if self.restarts.in_backoff_since(key, finished):
                delay = self.restarts.delay(key)
                p.waiting[name] = ("CrashLoopBackOff", f"back-off {delay:.0f}s restarting failed container={name} "
                                   f"pod={p.pod['metadata']['name']}_{p.pod['metadata']['namespace']}({uid})")
                await self.recorder.record(p.pod, "Warning", "BackOff", "Back-off restarting failed container "
                                           f"{name} in pod {p.pod['metadata']['name']}_{p.pod['metadata']['namespace']}"
                                           f"({uid})", field_path(p.pod, container["name"]))
                p.retry(self.restarts.remaining(key, finished))
                return
            self.restarts.next(key, finished)
        await self._start(p, container, kind, 0 if last is None else last.restart_count + 1)

    async def _start(self, p: _Pass, container: Obj, kind: str, restart_count: int) -> None:
        pod, name = p.pod, container["name"]
        path = field_path(pod, container["name"])
        if not await self._pull(p, container):
            return
        try:
            env = await envs.resolve_env(pod, container, self.fetch, pod_ip=p.sandbox.ip if p.sandbox else "",
                                         host_ip=self.host_ip, node_name=self.node_name)
            mounts = self.volumes.mounts(pod, container, env)
        except envs.EnvError as err:
            p.waiting[name] = (err.reason, err.message)
            await self.recorder.record(pod, "Warning", "Failed", f"Error: {err.message}", path)
            p.retry(2.0)
            return
        except VolumeError as err:
            p.waiting[name] = (err.reason, err.message)
            await self.recorder.record(pod, "Warning", err.event_reason, err.event_message, path)
            p.retry(2.0)
            return
        created: ContainerInfo | None = None
        try:
            runnable = envs.expand_command_and_args(container, env)  # the hash stays on the spec as written
            created = await self.runtime.create_container(pod, runnable, kind=kind, sandbox=p.sandbox,
                                                          restart_count=restart_count, env=envs.env_list(env),
                                                          mounts=mounts, spec_hash=spec_hash(container))
            await self.recorder.record(pod, "Normal", "Created", f"Created container {name}", path)
            result = await self.runtime.start_container(created.id)
            await self.recorder.record(pod, "Normal", "Started", f"Started container {name}", path)
        except RuntimeError_ as err:
            await self.recorder.record(pod, "Warning", "Failed", f"Error: {err.message}", path)
            p.waiting[name] = (err.reason, err.message)
            p.retry(1.0)
            result = await self.runtime.inspect(created.id) if created is not None else None
        if result is not None:
            p.containers = [c for c in p.containers if c.id != result.id] + [result]
            if result.state == "exited":
                p.waiting.pop(name, None)  # Docker's own record (e.g. StartError) says it better
                p.retry(0.0)  # the next pass applies the restart policy

    async def _pull(self, p: _Pass, container: Obj) -> bool:
        """Ensure the image; after a failure, wait out the back-off (ImagePullBackOff) before trying again."""
        pod, name, image = p.pod, container["name"], container.get("image", "")
        key, path = f"{pod['metadata']['uid']}/{name}/{image}", field_path(pod, container["name"])
        failed_at = self.pulls.last_update(key)
        if failed_at is not None and self.pulls.in_backoff_since(key, failed_at):
            p.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            await self.recorder.record(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', path)
            p.retry(self.pulls.remaining(key, failed_at))
            return False
        pulled_since: list[float] = []  # set when a pull starts

        async def pulling() -> None:
            pulled_since.append(time.monotonic())
            await self.recorder.record(pod, "Normal", "Pulling", f'Pulling image "{image}"', path)
        try:
            await self.runtime.ensure_image(image, container.get("imagePullPolicy", "IfNotPresent"), pulling)
        except ImageError as err:
            p.waiting[name] = (err.reason, err.message)
            await self.recorder.record(pod, "Warning", "Failed", err.message, path)
            await self.recorder.record(pod, "Warning", "Failed", f"Error: {err.reason}", path)
            if err.reason == "ErrImageNeverPull":  # nothing was pulled, so no back-off: look again later
                p.retry(NEVER_PULL_RECHECK_S)
                return False
            now = time.time()
            self.pulls.next(key, now)
            p.retry(self.pulls.remaining(key, now))
            return False
        self.pulls.forget(key)
        message = (f'Successfully pulled image "{image}" in {time.monotonic() - pulled_since[0]:.3f}s'
                   if pulled_since else f'Container image "{image}" already present on machine')
        await self.recorder.record(pod, "Normal", "Pulled", message, path)
        return True

    async def _stop_running(self, p: _Pass, reason: str) -> None:
        running = [c for c in p.containers if c.state == "running"]
        apps = [c for c in running if c.type != "sandbox"]
        await asyncio.gather(*(self.runtime.stop_container(c.id, _grace(p.pod)) for c in apps))
        for sandbox in (c for c in running if c.type == "sandbox"):
            await self.runtime.stop_container(sandbox.id, 0)
        log.info("stopped %d containers of pod %s: %s", len(running), p.pod["metadata"].get("name"), reason)

    # -- termination ---------------------------------------------------------

    async def terminate(self, pod: Obj, containers: list[ContainerInfo]) -> Obj:
        """Graceful stop (SIGTERM, grace period, SIGKILL), then remove containers and volumes.

        Returns the pod's final (terminal) status, computed before the containers go.
        """
        grace = _grace(pod)
        apps = [c for c in containers if c.type != "sandbox" and c.state == "running"]
        for container in apps:
            await self.recorder.record(pod, "Normal", "Killing", f"Stopping container {container.name}",
                                       field_path(pod, container.name))
        await asyncio.gather(*(self.runtime.stop_container(c.id, grace) for c in apps))
        uid = pod["metadata"]["uid"]
        stopped = [c for c in await self.runtime.list_pod_containers() if c.pod_uid == uid]
        final = self._status(_Pass(pod, stopped, sandbox=latest(stopped, "POD", "sandbox")), terminal=True)
        await self.cleanup(uid, stopped)
        return final

    async def cleanup(self, uid: str, containers: list[ContainerInfo]) -> None:
        """Remove everything of a pod: containers (sandbox last), volumes, probes, back-off timers."""
        for container in sorted(containers, key=lambda c: c.type == "sandbox"):
            await self.runtime.remove_container(container.id)
        await self.volumes.teardown(uid)
        self.probes.stop(uid)
        self.restarts.forget_prefix(uid)
        self.pulls.forget_prefix(uid)

    # -- status --------------------------------------------------------------

    def _status(self, p: _Pass, terminal: bool = False) -> Obj:
        uid = p.pod["metadata"]["uid"]
        return statuses.compute_status(
            p.pod, p.containers, readiness=self.probes.readiness(uid), started=self.probes.started(uid),
            waiting=p.waiting, pod_ip=p.sandbox.ip if p.sandbox else "", host_ip=self.host_ip,
            now=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), previous=p.pod.get("status"),
            terminal=terminal)


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _grace(pod: Obj) -> float:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    return float(max(grace, 0))


def field_path(pod: Obj, name: str) -> str:
    """The event fieldPath of a container: spec.containers{name} or spec.initContainers{name}."""
    init = any(c.get("name") == name for c in (pod.get("spec") or {}).get("initContainers") or [])
    return f"spec.{'initContainers' if init else 'containers'}{{{name}}}"

