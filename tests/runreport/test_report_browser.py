"""The run report page in a real browser: a harvest and normalisation of a replayed portal (three resources fail),
a second run with schema drift, then report.html rendered by headless Chromium. The numbers in the rendered DOM
match report.json and normalise-report.json; a screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from tests.fixture_server import FixtureServer
from tests.runreport.chromium import Chromium
from tests.runreport.project import BROKEN_BODY, drifted_bnlc, make_project

pytestmark = pytest.mark.browser


def expected_numbers(run: Path) -> dict[str, int]:
    """The headline numbers, computed here straight from the run's JSON files and errors.jsonl."""
    harvest: dict[str, Any] = json.loads((run / "report.json").read_text())
    norm: dict[str, Any] = json.loads((run / "normalise-report.json").read_text())
    errors = [line for line in (run / "errors.jsonl").read_text().splitlines() if line.strip()]
    hs, ns = harvest["sources"], norm["sources"]
    return {
        "datasets": sum(s["total"] for s in hs),
        "created": sum(s["created"] for s in hs),
        "updated": sum(s["updated"] for s in hs),
        "unchanged": sum(s["unchanged"] for s in hs),
        "withdrawn": sum(s["withdrawn"] for s in hs),
        "resources_converted": sum(s["converted"] for s in ns),
        "resources_unchanged": sum(s["unchanged"] for s in ns),
        "resources_failed": sum(s["failed"] for s in ns),
        "schema_changes": sum(s["schema_changes"] for s in ns),
        "errors": len(errors),
        "exit_code": max(harvest["exit_code"], norm["exit_code"]),
    }


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_report_page_renders_in_chromium_with_the_numbers_of_report_json(
    tmp_path: Path, server: FixtureServer, chromium: Chromium, artifacts: Path
) -> None:
    project = make_project(tmp_path / "project", server)
    first = project.harvest_and_normalise()
    project.files.put("/d/bnlc.csv", drifted_bnlc())  # the second run sees a renamed and a dropped column
    run_id = project.harvest_and_normalise()
    run = project.data / "runs" / run_id
    page = run / "report.html"
    assert page.exists() and (run / "report.json").exists()

    dom = lxml.html.fromstring(chromium.dump_dom(page))
    shown = {el.get("data-summary"): el.text_content().strip() for el in dom.xpath("//*[@data-summary]")}
    want = expected_numbers(run)
    assert {k: shown[k] for k in want} == {k: str(v) for k, v in want.items()}
    assert want["resources_failed"] == 3 and want["errors"] == 3 and want["schema_changes"] == 2
    assert dom.xpath("string(//*[@id='run-id']/@data-run-id)") == run_id

    # every error is there with its dataset and URL, under its host and cause
    errors = [json.loads(x) for x in (run / "errors.jsonl").read_text().splitlines()]
    rows = dom.xpath("//tr[@class='error']")
    assert len(rows) == 3
    text = dom.text_content()
    for e in errors:
        assert e["dataset_key"] in text and e["url"] in text
    causes = {
        h.get("data-host"): h.xpath("following-sibling::details[1]/@data-cause")[0]
        for h in dom.xpath("//h3[@data-host]")
    }
    dead_host = project.dead_url.split("/")[2]
    assert causes[dead_host] == "connection refused"
    assert set(dom.xpath("//details/@data-cause")) == {"connection refused", "HTTP 404", "HTTP 500"}
    # the server's markup in an error message is text on the page, not a script
    assert BROKEN_BODY in text and not dom.xpath("//script")

    # schema drift of the second run: the rename and the removal
    drift = dom.xpath("//section[@id='schema-changes']//tr[td]")
    cells = [[td.text_content() for td in tr.xpath("td")] for tr in drift]
    assert {c[2] for c in cells} == {"renamed", "removed"}
    assert any(c[3] == "ID_LOCAL_NUMERO" and c[4] == "id_local" for c in cells)

    # the chart: one bar of datasets and one of errors per run, the current run outlined
    [svg] = dom.xpath("//*[local-name()='svg'][@id='history-chart']")
    assert svg.get("data-runs") == "2"
    bars = svg.xpath(".//*[local-name()='rect']")
    titles = sorted(b.xpath("string(*[local-name()='title'])") for b in bars)
    n = want["datasets"]
    assert titles == sorted(
        [f"{first}: {n} datasets", f"{first}: 3 errors", f"{run_id}: {n} datasets", f"{run_id}: 3 errors"]
    )
    assert {b.get("class") for b in bars} == {"datasets", "errors", "datasets current", "errors current"}

    # nothing to fetch: no script, stylesheet, image or frame from anywhere, and a CSP that forbids it
    html = page.read_text()
    assert not dom.xpath("//script|//link|//img|//iframe|//object|//*[@src]")
    assert "default-src 'none'" in html

    shot = chromium.screenshot(page, artifacts / "run-report.png")
    width, height = png_size(shot)
    assert (width, height) == (1280, 1800) and shot.stat().st_size > 20_000
    print(f"\nrun report screenshot: {shot}")
