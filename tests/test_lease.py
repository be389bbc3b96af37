"""Locks are leases: owner, host, pid and expiry in the lock file; a lock left by a killed process is recovered."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harvester.errors import LockedError
from harvester.lease import hold_lease, read_lease
from harvester.state import StateStore

HOLD = """
import sys, time
from pathlib import Path
from harvester.state import StateStore
st = StateStore(Path(sys.argv[1]))
with st.lock("source-demo"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_left_by_a_killed_process_is_recovered_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "state.sqlite"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        lease = read_lease(tmp_path / "locks" / "source-demo.lock")
        assert lease is not None and lease["pid"] == child.pid and lease["host"] and lease["expires"]
        state = StateStore(db)
        with pytest.raises(LockedError, match=f"pid {child.pid}"), state.lock("source-demo"):
            pass  # a live holder is never overtaken
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    with caplog.at_level(logging.WARNING, logger="harvester.lease"), state.lock("source-demo"):
        now = read_lease(tmp_path / "locks" / "source-demo.lock")
        assert now is not None and now["pid"] == os.getpid()
        assert now["recovered_from"]["pid"] == child.pid
    recovered = [r for r in caplog.records if getattr(r, "event", None) == "lock_recovered"]
    assert len(recovered) == 1 and f"pid {child.pid}" in recovered[0].getMessage()
    # released cleanly: the next holder has nothing to recover
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="harvester.lease"), state.lock("source-demo"):
        pass
    assert not [r for r in caplog.records if getattr(r, "event", None) == "lock_recovered"]
    assert (tmp_path / "locks" / "source-demo.lock").read_text() == ""
    state.close()


def test_a_lease_is_renewed_while_held(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with hold_lease(path, "x", seconds=30, renew_every=0.05) as lease:
        first = json.loads(path.read_text())["expires"]
        time.sleep(1.2)
        assert json.loads(path.read_text())["expires"] > first
        assert lease["name"] == "x"
    assert path.read_text() == ""


def test_an_error_inside_the_lock_still_releases_it_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "y.lock"
    with pytest.raises(RuntimeError), hold_lease(path, "y"):
        raise RuntimeError("boom")
    assert read_lease(path) is None
