"""Child processes for the state tests: each opens its own store from the URL, as a worker does."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

RACE = """
import logging, sys, time
from pathlib import Path
from harvester.errors import LockedError
from harvester.state import open_state
logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
st = open_state(sys.argv[1])
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
try:
    with st.lock("source-race"):
        print("won", flush=True)
        time.sleep(float(sys.argv[3]))
except LockedError as exc:
    print("locked", exc, flush=True)
"""

HOLD = """
import sys, time
from harvester.state import open_state
st = open_state(sys.argv[1])
with st.lock(sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def run_child(code: str, *args: str, timeout: float = 60) -> str:
    """Run `code` in a fresh interpreter; its stdout (fails the test when it fails)."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def race(state_url: str, tmp: Path, n: int, hold: float = 3.0) -> list[tuple[str, str]]:
    """`n` processes that each open the store, then try the same lease at the same moment: (stdout, stderr)."""
    go = tmp / f"go-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, state_url, str(go), str(hold)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        go.touch()
        return [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
