"""The real kubectl as a test harness: one binary, a private kubeconfig and discovery cache, streamed output."""
from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml


class Kubectl:
    """One kubectl binary with a private kubeconfig and discovery cache."""

    def __init__(self, binary: Path, kubeconfig_path: Path, cache_dir: Path, namespace: str, version: str) -> None:
        self.binary, self.kubeconfig, self.cache_dir = binary, kubeconfig_path, cache_dir
        self.namespace, self.version = namespace, version
        self.minor = int(version.split(".")[1])

    def argv(self, *args: str) -> list[str]:
        return [str(self.binary), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]

    def run(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), input=input, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """Run, insist on exit code 0, return stdout."""
        result = self.run(*args, input=input, timeout=timeout)
        assert result.returncode == 0, (f"kubectl {' '.join(args)} exited {result.returncode}\n"
                                        f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        """Run, insist on a non-zero exit code, return stderr."""
        result = self.run(*args, input=input)
        assert result.returncode != 0, (f"kubectl {' '.join(args)} succeeded unexpectedly:\n"
                                        f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result.stderr

    def start(self, *args: str) -> Stream:
        proc = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return Stream(proc)

    def apply_yaml(self, *objects: dict[str, Any]) -> str:
        return self.ok("apply", "-f", "-", input=yaml.safe_dump_all(objects))


class Stream:
    """A long-running kubectl whose stdout and stderr lines are read by threads, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err_lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.err_seen: list[str] = []
        for pipe, sink in ((proc.stdout, self.lines), (proc.stderr, self.err_lines)):
            threading.Thread(target=self._pump, args=(pipe, sink), daemon=True).start()

    @staticmethod
    def _pump(pipe: Any, sink: queue.Queue[str | None]) -> None:
        for line in pipe:
            sink.put(line.rstrip("\n"))
        sink.put(None)

    def _next(self, sink: queue.Queue[str | None], seen: list[str], timeout: float) -> str:
        try:
            line = sink.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from kubectl within {timeout}s; stdout so far: {self.seen}, "
                                 f"stderr so far: {self.err_seen[-20:]}") from None
        if line is None:
            sink.put(None)
            raise AssertionError(f"kubectl ended (rc={self.proc.wait()}): stdout {self.seen}, "
                                 f"stderr {self.err_seen[-20:]}")
        seen.append(line)
        return line

    def next_line(self, timeout: float = 20) -> str:
        return self._next(self.lines, self.seen, timeout)

    def expect_stderr(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        """Wait for a stderr line (with -v=6 kubectl logs each request URL there)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._next(self.err_lines, self.err_seen, max(deadline - time.monotonic(), 0.01))
            if predicate(line):
                return line

    def json_events(self, timeout: float = 20) -> Iterator[dict[str, Any]]:
        """Decode a stream of (pretty-printed) JSON documents from stdout."""
        decoder, buffer = json.JSONDecoder(), ""
        while True:
            buffer += self.next_line(timeout) + "\n"
            stripped = buffer.lstrip()
            try:
                document, end = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                continue
            buffer = stripped[end:]
            yield document

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"kubectl still running after {timeout}s: stdout {self.seen}, "
                                 f"stderr {self.err_seen[-20:]}") from None

    def remaining(self) -> list[str]:
        """The stdout lines not read yet, once the process has ended."""
        lines = []
        while (line := self.lines.get(timeout=10)) is not None:
            self.seen.append(line)
            lines.append(line)
        self.lines.put(None)
        return lines

    def stderr(self) -> str:
        """Everything on stderr once the process has ended."""
        while True:
            try:
                line = self.err_lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                self.err_lines.put(None)
                break
            self.err_seen.append(line)
        return "\n".join(self.err_seen)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
