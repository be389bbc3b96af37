"""End to end: three replayed portals (tests/portals/merge_chain.py) harvested, the commune files normalised,
merged, then `harvester quality PIPELINE --json`: quality.parquet and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from harvester.quality.indicators import INDICATORS, WEIGHTS
from harvester.quality.score import ckan_extra
from tests.portals.merge_chain import Chain, run_cli


def test_quality_of_a_merged_pipeline(
    chain: Chain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": chain.sources()}, allow_unicode=True))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "chain.yaml").write_text(
        yaml.safe_dump({"name": "chain", "sources": ["communes", "datasud", "dgouv"]})
    )
    assert run_cli(tmp_path, "harvest", "--all", "--json", capsys=capsys)[0] == 0
    assert run_cli(tmp_path, "normalise", "communes", "--json", capsys=capsys)[0] == 0  # local files only
    assert run_cli(tmp_path, "merge", "chain", "--json", capsys=capsys)[0] == 0
    code, doc = run_cli(tmp_path, "quality", "chain", "--json", "--worst", "2", capsys=capsys)
    assert code == 0, doc

    rows = {
        r["merged_key"]: r for r in pq.read_table(tmp_path / "data/merged/chain/quality.parquet").to_pylist()
    }
    assert len(rows) == doc["datasets"] == 5
    for r in rows.values():
        assert r["total"] == sum(r[d] for d in WEIGHTS) == sum(r[n] for n in INDICATORS)
        assert set(json.loads(r["details"])) == set(INDICATORS)
    salles = rows["communes:salles-yffiniac"]
    details = json.loads(salles["details"])
    assert details["access_url_reachable"]["points"] == 50  # the commune's CSV was converted by normalise
    assert salles["total"] == HAND_TOTAL_SALLES, details
    assert {d: salles[d] for d in WEIGHTS} == HAND_DIMENSIONS_SALLES and salles["rating"] == "good"
    dlva = json.loads(rows["datasud:0c5ad935-272e-4d9e-b0db-cdcb1a5309b8"]["details"])
    assert dlva["access_url_reachable"]["why"].startswith("never checked")  # DataSud's GTFS was not fetched

    assert doc["mean"] == round(sum(r["total"] for r in rows.values()) / 5, 1)
    assert sum(doc["ratings"].values()) == 5 and set(doc["sources"]) == {"communes", "datasud", "dgouv"}
    assert doc["sources"]["communes"]["datasets"] == 2
    worst = sorted(rows.values(), key=lambda r: (r["total"], r["merged_key"]))[:2]
    assert [w["merged_key"] for w in doc["worst"]] == [w["merged_key"] for w in worst]
    assert all(w["missing"] for w in doc["worst"])
    extra = ckan_extra(tmp_path / "data", "chain", "communes:salles-yffiniac")
    assert extra == {"quality_score": f"{HAND_TOTAL_SALLES}/405", "quality_rating": salles["rating"]}

    code, _ = run_cli(tmp_path, "quality", "chain", capsys=capsys)  # the human summary, on stderr
    assert code == 0


# Yffiniac's salles (the commune's file, its copies at DataSud and data.gouv.fr), counted by hand from the records:
# findability 30 (5 keywords; no theme, spatial or temporal coverage) + accessibility 100 (the CSV converted by
# normalise: reachable, a download URL, reachable) + interoperability 110 (CSV, text/csv, known, non-proprietary,
# machine-readable, title + description + URL) + reusability 60 (lov2 known 30, DataSud's contact 20, publisher
# 10; no access rights) + contextuality 15 (788 bytes, issued, modified; no rights).
HAND_DIMENSIONS_SALLES = {"findability": 30, "accessibility": 100, "interoperability": 110, "reusability": 60,
                          "contextuality": 15}  # fmt: skip
HAND_TOTAL_SALLES = 315


def test_the_scores_are_on_the_run_report_page(
    chain: Chain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `run` writes after its merge (quality-report.json) is shown on report.html: mean, per source, worst."""
    import lxml.html

    from harvester.quality.score import run_quality
    from harvester.runreport import write_html_report
    from harvester.runs import write_report

    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": chain.sources()}, allow_unicode=True))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "chain.yaml").write_text(
        yaml.safe_dump({"name": "chain", "sources": ["communes", "datasud", "dgouv"]})
    )
    assert run_cli(tmp_path, "harvest", "--all", "--json", capsys=capsys)[0] == 0
    assert run_cli(tmp_path, "merge", "chain", "--json", capsys=capsys)[0] == 0
    data = tmp_path / "data"
    scored = run_quality(data, "chain", worst=3)
    write_report(data, "20260101T000000Z-0002", "quality-report.json", scored)
    page = lxml.html.fromstring(write_html_report(data, "20260101T000000Z-0002").read_bytes())  # type: ignore[union-attr]
    assert page.xpath("string(//*[@data-quality='mean'])") == str(scored["mean"])
    rows = {
        tr.get("data-quality-source"): tr.xpath("string(td[2])")
        for tr in page.xpath("//tr[@data-quality-source]")
    }
    assert rows == {
        "all": str(scored["datasets"]),
        **{s: str(v["datasets"]) for s, v in scored["sources"].items()},
    }
    worst = page.xpath("//tr[@data-quality-worst]")
    assert [tr.xpath("string(td[2])") for tr in worst] == [str(w["total"]) for w in scored["worst"]]
    assert len(worst) == 3 and all(tr.xpath("string(td[3])") for tr in worst)  # each says what it misses
