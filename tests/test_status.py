"""`harvester status`: last success and failure, failures in a row, counts, duration, next due; `--fail-after N`;
and `run PIPELINE` when another process holds the pipeline's lease (exit 75, with or without --wait)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from harvester.cli import cli
from harvester.state import StateStore
from tests.subprocess_cli import harvester_cmd


def invoke(root: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(
        cli, ["--config", str(root / "sources.yaml"), "--data-dir", str(root / "data"), *args]
    )
    return r.exit_code, r.stdout, r.stderr


def project(root: Path) -> None:
    (root / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {"id": "a", "type": "ckan", "url": "https://a.example.org", "schedule": "0 3 * * *"},
                    {"id": "b", "type": "ckan", "url": "https://b.example.org"},
                ]
            }
        )
    )
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "p",
                "sources": ["b"],
                "publish": {
                    "ckan": {
                        "url": "http://127.0.0.1:9",
                        "token_env": "HARVESTER_TEST_P",
                        "organizations": {"default": "org"},
                    }
                },
            }
        )
    )


def test_status_tells_failures_in_a_row_and_fail_after_names_them(tmp_path: Path) -> None:
    project(tmp_path)
    st = StateStore(tmp_path / "data" / "state.sqlite")
    st.start_run("r1", "a", "harvest")
    st.finish_run(
        "r1",
        "a",
        "ok",
        {"created": 4, "updated": 0, "unchanged": 0, "withdrawn": 0, "listed": 4, "seconds": 2.5},
    )
    for i in (2, 3, 4):
        st.start_run(f"r{i}", "a", "harvest")
        st.finish_run(
            f"r{i}", "a", "failed", {"error": f"HTTP 500 from the portal (try {i})", "seconds": 1.0}
        )
    st.start_run("r5", "b", "harvest")
    st.finish_run(
        "r5", "b", "partial", {"created": 1, "updated": 2, "unchanged": 3, "withdrawn": 1, "listed": 6}
    )
    st.close()

    code, out, _err = invoke(tmp_path, "status", "--json")
    assert code == 0
    a, b = json.loads(out)["sources"]
    assert a["consecutive_failures"] == 3 and a["last_success"]["run_id"] == "r1"
    assert a["last_failure"] == {
        "run_id": "r4",
        "kind": "harvest",
        "status": "failed",
        "at": a["last_failure"]["at"],
        "error": "HTTP 500 from the portal (try 4)",
    }
    assert a["duration_seconds"] == 1.0 and a["schedule"] == "0 3 * * *" and a["due_now"] is True
    assert b["consecutive_failures"] == 0 and b["last_failure"] is None  # partial is a success with errors
    assert b["counts"] == {"listed": 6, "created": 1, "updated": 2, "withdrawn": 1, "unchanged": 3}
    assert b["next_due"] is None and b["schedule"] is None

    code, _out, err = invoke(tmp_path, "status", "--fail-after", "3")
    assert code == 1
    assert "FAILING: source a failed 3 times in a row (last: HTTP 500 from the portal (try 4))" in err
    assert "failed 3x in a row, last: HTTP 500" in err  # the human table says it too
    assert invoke(tmp_path, "status", "--fail-after", "4")[0] == 0


HOLD = """
import sys, time
from pathlib import Path
from harvester.state import StateStore
st = StateStore(Path(sys.argv[1]))
with st.lock("pipeline-p"):
    print("held", flush=True)
    time.sleep(60)
"""


def holder(root: Path) -> subprocess.Popen[str]:
    """The project of `project`, and a process holding its pipeline's lease (it prints "held" once it does)."""
    project(root)
    (root / "data").mkdir()
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root / "data" / "state.sqlite")], stdout=subprocess.PIPE, text=True
    )


def test_run_of_a_pipeline_another_process_runs_skips_with_exit_75(tmp_path: Path) -> None:
    child = holder(tmp_path)
    env = {**os.environ, "HARVESTER_TEST_P": "x"}
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        out = subprocess.run(
            harvester_cmd(tmp_path, "run", "p", "--json"), capture_output=True, text=True, env=env, timeout=60
        )
        assert out.returncode == 75, out.stderr
        assert f"pipeline p skipped: pipeline-p is already being processed by pid {child.pid}" in out.stderr
        assert json.loads(out.stdout)["skipped"][0]["item"] == "pipeline:p"
        waited = subprocess.run(
            harvester_cmd(tmp_path, "run", "p", "--wait", "1"),
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert waited.returncode == 75 and "(waited 1s)" in waited.stderr
        st = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
        assert st.last_run("b", "harvest") is None  # nothing ran
    finally:
        child.kill()
        child.wait()


def test_the_stages_of_one_run_keep_a_row_each_and_an_old_store_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "state.sqlite"
    old = sqlite3.connect(db)  # the runs table as it was: one row per (run_id, subject)
    old.executescript(
        "CREATE TABLE runs (run_id TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL, started_at TEXT NOT NULL,"
        " finished_at TEXT, status TEXT, summary TEXT, PRIMARY KEY (run_id, subject));"
        "INSERT INTO runs VALUES ('r1','a','harvest','2026-01-01T00:00:00+00:00','2026-01-01T00:01:00+00:00','ok','{}');"
    )
    old.commit()
    old.close()
    st = StateStore(db)
    st.start_run("r2", "a", "harvest")  # `harvester run`: harvest, then normalise, under one run id
    st.finish_run("r2", "a", "ok", {"created": 3})
    st.start_run("r2", "a", "normalise")
    st.finish_run("r2", "a", "partial", {"failed": 1})
    assert st.last_run("a", "harvest")["summary"] == {"created": 3}  # type: ignore[index]
    assert st.last_run("a", "normalise")["status"] == "partial"  # type: ignore[index]
    assert [r["run_id"] for r in st.recent_runs("a", ("harvest",))] == ["r2", "r1"]


def test_merge_and_publish_of_a_pipeline_another_process_runs_skip_with_exit_75(tmp_path: Path) -> None:
    """`merge` and `publish` hold the pipeline's lease as `run` does: a cron `run` and a hand-started publish never
    write the same merged files or CKAN datasets at once. `--explain` and `--dry-run` write nothing and hold none."""
    child = holder(tmp_path)
    env = {**os.environ, "HARVESTER_TEST_P": "x"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            harvester_cmd(tmp_path, *args), capture_output=True, text=True, env=env, timeout=60
        )

    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        for command in (["merge", "p", "--json"], ["publish", "p", "--json"]):
            out = cli(*command)
            assert out.returncode == 75, (command, out.stderr)
            assert (
                f"pipeline p skipped: pipeline-p is already being processed by pid {child.pid}" in out.stderr
            )
            assert json.loads(out.stdout)["skipped"][0]["item"] == "pipeline:p"
        waited = cli("merge", "p", "--wait", "1")
        assert waited.returncode == 75 and "(waited 1s)" in waited.stderr
        assert not (tmp_path / "data" / "merged").exists()  # nothing merged while the lease was held
        dry = cli("publish", "p", "--dry-run")
        assert dry.returncode != 75 and "already being processed" not in dry.stderr
    finally:
        child.kill()
        child.wait()
    out = cli("merge", "p", "--json")  # the holder is gone: the merge runs
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pipeline"] == "p"
