"""Fixtures for the whole-cluster tests on simulated hosts (kubelab/lab.py): the lab (and further labs), an API
client for it, and a namespace per test."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kubelab.lab import Lab, LabError


def lab_state_dir(tmp_path_factory: pytest.TempPathFactory, label: str) -> Path:
    """Under pytest's short temp root: each host's dockerd socket lives in the state dir (unix paths: 108 bytes)."""
    return Path(tmp_path_factory.mktemp(label, numbered=True))


def require_lab_prerequisites() -> None:
    """The lab needs root and Docker; say so plainly instead of skipping."""
    if os.geteuid() != 0:
        pytest.fail("the lab e2e tests need root (network namespaces and a dockerd per simulated host)")
    if shutil.which("docker") is None or subprocess.run(["docker", "version"], capture_output=True).returncode:
        pytest.fail("the lab e2e tests need this machine's Docker engine (`docker version` must answer)")


def start_lab(state_dir: Path, backend: str) -> Lab:
    require_lab_prerequisites()
    lab = Lab(state_dir, hosts=3, backend=backend, node_monitor_grace_period="20s")
    started = time.monotonic()
    try:
        lab.up()
    except LabError as exc:
        pytest.fail(f"lab did not come up: {exc}")
    print(f"\nlab ({backend}) up in {time.monotonic() - started:.1f}s")
    return lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Three simulated hosts with the host-gw pod network; always taken down, pass or fail."""
    state_dir = lab_state_dir(tmp_path_factory, "lab")
    try:
        yield start_lab(state_dir, "host-gw")
    finally:
        Lab.load(state_dir).down()


@pytest.fixture
def make_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Lab]]:
    """make_lab("vxlan") → another lab in a fresh state dir, taken down when the test ends."""
    made: list[Path] = []

    def make(backend: str) -> Lab:
        made.append(lab_state_dir(tmp_path_factory, f"lab-{backend}"))
        return start_lab(made[-1], backend)

    try:
        yield make
    finally:
        for state_dir in made:
            Lab.load(state_dir).down()


@pytest.fixture(scope="module")
def api(lab: Lab) -> Iterator[httpx.Client]:
    with lab.http() as client:  # HTTPS with the lab's CA and the admin's token
        yield client


@pytest.fixture
def ns(api: httpx.Client) -> Iterator[str]:
    """A namespace of the test's own; deleting it removes its pods and Services (the namespace controller)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name}}).raise_for_status()
    yield name
    for plural in ("services", "pods"):
        api.delete(f"/api/v1/namespaces/{name}/{plural}")  # collection delete: at once, not when the ns goes
    api.delete(f"/api/v1/namespaces/{name}")
