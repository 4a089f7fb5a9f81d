"""TLS and bearer tokens: `kubelab certs` output drives an apiserver that answers anonymous callers with 401."""
from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from common.localcluster import ChildProcess, apiserver_argv, free_port
from kubelab import certs


class SecureApiServer(ChildProcess):
    def __init__(self, workdir: Path, etcd_url: str) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.pki = certs.create(workdir / "pki", self.url, ["127.0.0.1"], ["localhost"], ["node-a"]).directory
        super().__init__("apiserver", apiserver_argv(
            etcd_url, self.port, "--tls-cert-file", str(self.pki / "apiserver.crt"),
            "--tls-private-key-file", str(self.pki / "apiserver.key"),
            "--token-auth-file", str(self.pki / "tokens.csv")), workdir / "apiserver.log")

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki / "ca.crt"))

    def token(self, who: str) -> str:
        config = (self.pki / f"{who}.kubeconfig").read_text()
        return config.split("token: ", 1)[1].split()[0]

    def wait_ready(self, url: str = "", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"apiserver exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", verify=self.trust()).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"apiserver not ready:\n{self.log_tail()}")


@pytest.fixture(scope="module")
def secure(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureApiServer]:  # type: ignore[no-untyped-def]
    server = SecureApiServer(tmp_path_factory.mktemp("secure"), etcd.url)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _get(server: SecureApiServer, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(server.url + path, headers=headers, verify=server.trust())


def test_anonymous_and_unknown_tokens_get_401_status(secure: SecureApiServer) -> None:
    for token in (None, "not-a-token", "x" * 64):
        resp = _get(secure, "/api/v1/namespaces", token)
        assert resp.status_code == 401, resp.text
        assert resp.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_health_stays_open_and_tokens_work(secure: SecureApiServer) -> None:
    assert _get(secure, "/healthz").status_code == 200
    for who in ("admin", "scheduler", "kubelet-node-a"):
        resp = _get(secure, "/api/v1/namespaces", secure.token(who))
        assert resp.status_code == 200, resp.text
        assert resp.json()["kind"] == "NamespaceList"


def test_plain_http_is_not_served(secure: SecureApiServer) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{secure.port}/healthz", timeout=5).raise_for_status()


def test_kubectl_with_the_generated_kubeconfig(secure: SecureApiServer, kubectl_dir: Path, tmp_path: Path) -> None:
    argv = [str(kubectl_dir / "kubectl"), "--kubeconfig", str(secure.pki / "admin.kubeconfig"),
            "--cache-dir", str(tmp_path)]
    done = subprocess.run([*argv, "get", "namespaces", "-o", "name"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "namespace/kube-system" in done.stdout.split()
    (tmp_path / "anon").write_text((secure.pki / "admin.kubeconfig").read_text().replace(
        secure.token("admin"), "wrong"))
    refused = subprocess.run([str(kubectl_dir / "kubectl"), "--kubeconfig", str(tmp_path / "anon"), "--cache-dir",
                              str(tmp_path / "c2"), "get", "namespaces"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr, refused.stderr


def test_official_python_client_with_the_kubeconfig(secure: SecureApiServer) -> None:
    api_client = k8s_config.new_client_from_config(config_file=str(secure.pki / "controller-manager.kubeconfig"))
    names = [ns.metadata.name for ns in k8s_client.CoreV1Api(api_client).list_namespace().items]
    assert "default" in names


@pytest.mark.parametrize("flags, message", [
    (["--bind-address", "0.0.0.0"], "refusing to serve 0.0.0.0 without TLS and tokens"),
    (["--token-auth-file", "/nonexistent/tokens.csv"], "--token-auth-file /nonexistent/tokens.csv"),
    (["--tls-cert-file", "/etc/hostname"], "--tls-cert-file and --tls-private-key-file go together"),
])
def test_unsafe_or_broken_setups_refuse_to_start_in_one_line(etcd, flags: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, "-m", "apiserver", "--etcd-servers", etcd.url, "--port",
                           str(free_port()), *flags], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
