"""Sample a running process with py-spy (if installed) and summarise where its CPU went.

py-spy is not a project dependency: `bench/api.py --profile DIR` needs it on PATH
or in the venv (`pip install py-spy`).  Output is py-spy's collapsed-stack
format ("frame;frame;frame count"), which speedscope and flamegraph.pl read.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


class Recorder:
    """`with Recorder(pid, out):` samples `pid` at `rate` Hz until the block ends."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.out = out
        self.argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate), "--format", "raw",
                     "--output", str(out)]  # --subprocesses: apiserver --workers serves from children
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Recorder":
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # py-spy attaches
        if self.proc.poll() is not None:
            _, err = self.proc.communicate()
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_LINE = re.compile(r" \((.*?):\d+\)$")


def _frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` → `func (to/file.py)`: one name per function, line numbers dropped."""
    m = _LINE.search(frame)
    if not m:
        return frame
    path = m.group(1)
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return frame[:m.start()] + f" ({path})"


def summarise(collapsed: Path, top: int = 25) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, top self-time functions, top inclusive functions) from a collapsed-stack file.

    Percentages are of the samples in which a thread was running Python code, which under
    load is the apiserver's event-loop thread: the share of its CPU time.
    """
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if not f.startswith("process ") and not
                  f.startswith("thread ")]
        if not frames or all(f.endswith("(threading.py)") for f in frames):
            # A thread parked in native code (gRPC's poller) that py-spy cannot tell from a busy one;
            # /proc/<pid>/task/*/stat shows those threads use next to no CPU.
            continue
        total += count
        self_time[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return total, self_time.most_common(top), inclusive.most_common(top * 2)
