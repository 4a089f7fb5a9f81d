"""The apiserver as a daemon: --help, flags from the environment, health and metrics endpoints, bad flags."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx

from conftest import REPO


def test_help_lists_upstream_flags() -> None:
    result = subprocess.run([sys.executable, "-m", "apiserver", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in ("--etcd-servers", "--bind-address", "--port", "--etcd-compaction-interval", "--event-ttl"):
        assert flag in result.stdout


def test_bad_flag_is_one_clear_line() -> None:
    result = subprocess.run([sys.executable, "-m", "apiserver", "--etcd-compaction-interval", "soon"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid duration 'soon'" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_etcd_is_one_clear_error() -> None:
    env = {**os.environ, "KUBELAB_ETCD_SERVERS": "http://127.0.0.1:1"}
    result = subprocess.run([sys.executable, "-m", "apiserver", "--port", "0", "--etcd-connect-timeout", "2s"],
                            cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "etcd at http://127.0.0.1:1 is unreachable" in result.stderr and "Traceback" not in result.stderr


def test_health_endpoints_and_metrics(http: httpx.Client) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        resp = http.get(path)
        assert resp.status_code == 200 and resp.text == "ok"
    http.get("/api/v1/namespaces")
    metrics = http.get("/metrics").text
    assert 'apiserver_request_total{code="200",resource="namespaces",verb="LIST"}' in metrics
    assert "etcd_request_duration_seconds_bucket" in metrics
    assert "apiserver_registered_watchers" in metrics


def test_version_and_discovery_trailing_slashes(http: httpx.Client) -> None:
    assert http.get("/version").json()["major"] == "1"
    for path in ("/version/", "/api/", "/apis/", "/api/v1/", "/apis/apps/v1/"):
        assert http.get(path).status_code == 200, path
    resources = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert resources["deployments"]["shortNames"] == ["deploy"]
    assert resources["deployments/scale"]["group"] == "autoscaling"


def test_workers_share_the_port_and_stop_together(etcd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import ApiServer
    from helpers import configmap, watch_lines
    api = ApiServer(tmp_path, etcd.url, "--workers", "2")
    api.start()
    try:
        children = subprocess.run(["pgrep", "-f", "--", f"--port {api.port} .*--reuse-port"], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) == 2
        with httpx.Client(base_url=api.url) as http:
            http.post("/api/v1/namespaces", json={"metadata": {"name": "workers"}})
            rv = http.get("/api/v1/namespaces/workers/configmaps").json()["metadata"]["resourceVersion"]
        for i in range(10):  # a new connection each time: the kernel spreads them over the workers
            resp = httpx.post(f"{api.url}/api/v1/namespaces/workers/configmaps", json=configmap(f"w{i}"))
            assert resp.status_code == 201, resp.text
        with httpx.Client(base_url=api.url) as http:
            events = watch_lines(http, "/api/v1/namespaces/workers/configmaps", count=10, resourceVersion=rv)
            assert sorted(e["object"]["metadata"]["name"] for e in events) == sorted(f"w{i}" for i in range(10))
    finally:
        api.stop()
    assert api.proc is not None and api.proc.returncode == 0
    assert subprocess.run(["pgrep", "-f", "--", f"--port {api.port} "], capture_output=True).returncode == 1
