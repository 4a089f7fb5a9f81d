"""kubelet/runtime.py against the real Docker engine: sandboxes, containers, images, logs, exec and stats.

Every test gets a runtime with a node name of its own; whatever Docker holds with
that node label is force-removed when the test ends, pass or fail.
"""
from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from kubelet import images
from kubelet.runtime import (LABEL_CONTAINER_NAME, LABEL_CONTAINER_TYPE, LABEL_NODE, LABEL_POD_UID,
                             LABEL_RESTART_COUNT, ContainerCreateError, ContainerInfo, ContainerStartError,
                             DockerRuntime, ExecError, ImageError)

BUSYBOX = images.DEFAULT_BUSYBOX_IMAGE
PAUSE = images.DEFAULT_PAUSE_IMAGE
Obj = dict[str, Any]


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_images(docker_client: docker.DockerClient) -> Iterator[dict[str, str]]:
    """The local pause and busybox images (built if missing) and an image with ENTRYPOINT and CMD of its own."""
    images.ensure_pause_image(docker_client, PAUSE)
    images.ensure_busybox_image(docker_client, BUSYBOX)
    entrypoint_image = f"kubelab-test/entrypoint:{uuid.uuid4().hex[:8]}"
    scratch = docker_client.api.create_container(BUSYBOX, command=["true"])
    repository, tag = entrypoint_image.split(":")
    docker_client.api.commit(scratch["Id"], repository=repository, tag=tag,
                             changes=['ENTRYPOINT ["echo", "entry"]', 'CMD ["default"]'])
    docker_client.api.remove_container(scratch["Id"], force=True)
    yield {"entrypoint": entrypoint_image}
    docker_client.api.remove_image(entrypoint_image, force=True)


def _remove_node_containers(client: docker.DockerClient, node: str) -> None:
    def remove(container_id: str) -> None:
        try:
            client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
    listed = client.api.containers(all=True, filters={"label": f"{LABEL_NODE}={node}"})
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove, [c["Id"] for c in listed]))


@pytest.fixture
async def runtime(docker_client: docker.DockerClient, test_images: dict[str, str]) -> AsyncIterator[DockerRuntime]:
    node = f"test-{uuid.uuid4().hex[:10]}"
    rt = DockerRuntime(node, client=docker_client, pause_image=PAUSE)
    try:
        yield rt
    finally:
        await rt.close()
        _remove_node_containers(docker_client, node)


# -- helpers -------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def make_pod(name: str = "", **spec: Any) -> Obj:
    name = name or f"pod-{uuid.uuid4().hex[:6]}"
    return {"metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
            "spec": {"containers": [], **spec}}


def make_container(name: str, command: list[str] | None = None, image: str = BUSYBOX, **fields: Any) -> Obj:
    container: Obj = {"name": name, "image": image, **fields}
    if command is not None:
        container["command"] = command
    return container


async def create(rt: DockerRuntime, pod: Obj, sandbox: ContainerInfo, container: Obj, *, restart_count: int = 0,
                 env: list[str] | None = None, kind: str = "app") -> ContainerInfo:
    return await rt.create_container(pod, container, kind=kind, sandbox=sandbox, restart_count=restart_count,
                                     env=env or [], mounts=[], spec_hash="hash-" + container["name"])


async def start(rt: DockerRuntime, pod: Obj, sandbox: ContainerInfo, container: Obj, **kwargs: Any) -> ContainerInfo:
    return await rt.start_container((await create(rt, pod, sandbox, container, **kwargs)).id)


async def wait_exited(rt: DockerRuntime, container_id: str, timeout: float = 10.0) -> ContainerInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = await rt.inspect(container_id)
        assert info is not None
        if info.state == "exited":
            return info
        assert time.monotonic() < deadline, f"container still {info.state}"
        await asyncio.sleep(0.02)


async def run_to_exit(rt: DockerRuntime, pod: Obj, sandbox: ContainerInfo, container: Obj,
                      **kwargs: Any) -> tuple[ContainerInfo, bytes]:
    created = await create(rt, pod, sandbox, container, **kwargs)
    try:
        await rt.start_container(created.id)
    except ContainerStartError:
        pass
    info = await wait_exited(rt, created.id)
    return info, b"".join([chunk async for chunk in rt.logs(created.id)])


# -- pods ----------------------------------------------------------------------------------------------------------


async def test_containers_of_a_pod_share_the_sandbox_network_and_hostname(runtime: DockerRuntime) -> None:
    pod = make_pod(shareProcessNamespace=True)
    sandbox = await runtime.run_sandbox(pod)
    assert sandbox.state == "running" and sandbox.type == "sandbox" and sandbox.name == "POD"
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", sandbox.ip)

    server = make_container("server", ["sh", "-c", "echo hello-from-server > /tmp/index.html; "
                                                   "exec httpd -f -p 8080 -h /tmp"])
    client = make_container("client", ["sh", "-c", "until wget -qO- http://127.0.0.1:8080/; do sleep 0.05; done; "
                                                   "hostname"])
    running = await start(runtime, pod, sandbox, server)
    done, output = await run_to_exit(runtime, pod, sandbox, client)
    assert (done.exit_code, done.reason) == (0, "Completed")
    assert output == f"hello-from-server\n{pod['metadata']['name']}\n".encode()

    code, processes = await runtime.exec_run(running.id, ["ps"], timeout_s=5)
    assert code == 0 and b"/pause" in processes  # shareProcessNamespace: the sandbox's processes are visible
    host = runtime.api.inspect_container(running.id)["HostConfig"]
    assert host["NetworkMode"] == host["IpcMode"] == host["PidMode"] == f"container:{sandbox.id}"
    assert host["Init"] is True


async def test_sandbox_dns_host_network_and_long_hostname(runtime: DockerRuntime) -> None:
    host_port = _free_port()
    pod = make_pod("x" * 70, containers=[make_container("web", ports=[{"containerPort": 80, "hostPort": host_port}])])
    dns = {"nameservers": ["10.96.0.10"], "searches": ["default.svc.cluster.local", "svc.cluster.local"],
           "options": [{"name": "ndots", "value": "5"}, "edns0"]}
    sandbox = await runtime.run_sandbox(pod, dns=dns, attempt=1)
    assert sandbox.restart_count == 1
    assert sandbox.labels[LABEL_RESTART_COUNT] == "1"
    code, resolv = await runtime.exec_run(sandbox.id, ["/bin/busybox", "cat", "/etc/resolv.conf"], timeout_s=5)
    assert code == 0
    assert b"nameserver 10.96.0.10" in resolv
    assert b"search default.svc.cluster.local svc.cluster.local" in resolv
    assert b"ndots:5" in resolv and b"edns0" in resolv
    assert (await runtime.exec_run(sandbox.id, ["/bin/busybox", "hostname"], 5))[1] == b"x" * 63 + b"\n"
    bindings = runtime.api.inspect_container(sandbox.id)["HostConfig"]["PortBindings"]
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": str(host_port)}]}  # hostPort: on the sandbox

    host_pod = make_pod(hostNetwork=True)
    host_sandbox = await runtime.run_sandbox(host_pod)
    assert host_sandbox.ip == ""  # the pod IP is the node's; the kubelet knows it
    assert runtime.api.inspect_container(host_sandbox.id)["HostConfig"]["NetworkMode"] == "host"


async def test_command_and_args_follow_kubernetes_not_docker(runtime: DockerRuntime,
                                                             test_images: dict[str, str]) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    image = test_images["entrypoint"]  # ENTRYPOINT ["echo", "entry"], CMD ["default"]
    cases = {
        "neither": ({}, b"entry default\n"),
        "command": ({"command": ["echo", "cmd"]}, b"cmd\n"),  # the image's CMD is dropped too
        "args": ({"args": ["a1", "a2"]}, b"entry a1 a2\n"),  # the image's ENTRYPOINT stays
        "both": ({"command": ["echo", "cmd"], "args": ["a1"]}, b"cmd a1\n"),
        "empty-lists": ({"command": [], "args": []}, b"entry default\n"),  # empty is unset, as upstream
    }
    results = await asyncio.gather(*(run_to_exit(runtime, pod, sandbox, make_container(name, image=image, **fields))
                                     for name, (fields, _want) in cases.items()))
    assert {name: output for name, (_info, output) in zip(cases, results)} == \
        {name: want for name, (_fields, want) in cases.items()}
    _info, output = await run_to_exit(runtime, pod, sandbox, make_container("busybox-args", args=["echo", "x"]))
    assert output == b"x\n"  # busybox has no ENTRYPOINT: args alone are the whole command


async def test_mounts_as_docker_mount_objects_or_dicts(runtime: DockerRuntime, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "greeting").write_text("hello\n")
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    mounts = [docker.types.Mount("/etc/app", str(tmp_path / "config"), type="bind", read_only=True),
              {"Target": "/scratch", "Type": "tmpfs"}]
    created = await runtime.create_container(
        pod, make_container("main", ["sh", "-c", "cat /etc/app/greeting; touch /etc/app/x || echo read-only; "
                                                 "touch /scratch/y && echo writable"]),
        kind="app", sandbox=sandbox, restart_count=0, env=[], mounts=mounts, spec_hash="h")
    await runtime.start_container(created.id)
    await wait_exited(runtime, created.id)
    output = b"".join([chunk async for chunk in runtime.logs(created.id)])
    assert output.replace(b"touch: /etc/app/x: Read-only file system\n", b"") == b"hello\nread-only\nwritable\n"


async def test_env_working_dir_and_security_context(runtime: DockerRuntime) -> None:
    pod = make_pod(securityContext={"runAsUser": 1000, "supplementalGroups": [3000]})
    sandbox = await runtime.run_sandbox(pod)
    script = ["sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; id -G']
    own = make_container("own", script, workingDir="/tmp",
                         securityContext={"runAsUser": 65534, "runAsGroup": 65534})
    inherited = make_container("inherited", script)
    (_i1, out_own), (_i2, out_inherited) = await asyncio.gather(
        run_to_exit(runtime, pod, sandbox, own, env=["GREETING=hi there"]),
        run_to_exit(runtime, pod, sandbox, inherited, env=["GREETING=$(not expanded here)"]))
    assert out_own == b"hi there\n/tmp\n65534\n65534\n65534 3000\n"
    assert out_inherited == b"$(not expanded here)\n/\n1000\n0\n0 3000\n"

    root = make_container("root", ["true"], securityContext={"runAsNonRoot": True})
    with pytest.raises(ContainerCreateError) as refused:
        await create(runtime, make_pod(), sandbox, root)  # no pod-level runAsUser: the image's root
    assert refused.value.reason == "CreateContainerConfigError"
    assert refused.value.message.startswith("container has runAsNonRoot and image will run as root (pod: ")

    locked = make_container("locked", ["sh", "-c", "touch /x"], securityContext={
        "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "allowPrivilegeEscalation": False})
    info, output = await run_to_exit(runtime, pod, sandbox, locked)
    assert info.exit_code == 1 and b"Read-only file system" in output
    host = runtime.api.inspect_container(info.id)["HostConfig"]
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"] and host["CapAdd"] == ["NET_BIND_SERVICE"]
    assert host["SecurityOpt"] == ["no-new-privileges"]


async def test_resources_become_docker_limits(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    limited = await create(runtime, pod, sandbox, make_container("limited", ["true"], resources={
        "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"}}))
    limit_only = await create(runtime, pod, sandbox, make_container("limit-only", ["true"], resources={
        "limits": {"cpu": "2"}}))
    best_effort = await create(runtime, pod, sandbox, make_container("best-effort", ["true"]))
    host = runtime.api.inspect_container(limited.id)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["CpuShares"]) == \
        (64 * 2**20, 64 * 2**20, 500_000_000, 256)
    host = runtime.api.inspect_container(limit_only.id)["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["CpuShares"]) == (0, 2_000_000_000, 2048)
    assert runtime.api.inspect_container(best_effort.id)["HostConfig"]["CpuShares"] == 2


async def test_stop_honours_sigterm_and_kills_after_the_grace_period(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    sleeper = await start(runtime, pod, sandbox, make_container("sleeper", ["sleep", "3600"]))
    stubborn = await start(runtime, pod, sandbox, make_container("stubborn", ["sh", "-c", "trap '' TERM; "
                                                                              "while true; do sleep 0.1; done"]))
    began = time.monotonic()
    await runtime.stop_container(sleeper.id, grace_s=20)
    assert time.monotonic() - began < 10  # init forwards SIGTERM: no wait for the grace period
    stopped = await runtime.inspect(sleeper.id)
    assert stopped is not None and (stopped.state, stopped.exit_code, stopped.reason) == ("exited", 143, "Error")

    began = time.monotonic()
    await runtime.stop_container(stubborn.id, grace_s=1)
    assert time.monotonic() - began >= 0.9  # SIGTERM ignored: SIGKILL only after the grace period
    killed = await runtime.inspect(stubborn.id)
    assert killed is not None and (killed.exit_code, killed.reason) == (137, "Error")


async def test_exit_codes_oom_and_start_errors(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    (failed, _), (completed, _), (oom, _) = await asyncio.gather(
        run_to_exit(runtime, pod, sandbox, make_container("fails", ["sh", "-c", "exit 3"])),
        run_to_exit(runtime, pod, sandbox, make_container("completes", ["true"])),
        run_to_exit(runtime, pod, sandbox, make_container("oom", ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M",
                                                                  "count=1"],
                                                          resources={"limits": {"memory": "16Mi"}})))
    assert (failed.exit_code, failed.reason, failed.started_at is not None) == (3, "Error", True)
    assert (completed.exit_code, completed.reason) == (0, "Completed")
    assert (oom.exit_code, oom.reason, oom.oom_killed) == (137, "OOMKilled", True)

    async def start_error(name: str, command: list[str], message: str) -> None:
        created = await create(runtime, pod, sandbox, make_container(name, command))
        try:  # Docker's init reports the failure a moment after start returns: either way it must show
            await runtime.start_container(created.id)
        except ContainerStartError as err:
            assert err.reason == "RunContainerError" and message in err.message
        info = await wait_exited(runtime, created.id)
        assert (info.state, info.exit_code, info.reason, info.started_at) == ("exited", 128, "StartError", None)
        assert message in info.error and info.finished_at is not None

    await asyncio.gather(
        start_error("not-in-path", ["nope"], 'exec: "nope": executable file not found in $PATH'),
        start_error("no-such-file", ["/nope"], 'exec: "/nope": stat /nope: no such file or directory'),
        start_error("not-executable", ["/etc/passwd"], 'exec: "/etc/passwd": permission denied'))


async def test_list_sees_exactly_its_containers(runtime: DockerRuntime, docker_client: docker.DockerClient) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    init = await start(runtime, pod, sandbox, make_container("setup", ["true"]), kind="init")
    app = await start(runtime, pod, sandbox, make_container("main", ["sleep", "3600"]), restart_count=2)
    other_node = DockerRuntime(f"{runtime.node_name}-other", client=docker_client, pause_image=PAUSE)
    try:
        other_pod = make_pod()
        await other_node.run_sandbox(other_pod)
        listed = {c.id: c for c in await runtime.list_pod_containers()}
        assert set(listed) == {sandbox.id, init.id, app.id}
        assert {(c.name, c.type, c.restart_count) for c in listed.values()} == \
            {("POD", "sandbox", 0), ("setup", "init", 0), ("main", "app", 2)}
        main = listed[app.id]
        assert main.labels[LABEL_POD_UID] == pod["metadata"]["uid"] == main.pod_uid
        assert main.labels[LABEL_CONTAINER_NAME] == "main" and main.labels[LABEL_CONTAINER_TYPE] == "app"
        assert (main.pod_name, main.pod_namespace, main.spec_hash) == (pod["metadata"]["name"], "default", "hash-main")
        assert main.image == BUSYBOX and main.image_id.startswith("docker://sha256:")
        assert main.state == "running" and main.started_at is not None

        await runtime.stop_container(app.id, grace_s=5)
        relisted = {c.id: c for c in await runtime.list_pod_containers(pod["metadata"]["uid"])}
        assert (relisted[app.id].state, relisted[app.id].exit_code) == ("exited", 143)
        assert await runtime.list_pod_containers(other_pod["metadata"]["uid"]) == []

        assert await runtime.remove_pod_containers(pod["metadata"]["uid"]) == 3
        assert await runtime.list_pod_containers() == []
        assert len(await other_node.list_pod_containers()) == 1
        await runtime.remove_container(app.id)  # already gone: fine
        await runtime.stop_container(app.id, 1)
        assert await runtime.inspect(app.id) is None
    finally:
        await other_node.close()
        _remove_node_containers(docker_client, other_node.node_name)


async def test_a_name_conflict_with_an_idle_leftover_recovers(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    container = make_container("main", ["sleep", "3600"])
    leftover = await create(runtime, pod, sandbox, container)  # e.g. the kubelet died between create and start
    again = await create(runtime, pod, sandbox, container)
    assert again.id != leftover.id and await runtime.inspect(leftover.id) is None


# -- images --------------------------------------------------------------------------------------------------------


async def test_image_pull_policies(runtime: DockerRuntime, docker_client: docker.DockerClient) -> None:
    local_id = docker_client.images.get(BUSYBOX).id
    pulls: list[str] = []

    async def pulling() -> None:
        pulls.append("pull")
    assert await runtime.ensure_image(BUSYBOX, "IfNotPresent", pulling) == local_id
    assert await runtime.ensure_image(BUSYBOX, "Never", pulling) == local_id
    assert pulls == []  # present: no pull, so no Pulling event

    with pytest.raises(ImageError) as never:
        await runtime.ensure_image("kubelab/absent:1", "Never")
    assert (never.value.reason, never.value.message) == \
        ("ErrImageNeverPull", 'Container image "kubelab/absent:1" is not present with pull policy of Never')

    with pytest.raises(ImageError) as missing:  # nothing can be pulled here: no registry is reachable
        await runtime.ensure_image("kubelab/absent:1", "IfNotPresent")
    assert missing.value.reason == "ErrImagePull"
    assert missing.value.message.startswith('failed to pull and unpack image "docker.io/kubelab/absent:1": ')

    with pytest.raises(ImageError) as always:  # Always pulls even when present; the pull fails, as upstream
        await runtime.ensure_image(BUSYBOX, "Always", pulling)
    assert pulls == ["pull"]
    assert always.value.reason == "ErrImagePull"
    assert always.value.message.startswith(f'failed to pull and unpack image "docker.io/{BUSYBOX}": ')

    with pytest.raises(ImageError) as defaulted:  # no tag: :latest, and with it Always
        await runtime.ensure_image("kubelab/busybox", "")
    assert 'image "docker.io/kubelab/busybox:latest"' in defaulted.value.message

    with pytest.raises(ImageError) as invalid:
        await runtime.ensure_image("Not An/Image", "IfNotPresent")
    assert (invalid.value.reason, invalid.value.message) == \
        ("InvalidImageName", 'Failed to apply default image tag "Not An/Image": couldn\'t parse image reference '
                             '"Not An/Image": invalid reference format')


async def test_a_missing_pause_image_is_built_locally(docker_client: docker.DockerClient,
                                                      test_images: dict[str, str]) -> None:
    tag = f"kubelab-test/pause:{uuid.uuid4().hex[:8]}"
    rt = DockerRuntime(f"test-{uuid.uuid4().hex[:10]}", client=docker_client, pause_image=tag)
    try:
        image_id = await rt.ensure_image(tag, "IfNotPresent")
        assert docker_client.images.get(tag).id == image_id
        sandbox = await rt.run_sandbox(make_pod())
        assert sandbox.state == "running" and sandbox.image == tag
        await rt.stop_container(sandbox.id, 10)
        stopped = await rt.inspect(sandbox.id)
        assert stopped is not None and stopped.exit_code == 0  # pause exits 0 on SIGTERM, as upstream's
    finally:
        await rt.close()
        _remove_node_containers(docker_client, rt.node_name)
        docker_client.api.remove_image(tag, force=True)


# -- logs, exec, stats ---------------------------------------------------------------------------------------------


async def test_logs_follow_tail_timestamps_and_limits(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    writer = await start(runtime, pod, sandbox, make_container("writer", ["sh", "-c", (
        "for i in 1 2 3; do echo line$i; done; sleep 0.05; echo oops >&2; sleep 0.3; echo late")]))
    followed = b"".join([chunk async for chunk in runtime.logs(writer.id, follow=True)])
    assert followed == b"line1\nline2\nline3\noops\nlate\n"  # stdout and stderr interleaved, until the exit

    async def read(**options: Any) -> bytes:
        return b"".join([chunk async for chunk in runtime.logs(writer.id, **options)])

    assert await read(tail=2) == b"oops\nlate\n"
    assert await read(tail=0) == b""
    assert await read(limit_bytes=8) == b"line1\nli"
    assert await read(since=time.time() + 60) == b""
    stamped = (await read(timestamps=True, tail=1)).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z late\n", stamped)

    talker = await start(runtime, pod, sandbox, make_container("talker", ["sh", "-c", "while true; do echo tick; "
                                                                          "sleep 0.05; done"]))
    stream = runtime.logs(talker.id, follow=True, limit_bytes=14)
    received = b"".join([chunk async for chunk in stream])
    assert received == b"tick\ntick\ntick"  # the limit ends a follow of a container that never exits
    first = await runtime.logs(talker.id, follow=True).__anext__()
    assert first.startswith(b"tick")  # an abandoned follow must not hang anything


async def test_exec_run_and_exec_stream(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    main = await start(runtime, pod, sandbox, make_container("main", ["sleep", "3600"]))

    code, output = await runtime.exec_run(main.id, ["sh", "-c", "echo out; echo err >&2; exit 7"], 5)
    assert code == 7 and sorted(output.splitlines()) == [b"err", b"out"]  # two streams: their order is not kept
    assert await runtime.exec_run(main.id, ["sh", "-c", "seq 1000"], 5, limit_bytes=10) == (0, b"1\n2\n3\n4\n5\n")
    with pytest.raises(TimeoutError):
        await runtime.exec_run(main.id, ["sleep", "5"], timeout_s=0.2)

    session = await runtime.exec_stream(main.id, ["cat"], stdin=True)
    try:
        await session.write(b"ping\n")
        assert await session.read() == (1, b"ping\n")
        await session.close_stdin()
        assert await session.read() is None
        assert await session.wait() == 0
    finally:
        await session.close()

    terminal = await runtime.exec_stream(main.id, ["sh", "-c", "sleep 0.1; stty size; echo oops >&2"],
                                         stdin=True, tty=True)
    try:
        await terminal.resize(40, 120)
        output = b""
        while (chunk := await terminal.read()) is not None:
            assert chunk[0] == 1  # a tty merges stderr into stdout
            output += chunk[1]
        assert output == b"40 120\r\noops\r\n"
    finally:
        await terminal.close()

    await runtime.stop_container(main.id, 5)
    with pytest.raises(ExecError):
        await runtime.exec_run(main.id, ["true"], 5)


async def test_stats_and_version(runtime: DockerRuntime) -> None:
    pod = make_pod()
    sandbox = await runtime.run_sandbox(pod)
    busy = await start(runtime, pod, sandbox, make_container("busy", ["sh", "-c", "while true; do :; done"],
                                                             resources={"limits": {"cpu": "200m"}}))
    first = await runtime.stats(busy.id)
    assert first is not None and first["cpu"]["usageNanoCores"] is None
    assert first["memory"]["workingSetBytes"] > 0 and first["cpu"]["usageCoreNanoSeconds"] > 0
    deadline = time.monotonic() + 5
    while (second := await runtime.stats(busy.id)) and second["cpu"]["usageNanoCores"] is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert second is not None and 0 < second["cpu"]["usageNanoCores"] < 10**9  # about 0.2 cores
    assert await runtime.stats("0" * 64) is None
    assert re.fullmatch(r"docker://\d+\.\d+\.\d+.*", await runtime.version())
