"""Leases across processes, on both backends: one winner in a race, a lease of a killed process recovered and logged."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harvester.errors import LockedError
from tests.state.conftest import OpenState
from tests.state.util import HOLD, race


def test_processes_racing_for_the_same_lease_one_wins(
    state_url: str, open_store: OpenState, tmp_path: Path
) -> None:
    open_store().close()  # the schema exists before the racers start (they would otherwise race to create it)
    results = race(state_url, tmp_path, n=4)
    won = [out for out, _ in results if out.startswith("won")]
    locked = [out for out, _ in results if out.startswith("locked")]
    assert len(won) == 1 and len(locked) == 3, results
    assert all("source-race is already being processed by pid" in out for out in locked)
    assert not any("recovered" in err for _, err in results)  # a free lease is taken, not recovered
    assert open_store().read_lease("source-race") is None  # the winner let go


def _hold_in_child(state_url: str, name: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, state_url, name], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL


def test_a_lease_left_by_a_killed_process_is_recovered_and_logged(
    open_store: OpenState, state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    child = _hold_in_child(state_url, "source-demo")
    try:
        st = open_store()
        lease = st.read_lease("source-demo")
        assert lease is not None and lease["pid"] == child.pid and lease["expires"]
        with pytest.raises(LockedError, match=f"pid {child.pid}"), st.lock("source-demo"):
            pass  # a live holder is never overtaken
        _kill(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    left = st.read_lease("source-demo")
    assert left is not None and left["pid"] == child.pid  # what the killed process left behind
    with caplog.at_level(logging.WARNING, logger="harvester.lease"), st.lock("source-demo"):
        now = st.read_lease("source-demo")
        assert now is not None and now["pid"] == os.getpid()
        assert now["recovered_from"]["pid"] == child.pid
    recovered = [r for r in caplog.records if getattr(r, "event", None) == "lock_recovered"]
    assert len(recovered) == 1 and f"pid {child.pid}" in recovered[0].getMessage()
    assert "source-demo" in recovered[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="harvester.lease"), st.lock("source-demo"):
        pass  # released cleanly: nothing to recover
    assert not [r for r in caplog.records if getattr(r, "event", None) == "lock_recovered"]
    assert st.read_lease("source-demo") is None


def test_racing_to_take_over_a_dead_lease_one_wins_and_logs_it(
    open_store: OpenState, state_url: str, tmp_path: Path
) -> None:
    child = _hold_in_child(state_url, "source-race")
    _kill(child)
    results = race(state_url, tmp_path, n=3)
    won = [(out, err) for out, err in results if out.startswith("won")]
    assert len(won) == 1, results
    recoveries = [err for _, err in results if "lock source-race recovered" in err]
    assert len(recoveries) == 1 and f"pid {child.pid}" in recoveries[0] and recoveries[0] == won[0][1]
    assert open_store().read_lease("source-race") is None
