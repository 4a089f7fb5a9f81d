"""Pod volumes on this node (emptyDir, hostPath, configMap, secret, downwardAPI, projected) and their bind mounts.

Layout is upstream's: `<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`,
and the Docker engine bind-mounts those host paths, so root must be a path the
engine sees.  ConfigMap, Secret, downward API and projected volumes go through
the atomic writer: files live in a hidden timestamped directory, `..data` points
at it, and each visible name is a symlink through `..data`; an update writes a
new timestamped directory and renames a fresh `..data_tmp` link over `..data`, so
a reader sees the old set of files or the new one, never a mix.

Where this differs from upstream, because it mounts nothing itself:
- emptyDir `medium: Memory` (and Secret volumes, which upstream puts on tmpfs)
  are plain directories on the kubelet's disk: a tmpfs needs mount(2)
  privileges, and a Docker tmpfs mount is private to one container, so the
  pod's containers could not share it.  `sizeLimit` is not enforced.
- subPath: upstream bind-mounts the checked path to pin it; here the path is
  resolved, checked to stay inside the volume, and the resolved path is what
  Docker binds.  A container that swaps a symlink between the check and the
  bind could still race it.
- hostPath types are checked in the kubelet's own filesystem, which is the
  engine's when the kubelet runs on the host.
- projected `serviceAccountToken` and `clusterTrustBundle` sources are skipped:
  nothing issues tokens yet.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import posixpath
import random
import shutil
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

from .env import (EnvError, ObjectFetcher, configmap_data, container_resource_value, expand, metadata_field,
                  secret_data)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PLUGIN_DIRS = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
               "secret": "kubernetes.io~secret", "downwardAPI": "kubernetes.io~downward-api",
               "projected": "kubernetes.io~projected"}
SUPPORTED_KINDS = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected")
WRITTEN_KINDS = frozenset({"configMap", "secret", "downwardAPI", "projected"})  # atomic writer, always read-only
DEFAULT_MODE = 0o644  # 420: the API's default for these volumes' files
DATA_DIR, DATA_TMP = "..data", "..data_tmp"
_PROPAGATION = {None: None, "None": None, "HostToContainer": "rslave", "Bidirectional": "rshared"}


class VolumeError(Exception):
    """A volume cannot be set up or mounted.

    `reason` is the waiting reason upstream shows on the container (ContainerCreating while a
    volume fails to set up, CreateContainerConfigError for a bad volumeMount); `message` is
    upstream's error text; `event_reason`/`event_message` are the Warning event upstream records
    (FailedMount `MountVolume.SetUp failed for volume "v" : ...`, or Failed `Error: ...`).
    """

    def __init__(self, reason: str, message: str, *, volume: str = "", event_reason: str = "",
                 event_message: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.volume = reason, message, volume
        self.event_reason = event_reason or "Failed"
        self.event_message = event_message or f"Error: {message}"


def setup_failed(volume: str, message: str) -> VolumeError:
    return VolumeError("ContainerCreating", message, volume=volume, event_reason="FailedMount",
                       event_message=f'MountVolume.SetUp failed for volume "{volume}" : {message}')


def config_error(message: str) -> VolumeError:
    return VolumeError("CreateContainerConfigError", message)


class _SourceError(Exception):
    """A volume's content cannot be built; the message is upstream's."""


class FileProjection(NamedTuple):
    data: bytes
    mode: int


Payload = dict[str, FileProjection]


def volume_kind(volume: Obj) -> str | None:
    """Which supported source a pod volume uses; no source at all is emptyDir (the API default)."""
    for kind in SUPPORTED_KINDS:
        if volume.get(kind) is not None:
            return kind
    if any(value is not None for key, value in volume.items() if key != "name"):
        return None
    return "emptyDir"


def has_written_volumes(pod: Obj) -> bool:
    """Whether the pod has volumes whose files follow API objects (what `refresh` keeps current)."""
    return any(volume_kind(volume) in WRITTEN_KINDS for volume in _volumes(pod))


class VolumeManager:
    """Sets up, refreshes, mounts and removes the volumes of this node's pods."""

    def __init__(self, root_dir: Path, fetch: ObjectFetcher, *, node_allocatable: dict[str, Any] | None = None) -> None:
        self.root = Path(root_dir).absolute()
        self.fetch = fetch
        self.node_allocatable = node_allocatable  # for downward API resourceFieldRef files
        self._locks: dict[str, asyncio.Lock] = {}  # the atomic writer needs one writer per volume
        self._set_up: dict[tuple[str, str], str] = {}  # (uid, volume) -> fingerprint of what is on disk

    # -- paths -------------------------------------------------------------------

    def pod_dir(self, pod_uid: str) -> Path:
        if not pod_uid or "/" in pod_uid or "\0" in pod_uid or pod_uid in (".", ".."):
            raise ValueError(f"invalid pod UID {pod_uid!r}")
        return self.root / "pods" / pod_uid

    def volume_path(self, pod_uid: str, volume: Obj) -> Path:
        """The host path containers bind for this volume: its dir under root, or the hostPath itself."""
        kind = volume_kind(volume)
        if kind == "hostPath":
            return Path(volume["hostPath"].get("path", ""))
        if kind is None:
            raise ValueError(f"volume {volume.get('name')!r} has no supported source")
        return self.pod_dir(pod_uid) / "volumes" / PLUGIN_DIRS[kind] / volume["name"]

    def pod_dirs(self) -> list[str]:
        """UIDs of the pods that have a directory here, for orphan cleanup."""
        try:
            entries = list(os.scandir(self.root / "pods"))
        except FileNotFoundError:
            return []
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))

    # -- set up, refresh, tear down ------------------------------------------------

    async def setup(self, pod: Obj) -> None:
        """Materialise every volume of the pod; each is attempted, the first failure is raised."""
        uid = _uid(pod)
        first_error: VolumeError | None = None
        async with self._lock(uid):
            for volume in _volumes(pod):
                key = (uid, volume.get("name", ""))
                if key in self._set_up:  # already done by this process: refresh() keeps it current
                    continue
                try:
                    self._set_up[key] = await self._set_up_volume(pod, volume)
                except VolumeError as err:
                    first_error = first_error or err
        if first_error is not None:
            raise first_error

    async def refresh(self, pod: Obj) -> bool:
        """Rewrite configMap/secret/downwardAPI/projected volumes whose content changed; True if any did.

        Cheap when nothing changed: the content is rebuilt from the (cached) objects and compared by
        fingerprint with what was last written, so the disk is not read.  A source that has become
        unreadable leaves the files as they are, as upstream does.
        """
        uid, changed = _uid(pod), False
        async with self._lock(uid):
            for volume in _volumes(pod):
                if volume_kind(volume) in WRITTEN_KINDS:
                    changed |= await self._refresh_volume(pod, uid, volume)
        return changed

    async def teardown(self, pod_uid: str) -> None:
        """Remove the pod's directory and every volume in it; symlinks are removed, never followed."""
        pod_dir = self.pod_dir(pod_uid)
        async with self._lock(pod_uid):
            try:
                await asyncio.to_thread(_remove_tree, pod_dir)
            except OSError as exc:  # left for the next orphan sweep, which finds it in pod_dirs()
                log.warning("could not remove %s: %s", pod_dir, exc)
            for key in [k for k in self._set_up if k[0] == pod_uid]:
                del self._set_up[key]
        self._locks.pop(pod_uid, None)

    def _lock(self, pod_uid: str) -> asyncio.Lock:
        return self._locks.setdefault(pod_uid, asyncio.Lock())

    async def _set_up_volume(self, pod: Obj, volume: Obj) -> str:
        name, kind = volume.get("name", ""), volume_kind(volume)
        if kind is None:
            raise setup_failed(name, "no volume plugin matched")
        try:
            if kind == "hostPath":
                await asyncio.to_thread(check_host_path, volume["hostPath"])
                return ""
            target = self.volume_path(_uid(pod), volume)
            if kind == "emptyDir":
                await asyncio.to_thread(_make_volume_dir, target)
                return ""
            payload = await self._payload(pod, kind, volume)
            await asyncio.to_thread(_publish, target, payload)
            return _fingerprint(payload)
        except (_SourceError, OSError, ValueError) as exc:
            raise setup_failed(name, _os_message(exc)) from exc

    async def _refresh_volume(self, pod: Obj, uid: str, volume: Obj) -> bool:
        key, target = (uid, volume["name"]), self.volume_path(uid, volume)
        if key not in self._set_up and not (target / DATA_DIR).is_symlink():
            return False  # never set up: that is setup()'s job
        try:
            payload = await self._payload(pod, volume_kind(volume) or "", volume)
            fingerprint = _fingerprint(payload)
            if self._set_up.get(key) == fingerprint:
                return False
            written = await asyncio.to_thread(_publish, target, payload)
        except (_SourceError, OSError, ValueError) as exc:
            log.warning('MountVolume.SetUp failed for volume "%s" of pod %s: %s', key[1], uid, _os_message(exc))
            return False
        self._set_up[key] = fingerprint
        return written

    # -- content -----------------------------------------------------------------

    async def _payload(self, pod: Obj, kind: str, volume: Obj) -> Payload:
        source = volume[kind]
        mode = _default_mode(source)
        if kind == "configMap":
            return await self._configmap_payload(pod, source, mode)
        if kind == "secret":
            return await self._secret_payload(pod, {**source, "name": source.get("secretName", "")}, mode)
        if kind == "downwardAPI":
            return self._downward_payload(pod, source.get("items") or [], mode)
        return await self._projected_payload(pod, source, mode)

    async def _configmap_payload(self, pod: Obj, source: Obj, mode: int) -> Payload:
        name, optional = source.get("name", ""), bool(source.get("optional"))
        configmap = await _get(self.fetch.get_configmap, _namespace(pod), name)
        if configmap is None and not optional:
            raise _SourceError(f'configmap "{name}" not found')
        return _key_payload(source.get("items"), configmap_data(configmap or {}), mode, optional,
                            "configmap references non-existent config key: {}")

    async def _secret_payload(self, pod: Obj, source: Obj, mode: int) -> Payload:
        name, optional = source.get("name", ""), bool(source.get("optional"))
        secret = await _get(self.fetch.get_secret, _namespace(pod), name)
        if secret is None and not optional:
            raise _SourceError(f'secret "{name}" not found')
        return _key_payload(source.get("items"), secret_data(secret or {}), mode, optional,
                            "references non-existent secret key: {}")

    def _downward_payload(self, pod: Obj, items: list[Obj], mode: int) -> Payload:
        """Upstream CollectData: each item's field, every failure reported together."""
        payload: Payload = {}
        errors: list[str] = []
        for item in items:
            try:
                data = self._downward_value(pod, item)
            except EnvError as err:
                errors.append(err.message)
                data = ""
            payload[posixpath.normpath(item.get("path", ""))] = FileProjection(data.encode(), _item_mode(item, mode))
        if errors:
            raise _SourceError(_aggregate(errors))
        return payload

    def _downward_value(self, pod: Obj, item: Obj) -> str:
        if item.get("fieldRef") is not None:
            return metadata_field(pod, item["fieldRef"].get("fieldPath", ""))
        if item.get("resourceFieldRef") is not None:
            return container_resource_value(item["resourceFieldRef"], pod, None, self.node_allocatable)
        return ""

    async def _projected_payload(self, pod: Obj, source: Obj, mode: int) -> Payload:
        """Every source's files in one volume; failures of all sources reported together, as upstream."""
        payload: Payload = {}
        errors: list[str] = []
        for projection in source.get("sources") or []:
            try:
                payload.update(await self._projection(pod, projection, mode))
            except _SourceError as err:
                errors.append(str(err))
        if errors:
            raise _SourceError(_aggregate(errors))
        return payload

    async def _projection(self, pod: Obj, projection: Obj, mode: int) -> Payload:
        if projection.get("configMap") is not None:
            return await self._configmap_payload(pod, projection["configMap"], mode)
        if projection.get("secret") is not None:
            return await self._secret_payload(pod, projection["secret"], mode)
        if projection.get("downwardAPI") is not None:
            return self._downward_payload(pod, projection["downwardAPI"].get("items") or [], mode)
        log.debug("projected source %s is not supported; skipped", sorted(projection))
        return {}

    # -- mounts ------------------------------------------------------------------

    def mounts(self, pod: Obj, container: Obj, env: dict[str, str]) -> list[Obj]:
        """Docker mount specs (`docker.types.Mount`-shaped dicts) for the container's volumeMounts."""
        volumes = {v.get("name"): v for v in _volumes(pod)}
        return [self._mount(pod, container, mount, volumes, env) for mount in container.get("volumeMounts") or []]

    def _mount(self, pod: Obj, container: Obj, mount: Obj, volumes: dict[str, Obj], env: dict[str, str]) -> Obj:
        name, container_name = mount.get("name", ""), container.get("name", "")
        volume = volumes.get(name)
        kind = volume_kind(volume) if volume is not None else None
        if volume is None or kind is None:
            raise config_error(f'cannot find volume "{name}" to mount into container "{container_name}"')
        source = self.volume_path(_uid(pod), volume)
        sub_path = _sub_path(mount, env)
        if sub_path:
            source = _prepare_sub_path(source, sub_path, name, container_name)
        _ensure_bind_source(source)
        spec: Obj = {"Type": "bind", "Source": str(source), "Target": _absolute(mount.get("mountPath", "")),
                     "ReadOnly": bool(mount.get("readOnly")) or kind in WRITTEN_KINDS}
        propagation = _propagation(mount.get("mountPropagation"))
        if propagation:
            spec["BindOptions"] = {"Propagation": propagation}
        return spec


# -- pod helpers ------------------------------------------------------------------

def _uid(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("uid", "")


def _namespace(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("namespace") or "default"


def _volumes(pod: Obj) -> list[Obj]:
    return (pod.get("spec") or {}).get("volumes") or []


async def _get(get: Callable[[str, str], Awaitable[Obj | None]], namespace: str, name: str) -> Obj | None:
    try:
        return await get(namespace, name)
    except Exception as exc:  # noqa: BLE001 - an unreachable API fails this volume, not the kubelet
        raise _SourceError(str(exc) or type(exc).__name__) from exc


def _default_mode(source: Obj) -> int:
    mode = source.get("defaultMode")
    return DEFAULT_MODE if mode is None else int(mode)


def _item_mode(item: Obj, default: int) -> int:
    return default if item.get("mode") is None else int(item["mode"])


def _key_payload(items: list[Obj] | None, data: dict[str, bytes], mode: int, optional: bool,
                 missing_key: str) -> Payload:
    """Upstream MakePayload: every key as a file, or just `items` (key → path, own mode)."""
    if not items:
        return {key: FileProjection(value, mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise _SourceError(missing_key.format(key))
        payload[item.get("path", "")] = FileProjection(data[key], _item_mode(item, mode))
    return payload


def _aggregate(messages: list[str]) -> str:
    """Upstream's error aggregate: one message alone, several (deduplicated) in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _fingerprint(payload: Payload) -> str:
    digest = hashlib.sha256()
    for path in sorted(payload):
        data, mode = payload[path]
        digest.update(f"{path}\0{mode}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc)


# -- directories -------------------------------------------------------------------

def _make_volume_dir(target: Path) -> None:
    """The volume's directory, world-writable as upstream's emptyDir; its parents private to the kubelet."""
    target.parent.parent.parent.parent.mkdir(parents=True, exist_ok=True)  # <root>/pods
    for parent in (target.parent.parent.parent, target.parent.parent, target.parent):  # uid, volumes, plugin
        parent.mkdir(mode=0o750, exist_ok=True)
    try:
        target.mkdir()
    except FileExistsError:
        if not target.is_dir() or target.is_symlink():
            raise
        return
    target.chmod(0o777)  # mkdir's mode is cut by the umask


def _publish(target: Path, payload: Payload) -> bool:
    _make_volume_dir(target)
    return write_atomic(target, payload)


def _remove_tree(path: Path) -> None:
    """rm -rf that never follows a symlink (shutil's fd-based rmtree on Linux, checked below)."""
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    if not shutil.rmtree.avoids_symlink_attacks:  # type: ignore[attr-defined]
        raise OSError(f"refusing to remove {path}: this platform's rmtree may follow symlinks")
    shutil.rmtree(path)


# -- hostPath ----------------------------------------------------------------------

def check_host_path(source: Obj) -> None:
    """Upstream hostPath SetUp: no `..`, then the `type` check (creating for the *OrCreate types)."""
    path, path_type = source.get("path", ""), source.get("type") or ""
    if ".." in path.split("/"):
        raise _SourceError(f"invalid HostPath `{path}`: must not contain '..'")
    if path_type == "":
        return
    check = _HOST_PATH_CHECKS.get(path_type)
    if check is None:
        raise _SourceError(f"{path_type} is an invalid volume type")
    check(path)


def _directory_or_create(path: str) -> None:
    if not os.path.exists(path):
        os.makedirs(path, mode=0o755, exist_ok=True)
        return
    _directory(path)


def _directory(path: str) -> None:
    if not os.path.isdir(path):
        raise _SourceError(f"hostPath type check failed: {path} is not a directory")


def _file_or_create(path: str) -> None:
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
        return
    _file(path)


def _file(path: str) -> None:
    if not os.path.exists(path) or os.path.isdir(path):  # upstream: anything that exists and is no directory
        raise _SourceError(f"hostPath type check failed: {path} is not a file")


def _mode_check(test: Callable[[int], bool], what: str) -> Callable[[str], None]:
    def check(path: str) -> None:
        try:
            ok = test(os.stat(path).st_mode)
        except OSError:
            ok = False
        if not ok:
            raise _SourceError(f"hostPath type check failed: {path} is not {what}")
    return check


_HOST_PATH_CHECKS: dict[str, Callable[[str], None]] = {
    "DirectoryOrCreate": _directory_or_create, "Directory": _directory,
    "FileOrCreate": _file_or_create, "File": _file,
    "Socket": _mode_check(stat.S_ISSOCK, "a socket file"),
    "CharDevice": _mode_check(stat.S_ISCHR, "a character device"),
    "BlockDevice": _mode_check(stat.S_ISBLK, "a block device"),
}


# -- volumeMounts -------------------------------------------------------------------

def _sub_path(mount: Obj, env: dict[str, str]) -> str:
    """subPath, or subPathExpr expanded against the container env; then upstream's checks."""
    sub_path = mount.get("subPath") or ""
    if mount.get("subPathExpr"):
        missing: set[str] = set()

        def value(name: str) -> str:
            if not env.get(name):
                missing.add(name)
            return env.get(name, "")

        sub_path = expand(mount["subPathExpr"], value)
        if missing:
            raise config_error(f"missing value for {', '.join(sorted(missing))}")
    if not sub_path:
        return ""
    if sub_path.startswith("/"):
        raise config_error(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise config_error(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    return sub_path


def _prepare_sub_path(volume_path: Path, sub_path: str, volume_name: str, container_name: str) -> Path:
    """The resolved host path of a subPath, created if missing, refused if it leaves the volume."""
    host_path = volume_path / sub_path
    if not os.path.exists(host_path):
        try:
            _safe_make_dir(volume_path, sub_path)
        except (OSError, ValueError) as exc:
            log.warning("subPath %s of volume %s: %s", sub_path, volume_name, exc)
            raise config_error(f'failed to create subPath directory for volumeMount "{volume_name}" '
                               f'of container "{container_name}"') from exc
    refused = config_error(f'failed to prepare subPath for volumeMount "{volume_name}" of container "{container_name}"')
    try:
        resolved = Path(os.path.realpath(host_path, strict=True))
        base = Path(os.path.realpath(volume_path, strict=True))
    except OSError as exc:
        log.warning("subPath %s of volume %s: %s", sub_path, volume_name, exc)
        raise refused from exc
    if resolved != base and base not in resolved.parents:
        log.warning("subPath %s of volume %s resolves outside it, to %s", sub_path, volume_name, resolved)
        raise refused
    return resolved


def _safe_make_dir(base: Path, sub_path: str) -> None:
    """Upstream SafeMakeDir: the existing part must resolve inside base; the rest is made without following links."""
    parts = [part for part in sub_path.split("/") if part not in ("", ".")]
    existing = len(parts)
    while existing and not os.path.exists(base.joinpath(*parts[:existing])):
        existing -= 1
    real_base = os.path.realpath(base, strict=True)
    start = os.path.realpath(base.joinpath(*parts[:existing]), strict=True)
    if start != real_base and not start.startswith(real_base + "/"):
        raise ValueError(f"pathname {start} is not within base {real_base}")
    mode = stat.S_IMODE(os.stat(real_base).st_mode)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(start, flags)
    try:
        for part in parts[existing:]:
            os.mkdir(part, mode, dir_fd=fd)
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
            os.fchmod(fd, mode)  # as upstream: the volume's own mode, whatever the umask
    finally:
        os.close(fd)


def _ensure_bind_source(source: Path) -> None:
    """A missing source becomes a 0755 directory, as the CRI runtimes do (Docker's Mounts API would refuse it)."""
    if not os.path.lexists(source):
        try:
            os.makedirs(source, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise config_error(f'failed to mkdir "{source}": {_os_message(exc)}') from exc


def _absolute(mount_path: str) -> str:
    """Upstream makes a relative mountPath absolute rather than refusing it."""
    return mount_path if mount_path.startswith("/") else posixpath.normpath("/" + mount_path)


def _propagation(mode: str | None) -> str | None:
    if mode not in _PROPAGATION:
        raise config_error(f'invalid MountPropagation mode: "{mode}"')
    return _PROPAGATION[mode]


# -- the atomic writer (upstream pkg/volume/util/atomic_writer.go) ----------------------------

def write_atomic(target: Path, payload: Payload) -> bool:
    """Project payload (relative path → data and mode) into target atomically; False if it was already there.

    Readers go through `<target>/<name>` → `..data/<name>` → `..<timestamp>/<name>`; the only
    step that changes what they see is one rename of `..data_tmp` over `..data`.
    """
    clean = _validated(payload)
    old_ts = _read_data_link(target)
    stale: set[str] = set()
    if old_ts:
        stale = _paths_to_remove(clean, target / old_ts)
        if not stale and not _content_differs(clean, target / old_ts):
            _create_visible_links(target, clean)  # upstream re-creates any missing visible link even then
            return False
    ts_dir = _new_timestamp_dir(target)
    try:
        _write_files(ts_dir, clean)
        _swap_data_link(target, ts_dir.name)
    except BaseException:
        shutil.rmtree(ts_dir, ignore_errors=True)
        raise
    _create_visible_links(target, clean)
    _remove_visible_links(target, stale)
    if old_ts:
        shutil.rmtree(target / old_ts)
    return True


_MAX_PATH, _MAX_NAME = 4096, 255


def _validated(payload: Payload) -> Payload:
    """Upstream validatePath on every key, then the keys cleaned."""
    clean: Payload = {}
    for path, projection in payload.items():
        _validate_path(path)
        clean[posixpath.normpath(path)] = projection
    return clean


def _validate_path(path: str) -> None:
    if path == "":
        raise ValueError('invalid path: must not be empty: ""')
    if path.startswith("/"):
        raise ValueError(f"invalid path: must be relative path: {path}")
    if len(path) > _MAX_PATH:
        raise ValueError(f"invalid path: must be less than or equal to {_MAX_PATH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise ValueError(f"invalid path: must not contain '..': {path}")
        if len(item) > _MAX_NAME:
            raise ValueError(f"invalid path: filenames must be less than or equal to {_MAX_NAME} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise ValueError(f"invalid path: must not start with '..': {path}")


def _read_data_link(target: Path) -> str:
    try:
        old_ts = os.readlink(target / DATA_DIR)
    except FileNotFoundError:
        return ""
    if "/" in old_ts or not old_ts.startswith(".."):  # we only ever write a sibling `..<timestamp>`
        raise ValueError(f"unexpected {DATA_DIR} link in {target}: {old_ts}")
    return old_ts


def _paths_to_remove(payload: Payload, old_ts_dir: Path) -> set[str]:
    """What the old version has that the new one lacks (a new file's parent directories count as kept)."""
    old: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(old_ts_dir):
        relative = os.path.relpath(dirpath, old_ts_dir)
        for name in dirnames + filenames:
            old.add(name if relative == "." else f"{relative}/{name}")
    new: set[str] = set()
    for path in payload:
        while path:
            new.add(path)
            path = posixpath.dirname(path)
    return old - new


def _content_differs(payload: Payload, old_ts_dir: Path) -> bool:
    """Upstream compares content only (a volume's modes come from the immutable pod spec)."""
    for path, projection in payload.items():
        old = old_ts_dir / path
        if not os.path.lexists(old):
            return True
        if old.read_bytes() != projection.data:
            return True
    return False


def _new_timestamp_dir(target: Path) -> Path:
    prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    while True:
        ts_dir = target / f"{prefix}{random.randrange(10**9)}"
        try:
            ts_dir.mkdir(mode=0o700)
        except FileExistsError:
            continue
        ts_dir.chmod(0o755)  # group and other must be able to traverse it, whatever the umask
        return ts_dir


def _write_files(ts_dir: Path, payload: Payload) -> None:
    for path, (data, mode) in payload.items():
        full = ts_dir / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
        full.chmod(mode)


def _swap_data_link(target: Path, ts_name: str) -> None:
    tmp = target / DATA_TMP
    if os.path.lexists(tmp):  # left by a crash between symlink and rename
        tmp.unlink()
    os.symlink(ts_name, tmp)
    os.rename(tmp, target / DATA_DIR)


def _create_visible_links(target: Path, payload: Payload) -> None:
    for top in {path.split("/")[0] for path in payload}:
        link = target / top
        if not os.path.lexists(link):
            os.symlink(f"{DATA_DIR}/{top}", link)


def _remove_visible_links(target: Path, paths: set[str]) -> None:
    for path in paths:
        if "/" in path:  # only the top level holds visible links; the rest goes with the old ts dir
            continue
        try:
            (target / path).unlink()
        except FileNotFoundError:
            pass
