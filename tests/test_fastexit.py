"""The console entry point ends without the interpreter's teardown, and loses nothing by it (fastexit.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harvester.fastexit import exit_code


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_exit_now_runs_atexit_flushes_streams_and_keeps_the_status(tmp_path: Path) -> None:
    proc = _python(
        """
        import atexit, logging, sys
        from harvester.fastexit import exit_now
        logging.basicConfig(filename="run.log", level=logging.INFO)
        logging.info("logged before the end")
        atexit.register(lambda: open("atexit.txt", "w").write("ran"))
        class Torn:
            def __del__(self):
                open("teardown.txt", "w").write("ran")
        keep = Torn()
        sys.stdout.write("x" * 200_000)  # buffered: only the final flush writes the tail
        exit_now(3)
        """,
        tmp_path,
    )
    assert proc.returncode == 3
    assert len(proc.stdout) == 200_000
    assert (tmp_path / "atexit.txt").read_text() == "ran"
    assert "logged before the end" in (tmp_path / "run.log").read_text()
    assert not (tmp_path / "teardown.txt").exists()  # the teardown was skipped: that is the point


def test_a_running_non_daemon_thread_gets_the_normal_exit(tmp_path: Path) -> None:
    proc = _python(
        """
        import threading, time
        from harvester.fastexit import exit_now
        def late():
            time.sleep(0.3)
            open("late.txt", "w").write("done")
        threading.Thread(target=late).start()
        exit_now(4)
        """,
        tmp_path,
    )
    assert proc.returncode == 4
    assert (tmp_path / "late.txt").read_text() == "done"


@pytest.mark.parametrize(
    ("code", "status"), [(None, 0), (0, 0), (2, 2), (True, 1), (256 + 7, 7), ("bad thing", 1)]
)
def test_exit_codes_as_the_interpreter_computes_them(code: object, status: int) -> None:
    assert exit_code(code) == status


def test_the_cli_keeps_its_exit_codes_and_json_output(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "harvester", "--config", str(tmp_path / "none.yaml"), "validate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "configuration file not found" in missing.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "harvester", "connectors", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert {"ckan", "dcat"} <= {c["type"] for c in json.loads(listed.stdout)}  # 17 KB, whole
