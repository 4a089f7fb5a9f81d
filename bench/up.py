"""Start-up benchmark: `kubelab up --fresh` to a Ready node, and `kubelab lab up --nodes 3` to 3 Ready nodes.

    .venv/bin/python bench/up.py [--runs 3] [--skip-lab]

Each run is timed from the command's start until it returns, which both commands
do only once their nodes report Ready (they wait).  The local cluster runs on free
ports with a temporary $KUBELAB_HOME and is taken down after each run; the lab
(root only) runs in a temporary state dir and is taken down likewise.

Next to them, the raw layers from the same run: etcd started until healthy, a
daemon's Python imports (the floor of every daemon's start-up), and `docker run`
of a pause container.  Last line: one JSON object with `up_s` and `lab3_up_s`
(medians).  Targets: up ≤ 10 s, lab of 3 ≤ 30 s.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from common.localcluster import ChildProcess, etcd_argv, free_port  # noqa: E402
from kubelet.images import DEFAULT_PAUSE_IMAGE  # noqa: E402

TARGETS = {"up_s": 10.0, "lab3_up_s": 30.0}
KUBELAB = [sys.executable, "-m", "kubelab.cli"]


def say(text: str) -> None:
    print(text, flush=True)


def timed(argv: list[str], env: dict[str, str], timeout: float = 300) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed, done.stdout


def local_env(home: Path) -> dict[str, str]:
    ports = ("ETCD_PORT", "ETCD_PEER_PORT", "API_PORT", "KUBELET_HEALTHZ_PORT", "KUBELET_PORT", "SCHEDULER_PORT",
             "CONTROLLER_MANAGER_PORT", "KUBE_PROXY_HEALTHZ_PORT", "KUBE_PROXY_METRICS_PORT", "DNS_PORT",
             "DNS_HEALTH_PORT")
    return {**os.environ, "KUBELAB_HOME": str(home), "KUBELAB_NODE_NAME": f"bench-up-{os.getpid()}",
            **{f"KUBELAB_{name}": str(free_port()) for name in ports}}


def local_up(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="kubelab-bench-up-"))
        env = local_env(home)
        try:
            elapsed, _ = timed([*KUBELAB, "up", "--fresh"], env)
            times.append(elapsed)
            say(f"  kubelab up --fresh → node Ready   {elapsed:6.2f} s")
        finally:
            subprocess.run([*KUBELAB, "down"], env=env, cwd=REPO, capture_output=True, timeout=120)
            shutil.rmtree(home, ignore_errors=True)
    return times


def lab_up(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        state = Path(tempfile.mkdtemp(prefix="kubelab-bench-lab-"))
        env = {**os.environ, "KUBELAB_LAB_HOME": str(state)}
        try:
            elapsed, _ = timed([*KUBELAB, "lab", "up", "--nodes", "3", "--state-dir", str(state)], env)
            times.append(elapsed)
            say(f"  kubelab lab up --nodes 3 → 3 Ready {elapsed:6.2f} s")
        finally:
            subprocess.run([*KUBELAB, "lab", "down", "--state-dir", str(state)], env=env, cwd=REPO,
                           capture_output=True, timeout=180)
            shutil.rmtree(state, ignore_errors=True)
    return times


def raw_layers() -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="kubelab-bench-raw-"))
    try:
        port = free_port()
        etcd = ChildProcess("etcd", etcd_argv("raw", work / "etcd", port, free_port()), work / "etcd.log")
        started = time.perf_counter()
        etcd.start()
        try:
            etcd.wait_ready(f"http://127.0.0.1:{port}/health", 30)
            etcd_s = time.perf_counter() - started
        finally:
            etcd.stop()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import fastapi, uvicorn, aiohttp, docker, aetcd"], check=True)
        imports_s = time.perf_counter() - started
        started = time.perf_counter()
        container = subprocess.run(["docker", "run", "-d", DEFAULT_PAUSE_IMAGE], capture_output=True, text=True,
                                   check=True).stdout.strip()  # -d returns once the container has started
        docker_s = time.perf_counter() - started
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        return {"raw_etcd_start_s": etcd_s, "raw_python_imports_s": imports_s, "raw_docker_run_s": docker_s}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--skip-lab", action="store_true", help="only the local cluster (the lab needs root)")
    args = p.parse_args()
    say(f"start-up benchmark, {args.runs} run(s) each, load {os.getloadavg()[0]:.1f}")
    raw = raw_layers()
    say(f"  raw: etcd start → healthy {raw['raw_etcd_start_s']:.2f} s, a daemon's imports "
        f"{raw['raw_python_imports_s']:.2f} s, docker run pause {raw['raw_docker_run_s']:.2f} s")
    result: dict[str, object] = {k: round(v, 2) for k, v in raw.items()}
    up = local_up(args.runs)
    result["up_s"] = round(statistics.median(up), 2)
    result["up_runs_s"] = [round(t, 2) for t in up]
    if not args.skip_lab:
        lab = lab_up(args.runs)
        result["lab3_up_s"] = round(statistics.median(lab), 2)
        result["lab3_runs_s"] = [round(t, 2) for t in lab]
    result["targets"] = TARGETS
    result["targets_met"] = {k: result[k] <= limit for k, limit in TARGETS.items() if k in result}  # type: ignore[operator]
    say(json.dumps(result))


if __name__ == "__main__":
    main()
