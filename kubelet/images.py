"""Local images without a registry: the pause and busybox images, built from a static busybox by `docker import`.

No registry is reachable on the machines kubelab runs on, so the two images a
cluster needs first are made here: a rootfs holding a static busybox (the host's
own, or Debian's `busybox-static` package fetched with `apt-get download`) is
packed into a tar in memory and imported with Dockerfile-style `--change`s.
Building is idempotent: a tag that exists is left alone.

    python -m kubelet.images [--pause IMAGE] [--busybox IMAGE] [--busybox-binary PATH]
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.utils import parse_repository_tag

log = logging.getLogger(__name__)

DEFAULT_PAUSE_IMAGE = "kubelab/pause:3.9"
DEFAULT_BUSYBOX_IMAGE = "kubelab/busybox:1.35"
BUSYBOX_ENV = "KUBELAB_BUSYBOX"  # path to a static busybox to use instead of looking for one
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILT_BY_LABEL = "kubelab.io/built-by=kubelet.images"

# The pause process: sleeps until SIGTERM/SIGINT, then exits 0 as upstream's pause does.  The trap makes
# it stop promptly even as PID 1 without Docker's init; the kubelet runs it with init=True anyway.
PAUSE_SCRIPT = b"""#!/bin/busybox sh
trap 'exit 0' TERM INT
/bin/busybox sleep infinity &
wait
"""
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"

_build_lock = threading.Lock()  # one build at a time in this process (the kubelet may ask from many pods)


class ImageBuildError(Exception):
    """A local image could not be built; the message is one line saying why."""


# -- finding a static busybox -------------------------------------------------------------------------


def is_static_elf(path: Path) -> bool:
    """An ELF executable with no program interpreter (PT_INTERP), i.e. one that needs no shared libraries."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only: what Docker hosts run
                return False
            endian = "<" if header[5] == 1 else ">"
            phoff, = struct.unpack_from(endian + "Q", header, 32)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    types = (struct.unpack_from(endian + "I", table, i * phentsize)[0] for i in range(phnum))
    return 3 not in types  # PT_INTERP


def find_host_busybox() -> Path | None:
    """A static busybox already on this machine ($KUBELAB_BUSYBOX, then PATH and the usual places)."""
    chosen = os.environ.get(BUSYBOX_ENV)
    if chosen:
        if not is_static_elf(Path(chosen)):
            raise ImageBuildError(f"{BUSYBOX_ENV}={chosen} is not a static 64-bit executable")
        return Path(chosen)
    for candidate in filter(None, [shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"]):
        path = Path(candidate)
        if path.is_file() and is_static_elf(path):
            return path
    return None


def download_busybox(workdir: Path) -> Path:
    """Debian's busybox-static: `apt-get download` (after `apt-get update` only if that fails), then unpack."""
    if shutil.which("apt-get") is None:
        raise ImageBuildError("no static busybox on this host and no apt-get to fetch busybox-static: "
                              f"install one or set {BUSYBOX_ENV}=/path/to/static/busybox")
    if not _apt_download(workdir):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        if not _apt_download(workdir):
            raise ImageBuildError("`apt-get download busybox-static` failed (is a Debian mirror reachable?); "
                                  f"set {BUSYBOX_ENV}=/path/to/static/busybox instead")
    deb = next(workdir.glob("busybox-static_*.deb"))
    target = workdir / "busybox"
    target.write_bytes(_read_from_deb(deb, "bin/busybox"))
    target.chmod(0o755)
    return target


def _apt_download(workdir: Path) -> bool:
    done = subprocess.run(["apt-get", "download", "-qq", "busybox-static"], cwd=workdir,
                          capture_output=True, check=False)
    return done.returncode == 0 and any(workdir.glob("busybox-static_*.deb"))


def _read_from_deb(deb: Path, member: str) -> bytes:
    """One file out of a .deb: an `ar` archive whose data.tar.* holds the package's files."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise ImageBuildError(f"{deb.name} is not a Debian package")
    offset = 8
    while offset + 60 <= len(data):
        name, size = data[offset:offset + 16].decode().strip().rstrip("/"), int(data[offset + 48:offset + 58])
        body = data[offset + 60:offset + 60 + size]
        offset += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            return _read_from_tar(_data_tar_bytes(deb, name, body), member)
    raise ImageBuildError(f"{deb.name} has no data.tar member")


def _data_tar_bytes(deb: Path, name: str, body: bytes) -> bytes:
    if name.endswith(".zst"):  # tarfile cannot read zstd: let dpkg-deb decompress
        return subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    return body


def _read_from_tar(tar_bytes: bytes, member: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:*") as tar:
        for info in tar:
            if info.isfile() and info.name.lstrip("./") == member:
                extracted = tar.extractfile(info)
                assert extracted is not None
                return extracted.read()
    raise ImageBuildError(f"busybox-static package has no {member}")


def obtain_busybox(workdir: Path) -> Path:
    """The static busybox to build from: the host's if it has one, else Debian's package."""
    host = find_host_busybox()
    if host is not None:
        log.info("using the host's static busybox %s", host)
        return host
    log.info("no static busybox on the host: fetching Debian's busybox-static")
    return download_busybox(workdir)


def applet_paths(busybox: Path) -> list[str]:
    """Where each applet lives ("bin/sh", "usr/bin/wget", ...), as the binary itself lists them."""
    done = subprocess.run(["busybox", "--list-full"], executable=str(busybox),  # argv[0] picks the applet
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise ImageBuildError(f"{busybox} --list-full failed: is it a busybox for this machine's architecture?")
    return [line.strip().lstrip("/") for line in done.stdout.splitlines() if line.strip()]


# -- root filesystems ---------------------------------------------------------------------------------


class _RootfsTar:
    """A root filesystem written straight into an in-memory tar (no temp tree, no root-owned files left)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w")
        self.dirs: set[str] = set()
        self.now = int(time.time())

    def dir(self, path: str, mode: int = 0o755) -> None:
        parent = path.rpartition("/")[0]
        if parent and parent not in self.dirs:
            self.dir(parent)
        if path not in self.dirs:
            self.dirs.add(path)
            self._add(tarfile.TarInfo(path), tarfile.DIRTYPE, mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.dir(path.rpartition("/")[0])
        info = tarfile.TarInfo(path)
        info.size = len(data)
        self._add(info, tarfile.REGTYPE, mode, io.BytesIO(data))

    def symlink(self, path: str, target: str) -> None:
        self.dir(path.rpartition("/")[0])
        info = tarfile.TarInfo(path)
        info.linkname = target
        self._add(info, tarfile.SYMTYPE, 0o777)

    def _add(self, info: tarfile.TarInfo, kind: bytes, mode: int, data: io.BytesIO | None = None) -> None:
        info.type, info.mode, info.mtime = kind, mode, self.now
        self.tar.addfile(info, data)

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def busybox_rootfs(busybox: Path) -> bytes:
    """busybox, a symlink per applet, /tmp, and /etc/passwd+group with root and nobody (65534)."""
    rootfs = _RootfsTar()
    for path in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "home", "var", "proc", "sys", "dev"):
        rootfs.dir(path)
    rootfs.dir("tmp", 0o1777)
    rootfs.dir("root", 0o700)
    rootfs.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in applet_paths(busybox):
        if applet != "bin/busybox":
            rootfs.symlink(applet, "/bin/busybox")
    rootfs.file("etc/passwd", PASSWD)
    rootfs.file("etc/group", GROUP)
    return rootfs.bytes()


def pause_rootfs(busybox: Path) -> bytes:
    """Just busybox and the /pause script."""
    rootfs = _RootfsTar()
    for path in ("bin", "etc", "proc", "sys", "dev"):
        rootfs.dir(path)
    rootfs.file("bin/busybox", busybox.read_bytes(), 0o755)
    rootfs.file("pause", PAUSE_SCRIPT, 0o755)
    return rootfs.bytes()


# -- images -------------------------------------------------------------------------------------------


def image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def import_rootfs(client: docker.DockerClient, rootfs: bytes, tag: str, changes: list[str]) -> str:
    """`docker import --change ... - TAG`; returns the new image's ID."""
    repository, version = parse_repository_tag(tag)
    try:
        client.api.import_image_from_data(rootfs, repository=repository, tag=version or "latest", changes=changes)
    except docker.errors.APIError as err:
        raise ImageBuildError(f"docker import of {tag} failed: {err.explanation or err}") from err
    built = image_id(client, tag)
    if built is None:
        raise ImageBuildError(f"docker import of {tag} reported success but the tag is missing")
    return built


def ensure_busybox_image(client: docker.DockerClient, tag: str = DEFAULT_BUSYBOX_IMAGE) -> str:
    """The busybox test image's ID, built first if the tag is missing (CMD sh, PATH set, like docker's busybox)."""
    changes = ['CMD ["sh"]', f"ENV PATH={DEFAULT_PATH}", f"LABEL {BUILT_BY_LABEL}"]
    return _ensure(client, tag, busybox_rootfs, changes)


def ensure_pause_image(client: docker.DockerClient, tag: str = DEFAULT_PAUSE_IMAGE) -> str:
    """The pause image's ID, built first if the tag is missing (ENTRYPOINT /pause, as upstream's)."""
    changes = ['ENTRYPOINT ["/pause"]', f"ENV PATH={DEFAULT_PATH}", f"LABEL {BUILT_BY_LABEL}"]
    return _ensure(client, tag, pause_rootfs, changes)


def _ensure(client: docker.DockerClient, tag: str, make_rootfs: Callable[[Path], bytes], changes: list[str]) -> str:
    existing = image_id(client, tag)
    if existing is not None:
        return existing
    with _build_lock:
        existing = image_id(client, tag)  # another thread may have built it meanwhile
        if existing is not None:
            return existing
        with tempfile.TemporaryDirectory(prefix="kubelab-busybox-") as workdir:
            rootfs = make_rootfs(obtain_busybox(Path(workdir)))
        built = import_rootfs(client, rootfs, tag, changes)
        log.info("built %s (%s)", tag, built)
        return built


# -- CLI ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubelet.images",
                                     description="Build kubelab's local pause and busybox images if missing.")
    parser.add_argument("--pause", default=DEFAULT_PAUSE_IMAGE, help="pause image tag (default %(default)s)")
    parser.add_argument("--busybox", default=DEFAULT_BUSYBOX_IMAGE, help="busybox image tag (default %(default)s)")
    parser.add_argument("--busybox-binary", help=f"static busybox to use (also ${BUSYBOX_ENV})")
    args = parser.parse_args(argv)
    if args.busybox_binary:
        os.environ[BUSYBOX_ENV] = args.busybox_binary
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    try:
        client = docker.from_env()
        for tag, ensure in ((args.pause, ensure_pause_image), (args.busybox, ensure_busybox_image)):
            before = image_id(client, tag)
            after = ensure(client, tag)
            print(f"{tag}: {'present' if before == after else 'built'} {after}")
    except docker.errors.DockerException as err:
        print(f"error: cannot reach Docker: {err}", file=sys.stderr)
        return 1
    except ImageBuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
