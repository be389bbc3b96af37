"""A loopback Dask cluster for tests and the bench, started as the docs say: `dask scheduler` + `dask worker`s.

`distributed` is installed by `make install` (the `dask` extra). A developer may opt out locally with
HARVESTER_NO_DASK=1 (the tests are then skipped); CI (CI=true) never does: a missing `distributed` fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        if os.environ.get("HARVESTER_NO_DASK") == "1" and os.environ.get("CI") != "true":
            pytest.skip("HARVESTER_NO_DASK=1: Dask tests not run")
        pytest.fail(f"distributed is not installed ({exc}): run make install (the dask extra)")


@contextmanager
def loopback_cluster(root: Path, workers: int = 2) -> Iterator[str]:
    """A scheduler and `workers` single-threaded worker processes (each under a nanny) on 127.0.0.1."""
    from distributed import Client

    root.mkdir(parents=True, exist_ok=True)
    sched_file = root / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    repo = str(Path(__file__).resolve().parents[1])  # workers can import tests.* (test-only task functions)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        log = (root / "scheduler.log").open("wb")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(sched_file)],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text().strip():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {(root / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(workers):
            wdir = root / f"worker{i}"
            wdir.mkdir(exist_ok=True)
            log = (root / f"worker{i}.log").open("wb")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                     "--host", "127.0.0.1", "--name", f"w{i}", "--local-directory", str(wdir)],
                    cwd=wdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        with Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:  # terminate: the nannies stop their workers
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


def fail_once(marker: str, _spec: object) -> str:
    """A task that raises the first time it runs (it leaves `marker` behind), then returns the worker's pid."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return str(os.getpid())
