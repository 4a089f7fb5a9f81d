"""kubelet volumes: upstream layout, the atomic ..data writer, optional sources, hostPath, mounts, safe teardown."""
from __future__ import annotations

import base64
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from kubelet import volumes as vol
from kubelet.volumes import VolumeError, VolumeManager, write_atomic

Obj = dict[str, Any]
UID = "uid-1"


class FakeFetcher:
    def __init__(self) -> None:
        self.configmaps: dict[str, Obj] = {}
        self.secrets: dict[str, Obj] = {}
        self.reads = 0

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        assert namespace == "ns"
        self.reads += 1
        return self.configmaps.get(name)

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        assert namespace == "ns"
        self.reads += 1
        return self.secrets.get(name)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def make_pod(volumes: list[Obj], mounts: list[Obj] | None = None, uid: str = UID) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": uid, "labels": {"app": "web"},
                         "annotations": {"build": "7"}},
            "spec": {"volumes": volumes,
                     "containers": [{"name": "app", "image": "busybox", "volumeMounts": mounts or []}]}}


@pytest.fixture
def fetch() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture
def manager(tmp_path: Path, fetch: FakeFetcher) -> VolumeManager:
    return VolumeManager(tmp_path / "kubelet", fetch, node_allocatable={"cpu": "2", "memory": "1Gi"})


def vdir(manager: VolumeManager, plugin: str, name: str, uid: str = UID) -> Path:
    return manager.root / "pods" / uid / "volumes" / plugin / name


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def visible(target: Path) -> dict[str, str]:
    """What a container sees: every non-hidden entry, read through the links."""
    return {p.name: p.read_text() for p in sorted(target.iterdir()) if not p.name.startswith("..") and p.is_file()}


async def setup_error(manager: VolumeManager, pod: Obj) -> VolumeError:
    with pytest.raises(VolumeError) as caught:
        await manager.setup(pod)
    return caught.value


# -- emptyDir ------------------------------------------------------------------------------------

async def test_empty_dir_layout_and_modes(manager: VolumeManager) -> None:
    await manager.setup(make_pod([{"name": "cache", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}},
                                  {"name": "bare"}]))
    for name in ("cache", "shm", "bare"):
        path = vdir(manager, "kubernetes.io~empty-dir", name)
        assert path.is_dir() and mode(path) == 0o777
    assert mode(manager.root / "pods" / UID) == 0o750
    assert manager.pod_dirs() == [UID]


async def test_empty_dir_content_survives_another_setup(manager: VolumeManager) -> None:
    pod = make_pod([{"name": "cache", "emptyDir": {}}])
    await manager.setup(pod)
    (vdir(manager, "kubernetes.io~empty-dir", "cache") / "f").write_text("kept")
    await VolumeManager(manager.root, manager.fetch).setup(pod)  # a restarted kubelet
    assert (vdir(manager, "kubernetes.io~empty-dir", "cache") / "f").read_text() == "kept"


# -- configMap / secret: layout ------------------------------------------------------------------

async def test_configmap_volume_uses_the_atomic_writer_layout(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["cfg"] = {"data": {"app.conf": "a=1\n", "level": "debug"},
                               "binaryData": {"blob": b64(b"\x00\xff")}}
    await manager.setup(make_pod([{"name": "config", "configMap": {"name": "cfg", "defaultMode": 420}}]))
    target = vdir(manager, "kubernetes.io~configmap", "config")
    assert mode(target) == 0o777
    data_link = target / "..data"
    ts_name = os.readlink(data_link)
    assert ts_name.startswith("..") and "/" not in ts_name and (target / ts_name).is_dir()
    assert mode(target / ts_name) == 0o755
    for key in ("app.conf", "level", "blob"):
        assert os.readlink(target / key) == f"..data/{key}"
        assert (target / ts_name / key).is_file() and not (target / ts_name / key).is_symlink()
        assert mode(target / key) == 0o644
    assert (target / "app.conf").read_text() == "a=1\n" and (target / "level").read_text() == "debug"
    assert (target / "blob").read_bytes() == b"\x00\xff"
    assert sorted(os.listdir(target)) == sorted(["..data", ts_name, "app.conf", "level", "blob"])


async def test_items_map_keys_to_paths_with_their_own_modes(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["cfg"] = {"data": {"a": "A", "b": "B", "unused": "U"}}
    await manager.setup(make_pod([{"name": "config", "configMap": {
        "name": "cfg", "defaultMode": 0o440,
        "items": [{"key": "a", "path": "conf/nested/a.txt", "mode": 0o600}, {"key": "b", "path": "b.txt"}]}}]))
    target = vdir(manager, "kubernetes.io~configmap", "config")
    assert os.readlink(target / "conf") == "..data/conf"
    assert (target / "conf/nested/a.txt").read_text() == "A" and mode(target / "conf/nested/a.txt") == 0o600
    assert (target / "b.txt").read_text() == "B" and mode(target / "b.txt") == 0o440
    assert not (target / "unused").exists()


async def test_secret_volume_decodes_base64(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.secrets["creds"] = {"data": {"password": b64("hunter2"), "cert.pem": b64(b"\x01\x02")}}
    await manager.setup(make_pod([{"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}}]))
    target = vdir(manager, "kubernetes.io~secret", "creds")
    assert (target / "password").read_text() == "hunter2"
    assert (target / "cert.pem").read_bytes() == b"\x01\x02"
    assert mode(target / "password") == 0o400


async def test_default_mode_is_0644_when_the_api_did_not_default_it(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.secrets["s"] = {"data": {"k": b64("v")}}
    await manager.setup(make_pod([{"name": "s", "secret": {"secretName": "s"}}]))
    assert mode(vdir(manager, "kubernetes.io~secret", "s") / "k") == 0o644


# -- configMap / secret: missing and optional ------------------------------------------------------

@pytest.mark.parametrize("volume,message", [
    ({"name": "v", "configMap": {"name": "x"}}, 'configmap "x" not found'),
    ({"name": "v", "secret": {"secretName": "s"}}, 'secret "s" not found'),
    ({"name": "v", "configMap": {"name": "cm", "items": [{"key": "nope", "path": "p"}]}},
     "configmap references non-existent config key: nope"),
    ({"name": "v", "secret": {"secretName": "sec", "items": [{"key": "nope", "path": "p"}]}},
     "references non-existent secret key: nope"),
    ({"name": "v", "persistentVolumeClaim": {"claimName": "c"}}, "no volume plugin matched"),
    ({"name": "v", "configMap": {"name": "cm", "items": [{"key": "a", "path": "../escape"}]}},
     "invalid path: must not contain '..': ../escape"),
])
async def test_setup_errors_are_upstreams(manager: VolumeManager, fetch: FakeFetcher, volume: Obj,
                                          message: str) -> None:
    fetch.configmaps["cm"] = {"data": {"a": "1"}}
    fetch.secrets["sec"] = {"data": {"a": b64("1")}}
    err = await setup_error(manager, make_pod([volume]))
    assert (err.reason, err.message, err.volume) == ("ContainerCreating", message, "v")
    assert err.event_reason == "FailedMount"
    assert err.event_message == f'MountVolume.SetUp failed for volume "v" : {message}'


async def test_optional_sources_give_empty_volumes_and_skip_missing_keys(manager: VolumeManager,
                                                                         fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"a": "1"}}
    await manager.setup(make_pod([
        {"name": "gone-cm", "configMap": {"name": "absent", "optional": True}},
        {"name": "gone-secret", "secret": {"secretName": "absent", "optional": True}},
        {"name": "partial", "configMap": {"name": "cm", "optional": True,
                                          "items": [{"key": "a", "path": "a"}, {"key": "zzz", "path": "z"}]}}]))
    for plugin, name in (("kubernetes.io~configmap", "gone-cm"), ("kubernetes.io~secret", "gone-secret")):
        target = vdir(manager, plugin, name)
        assert (target / "..data").is_symlink() and visible(target) == {}
    assert visible(vdir(manager, "kubernetes.io~configmap", "partial")) == {"a": "1"}


async def test_every_volume_is_attempted_and_a_failed_one_is_retried(manager: VolumeManager,
                                                                     fetch: FakeFetcher) -> None:
    pod = make_pod([{"name": "first", "configMap": {"name": "late"}}, {"name": "scratch", "emptyDir": {}}])
    err = await setup_error(manager, pod)
    assert err.volume == "first"
    assert vdir(manager, "kubernetes.io~empty-dir", "scratch").is_dir()
    fetch.configmaps["late"] = {"data": {"k": "v"}}
    await manager.setup(pod)
    assert visible(vdir(manager, "kubernetes.io~configmap", "first")) == {"k": "v"}


async def test_setup_of_a_ready_pod_does_no_work(manager: VolumeManager, fetch: FakeFetcher,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    reads = fetch.reads
    monkeypatch.setattr(vol, "write_atomic", lambda *a: pytest.fail("wrote again"))
    await manager.setup(pod)
    assert fetch.reads == reads


# -- atomic updates ----------------------------------------------------------------------------------

async def test_refresh_swaps_the_data_link_and_prunes_the_old_version(manager: VolumeManager,
                                                                      fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"a": "old-a", "b": "old-b"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    target = vdir(manager, "kubernetes.io~configmap", "c")
    old_ts = os.readlink(target / "..data")
    assert await manager.refresh(pod) is False
    fetch.configmaps["cm"] = {"data": {"a": "new-a", "c": "new-c"}}
    assert await manager.refresh(pod) is True
    new_ts = os.readlink(target / "..data")
    assert new_ts != old_ts and not (target / old_ts).exists()
    assert visible(target) == {"a": "new-a", "c": "new-c"}
    assert not os.path.lexists(target / "b")  # a removed key's visible link goes too
    assert not os.path.lexists(target / "..data_tmp")


async def test_readers_see_the_old_set_or_the_new_set_never_a_mix(manager: VolumeManager, fetch: FakeFetcher,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fetch.configmaps["cm"] = {"data": {"a": "1", "b": "1"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    target = vdir(manager, "kubernetes.io~configmap", "c")
    seen: list[dict[str, str]] = []
    swap = vol._swap_data_link

    def observed_swap(where: Path, ts_name: str) -> None:
        assert {p.name: p.read_text() for p in (where / ts_name).iterdir()} == {"a": "2", "b": "2"}  # complete first
        seen.append(visible(where))  # just before the one atomic step
        swap(where, ts_name)
        seen.append(visible(where))  # just after it
    monkeypatch.setattr(vol, "_swap_data_link", observed_swap)
    fetch.configmaps["cm"] = {"data": {"a": "2", "b": "2"}}
    assert await manager.refresh(pod)
    assert seen == [{"a": "1", "b": "1"}, {"a": "2", "b": "2"}]
    assert visible(target) == {"a": "2", "b": "2"}


async def test_a_write_that_fails_halfway_leaves_the_old_version_whole(manager: VolumeManager, fetch: FakeFetcher,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fetch.configmaps["cm"] = {"data": {"a": "1", "b": "1"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    target = vdir(manager, "kubernetes.io~configmap", "c")
    before = sorted(os.listdir(target))

    def write_one_then_fail(ts_dir: Path, payload: vol.Payload) -> None:
        (ts_dir / "a").write_bytes(b"2")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(vol, "_write_files", write_one_then_fail)
    fetch.configmaps["cm"] = {"data": {"a": "2", "b": "2"}}
    assert await manager.refresh(pod) is False
    assert visible(target) == {"a": "1", "b": "1"}
    assert sorted(os.listdir(target)) == before  # no half-written timestamped dir left behind
    monkeypatch.undo()
    assert await manager.refresh(pod) is True  # and the next pass succeeds
    assert visible(target) == {"a": "2", "b": "2"}


async def test_refresh_is_cheap_when_nothing_changed(manager: VolumeManager, fetch: FakeFetcher,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    fetch.secrets["s"] = {"data": {"k": b64("v")}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}, {"name": "s", "secret": {"secretName": "s"}}])
    await manager.setup(pod)
    monkeypatch.setattr(vol, "_content_differs", lambda *a: pytest.fail("read the disk"))
    monkeypatch.setattr(vol, "write_atomic", lambda *a: pytest.fail("wrote"))
    assert await manager.refresh(pod) is False


async def test_refresh_after_a_kubelet_restart_compares_with_the_disk(manager: VolumeManager,
                                                                      fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    target = vdir(manager, "kubernetes.io~configmap", "c")
    ts = os.readlink(target / "..data")
    restarted = VolumeManager(manager.root, fetch)
    assert await restarted.refresh(pod) is False
    assert os.readlink(target / "..data") == ts
    fetch.configmaps["cm"] = {"data": {"k": "v2"}}
    assert await restarted.refresh(pod) is True


async def test_refresh_keeps_the_files_when_the_source_disappears(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    fetch.configmaps["opt"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}},
                    {"name": "o", "configMap": {"name": "opt", "optional": True}}])
    await manager.setup(pod)
    fetch.configmaps.clear()
    assert await manager.refresh(pod) is True  # only the optional one changed: it is now empty
    assert visible(vdir(manager, "kubernetes.io~configmap", "c")) == {"k": "v"}
    assert visible(vdir(manager, "kubernetes.io~configmap", "o")) == {}


async def test_refresh_leaves_volumes_never_set_up_to_setup(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    assert await manager.refresh(pod) is False
    assert not (manager.root / "pods").exists()


def test_write_atomic_restores_a_deleted_visible_link_without_rewriting(tmp_path: Path) -> None:
    payload = {"a": vol.FileProjection(b"1", 0o644)}
    assert write_atomic(tmp_path, payload) is True
    ts = os.readlink(tmp_path / "..data")
    (tmp_path / "a").unlink()
    assert write_atomic(tmp_path, payload) is False
    assert os.readlink(tmp_path / "a") == "..data/a" and os.readlink(tmp_path / "..data") == ts


def test_write_atomic_replaces_a_stale_tmp_link_from_a_crash(tmp_path: Path) -> None:
    os.symlink("..nowhere", tmp_path / "..data_tmp")
    assert write_atomic(tmp_path, {"a": vol.FileProjection(b"1", 0o644)}) is True
    assert (tmp_path / "a").read_text() == "1"


@pytest.mark.parametrize("path,message", [
    ("", 'invalid path: must not be empty: ""'),
    ("/etc/passwd", "invalid path: must be relative path: /etc/passwd"),
    ("a/../../b", "invalid path: must not contain '..': a/../../b"),
    ("..data", "invalid path: must not start with '..': ..data"),
    ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters"),
])
def test_write_atomic_rejects_bad_paths(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(".", r"\.") + "$"):
        write_atomic(tmp_path, {path: vol.FileProjection(b"", 0o644)})


# -- downwardAPI and projected ------------------------------------------------------------------------------

async def test_downward_api_volume_and_its_refresh(manager: VolumeManager) -> None:
    pod = make_pod([{"name": "info", "downwardAPI": {"defaultMode": 0o644, "items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "ids/uid", "fieldRef": {"fieldPath": "metadata.uid"}, "mode": 0o600},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "build", "fieldRef": {"fieldPath": "metadata.annotations['build']"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}},
    ]}}])
    await manager.setup(pod)
    target = vdir(manager, "kubernetes.io~downward-api", "info")
    assert visible(target) == {"name": "web", "labels": 'app="web"', "build": "7", "mem": "1024"}
    assert (target / "ids/uid").read_text() == UID and mode(target / "ids/uid") == 0o600
    assert await manager.refresh(pod) is False
    pod["metadata"]["labels"] = {"app": "web", "version": "2"}
    assert await manager.refresh(pod) is True
    assert (target / "labels").read_text() == 'app="web"\nversion="2"'


async def test_downward_api_errors_are_aggregated(manager: VolumeManager) -> None:
    err = await setup_error(manager, make_pod([{"name": "info", "downwardAPI": {"items": [
        {"path": "node", "fieldRef": {"fieldPath": "spec.nodeName"}},
        {"path": "x", "fieldRef": {"fieldPath": "metadata.name['x']"}}]}}]))
    assert err.message == ('[unsupported fieldPath: spec.nodeName, '
                           'fieldPath "metadata.name[\'x\']" does not support subscript]')


async def test_projected_volume_merges_its_sources(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["kube-root-ca.crt"] = {"data": {"ca.crt": "CA"}}
    fetch.secrets["s"] = {"data": {"token": b64("T")}}
    await manager.setup(make_pod([{"name": "api", "projected": {"defaultMode": 0o440, "sources": [
        {"serviceAccountToken": {"path": "sa-token", "expirationSeconds": 3600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"secret": {"name": "s"}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}]))
    target = vdir(manager, "kubernetes.io~projected", "api")
    assert visible(target) == {"ca.crt": "CA", "token": "T", "namespace": "ns"}
    assert mode(target / "token") == 0o440


async def test_projected_failures_are_reported_together(manager: VolumeManager) -> None:
    err = await setup_error(manager, make_pod([{"name": "api", "projected": {"sources": [
        {"configMap": {"name": "a"}}, {"secret": {"name": "b"}}, {"secret": {"name": "c", "optional": True}}]}}]))
    assert err.message == '[configmap "a" not found, secret "b" not found]'


# -- hostPath ------------------------------------------------------------------------------------------------

def host_path(path: Path | str, type_: str | None = None) -> Obj:
    source: Obj = {"path": str(path)}
    if type_ is not None:
        source["type"] = type_
    return {"name": "host", "hostPath": source}


async def test_host_path_or_create_types_create(manager: VolumeManager, tmp_path: Path) -> None:
    await manager.setup(make_pod([host_path(tmp_path / "made/dir", "DirectoryOrCreate")]))
    assert (tmp_path / "made/dir").is_dir() and mode(tmp_path / "made/dir") & 0o755 == 0o755
    await manager.setup(make_pod([host_path(tmp_path / "made/file", "FileOrCreate")], uid="uid-2"))
    assert (tmp_path / "made/file").is_file()


async def test_host_path_checks_pass(manager: VolumeManager, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.sock"))
    try:
        for i, (path, type_) in enumerate([(tmp_path, "Directory"), (tmp_path / "f", "File"),
                                           (tmp_path / "s.sock", "Socket"), ("/dev/null", "CharDevice"),
                                           (tmp_path / "f", "FileOrCreate"), (tmp_path, "DirectoryOrCreate"),
                                           (tmp_path / "absent", ""), (tmp_path / "absent", None)]):
            await manager.setup(make_pod([host_path(path, type_)], uid=f"ok-{i}"))
    finally:
        sock.close()
    assert not (tmp_path / "absent").exists()  # an unset type checks and creates nothing


@pytest.mark.parametrize("path,type_,message", [
    ("{tmp}/missing", "Directory", "hostPath type check failed: {tmp}/missing is not a directory"),
    ("{tmp}/file", "Directory", "hostPath type check failed: {tmp}/file is not a directory"),
    ("{tmp}/file", "DirectoryOrCreate", "hostPath type check failed: {tmp}/file is not a directory"),
    ("{tmp}", "File", "hostPath type check failed: {tmp} is not a file"),
    ("{tmp}/missing", "File", "hostPath type check failed: {tmp}/missing is not a file"),
    ("{tmp}", "FileOrCreate", "hostPath type check failed: {tmp} is not a file"),
    ("{tmp}/file", "Socket", "hostPath type check failed: {tmp}/file is not a socket file"),
    ("{tmp}/file", "CharDevice", "hostPath type check failed: {tmp}/file is not a character device"),
    ("/dev/null", "BlockDevice", "hostPath type check failed: /dev/null is not a block device"),
    ("{tmp}", "Weird", "Weird is an invalid volume type"),
    ("{tmp}/../etc", "Directory", "invalid HostPath `{tmp}/../etc`: must not contain '..'"),
])
async def test_host_path_check_failures(manager: VolumeManager, tmp_path: Path, path: str, type_: str,
                                        message: str) -> None:
    (tmp_path / "file").write_text("x")
    err = await setup_error(manager, make_pod([host_path(path.format(tmp=tmp_path), type_)]))
    assert err.message == message.format(tmp=tmp_path)
    assert err.event_message == f'MountVolume.SetUp failed for volume "host" : {err.message}'


# -- mounts -----------------------------------------------------------------------------------------------------

async def test_mount_specs(manager: VolumeManager, fetch: FakeFetcher, tmp_path: Path) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "cache", "emptyDir": {}}, {"name": "config", "configMap": {"name": "cm"}},
                    host_path(tmp_path, "Directory")])
    await manager.setup(pod)
    container = {"name": "app", "volumeMounts": [
        {"name": "cache", "mountPath": "/cache"},
        {"name": "cache", "mountPath": "relative/dir/", "readOnly": True, "mountPropagation": "HostToContainer"},
        {"name": "config", "mountPath": "/etc/config"},
        {"name": "host", "mountPath": "/host", "mountPropagation": "Bidirectional"},
        {"name": "host", "mountPath": "/host-none", "mountPropagation": "None"}]}
    assert manager.mounts(pod, container, {}) == [
        {"Type": "bind", "Source": str(vdir(manager, "kubernetes.io~empty-dir", "cache")), "Target": "/cache",
         "ReadOnly": False},
        {"Type": "bind", "Source": str(vdir(manager, "kubernetes.io~empty-dir", "cache")), "Target": "/relative/dir",
         "ReadOnly": True, "BindOptions": {"Propagation": "rslave"}},
        {"Type": "bind", "Source": str(vdir(manager, "kubernetes.io~configmap", "config")), "Target": "/etc/config",
         "ReadOnly": True},  # configMap volumes are always read-only
        {"Type": "bind", "Source": str(tmp_path), "Target": "/host", "ReadOnly": False,
         "BindOptions": {"Propagation": "rshared"}},
        {"Type": "bind", "Source": str(tmp_path), "Target": "/host-none", "ReadOnly": False}]


async def test_sub_paths(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"nginx.conf": "server {}"}}
    pod = make_pod([{"name": "data", "emptyDir": {}}, {"name": "config", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    data = vdir(manager, "kubernetes.io~empty-dir", "data")
    container = {"name": "app", "volumeMounts": [
        {"name": "data", "mountPath": "/var/log", "subPathExpr": "logs/$(POD_NAME)"},
        {"name": "data", "mountPath": "/srv", "subPath": "./srv/www"},
        {"name": "config", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf"}]}
    specs = manager.mounts(pod, container, {"POD_NAME": "web-1"})
    assert [s["Source"] for s in specs[:2]] == [str(data / "logs/web-1"), str(data / "srv/www")]
    assert (data / "logs/web-1").is_dir() and mode(data / "logs/web-1") == 0o777  # the volume's own mode
    config = vdir(manager, "kubernetes.io~configmap", "config")
    assert specs[2]["Source"] == str((config / os.readlink(config / "..data") / "nginx.conf"))  # resolved
    assert specs[2]["ReadOnly"] is True


@pytest.mark.parametrize("mount,env,message", [
    ({"name": "nope", "mountPath": "/x"}, {}, 'cannot find volume "nope" to mount into container "app"'),
    ({"name": "data", "mountPath": "/x", "subPath": "/etc"}, {}, "error SubPath `/etc` must not be an absolute path"),
    ({"name": "data", "mountPath": "/x", "subPath": "a/../../b"}, {},
     "unable to provision SubPath `a/../../b`: must not contain '..'"),
    ({"name": "data", "mountPath": "/x", "subPathExpr": "$(B)/$(A)/$(C)"}, {"C": "c", "A": ""},
     "missing value for A, B"),
    ({"name": "data", "mountPath": "/x", "subPathExpr": "$(DOTS)"}, {"DOTS": ".."},
     "unable to provision SubPath `..`: must not contain '..'"),
    ({"name": "data", "mountPath": "/x", "subPath": "escape"}, {},
     'failed to prepare subPath for volumeMount "data" of container "app"'),
    ({"name": "data", "mountPath": "/x", "subPath": "escape/new-dir"}, {},
     'failed to create subPath directory for volumeMount "data" of container "app"'),
    ({"name": "data", "mountPath": "/x", "mountPropagation": "Sideways"}, {},
     'invalid MountPropagation mode: "Sideways"'),
])
async def test_mount_errors(manager: VolumeManager, tmp_path: Path, mount: Obj, env: dict[str, str],
                            message: str) -> None:
    pod = make_pod([{"name": "data", "emptyDir": {}}])
    await manager.setup(pod)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, vdir(manager, "kubernetes.io~empty-dir", "data") / "escape")  # a container could do this
    with pytest.raises(VolumeError) as caught:
        manager.mounts(pod, {"name": "app", "volumeMounts": [mount]}, env)
    assert (caught.value.reason, caught.value.message) == ("CreateContainerConfigError", message)
    assert caught.value.event_message == f"Error: {message}"
    assert list(outside.iterdir()) == []  # nothing was created through the escaping link


async def test_a_missing_host_path_source_is_created_as_the_runtimes_do(manager: VolumeManager,
                                                                          tmp_path: Path) -> None:
    pod = make_pod([host_path(tmp_path / "later")])
    await manager.setup(pod)
    assert not (tmp_path / "later").exists()
    [spec] = manager.mounts(pod, {"name": "app", "volumeMounts": [{"name": "host", "mountPath": "/h"}]}, {})
    assert spec["Source"] == str(tmp_path / "later") and (tmp_path / "later").is_dir()


# -- teardown and orphans --------------------------------------------------------------------------------------------

async def test_teardown_never_follows_links_or_touches_host_paths(manager: VolumeManager, fetch: FakeFetcher,
                                                                  tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "data", "emptyDir": {}}, {"name": "c", "configMap": {"name": "cm"}},
                    host_path(precious, "Directory")])
    await manager.setup(pod)
    data = vdir(manager, "kubernetes.io~empty-dir", "data")
    os.symlink(precious, data / "link-to-dir")
    os.symlink(precious / "keep.txt", data / "link-to-file")
    (data / "nested").mkdir()
    os.symlink(precious, data / "nested/deeper")
    await manager.teardown(UID)
    assert not (manager.root / "pods" / UID).exists()
    assert (precious / "keep.txt").read_text() == "mine"
    assert manager.pod_dirs() == []


async def test_teardown_of_a_pod_dir_that_is_a_symlink_removes_only_the_link(manager: VolumeManager,
                                                                             tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "volumes").mkdir(parents=True)
    (manager.root / "pods").mkdir(parents=True)
    os.symlink(elsewhere, manager.root / "pods" / "sneaky")
    assert manager.pod_dirs() == []  # a link is not a pod dir
    await manager.teardown("sneaky")
    assert not os.path.lexists(manager.root / "pods" / "sneaky") and (elsewhere / "volumes").is_dir()


async def test_teardown_then_setup_starts_afresh(manager: VolumeManager, fetch: FakeFetcher) -> None:
    fetch.configmaps["cm"] = {"data": {"k": "v"}}
    pod = make_pod([{"name": "c", "configMap": {"name": "cm"}}])
    await manager.setup(pod)
    await manager.teardown(UID)
    await manager.teardown(UID)  # twice, or for a pod never seen: fine
    await manager.setup(pod)
    assert visible(vdir(manager, "kubernetes.io~configmap", "c")) == {"k": "v"}


async def test_pod_dirs_lists_only_pod_directories(manager: VolumeManager) -> None:
    assert manager.pod_dirs() == []
    await manager.setup(make_pod([{"name": "a", "emptyDir": {}}], uid="b-uid"))
    await manager.setup(make_pod([{"name": "a", "emptyDir": {}}], uid="a-uid"))
    (manager.root / "pods" / "stray-file").write_text("")
    assert manager.pod_dirs() == ["a-uid", "b-uid"]


@pytest.mark.parametrize("uid", ["", "..", "a/b", "../../etc"])
async def test_unsafe_uids_are_refused(manager: VolumeManager, uid: str) -> None:
    with pytest.raises(ValueError):
        await manager.teardown(uid)
