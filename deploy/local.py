"""`make up` / `make down`: a local cluster of background processes, state and logs under .kubelab/.

Idempotent: `up` starts only what is not already running and healthy; `down`
stops what `up` started (found by pid files).  etcd's data directory survives
`down`, so the next `up` brings the same objects back.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("KUBELAB_HOME", REPO / ".kubelab"))  # tests point this at a temp dir
sys.path.insert(0, str(REPO))

from common import kubeconfig  # noqa: E402  (needs the repo on sys.path when run as a script)
from common.localcluster import apiserver_argv, etcd_argv, http_ok  # noqa: E402

ETCD_PORT = int(os.environ.get("KUBELAB_ETCD_PORT", 2379))
ETCD_PEER_PORT = int(os.environ.get("KUBELAB_ETCD_PEER_PORT", 2380))
API_PORT = int(os.environ.get("KUBELAB_API_PORT", 8080))


@dataclass
class Component:
    name: str
    argv: list[str]
    port: int
    health_url: str


def components() -> list[Component]:
    etcd_url = f"http://127.0.0.1:{ETCD_PORT}"
    return [
        Component("etcd", etcd_argv("kubelab", STATE / "etcd", ETCD_PORT, ETCD_PEER_PORT), ETCD_PORT,
                  f"{etcd_url}/health"),
        Component("apiserver", apiserver_argv(etcd_url, API_PORT), API_PORT, f"http://127.0.0.1:{API_PORT}/readyz"),
    ]


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start(component: Component) -> None:
    pid_file = STATE / f"{component.name}.pid"
    if pid_alive(pid_file) and http_ok(component.health_url):
        print(f"  {component.name:<10} already running")
        return
    if port_in_use(component.port):
        sys.exit(f"error: port {component.port} is in use by another program; stop it or run `make down` first")
    log = open(STATE / f"{component.name}.log", "ab")
    proc = subprocess.Popen(component.argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                            start_new_session=True)
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while not http_ok(component.health_url):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"error: {component.name} did not start; see {STATE / (component.name + '.log')}")
        time.sleep(0.2)
    print(f"  {component.name:<10} started (pid {proc.pid})")


def up() -> None:
    STATE.mkdir(exist_ok=True)
    print("Starting kubelab:")
    for component in components():
        start(component)
    config = STATE / "kubeconfig"
    kubeconfig.write(config, f"http://127.0.0.1:{API_PORT}")
    print(f"""
kubelab is up.  Logs and data: {STATE}
  export KUBECONFIG={config}
  kubectl get namespaces          (kubectl: `make tools` puts one in .tools/)
Stop it with `make down`.""")


def down() -> None:
    for component in reversed(components()):
        pid_file = STATE / f"{component.name}.pid"
        pid = pid_alive(pid_file)
        if pid is None:
            continue
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if pid_alive(pid_file) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        print(f"  {component.name:<10} stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local kubelab cluster in the background.")
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args()
    up() if args.command == "up" else down()


if __name__ == "__main__":
    main()
