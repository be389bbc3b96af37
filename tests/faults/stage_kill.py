"""Helpers of the kill -9 / SIGTERM tests: a gate that holds one request, a CLI child, snapshots of outputs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixture_server import Reply, Request
from tests.subprocess_cli import harvester_cmd


class Gate:
    """Wraps a route handler: the `after`+1-th matching request is held until `release`, and `reached` is set.

    That is the deterministic marker of 'the process is in the middle of the stage': no sleep, no timing.
    """

    def __init__(
        self,
        handler: Callable[[Request], Reply],
        after: int = 0,
        when: Callable[[Request], bool] | None = None,
    ) -> None:
        self.handler, self.after, self.when = handler, after, when
        self.calls = 0
        self.reached = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        return self.wrap(self.handler)(req)

    def wrap(self, handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
        """The same gate in front of another route (one count over all the routes it guards)."""

        def guarded(req: Request) -> Reply:
            if self.when is None or self.when(req):
                with self._lock:
                    self.calls += 1
                    hold = self.calls == self.after + 1
                if hold:
                    self.reached.set()
                    self.release.wait(60)
            return handler(req)

        return guarded


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (relative path → digest): the outputs a killed run must leave intact."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def start(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        harvester_cmd(root, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def cli(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harvester_cmd(root, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def stop(proc: subprocess.Popen[str], sig: int, gate: Gate) -> tuple[int, str]:
    """Send `sig` while the gate holds a request; for SIGTERM let the request finish. Returns (exit code, stderr)."""
    os.kill(proc.pid, sig)
    if sig == signal.SIGKILL:
        proc.wait(30)
    gate.release.set()  # SIGTERM: the write under way ends, then the process stops at the next safe point
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, err


def expected_code(sig: int) -> int:
    return -signal.SIGKILL if sig == signal.SIGKILL else 128 + sig


def status(root: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = cli(root, "status", "--json", env=env)
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc
