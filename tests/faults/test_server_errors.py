"""A portal that answers 500 forever, and one that rate-limits with 429 and Retry-After: the run gives up after
its retries (spaced as the server asked), keeps the old catalogue, tells the truth, and the next run recovers."""

from __future__ import annotations

from tests.faults.conftest import ckan_source
from tests.faults.project import Project, source_status
from tests.fixture_server import Reply
from tests.portals.ckan_portal import CkanPortal


def test_portal_answering_500_forever(project: Project, portal: CkanPortal) -> None:
    project.sources([ckan_source(portal, max_retries=2)])
    assert project.cli("harvest", "sud").code == 0
    before = project.snapshot("sud")
    sent = len(portal.search_requests())

    portal.fail[0] = Reply(500, "Internal Server Error", content_type="text/plain")
    ran = project.cli("harvest", "sud", "--full", "--json")
    assert ran.code == 1 and "gave up after 3 attempts: HTTP 500" in ran.stderr
    assert len(portal.search_requests()) - sent == 3  # retried, then given up; the host stays reachable
    out = ran.json()
    assert out["sources"][0]["status"] == "failed" and out["unreachable_hosts"] == []
    assert project.last_report() == out  # report.json says what --json said
    assert project.snapshot("sud") == before
    status, error, datasets = source_status(project, "sud")
    assert status == "failed" and "HTTP 500" in (error or "") and datasets == 30

    portal.fail.clear()
    assert project.cli("harvest", "sud", "--full").code == 0
    assert source_status(project, "sud")[0] == "ok"


def test_portal_rate_limiting_with_429_and_retry_after(project: Project, portal: CkanPortal) -> None:
    project.sources([ckan_source(portal, max_retries=2)])
    assert project.cli("harvest", "sud").code == 0
    before = project.snapshot("sud")
    sent = len(portal.server.requests)

    portal.fail[0] = Reply(429, "slow down", headers={"Retry-After": "1"}, content_type="text/plain")
    ran = project.cli("harvest", "sud", "--full")
    assert ran.code == 1 and "gave up after 3 attempts: HTTP 429" in ran.stderr
    asked = portal.server.requests[sent:]
    assert len(asked) == 3 and ran.seconds >= 2.0  # two waits of Retry-After: 1 s (backoff is 0 here)
    assert project.snapshot("sud") == before
    status, error, _ = source_status(project, "sud")
    assert status == "failed" and "HTTP 429" in (error or "")

    # the server lets us through again after one more 429: the run waits as asked and succeeds
    answers = [Reply(429, "slow down", headers={"Retry-After": "1"}, content_type="text/plain")]
    portal.fail.clear()
    original = portal.package_search
    portal.server.route(
        "/api/3/action/package_search", lambda req: answers.pop() if answers else original(req)
    )
    ran = project.cli("harvest", "sud", "--full")
    assert ran.code == 0 and ran.seconds >= 1.0, ran.stderr
    assert source_status(project, "sud")[0] == "ok"
