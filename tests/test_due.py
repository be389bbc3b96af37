"""`harvester run --due`: cron slots, what is due, the slot recorded once, overlapping runs, config errors first."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from harvester.schedule import is_due, next_time, slot
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.subprocess_cli import harvester_cmd

YEARLY = "0 0 1 1 *"  # one slot a year: a test never crosses a slot boundary


def test_slot_is_the_latest_cron_time_at_or_before_now() -> None:
    at = datetime(2026, 3, 10, 12, 7, 30, tzinfo=UTC)
    assert slot("*/15 * * * *", at) == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert slot("*/15 * * * *", datetime(2026, 3, 10, 12, 15, tzinfo=UTC)) == datetime(
        2026, 3, 10, 12, 15, tzinfo=UTC
    )
    assert slot("0 3 * * *", at) == datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    assert next_time("0 3 * * *", at) == datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    assert is_due("0 3 * * *", None, at)  # never run
    assert not is_due("0 3 * * *", datetime(2026, 3, 10, 3, 0, tzinfo=UTC), at)
    # a run that overran its slot (still recorded for 03:00 at 12:07) is due once, for the next slot only
    assert is_due("0 3 * * *", datetime(2026, 3, 9, 3, 0, tzinfo=UTC), at)


def test_last_scheduled_round_trips_and_a_readonly_old_store_has_none(tmp_path: Path) -> None:
    st = StateStore(tmp_path / "state.sqlite")
    assert st.last_scheduled("source", "a") is None
    at = datetime(2026, 1, 1, tzinfo=UTC)
    st.record_scheduled("source", "a", at)
    st.record_scheduled("pipeline", "a", datetime(2025, 1, 1, tzinfo=UTC))
    assert st.last_scheduled("source", "a") == at
    assert StateStore(tmp_path / "state.sqlite", readonly=True).last_scheduled("source", "a") == at
    assert StateStore(tmp_path / "other.sqlite", readonly=True).last_scheduled("source", "a") is None


def project(root: Path, server_url: str, **extra: Any) -> None:
    src = {"id": "lone", "type": "ckan", "url": f"{server_url}", "schedule": YEARLY, "params": {"rows": 5}}
    src.update(extra)
    (root / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [src, {"id": "manual", "type": "ckan", "url": f"{server_url}/manual"}]})
    )


def due(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harvester_cmd(root, "run", "--due", "--json", *args), capture_output=True, text=True, timeout=timeout
    )


def test_a_due_source_is_harvested_once_per_slot(tmp_path: Path, server: FixtureServer) -> None:
    CkanPortal(server, build_packages(12))
    project(tmp_path, server.url)
    first = due(tmp_path)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["due"] == ["source:lone"] and doc["run"] == ["source:lone"] and doc["skipped"] == []
    [item] = doc["items"]
    assert item["reason"] == "never run" and item["exit_code"] == 0 and item["run_id"]
    assert item["slot"].startswith(f"{datetime.now(UTC).year}-01-01T00:00:00")
    st = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
    assert st.last_scheduled("source", "lone") == datetime.fromisoformat(item["slot"])
    assert st.last_run("lone", "harvest")["status"] == "ok"  # type: ignore[index]
    assert st.last_run("manual", "harvest") is None  # no schedule: never run by --due
    requests_after_first = server.count()

    again = due(tmp_path)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["due"] == [] and doc["run"] == [] and doc["items"][0]["action"] == "not_due"
    assert "already run for slot" in doc["items"][0]["reason"]
    assert server.count() == requests_after_first  # nothing was sent


def test_an_invalid_schedule_is_refused_before_any_request(tmp_path: Path, server: FixtureServer) -> None:
    CkanPortal(server, build_packages(3))
    project(tmp_path, server.url, schedule="every 15 minutes")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(
        yaml.safe_dump({"name": "p", "sources": ["manual"], "schedule": "61 * * * *"})
    )
    out = due(tmp_path)
    assert out.returncode == 2
    assert (
        "schedule: Value error, not a valid cron expression" in out.stderr
        and "every 15 minutes" in out.stderr
    )
    (tmp_path / "sources.yaml").unlink()
    project(tmp_path, server.url)
    out = due(tmp_path)
    assert (
        out.returncode == 2 and "p.yaml: schedule: Value error" in out.stderr and "'61 * * * *'" in out.stderr
    )
    assert server.count() == 0


def test_a_due_pipeline_whose_ckan_is_down_fails_and_stays_due(tmp_path: Path, server: FixtureServer) -> None:
    CkanPortal(server, build_packages(4))
    project(tmp_path, server.url, schedule="*/5 * * * *")  # in the pipeline: its own schedule is not used
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "p",
                "sources": ["lone"],
                "schedule": YEARLY,
                "publish": {
                    "ckan": {
                        "url": "http://127.0.0.1:9",  # discard port: connection refused
                        "token_env": "HARVESTER_TEST_DUE_TOKEN",
                        "organizations": {"default": "org"},
                        "max_retries": 0,
                    }
                },
            }
        )
    )
    env = {"HARVESTER_TEST_DUE_TOKEN": "x"}
    import os

    out = subprocess.run(
        harvester_cmd(tmp_path, "run", "--due", "--json", "--no-normalise"),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["due"] == ["pipeline:p"] and doc["failed"][0]["item"] == "pipeline:p"
    assert "127.0.0.1:9" in doc["failed"][0]["reason"]
    assert doc["notes"] == ["source lone: its schedule is not used, it runs with pipeline p"]
    st = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
    assert st.last_run("lone", "harvest")["status"] == "ok"  # type: ignore[index]  # the harvest stage ran
    assert st.last_scheduled("pipeline", "p") is None  # aborted by an error: retried by the next run --due
    shown = subprocess.run(harvester_cmd(tmp_path, "status", "--json"), capture_output=True, text=True)
    pl = json.loads(shown.stdout)["pipelines"][0]
    assert pl["schedule"] == YEARLY and pl["due_now"] is True and pl["consecutive_failures"] == 1
    assert "127.0.0.1:9" in pl["last_failure"]["error"]
    lone = json.loads(shown.stdout)["sources"][0]
    assert lone["runs_with"] == "p" and lone["next_due"] is None


class Gate:
    """Holds the matching request (the `after`+1-th) until released: a deterministic 'mid-run' marker."""

    def __init__(self, handler: Any, after: int = 0) -> None:
        self.handler, self.after = handler, after
        self.calls = 0
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, req: Request) -> Reply:
        self.calls += 1
        if self.calls == self.after + 1:
            self.reached.set()
            self.release.wait(60)
        return self.handler(req)  # type: ignore[no-any-return]


@pytest.mark.parametrize("wait", [None, "30"])
def test_two_overlapping_run_due_never_run_one_slot_twice(
    tmp_path: Path, server: FixtureServer, wait: str | None
) -> None:
    portal = CkanPortal(server, build_packages(12))
    gate = Gate(portal.package_search, after=1)
    server.route("/api/3/action/package_search", gate)
    project(tmp_path, server.url)
    first = subprocess.Popen(
        harvester_cmd(tmp_path, "run", "--due", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert gate.reached.wait(30), "the first run --due never reached its second page"
        args = ["--wait", wait] if wait else []
        second = subprocess.Popen(
            harvester_cmd(tmp_path, "run", "--due", "--json", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:  # it waits for the lease: let the first one finish meanwhile
            import time

            time.sleep(1.5)
            assert second.poll() is None
            gate.release.set()
        out2, err2 = second.communicate(timeout=60)
        gate.release.set()
        out1, err1 = first.communicate(timeout=60)
    finally:
        gate.release.set()
        for p in (first,):
            if p.poll() is None:
                p.kill()
    assert first.returncode == 0, err1
    assert json.loads(out1)["run"] == ["source:lone"]
    assert second.returncode == 0, err2
    doc2 = json.loads(out2)
    assert doc2["run"] == [] and doc2["skipped"][0]["item"] == "source:lone"
    reason = doc2["skipped"][0]["reason"]
    if wait:
        assert "already run for slot" in reason  # it got the lease after the first, and found the slot done
    else:
        assert f"pid {first.pid}" in reason and "being processed" in reason
    assert "source lone" in err2 and "skipped" in err2
    st = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
    runs = st.recent_runs("lone", ("harvest",))
    assert [r["status"] for r in runs] == ["ok"]  # harvested once
    assert (tmp_path / "data" / "locks" / "due-source-lone.lock").read_text() == ""  # no stale lock


def test_run_due_deadline_covers_the_whole_command(tmp_path: Path, server: FixtureServer) -> None:
    """`run --due --deadline`: one clock for every due item; an item not started when it passed is skipped with
    the reason, sends nothing, and stays due (its slot is open for the next `run --due`)."""
    slow = CkanPortal(server, build_packages(5))
    other = FixtureServer().start()
    try:
        fast = CkanPortal(other, build_packages(4))
        slow.fail[0] = Reply(200, b'{"success": true, "result": {"count": 5, "results": []}}' + b" " * 6000,
                             drip=(200, 1.0))  # fmt: skip
        sources = [
            {"id": "slow", "type": "ckan", "url": slow.url, "schedule": YEARLY},
            {"id": "fast", "type": "ckan", "url": fast.url, "schedule": YEARLY},
        ]
        (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
        started = datetime.now(UTC)
        out = due(tmp_path, "--deadline", "4")
        took = (datetime.now(UTC) - started).total_seconds()
        assert out.returncode == 1, out.stderr
        assert took < 20, took  # the drip alone would take 30 s
        doc = json.loads(out.stdout)
        items = {i["name"]: i for i in doc["items"]}
        assert items["slow"]["action"] == "run" and items["slow"]["exit_code"] == 1
        assert items["fast"]["action"] == "skipped"
        assert items["fast"]["reason"] == "run --deadline of 4 s passed before it started (slot left open)"
        assert doc["skipped"] == [{"item": "source:fast", "reason": items["fast"]["reason"]}]
        assert other.count() == 0  # the skipped source was not asked anything
        st = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
        assert st.last_scheduled("source", "fast") is None

        again = due(tmp_path)  # no deadline: the skipped source runs now (the slow one ran for this slot)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["run"] == ["source:fast"]
        assert other.count() > 0
    finally:
        other.stop()
