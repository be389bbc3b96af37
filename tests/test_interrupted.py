"""A run killed by a signal: its row is `interrupted` (never NULL forever), and `status` shows it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import yaml

from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.subprocess_cli import harvester_cmd


def cli_args(root: Path, *args: str) -> list[str]:
    return harvester_cmd(root, *args)


def wait_for_open_run(state_path: Path, subject: str, kind: str, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state_path.exists():
            try:
                run = StateStore(state_path, readonly=True).last_run(subject, kind)
            except sqlite3.OperationalError:
                run = None
            if run is not None and run["status"] == "running":
                return run
        time.sleep(0.05)
    raise AssertionError(f"no {kind} run of {subject} started within {timeout}s")


def test_harvest_killed_mid_run_is_interrupted(tmp_path: Path, server: FixtureServer) -> None:
    CkanPortal(server, build_packages(5))
    server.route("/slow/api/3/action/package_search", Reply(200, b"{}", delay=30))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "slow", "type": "ckan", "url": f"{server.url}/slow"}]})
    )
    proc = subprocess.Popen(cli_args(tmp_path, "harvest", "slow"), stderr=subprocess.PIPE)
    try:
        run = wait_for_open_run(tmp_path / "data" / "state.sqlite", "slow", "harvest")
        assert run["owner"] == {
            "pid": proc.pid,
            "host": os.uname().nodename,
            "started": run["owner"]["started"],
        }  # type: ignore[index]
        time.sleep(0.3)  # it is now waiting for the slow portal
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    raw = sqlite3.connect(tmp_path / "data" / "state.sqlite").execute("SELECT status FROM runs").fetchall()
    assert raw == [(None,)]  # what the killed process left

    # `status` only reads (it does not write the row) but already shows it as interrupted
    shown = subprocess.run(cli_args(tmp_path, "status", "--json"), capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    harvest = json.loads(shown.stdout)["sources"][0]["runs"]["harvest"]
    assert harvest["status"] == "interrupted" and harvest["run_id"] == run["run_id"]
    assert sqlite3.connect(tmp_path / "data" / "state.sqlite").execute(
        "SELECT status FROM runs"
    ).fetchall() == [(None,)]

    # the next command that writes closes it, and says so
    reset = subprocess.run(
        cli_args(tmp_path, "state", "reset", "slow"), capture_output=True, text=True, timeout=60
    )
    assert reset.returncode == 0, reset.stderr
    assert f"harvest run {run['run_id']} of slow was interrupted (owner pid {proc.pid}" in reset.stderr
    row = (
        sqlite3.connect(tmp_path / "data" / "state.sqlite")
        .execute("SELECT status, finished_at, summary FROM runs")
        .fetchone()
    )
    assert row[0] == "interrupted" and row[1] is not None and "ended without finishing" in row[2]
    human = subprocess.run(cli_args(tmp_path, "status"), capture_output=True, text=True, timeout=60)
    assert "harvest: interrupted at" in human.stderr


def test_a_live_run_is_running_and_a_reused_pid_is_not_its_owner(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    state.start_run("r1", "src", "normalise")
    assert StateStore(tmp_path / "state.sqlite").last_run("src", "normalise")["status"] == "running"  # type: ignore[index]
    other = subprocess.Popen(["sleep", "30"])
    try:
        # the owner's pid now belongs to another live process, started at another time: not the owner
        state._exec("UPDATE runs SET owner_pid=?, owner_started=owner_started - 3600", (other.pid,))
        assert StateStore(tmp_path / "state.sqlite", readonly=True).last_run("src")["status"] == "interrupted"  # type: ignore[index]
        StateStore(tmp_path / "state.sqlite")  # a writable open marks it
        last = state.last_run("src")
        assert last is not None and last["status"] == "interrupted" and last["finished_at"] is not None
    finally:
        other.kill()
        other.wait()
