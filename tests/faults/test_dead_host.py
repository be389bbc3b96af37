"""Hosts that do not resolve (names under the reserved .invalid TLD): the portal's, and a file host's.

Issue 11's case: a portal whose file host does not resolve, 20 datasets with 36 tabular resources. Each file used
to be retried five times with backoff (133–146 s); now a DNS failure is not retried and, after three of them,
the host's circuit breaker fails the others at once. Every resource is reported failed under its host.
"""

from __future__ import annotations

from typing import Any

from tests.faults.conftest import ckan_source
from tests.faults.project import Project, source_status
from tests.fixture_server import FixtureServer, Reply
from tests.portals.ckan_portal import CkanPortal, build_packages

DEAD = "http://files.example.invalid"
CSV = "commune;population\nNice;342669\nToulon;180834\n"


def with_files(packages: list[dict[str, Any]], base: str) -> int:
    """Give the packages CSV resources on `base` (two each for the first 16, one for the others) and a PDF."""
    n = 0
    for i, p in enumerate(packages):
        res = []
        for j in range(2 if i < 16 else 1):
            res.append({"id": f"{p['id'][:8]}-csv-{j}", "name": f"table {j}", "format": "CSV",
                        "url": f"{base}/files/{i}-{j}.csv"})  # fmt: skip
            n += 1
        res.append(
            {"id": f"{p['id'][:8]}-pdf", "name": "notice", "format": "PDF", "url": f"{base}/notice.pdf"}
        )
        p["resources"] = res
    return n


def serve_files(server: FixtureServer) -> None:
    for i in range(20):
        for j in range(2):
            server.route(f"/files/{i}-{j}.csv", Reply(200, CSV, content_type="text/csv"))


def test_normalise_with_a_dead_file_host_is_fast_and_reports_every_resource_under_its_host(
    project: Project, server: FixtureServer
) -> None:
    packages = build_packages(20)
    portal = CkanPortal(server, packages)
    assert with_files(packages, server.url) == 36
    serve_files(server)
    project.sources([ckan_source(portal)])
    assert project.cli("harvest", "sud").code == 0
    good = project.cli("normalise", "sud")
    assert good.code == 0, good.stderr
    tables = sorted((project.data / "tables").rglob("*.parquet"))
    kept = {p: p.read_bytes() for p in tables}
    assert len([p for p in tables if p.name != "index.parquet"]) >= 36

    with_files(packages, DEAD)  # the portal now points at a file host that does not resolve
    for p in packages:
        p["metadata_modified"] = "2030-01-01T00:00:00.000000"
    assert project.cli("harvest", "sud").code == 0
    catalogue = project.snapshot("sud")
    ran = project.cli("normalise", "sud", "--json")
    assert ran.seconds < 20 and ran.code == 3, ran.stderr
    report = ran.json()
    [src] = report["sources"]
    failed = [r for r in src["resources"] if r["status"] == "failed"]
    assert src["failed"] == 36 and len(failed) == 36 and src["converted"] == 0
    assert all(r["url"].startswith(DEAD) for r in failed)
    group = report["errors_by_host"]["files.example.invalid"]
    assert group["count"] == 36 and set(report["errors_by_host"]) == {"files.example.invalid"}
    assert set(group["causes"]) <= {"no DNS answer for host files.example.invalid",
                                    "host unreachable (circuit breaker open)"}  # fmt: skip
    assert group["causes"]["host unreachable (circuit breaker open)"] >= 30
    [host] = report["unreachable_hosts"]
    assert host["host"] == "files.example.invalid" and 3 <= host["failures"] <= 3 + 4  # 4 workers in flight
    assert "host files.example.invalid unreachable" in ran.stderr  # the log line when the breaker opened
    assert project.last_report("normalise-report.json") == report
    errors = (project.data / "runs" / report["run_id"] / "errors.jsonl").read_text().splitlines()
    assert len(errors) == 36 and all('"host": "files.example.invalid"' in e for e in errors)
    # the harvested catalogue and every table of the earlier good run are intact (normalise only records the
    # failure next to the resources)
    assert project.snapshot("sud")["datasets.parquet"] == catalogue["datasets.parquet"]
    assert all(p.read_bytes() == b for p, b in kept.items() if p.name != "index.parquet")
    assert source_status(project, "sud", "normalise")[0] == "partial"
    plain = project.cli("normalise", "sud")  # the summary groups the failures by host
    assert plain.code == 3 and plain.seconds < 20
    assert "files.example.invalid: 36 failed" in plain.stderr
    assert "host files.example.invalid unreachable since" in plain.stderr

    with_files(packages, server.url)  # repaired: the next run converts them again
    for p in packages:
        p["metadata_modified"] = "2030-01-02T00:00:00.000000"
    assert project.cli("harvest", "sud").code == 0
    again = project.cli("normalise", "sud", "--json")
    assert again.code == 0, again.stderr
    assert again.json()["sources"][0]["failed"] == 0 and again.json()["unreachable_hosts"] == []


def test_portal_host_that_does_not_resolve(project: Project, portal: CkanPortal) -> None:
    project.sources([ckan_source(portal)])
    assert project.cli("harvest", "sud").code == 0
    before = project.snapshot("sud")

    project.sources([{**ckan_source(portal), "url": "http://portal.example.invalid"}])
    ran = project.cli("harvest", "sud", "--json")
    assert ran.code == 1 and ran.seconds < 5
    out = ran.json()
    assert "no DNS answer for host portal.example.invalid" in out["sources"][0]["error"]
    assert out["errors_by_host"]["portal.example.invalid"]["count"] == 1
    assert project.snapshot("sud") == before
    status, error, datasets = source_status(project, "sud")
    assert status == "failed" and "no DNS answer" in (error or "") and datasets == 30

    project.sources([ckan_source(portal)])
    assert project.cli("harvest", "sud").code == 0
    assert source_status(project, "sud")[0] == "ok"
