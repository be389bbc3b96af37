"""`harvester report` and the page each stage writes, without a browser (the browser test renders it)."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest

from harvester.runreport.collect import cause_of, group_errors
from tests.fixture_server import FixtureServer
from tests.runreport.project import Project, make_project


@pytest.fixture
def project(tmp_path: Path, server: FixtureServer) -> Project:
    return make_project(tmp_path, server)


def test_every_stage_writes_the_page_beside_its_report(project: Project) -> None:
    harvest = project.run_json("harvest", "demo")
    run = project.data / "runs" / harvest["run_id"]
    page = lxml.html.fromstring((run / "report.html").read_bytes())
    assert page.xpath("string(//*[@data-summary='datasets'])") == str(harvest["sources"][0]["total"])
    assert not page.xpath("//section[@id='normalise']")

    norm = project.run_json("normalise", "demo")  # its own run: its own folder and page
    run = project.data / "runs" / norm["run_id"]
    page = lxml.html.fromstring((run / "report.html").read_bytes())
    assert page.xpath("string(//*[@data-summary='resources_failed'])") == "3"
    assert page.xpath("string(//*[@data-summary='errors'])") == "3"
    assert not page.xpath("//*[@data-summary='datasets']")  # no harvest in this run: no harvest numbers
    hosts = page.xpath("//h3/@data-host")
    assert (
        hosts[0] == project.files.url("/").split("/")[2] and len(hosts) == 2
    )  # 404 + 500, then the dead one


def test_report_command_prints_opens_and_explains(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = project.invoke("report")
    assert missing.exit_code == 2 and "no run report under" in missing.stderr

    first = project.run_json("harvest", "demo")["run_id"]
    second = project.run_json("normalise", "demo")["run_id"]
    latest = project.invoke("report")
    assert latest.exit_code == 0, latest.output
    assert latest.stdout.strip() == str(project.data / "runs" / second / "report.html")

    shown = project.invoke("report", first, "--json")
    doc = json.loads(shown.stdout)
    assert doc["run_id"] == first and doc["report_html"].endswith(f"{first}/report.html")
    assert doc["summary"]["datasets"] == 4 and doc["summary"]["stages"] == ["harvest"]
    assert doc["reports"] == [str(project.data / "runs" / first / "report.json")]

    assert project.invoke("report", first[:-1]).stdout.strip().endswith(f"{first}/report.html")  # a prefix
    unknown = project.invoke("report", "20990101T000000Z-beef")
    assert unknown.exit_code == 2
    assert "no run '20990101T000000Z-beef'" in unknown.stderr
    assert f"latest first: {second}, {first}" in unknown.stderr

    # a run from before the page existed: built on demand
    (project.data / "runs" / first / "report.html").unlink()
    assert project.invoke("report", first).exit_code == 0
    assert (project.data / "runs" / first / "report.html").exists()

    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert project.invoke("report", "--open").exit_code == 0
    assert opened == [(project.data / "runs" / second / "report.html").resolve().as_uri()]
    monkeypatch.setattr("webbrowser.open", lambda url: False)
    no_browser = project.invoke("report", "--open")
    assert no_browser.exit_code == 0 and "no web browser could be started here" in no_browser.stderr


def test_errors_are_grouped_by_host_then_cause() -> None:
    errors = [
        {"url": "https://a.example/x.csv", "message": "HTTP 404 not found"},
        {"url": "https://a.example/y.csv", "message": "gave up after 5 attempts: HTTP 503"},
        {"url": "https://a.example/z.csv", "message": "HTTP 404 gone"},
        {"url": "http://b.example:8080/w", "message": "host unreachable since 10:02 (DNS: no answer)"},
        {"url": None, "message": "disk full while writing /srv/data/tables/x.parquet (0 bytes free)"},
        {"url": "https://c.example/", "message": "Read timed out. (read timeout=10)"},
        {"url": "https://c.example/", "message": "whole request deadline of 20 s passed"},
    ]
    groups = group_errors(errors)
    assert [(g["host"], g["count"]) for g in groups] == [
        ("a.example", 3),
        ("c.example", 2),
        ("(no URL)", 1),
        ("b.example:8080", 1),
    ]
    assert [(c["cause"], len(c["errors"])) for c in groups[0]["causes"]] == [("HTTP 404", 2), ("HTTP 503", 1)]
    assert {c["cause"] for c in groups[1]["causes"]} == {"timeout", "deadline passed"}
    assert cause_of(errors[4]) == "disk full" and cause_of(errors[3]) == "host unreachable"
    assert cause_of({"type": "SourceError", "message": "listing of 12 pages ended early"}) == "SourceError"


def test_merge_decisions_of_a_run_are_on_its_page(tmp_path: Path) -> None:
    """A run folder holding the merge stage's report (the JSON `harvester merge --json` prints) shows its figures."""
    from click.testing import CliRunner

    from harvester.cli import cli
    from harvester.runreport import write_html_report
    from tests.merge.test_stage import _setup

    _setup(tmp_path)
    data = tmp_path / "data"
    res = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(data), "merge", "sud", "--json"]
    )
    assert res.exit_code == 0, res.output
    merged = json.loads(res.stdout)
    run = data / "runs" / "20260101T000000Z-0001"
    run.mkdir(parents=True)
    (run / "merge-report.json").write_text(res.stdout, encoding="utf-8")
    page_path = write_html_report(data, run.name)
    assert page_path == run / "report.html"
    page = lxml.html.fromstring(page_path.read_bytes())
    assert page.xpath("string(//*[@data-summary='merged_datasets'])") == str(merged["merged_datasets"]) == "2"
    text = " ".join(page.xpath("//section[@id='merge']//text()"))
    want = f"{merged['records']} records → 2 datasets (1 from several sources), {merged['rejected_candidates']} candidates"
    assert want in " ".join(text.split()) and merged["records"] == 3  # our own copy is left out
    rules = dict(
        (tr.xpath("string(td[1])"), tr.xpath("string(td[2])"))
        for tr in page.xpath("//section[@id='merge']/table[1]//tr[td]")
    )
    assert rules == {k: str(v) for k, v in merged["links_by_rule"].items()} and "harvest_provenance" in rules
