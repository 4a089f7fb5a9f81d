"""The one module that talks to Docker: pod sandboxes and containers, images, logs, exec and stats.

Everything above it sees `ContainerInfo` records and a handful of exceptions.
The Docker SDK is blocking, so every call runs in a thread executor behind an
async method.  Containers carry labels naming their pod UID, container name and
restart attempt, so the kubelet can always rebuild what it runs from Docker
alone (a restarted kubelet adopts instead of duplicating).

Layout of a pod, as dockershim had it: a pause container (the sandbox) owns the
network and IPC namespaces; every other container joins them
(`network_mode=container:<sandbox>`), and the PID namespace too with
`shareProcessNamespace`.  Every container runs under Docker's init (tini), so
SIGTERM reaches processes that do not handle it as PID 1.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import math
import re
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import docker
import docker.errors
import docker.types

from common import quantity

from . import images as local_images

log = logging.getLogger("kubelet.runtime")

# Labels on every container the kubelet makes (the names dockershim used).
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"  # "POD" for the sandbox
LABEL_CONTAINER_TYPE = "io.kubernetes.container.type"  # sandbox | init | app
LABEL_RESTART_COUNT = "io.kubernetes.container.restartCount"
LABEL_SPEC_HASH = "io.kubernetes.container.hash"  # changes when the container's spec changes
LABEL_GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"  # to stop orphans as gracefully as their pod asked
LABEL_NODE = "kubelab.io/node"  # several kubelets may share one engine (tests, hollow nodes)
SANDBOX_NAME = "POD"

DEFAULT_PAUSE_IMAGE = local_images.DEFAULT_PAUSE_IMAGE
LOG_CONFIG = docker.types.LogConfig(type="json-file", config={"max-size": "10m", "max-file": "5"})  # kubelet defaults
START_ERROR_EXIT_CODE = 128  # what containerd-era kubelets report for a container whose process never started
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144
MIN_NANO_CPUS = 10_000_000  # Docker refuses less than 0.01 CPU
_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class ContainerInfo:
    """What Docker has for one container of a pod.

    `state` is Docker's, except that a container whose process never started
    (unknown executable...) reads "exited" with reason StartError and exit code
    128, as upstream reports it: nothing will ever run it.
    """
    id: str
    pod_uid: str
    pod_name: str
    pod_namespace: str
    name: str  # the pod spec's container name, or SANDBOX_NAME
    type: str  # "sandbox" | "init" | "app"
    restart_count: int
    spec_hash: str
    state: str  # "created" | "running" | "exited" | "dead" | "paused" | "restarting" | "removing"
    exit_code: int | None = None  # set once exited
    started_at: str | None = None  # RFC3339 as Docker gives it (nanoseconds), None when never started
    finished_at: str | None = None
    oom_killed: bool = False
    error: str = ""  # Docker's State.Error, or the runtime's message for a StartError
    image: str = ""  # as the pod spec named it
    image_id: str = ""  # docker-pullable://name@sha256:... when the image has a repo digest, else docker://sha256:...
    ip: str = ""  # sandbox only: the pod IP ("" with hostNetwork: the pod IP is the node's)
    labels: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # upstream's terminated reason once exited: Completed | Error | OOMKilled | StartError
    created_at: str | None = None


class RuntimeError_(Exception):
    """Base of this module's errors; `reason` is the upstream waiting reason it becomes on the pod."""
    reason = "RunContainerError"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class ImageError(RuntimeError_):
    reason = "ErrImagePull"  # or ErrImageNeverPull / InvalidImageName


class ContainerCreateError(RuntimeError_):
    reason = "CreateContainerError"  # or CreateContainerConfigError (e.g. runAsNonRoot with a root image)


class ContainerStartError(RuntimeError_):
    reason = "RunContainerError"


class PodNetworkError(RuntimeError_):
    reason = "NetworkNotReady"  # the pod network cannot match the node's podCIDR (yet)


class ExecError(RuntimeError_):
    reason = "ExecError"  # the container is not running, or Docker refused the exec


T = TypeVar("T")
Obj = dict[str, Any]


class DockerRuntime:
    """Pods as Docker containers for one node; every method is async, the SDK runs in a thread pool."""

    def __init__(self, node_name: str, client: docker.DockerClient | None = None,
                 pause_image: str = DEFAULT_PAUSE_IMAGE, network: str = "bridge", *, max_threads: int = 16,
                 max_waiting_threads: int = 64) -> None:
        self.node_name = node_name
        self._owns_client = client is None
        pool_size = max_threads + max_waiting_threads
        self.client = client if client is not None else docker.from_env(max_pool_size=pool_size)
        self.api = self.client.api
        self.pause_image = pause_image
        self.network = network
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix=f"docker-{node_name}")
        # Calls that wait (a stop's grace period, a pull, an image build) get threads of their own, so that
        # terminating many pods at once never starves lists and inspects.
        self._waiting = ThreadPoolExecutor(max_workers=max_waiting_threads,
                                           thread_name_prefix=f"docker-wait-{node_name}")
        self._described: dict[tuple[str, str], ContainerInfo] = {}  # (id, Docker state) -> info: skips inspects
        self._image_ids: dict[str, str] = {}  # image ID -> imageID as the pod status shows it
        self._pulls: dict[str, asyncio.Future[str]] = {}  # in-flight pulls, shared by every pod asking
        self._cpu_samples: dict[str, tuple[int, float]] = {}  # container -> (cpu ns, when) for usageNanoCores

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._waiting.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self.client.close()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def _call_waiting(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._waiting, functools.partial(fn, *args, **kwargs))

    async def version(self) -> str:
        """As Node.status.nodeInfo.containerRuntimeVersion shows it: "docker://20.10.24"."""
        info = await self._call(self.api.version)
        return f"docker://{info['Version']}"

    # -- pod network -----------------------------------------------------------------------------------

    async def ensure_pod_network(self, name: str, subnet: str, mtu: int | None = None) -> None:
        """A bridge network `name` on the node's podCIDR (gateway: its first IP) that pod sandboxes join from now on.

        Pod IPs then come from the podCIDR, unique cluster-wide, and the pod network agent routes them between
        nodes.  A network on another subnet is replaced while no container uses it."""
        await self._call(self._ensure_pod_network_sync, name, subnet, mtu)
        self.network = name

    def _ensure_pod_network_sync(self, name: str, subnet: str, mtu: int | None) -> None:
        wanted = pod_network_config(subnet, mtu)
        try:
            existing = self.client.networks.get(name)
        except docker.errors.NotFound:
            existing = None
        if existing is not None:
            if pod_network_matches(existing.attrs, wanted):
                return
            users = existing.attrs.get("Containers") or {}
            if users:
                raise PodNetworkError(f"Docker network {name} is on {_subnets(existing.attrs)}, not the node's "
                                      f"podCIDR {subnet}, and {len(users)} container(s) still use it: remove them "
                                      "and the kubelet recreates the network")
            existing.remove()
        try:
            self.client.networks.create(name, driver="bridge", options=wanted["options"], ipam=docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=wanted["gateway"])]))
        except docker.errors.APIError as err:
            raise PodNetworkError(f"cannot create Docker network {name} on {subnet}: {_daemon_message(err)}") from err

    # -- listing and inspecting ------------------------------------------------------------------------

    async def list_pod_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        """Every container of this node (exited ones too), optionally of one pod: one list call, plus an
        inspect only for containers whose state changed since the last list."""
        labels = [f"{LABEL_NODE}={self.node_name}"] + ([f"{LABEL_POD_UID}={pod_uid}"] if pod_uid else [])
        listed = await self._call(self.api.containers, all=True, filters={"label": labels})
        keys = [(c["Id"], c["State"]) for c in listed]
        missing = [key for key in keys if key not in self._described]
        fresh = await asyncio.gather(*(self._call(self._inspect_sync, cid) for cid, _state in missing))
        for key, info in zip(missing, fresh):
            if info is not None:
                self._described[key] = info
        if pod_uid is None:  # a full list tells which cached entries are gone
            self._described = {key: self._described[key] for key in keys if key in self._described}
        return [self._described[key] for key in keys if key in self._described]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        """A fresh look at one container; None when Docker no longer has it."""
        return await self._call(self._inspect_sync, container_id)

    def _inspect_sync(self, container_id: str) -> ContainerInfo | None:
        try:
            data = self.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        info = container_info(data, self._image_id_sync(data.get("Image", "")), self._start_failure_sync(data),
                              self.network)
        self._described[(data["Id"], data["State"]["Status"])] = info
        return info

    def _image_id_sync(self, image_id: str) -> str:
        if image_id and image_id not in self._image_ids:
            try:
                digests = self.api.inspect_image(image_id).get("RepoDigests") or []
            except docker.errors.NotFound:
                digests = []
            self._image_ids[image_id] = f"docker-pullable://{digests[0]}" if digests else f"docker://{image_id}"
        return self._image_ids.get(image_id, "")

    def _start_failure_sync(self, data: Obj) -> str | None:
        """Docker's init could not exec the command: the runtime message upstream shows, from tini's log line."""
        state = data["State"]
        if state["Status"] != "exited" or state["ExitCode"] not in (126, 127) or not data["HostConfig"].get("Init"):
            return None
        tail = self.api.logs(data["Id"], stdout=True, stderr=True, tail=2).decode(errors="replace").strip()
        match = _TINI_EXEC_FAILED.fullmatch(tail)
        return exec_failure_message(match["path"], match["why"]) if match else None

    # -- images ----------------------------------------------------------------------------------------

    async def ensure_image(self, image: str, pull_policy: str = "",
                           pulling: Callable[[], Awaitable[None]] | None = None) -> str:
        """The image's ID, pulled per `imagePullPolicy` (Always / IfNotPresent / Never; "" = upstream's
        default: Always for :latest, else IfNotPresent).  The pause image is built locally when missing.
        `pulling` is awaited just before a pull starts (the kubelet's Pulling event)."""
        ref = normalize_image(image)
        policy = _effective_pull_policy(ref, pull_policy)
        present = await self._call(self._local_image_id_sync, ref)
        if present is None and ref == normalize_image(self.pause_image):
            return await self._call_waiting(local_images.ensure_pause_image, self.client, image)
        if policy == "Never":
            if present is None:
                raise ImageError(f'Container image "{image}" is not present with pull policy of Never',
                                 reason="ErrImageNeverPull")
            return present
        if policy == "IfNotPresent" and present is not None:
            return present
        if pulling is not None:
            await pulling()
        return await self._pull_once(ref)

    def _local_image_id_sync(self, ref: str) -> str | None:
        try:
            return self.api.inspect_image(ref)["Id"]
        except docker.errors.NotFound:
            return None

    async def _pull_once(self, ref: str) -> str:
        """Pull `ref`, sharing one pull among everyone asking for it at the same time."""
        pending = self._pulls.get(ref)
        if pending is not None:
            return await asyncio.shield(pending)
        pull = asyncio.ensure_future(self._call_waiting(self._pull_sync, ref))
        self._pulls[ref] = pull
        pull.add_done_callback(lambda _f: self._pulls.pop(ref, None))
        return await asyncio.shield(pull)

    def _pull_sync(self, ref: str) -> str:
        try:
            for event in self.api.pull(ref, stream=True, decode=True):
                if "error" in event:  # the daemon reports some failures inside a 200 response
                    raise docker.errors.APIError(event["error"], explanation=event["error"])
            return self.api.inspect_image(ref)["Id"]
        except docker.errors.APIError as err:
            raise ImageError(f'failed to pull and unpack image "{qualified_image(ref)}": '
                             f"{err.explanation or err}") from err

    # -- sandbox ---------------------------------------------------------------------------------------

    async def run_sandbox(self, pod: Obj, *, dns: Obj | None = None, attempt: int = 0) -> ContainerInfo:
        """Create and start the pod's pause container; the returned info carries the pod IP.

        `dns`: {"nameservers": [...], "searches": [...], "options": ["ndots:5" | {"name", "value"}]}.
        """
        meta, spec = pod["metadata"], pod.get("spec") or {}
        host_network = bool(spec.get("hostNetwork"))
        config = {
            "image": self.pause_image,
            "name": container_name(SANDBOX_NAME, pod, attempt),
            "hostname": None if host_network else pod_hostname(pod),
            "labels": self._labels(pod, SANDBOX_NAME, "sandbox", attempt, ""),
        }
        ports = [] if host_network else host_ports(spec)
        host_config = {
            "init": True,
            "network_mode": "host" if host_network else self.network,
            "ipc_mode": "host" if spec.get("hostIPC") else "shareable",
            "pid_mode": "host" if spec.get("hostPID") else None,
            "log_config": LOG_CONFIG,
            "port_bindings": {f"{p['containerPort']}/{p['protocol']}": (p["hostIP"], p["hostPort"]) for p in ports},
            "sysctls": {s["name"]: s["value"] for s in (spec.get("securityContext") or {}).get("sysctls") or []},
            **_dns_options(dns),
        }
        config["ports"] = [(p["containerPort"], p["protocol"]) for p in ports]
        info = await self._call(self._create_sync, config, host_config, meta.get("uid", ""))
        try:
            started = await self.start_container(info.id)
        except ContainerStartError as err:
            await self.remove_container(info.id)
            raise ContainerStartError(f"failed to start sandbox container for pod {meta.get('name')!r}: "
                                      f"{err.message}") from err
        if dns and not host_network and self.network not in ("bridge", "default"):
            await self._call(self._write_resolv_conf_sync, info.id, dns)
        return started

    def _write_resolv_conf_sync(self, container_id: str, dns: Obj) -> None:
        """On a user-defined network Docker points resolv.conf at its embedded resolver (127.0.0.11); write the
        pod's own instead, as upstream's dockershim did, so pods see the cluster nameserver itself.  The file
        is the sandbox's, shared by every container in its network namespace."""
        path = (self.api.inspect_container(container_id).get("ResolvConfPath") or "")
        try:
            with open(path, "w") as resolv_conf:
                resolv_conf.write(resolv_conf_text(dns))
        except OSError as err:  # e.g. a kubelet in a container that cannot see Docker's data root
            log.warning("pod resolv.conf left to Docker's embedded resolver: cannot write %r: %s", path,
                        err.strerror)

    # -- containers ------------------------------------------------------------------------------------

    async def create_container(self, pod: Obj, container: Obj, *, kind: str, sandbox: ContainerInfo,
                               restart_count: int, env: list[str], mounts: list[docker.types.Mount] | list[Obj],
                               spec_hash: str) -> ContainerInfo:
        """Create (not start) one of the pod's containers inside its sandbox's namespaces.

        `env` is final ("NAME=value", $(VAR) references already expanded), so are command and args:
        the caller resolves both.  `kind` is "init" or "app".
        """
        spec = pod.get("spec") or {}
        security = effective_security(spec, container)
        user = await self._user(pod, container, security)
        resources = container.get("resources") or {}
        config = {
            "image": container["image"],
            "name": container_name(container["name"], pod, restart_count),
            "entrypoint": container.get("command") or None,  # Kubernetes command = Docker ENTRYPOINT
            "command": container.get("args") or None,  # Kubernetes args = Docker CMD
            "working_dir": container.get("workingDir") or None,
            "environment": env,
            "user": user,
            "stdin_open": bool(container.get("stdin")),
            "tty": bool(container.get("tty")),
            "labels": self._labels(pod, container["name"], kind, restart_count, spec_hash),
        }
        host_config = {
            "init": True,
            "network_mode": f"container:{sandbox.id}",
            "ipc_mode": "host" if spec.get("hostIPC") else f"container:{sandbox.id}",
            "pid_mode": "host" if spec.get("hostPID") else
                        f"container:{sandbox.id}" if spec.get("shareProcessNamespace") else None,
            "mounts": list(mounts) or None,
            "log_config": LOG_CONFIG,
            "privileged": bool(security.get("privileged")),
            "read_only": bool(security.get("readOnlyRootFilesystem")),
            "cap_add": (security.get("capabilities") or {}).get("add") or None,
            "cap_drop": (security.get("capabilities") or {}).get("drop") or None,
            "security_opt": ["no-new-privileges"] if security.get("allowPrivilegeEscalation") is False else None,
            "group_add": [str(g) for g in supplemental_groups(spec)] or None,
            **resource_limits(resources),
        }
        return await self._call(self._create_sync, config, host_config, pod["metadata"].get("uid", ""))

    async def _user(self, pod: Obj, container: Obj, security: Obj) -> str | None:
        """Docker's "uid[:gid]" from runAsUser/runAsGroup; enforces runAsNonRoot as upstream does."""
        uid, gid = security.get("runAsUser"), security.get("runAsGroup")
        image_user = ""
        if security.get("runAsNonRoot") or (uid is None and gid is not None):
            image_user = await self._call(self._image_user_sync, container["image"])
        if security.get("runAsNonRoot"):
            check_run_as_non_root(pod, container, uid, image_user)
        if uid is None and gid is None:
            return None
        user = str(uid) if uid is not None else (image_user.split(":")[0] or "0")
        return f"{user}:{gid}" if gid is not None else user

    def _image_user_sync(self, image: str) -> str:
        try:
            return self.api.inspect_image(image)["Config"].get("User") or ""
        except docker.errors.NotFound:
            return ""  # create will fail and say so

    def _create_sync(self, config: Obj, host_config: Obj, pod_uid: str) -> ContainerInfo:
        """Create the container; a stale one of the same name (never started, or exited) is removed first."""
        hc = self.api.create_host_config(**{k: v for k, v in host_config.items() if v is not None and v != {}})
        for attempt in (1, 2):
            try:
                created = self.api.create_container(**config, host_config=hc)
                break
            except docker.errors.APIError as err:
                if err.status_code == 409 and attempt == 1 and self._remove_stale_sync(config["name"], pod_uid):
                    continue
                raise ContainerCreateError(_daemon_message(err)) from err
        info = self._inspect_sync(created["Id"])
        if info is None:
            raise ContainerCreateError(f"container {config['name']} vanished right after it was created")
        return info

    def _remove_stale_sync(self, name: str, pod_uid: str) -> bool:
        """Recover from a name conflict as dockershim did: remove the old container if it is ours and idle."""
        try:
            old = self.api.inspect_container(name)
        except docker.errors.NotFound:
            return True
        labels = old["Config"].get("Labels") or {}
        if labels.get(LABEL_POD_UID) != pod_uid or old["State"]["Running"]:
            return False
        self.api.remove_container(old["Id"], v=True, force=True)
        return True

    async def start_container(self, container_id: str) -> ContainerInfo:
        """Start a created container; Docker refusing becomes ContainerStartError (RunContainerError), and a
        command that cannot be executed becomes one too once Docker's init reports it."""
        self._forget(container_id)
        try:
            await self._call(self.api.start, container_id)
        except docker.errors.APIError as err:
            raise ContainerStartError(_daemon_message(err)) from err
        info = await self.inspect(container_id)
        if info is None:
            raise ContainerStartError(f"container {container_id[:12]} vanished while starting")
        if info.reason == "StartError":
            raise ContainerStartError(info.error)
        return info

    async def stop_container(self, container_id: str, grace_s: float) -> None:
        """SIGTERM (or the image's stop signal), then SIGKILL after `grace_s` seconds: Docker's stop."""
        self._forget(container_id)
        try:
            await self._call_waiting(self.api.stop, container_id, timeout=max(0, math.ceil(grace_s)))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            raise RuntimeError_(f"failed to stop container {container_id[:12]}: {_daemon_message(err)}",
                                reason="KillContainerError") from err

    async def remove_container(self, container_id: str) -> None:
        """Remove a container, running or not, with its anonymous volumes; a missing one is fine."""
        self._forget(container_id)
        self._cpu_samples.pop(container_id, None)
        try:
            await self._call(self.api.remove_container, container_id, v=True, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if err.status_code != 409:  # 409: a removal is already in progress
                raise RuntimeError_(f"failed to remove container {container_id[:12]}: {_daemon_message(err)}",
                                    reason="RemoveContainerError") from err

    async def remove_pod_containers(self, pod_uid: str) -> int:
        """Force-remove every container of one pod (apps first, the sandbox last); returns how many."""
        containers = await self.list_pod_containers(pod_uid)
        apps = [c for c in containers if c.type != "sandbox"]
        await asyncio.gather(*(self.remove_container(c.id) for c in apps))
        await asyncio.gather(*(self.remove_container(c.id) for c in containers if c.type == "sandbox"))
        return len(containers)

    def _forget(self, container_id: str) -> None:
        for key in [key for key in list(self._described) if key[0] == container_id]:
            del self._described[key]

    def _labels(self, pod: Obj, name: str, kind: str, restart_count: int, spec_hash: str) -> dict[str, str]:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        return {
            LABEL_NODE: self.node_name,
            LABEL_POD_UID: meta.get("uid", ""),
            LABEL_POD_NAME: meta.get("name", ""),
            LABEL_POD_NAMESPACE: meta.get("namespace", ""),
            LABEL_CONTAINER_NAME: name,
            LABEL_CONTAINER_TYPE: kind,
            LABEL_RESTART_COUNT: str(restart_count),
            LABEL_SPEC_HASH: spec_hash,
            LABEL_GRACE_PERIOD: str(spec.get("terminationGracePeriodSeconds", 30)),
        }

    # -- logs ------------------------------------------------------------------------------------------

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   since: float | None = None, timestamps: bool = False,
                   limit_bytes: int | None = None) -> AsyncIterator[bytes]:
        """stdout and stderr interleaved as written, like `kubectl logs`; `since` is a UNIX time.
        With `follow`, chunks come as the container writes them until it exits or the caller stops."""
        options = {"stdout": True, "stderr": True, "timestamps": timestamps,
                   "tail": "all" if tail is None else max(tail, 0), "since": since}
        try:
            if follow:
                stream = await self._call(self.api.logs, container_id, stream=True, follow=True, **options)
                chunks: AsyncIterator[bytes] = _iterate_in_thread(stream, stream.close)
            else:
                chunks = _once(await self._call(self.api.logs, container_id, stream=False, **options))
        except docker.errors.NotFound as err:
            raise RuntimeError_(f"container {container_id[:12]} not found", reason="NotFound") from err
        limited = _limited(chunks, limit_bytes)
        try:
            async for chunk in limited:
                yield chunk
        finally:  # a consumer that stops early must end the follow (and its thread) now, not at GC
            await limited.aclose()

    # -- exec ------------------------------------------------------------------------------------------

    async def exec_stream(self, container_id: str, cmd: list[str], *, stdin: bool = False, tty: bool = False,
                          env: list[str] | None = None, workdir: str | None = None,
                          user: str | None = None) -> ExecSession:
        """Start `cmd` in a running container, attached; see ExecSession for reading, writing and resizing."""
        try:
            exec_id = (await self._call(self.api.exec_create, container_id, cmd, stdout=True, stderr=True,
                                        stdin=stdin, tty=tty, environment=env, workdir=workdir, user=user or ""))["Id"]
            sock = await self._call(self.api.exec_start, exec_id, tty=tty, socket=True)
        except docker.errors.APIError as err:
            raise ExecError(_daemon_message(err)) from err
        return await ExecSession.attach(self, exec_id, tty, sock)

    async def exec_run(self, container_id: str, cmd: list[str], timeout_s: float,
                       limit_bytes: int | None = None) -> tuple[int, bytes]:
        """Run `cmd` to completion: (exit code, stdout+stderr).  TimeoutError after `timeout_s` (the process may
        go on: Docker cannot kill an exec); probes should pass limit_bytes=10240 as upstream keeps 10 KiB."""
        session = await self.exec_stream(container_id, cmd)
        try:
            output = await asyncio.wait_for(session.read_all(limit_bytes), timeout_s)
            return await session.wait(), output
        finally:
            await session.close()

    # -- stats -----------------------------------------------------------------------------------------

    async def stats(self, container_id: str) -> Obj | None:
        """One sample in the kubelet summary API's shape: cpu usageCoreNanoSeconds and usageNanoCores (the rate
        since this runtime's previous sample of the container; None on the first), memory workingSetBytes."""
        try:
            raw = await self._call(self.api.stats, container_id, stream=False, one_shot=True)
        except docker.errors.NotFound:
            return None
        sample = summary_stats(raw, self._cpu_samples.get(container_id))
        self._cpu_samples[container_id] = (sample["cpu"]["usageCoreNanoSeconds"], _epoch(raw.get("read")))
        return sample


class ExecSession:
    """A process started by exec, attached over Docker's hijacked HTTP connection, read and written with asyncio
    (no thread is held while it runs, so many can be open at once).

    Shaped for the `v5.channel.k8s.io` WebSocket bridge: `read()` returns (channel, data) with channel 1 for
    stdout and 2 for stderr (everything is 1 with a tty), or None at the end of output; `write()` feeds stdin
    (channel 0) and `close_stdin()` ends it; `resize(rows, cols)` takes channel 4's terminal size; `wait()`
    gives the exit code for channel 3's status.  `close()` always.
    """

    def __init__(self, runtime: DockerRuntime, exec_id: str, tty: bool, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, keepalive: Any, buffered: bytes) -> None:
        self.runtime, self.exec_id, self.tty = runtime, exec_id, tty
        self._reader, self._writer, self._keepalive = reader, writer, keepalive
        self._buffered = buffered  # bytes http.client had read past the response headers

    @classmethod
    async def attach(cls, runtime: DockerRuntime, exec_id: str, tty: bool, sock: Any) -> ExecSession:
        raw = getattr(sock, "_sock", sock)
        raw.setblocking(False)
        buffered = _buffered_after_headers(sock)
        reader, writer = await asyncio.open_connection(sock=raw)
        return cls(runtime, exec_id, tty, reader, writer, sock, buffered)

    async def read(self) -> tuple[int, bytes] | None:
        if self.tty:
            data = await self._take(65536, exact=False)
            return (1, data) if data else None
        header = await self._take(8)
        if len(header) < 8:
            return None
        stream, size = struct.unpack(">BxxxL", header)
        return (stream if stream in (1, 2) else 1), await self._take(size)

    async def _take(self, n: int, exact: bool = True) -> bytes:
        if self._buffered:
            data, self._buffered = self._buffered[:n], self._buffered[n:]
            if len(data) == n or not exact:
                return data
            return data + await self._take(n - len(data))
        if not exact:
            return await self._reader.read(n)
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as partial:
            return partial.partial

    async def read_all(self, limit_bytes: int | None = None) -> bytes:
        """Everything the process writes until it exits, stdout and stderr interleaved (kept up to the limit)."""
        out = bytearray()
        while (chunk := await self.read()) is not None:
            if limit_bytes is None or len(out) < limit_bytes:
                out += chunk[1]
        return bytes(out if limit_bytes is None else out[:limit_bytes])

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close_stdin(self) -> None:
        if self._writer.can_write_eof():
            self._writer.write_eof()

    async def resize(self, rows: int, cols: int) -> None:
        try:
            await self.runtime._call(self.runtime.api.exec_resize, self.exec_id, height=rows, width=cols)
        except docker.errors.APIError:
            pass  # the process has exited, or has no tty

    async def wait(self, timeout_s: float = 5.0) -> int:
        """The exit code once the process has ended (its output closes first); -1 if still running after timeout_s."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            state = await self.runtime._call(self.runtime.api.exec_inspect, self.exec_id)
            if not state["Running"] or asyncio.get_running_loop().time() > deadline:
                return int(state["ExitCode"] or 0) if not state["Running"] else -1
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        close = getattr(self._keepalive, "close", None)
        if close is not None:
            close()


# -- pure helpers: Docker's view to Kubernetes' and back -------------------------------------------------

_TINI_EXEC_FAILED = re.compile(r"\[FATAL tini \(\d+\)\] exec (?P<path>.+) failed: (?P<why>[^\n]+)")


# Pod network options: the pod network agent masquerades (only traffic leaving the cluster CIDR, so pods see each
# other's own IPs), and Docker 28+ must let other hosts route to pod IPs directly ("nat-unprotected" keeps hostPort
# DNAT; "routed" would drop it).  Older engines ignore the gateway mode and do not block routed traffic.
POD_NETWORK_OPTIONS = {
    "com.docker.network.bridge.enable_ip_masquerade": "false",
    "com.docker.network.bridge.gateway_mode_ipv4": "nat-unprotected",
}


def pod_network_config(subnet: str, mtu: int | None = None) -> Obj:
    """Subnet, gateway (the first address, as the podCIDR's bridge has it) and driver options of a pod network."""
    network = ipaddress.IPv4Network(subnet)
    options = dict(POD_NETWORK_OPTIONS)
    if mtu:
        options["com.docker.network.driver.mtu"] = str(mtu)
    return {"subnet": str(network), "gateway": str(network.network_address + 1), "options": options}


def pod_network_matches(attrs: Obj, wanted: Obj) -> bool:
    pools = (attrs.get("IPAM") or {}).get("Config") or []
    options = attrs.get("Options") or {}
    return (attrs.get("Driver") == "bridge" and [(p.get("Subnet"), p.get("Gateway")) for p in pools]
            == [(wanted["subnet"], wanted["gateway"])] and all(options.get(k) == v for k, v in wanted["options"].items()))


def _subnets(attrs: Obj) -> str:
    return ", ".join(p.get("Subnet", "?") for p in (attrs.get("IPAM") or {}).get("Config") or []) or "no subnet"


def container_info(data: Obj, image_id: str, start_failure: str | None, network: str) -> ContainerInfo:
    """ContainerInfo from `docker inspect` output (`start_failure`: the message when the command never ran)."""
    labels = data["Config"].get("Labels") or {}
    state = data["State"]
    status, exit_code, reason, error = state["Status"], None, "", state.get("Error") or ""
    started, finished, created = _time(state.get("StartedAt")), _time(state.get("FinishedAt")), _time(data["Created"])
    if start_failure:  # Docker's init started but could not exec the command
        status, exit_code, reason, error, started = "exited", START_ERROR_EXIT_CODE, "StartError", start_failure, None
    elif status == "created" and state.get("ExitCode"):  # Docker itself failed to start it
        status, exit_code, reason, started, finished = "exited", START_ERROR_EXIT_CODE, "StartError", None, \
            finished or created
    elif status in ("exited", "dead"):
        exit_code = state.get("ExitCode", 0)
        reason = "OOMKilled" if state.get("OOMKilled") else "Completed" if exit_code == 0 else "Error"
    return ContainerInfo(
        id=data["Id"], pod_uid=labels.get(LABEL_POD_UID, ""), pod_name=labels.get(LABEL_POD_NAME, ""),
        pod_namespace=labels.get(LABEL_POD_NAMESPACE, ""), name=labels.get(LABEL_CONTAINER_NAME, ""),
        type=labels.get(LABEL_CONTAINER_TYPE, ""), restart_count=_int(labels.get(LABEL_RESTART_COUNT)),
        spec_hash=labels.get(LABEL_SPEC_HASH, ""), state=status, exit_code=exit_code, started_at=started,
        finished_at=finished, oom_killed=bool(state.get("OOMKilled")), error=error,
        image=data["Config"].get("Image", ""), image_id=image_id, ip=_ip(data, network), labels=labels,
        reason=reason, created_at=created)


def exec_failure_message(path: str, why: str) -> str:
    """What runc says when it cannot exec a container's command (tini's words turned into upstream's)."""
    if why == "No such file or directory":
        core = (f'exec: "{path}": stat {path}: no such file or directory' if "/" in path
                else f'exec: "{path}": executable file not found in $PATH')
    else:
        core = f'exec: "{path}": {why[:1].lower()}{why[1:]}'
    return ("failed to create shim task: OCI runtime create failed: runc create failed: "
            f"unable to start container process: {core}: unknown")


def _ip(data: Obj, network: str) -> str:
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    preferred = networks.get(network) or {}
    return preferred.get("IPAddress") or next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), "")


def _time(value: str | None) -> str | None:
    return None if not value or value.startswith("0001-01-01") else value


def _epoch(value: str | None) -> float:
    if not value or value.startswith("0001-01-01"):
        return 0.0
    head, _, rest = value.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())
    return datetime.fromisoformat(head + "+00:00").timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def container_name(name: str, pod: Obj, attempt: int) -> str:
    """dockershim's k8s_<container>_<pod>_<namespace>_<uid>_<attempt>."""
    meta = pod["metadata"]
    return f"k8s_{name}_{meta['name']}_{meta.get('namespace', 'default')}_{meta.get('uid', '')}_{attempt}"


def pod_hostname(pod: Obj) -> str:
    """spec.hostname or the pod name, cut to 63 characters without a trailing '-' or '.', as upstream."""
    name = (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"]
    return name[:63].rstrip("-.") if len(name) > 63 else name


def host_ports(spec: Obj) -> list[Obj]:
    """containerPorts with a hostPort, published on the sandbox (which owns the network namespace)."""
    ports = []
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                ports.append({"containerPort": port["containerPort"], "hostPort": port["hostPort"],
                              "protocol": (port.get("protocol") or "TCP").lower(), "hostIP": port.get("hostIP", "")})
    return ports


def resolv_conf_text(dns: Obj) -> str:
    """resolv.conf for {"nameservers", "searches", "options"} (the kubelet's DNS configuration)."""
    lines = [f"nameserver {ip}" for ip in dns.get("nameservers") or []]
    searches = [s for s in dns.get("searches") or [] if s and s != "."]
    if searches:
        lines.append("search " + " ".join(searches))
    options = _dns_options(dns).get("dns_opt")
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _dns_options(dns: Obj | None) -> Obj:
    if not dns:
        return {}
    options = [o if isinstance(o, str) else (f"{o['name']}:{o['value']}" if o.get("value") is not None else o["name"])
               for o in dns.get("options") or []]
    return {"dns": dns.get("nameservers") or None, "dns_search": dns.get("searches") or None,
            "dns_opt": options or None}


def normalize_image(image: str) -> str:
    """The reference with upstream's default tag applied ("busybox" -> "busybox:latest");
    ImageError(InvalidImageName) with upstream's message when it is not a valid reference."""
    problem = _reference_problem(image)
    if problem:
        raise ImageError(f'Failed to apply default image tag "{image}": couldn\'t parse image reference '
                         f'"{image}": {problem}', reason="InvalidImageName")
    has_tag = ":" in image.split("@")[0].rsplit("/", 1)[-1]
    return image if has_tag or "@" in image else f"{image}:latest"


_DOMAIN = re.compile(r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_TAG_DIGEST = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                              r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")


def _split_domain(image: str) -> tuple[str, str]:
    """("registry:5000", "team/app:1") or ("", "busybox"): a first part is a registry only if it looks like one."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", image


def _reference_problem(image: str) -> str:
    """"" for a valid reference, else distribution/reference's complaint."""
    domain, remainder = _split_domain(image)
    if domain and not _DOMAIN.fullmatch(domain):
        return "invalid reference format"
    name = image.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if len(name) > 255:
        return "invalid reference format: repository name must not be more than 255 characters"
    if _PATH_TAG_DIGEST.fullmatch(remainder):
        return ""
    if _PATH_TAG_DIGEST.fullmatch(remainder.lower()):
        return "invalid reference format: repository name must be lowercase"
    return "invalid reference format"


def qualified_image(ref: str) -> str:
    """containerd's fully qualified name: "busybox:1" -> "docker.io/library/busybox:1"."""
    domain, remainder = _split_domain(ref)
    if domain:
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def effective_security(spec: Obj, container: Obj) -> Obj:
    """The container's securityContext over the pod's (runAsUser, runAsGroup, runAsNonRoot are inherited)."""
    pod_level = spec.get("securityContext") or {}
    merged = {key: pod_level[key] for key in ("runAsUser", "runAsGroup", "runAsNonRoot") if key in pod_level}
    merged.update({k: v for k, v in (container.get("securityContext") or {}).items() if v is not None})
    return merged


def supplemental_groups(spec: Obj) -> list[int]:
    pod_level = spec.get("securityContext") or {}
    groups = list(pod_level.get("supplementalGroups") or [])
    if pod_level.get("fsGroup") is not None:
        groups.append(pod_level["fsGroup"])
    return groups


def check_run_as_non_root(pod: Obj, container: Obj, uid: int | None, image_user: str) -> None:
    """upstream's verifyRunAsNonRoot: CreateContainerConfigError when the container would run as root."""
    meta = pod["metadata"]
    where = f'(pod: "{meta.get("name")}_{meta.get("namespace")}({meta.get("uid")})", container: {container["name"]})'
    if uid is not None:
        if uid == 0:
            raise ContainerCreateError(f"container's runAsUser breaks non-root policy {where}",
                                       reason="CreateContainerConfigError")
        return
    user = image_user.split(":")[0]
    if user in ("", "0", "root"):
        raise ContainerCreateError(f"container has runAsNonRoot and image will run as root {where}",
                                   reason="CreateContainerConfigError")
    if not user.isdigit():
        raise ContainerCreateError(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                                   f"cannot verify user is non-root {where}", reason="CreateContainerConfigError")


def resource_limits(resources: Obj) -> Obj:
    """limits.cpu -> nano_cpus (CFS quota), limits.memory -> mem_limit (no swap), requests.cpu -> cpu_shares
    (a limit alone counts as the request; none at all gives upstream's minimum of 2 shares)."""
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    out: Obj = {}
    if "cpu" in limits:
        out["nano_cpus"] = max(MIN_NANO_CPUS, int(parse_quantity(limits["cpu"]) * 10**9))
    if "memory" in limits:
        out["mem_limit"] = out["memswap_limit"] = int(parse_quantity(limits["memory"]))
    cpu_request = requests.get("cpu", limits.get("cpu"))
    milli = int(parse_quantity(cpu_request) * 1000) if cpu_request is not None else 0
    out["cpu_shares"] = min(MAX_CPU_SHARES, max(MIN_CPU_SHARES, milli * 1024 // 1000))
    return out


def parse_quantity(value: Any) -> Decimal:
    """A resource.Quantity as a Decimal (the API server has validated it; still, never crash on one)."""
    try:
        return quantity.parse_quantity(value)
    except ValueError:
        raise ContainerCreateError(f"invalid quantity {value!r}", reason="CreateContainerConfigError") from None


def summary_stats(raw: Obj, previous: tuple[int, float] | None) -> Obj:
    """Docker's stats in the kubelet summary API's names; working set = usage - inactive file (as cAdvisor)."""
    cpu_total = int(((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
    memory = raw.get("memory_stats") or {}
    details = memory.get("stats") or {}
    usage = int(memory.get("usage") or 0)
    inactive = int(details.get("total_inactive_file", details.get("inactive_file", 0)) or 0)
    now = _epoch(raw.get("read"))
    nano_cores = None
    if previous is not None and now > previous[1] and cpu_total >= previous[0]:
        nano_cores = int((cpu_total - previous[0]) / (now - previous[1]))
    return {"time": raw.get("read"),
            "cpu": {"usageCoreNanoSeconds": cpu_total, "usageNanoCores": nano_cores},
            "memory": {"usageBytes": usage, "workingSetBytes": max(0, usage - inactive),
                       "rssBytes": int(details.get("total_rss", details.get("anon", 0)) or 0)}}


def _effective_pull_policy(ref: str, pull_policy: str) -> str:
    """Upstream's default when none is given: Always for :latest, else IfNotPresent."""
    return pull_policy or ("Always" if ref.endswith(":latest") else "IfNotPresent")


def _daemon_message(err: docker.errors.APIError) -> str:
    explanation = err.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return f"Error response from daemon: {explanation or err}"


def _buffered_after_headers(sock: Any) -> bytes:
    """Bytes of the exec stream that http.client read ahead while parsing the 101 response (rare, but lost
    otherwise).  The socket is non-blocking by now, so peeking never waits."""
    response = getattr(sock, "_response", None)
    fp = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    try:
        return fp.peek(1) if fp is not None else b""
    except (OSError, ValueError):
        return b""


# -- blocking streams as async iterators ---------------------------------------------------------------


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


async def _limited(chunks: AsyncIterator[bytes], limit_bytes: int | None) -> AsyncIterator[bytes]:
    sent = 0
    try:
        async for chunk in chunks:
            if limit_bytes is not None:
                chunk = chunk[:limit_bytes - sent]
            sent += len(chunk)
            if chunk:
                yield chunk
            if limit_bytes is not None and sent >= limit_bytes:
                return
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


_END = object()


async def _iterate_in_thread(blocking: Iterator[bytes], cancel: Callable[[], None],
                             window: int = 64) -> AsyncIterator[bytes]:
    """Drain a blocking iterator (a followed log) in a thread of its own, so a stream that waits for hours
    holds no executor worker.  At most `window` chunks wait in memory; `cancel` unblocks the thread."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    slots = threading.Semaphore(window)
    stopped = threading.Event()

    def deliver(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stopped.set()

    def pump() -> None:
        ending: Any = _END
        try:
            for chunk in blocking:
                while not slots.acquire(timeout=0.2):
                    if stopped.is_set():
                        return
                if stopped.is_set():
                    return
                deliver(chunk)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which decides
            ending = exc
        deliver(ending)

    threading.Thread(target=pump, name="docker-stream", daemon=True).start()
    try:
        while (item := await queue.get()) is not _END:
            slots.release()
            if isinstance(item, Exception):
                raise RuntimeError_(f"log stream failed: {item}", reason="LogStreamError") from item
            yield item
    finally:
        stopped.set()
        _quietly(cancel)  # shuts the socket down: the thread's blocked read returns


def _quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - closing a stream that already ended
        pass


__all__ = ["ContainerInfo", "DockerRuntime", "ExecSession", "RuntimeError_", "ImageError", "ContainerCreateError",
           "ContainerStartError", "ExecError"]
