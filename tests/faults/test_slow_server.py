"""A portal that drips its answer, and one that does not answer in time: the run ends, says why, keeps the old
catalogue, `status` and report.json tell the truth, and the next run (server healthy again) recovers."""

from __future__ import annotations

import json

import pytest

from tests.faults.conftest import ckan_source
from tests.faults.project import Project, source_status
from tests.fixture_server import FixtureServer, Reply
from tests.portals.ckan_portal import CkanPortal, build_packages


def six_kb_answer(portal: CkanPortal) -> bytes:
    """A real-looking package_search answer of 6 KB (the first packages, padded in a field CKAN ignores)."""
    body = {"help": "", "success": True, "result": {"count": 30, "results": portal.packages[:1]}}
    raw = json.dumps(body).encode()
    body["padding"] = "x" * max(0, 6000 - len(raw) - 15)
    return json.dumps(body).encode()[:6000].ljust(6000)


def good_run(project: Project) -> dict[str, str]:
    ran = project.cli("harvest", "sud")
    assert ran.code == 0, ran.stderr
    return project.snapshot("sud")


def test_dripping_portal_ends_at_http_deadline(project: Project, portal: CkanPortal) -> None:
    """Issue 11's case: 6 KB sent 200 bytes every 2 s (a minute), `http.deadline: 20`, read timeout 10 s."""
    project.sources([ckan_source(portal, deadline=20, timeout=10, max_retries=4)])
    before = good_run(project)

    portal.fail[0] = Reply(200, six_kb_answer(portal), drip=(200, 2.0))
    ran = project.cli("harvest", "sud", "--full")
    assert ran.seconds < 60 and ran.code == 1
    assert "deadline passed: http.deadline of 20 s for the request" in ran.stderr
    assert f"{portal.url}/api/3/action/package_search" in ran.stderr and "sud" in ran.stderr
    assert project.snapshot("sud") == before  # the earlier catalogue is intact
    report = project.last_report()
    [src] = report["sources"]
    assert src["status"] == "failed" and "http.deadline of 20 s" in src["error"]
    assert report["exit_code"] == 1
    status, error, datasets = source_status(project, "sud")
    assert status == "failed" and "http.deadline" in (error or "") and datasets == 30

    portal.fail.clear()
    ran = project.cli("harvest", "sud", "--full")
    assert ran.code == 0, ran.stderr
    assert source_status(project, "sud")[0] == "ok" and project.last_report()["sources"][0]["status"] == "ok"


def test_portal_that_times_out(project: Project, portal: CkanPortal) -> None:
    project.sources([ckan_source(portal, timeout=0.5, max_retries=1)])
    before = good_run(project)

    portal.fail[0] = Reply(200, "{}", delay=3.0)
    ran = project.cli("harvest", "sud", "--full")
    assert ran.code == 1 and ran.seconds < 10
    assert "gave up after 2 attempts: ReadTimeout" in ran.stderr
    assert project.snapshot("sud") == before
    assert project.last_report()["sources"][0]["status"] == "failed"
    status, error, datasets = source_status(project, "sud")
    assert status == "failed" and "ReadTimeout" in (error or "") and datasets == 30

    portal.fail.clear()
    assert project.cli("harvest", "sud", "--full").code == 0
    assert source_status(project, "sud")[0] == "ok"


def test_run_deadline_keeps_what_completed(project: Project, portal: CkanPortal) -> None:
    """`harvest --deadline`: the fast source completes, the slow one is cut, and the command says so."""
    other = FixtureServer().start()
    try:
        slow = CkanPortal(other, build_packages(5))
        slow.fail[0] = Reply(200, six_kb_answer(slow), drip=(200, 1.0))  # 30 s
        project.sources([ckan_source(portal), {**ckan_source(slow, "slow"), "url": slow.url}])
        ran = project.cli("harvest", "--all", "--deadline", "6")
        assert ran.code == 3 and ran.seconds < 15
        report = project.last_report()
        by_id = {s["source_id"]: s for s in report["sources"]}
        assert by_id["sud"]["status"] == "ok" and by_id["sud"]["listed"] == 30
        assert by_id["slow"]["status"] == "failed" and "run --deadline of 6 s" in by_id["slow"]["error"]
        assert "run --deadline of 6 s" in ran.stderr
    finally:
        other.stop()


def test_run_stops_at_its_deadline_before_the_next_stage(
    project: Project, portal: CkanPortal, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --deadline`: one source harvested, the other cut; normalise and publish are not started."""
    monkeypatch.setenv("HARV_CKAN_TOKEN", "t")
    other = FixtureServer().start()
    try:
        slow = CkanPortal(other, build_packages(5))
        project.sources([ckan_source(portal), {**ckan_source(slow, "slow"), "url": slow.url}])
        project.pipeline("sud", ["sud", "slow"], {"url": "http://127.0.0.1:1", "token_env": "HARV_CKAN_TOKEN",
                                                  "organizations": {"default": "org"}})  # fmt: skip
        assert project.cli("harvest", "--all").code == 0
        before = project.snapshot("slow")
        slow.fail[0] = Reply(200, six_kb_answer(slow), drip=(200, 1.0))
        ran = project.cli("run", "sud", "--full", "--deadline", "6")
        assert ran.code == 1 and ran.seconds < 15
        assert "run --deadline of 6 s passed: normalise, merge and publish not started" in ran.stderr
        assert "CKAN" not in ran.stderr  # publish never started
        report = project.last_report()
        assert {s["source_id"]: s["status"] for s in report["sources"]} == {"sud": "ok", "slow": "failed"}
        assert project.snapshot("slow") == before
        run_dir = project.data / "runs" / report["run_id"]
        assert not (run_dir / "publish-report.json").exists()
        assert not (run_dir / "normalise-report.json").exists()
    finally:
        other.stop()
