"""`make up` / `make down` (deploy/local.py): idempotent, data survives a down/up, kubectl works with its kubeconfig."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, free_port

pytestmark = pytest.mark.slow


def run_local(command: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "deploy/local.py", command], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_up_is_idempotent_and_state_survives_down(tmp_path: Path, kubectl_dir: Path) -> None:
    env = {**os.environ, "KUBELAB_HOME": str(tmp_path / "state"), "KUBELAB_ETCD_PORT": str(free_port()),
           "KUBELAB_ETCD_PEER_PORT": str(free_port()), "KUBELAB_API_PORT": str(free_port())}
    try:
        first = run_local("up", env)
        assert "started" in first and "export KUBECONFIG=" in first
        assert first.count("already running") == 0
        second = run_local("up", env)
        assert second.count("already running") == 2
        kubectl = [str(kubectl_dir / "kubectl"), "--kubeconfig", str(tmp_path / "state" / "kubeconfig"),
                   "--cache-dir", str(tmp_path / "cache")]
        manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: survivor\ndata:\n  a: b\n"
        subprocess.run([*kubectl, "apply", "-f", "-"], input=manifest, text=True, check=True, capture_output=True)
        run_local("down", env)
        assert run_local("down", env) == ""  # a second down has nothing left to stop
        run_local("up", env)
        got = subprocess.run([*kubectl, "get", "configmap", "survivor", "-o", "jsonpath={.data.a}"],
                             capture_output=True, text=True, check=True)
        assert got.stdout == "b"
    finally:
        subprocess.run([sys.executable, "deploy/local.py", "down"], cwd=REPO, env=env, capture_output=True)
