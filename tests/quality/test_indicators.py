"""The MQA arithmetic against hand-computed examples: one small dataset per indicator, a full one, an empty one.

Where an indicator cannot be met alone (a reachable URL is a downloaded file, so also a download URL; a known
licence is also a licence), the case names every indicator it meets and the total is their hand-added weights.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from harvester.quality.indicators import INDICATORS, MAX_SCORE, score_dataset
from harvester.quality.score import rating, row_of

T = datetime(2024, 3, 1, tzinfo=UTC)
URL = "https://example.org/files/data.csv"
PUBLIC = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"


def res(**kw: Any) -> dict[str, Any]:
    return {
        "resource_key": "s:d:r",
        "url": None,
        "format": None,
        "media_type": None,
        "size_bytes": None,
        **kw,
    }


# (name, dataset fields, resources, raw properties, indicators met, hand-added total)
CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, list[str]], set[str], int]] = [
    ("keyword", {"keywords": ["bus"]}, [], {}, {"keyword"}, 30),
    ("theme", {"themes": ["TRAN"]}, [], {}, {"theme"}, 30),
    ("spatial", {"spatial": "Yffiniac"}, [], {}, {"spatial"}, 20),
    ("temporal", {}, [], {"temporal": ["2020/2024"]}, {"temporal"}, 20),
    ("access_url_reachable", {}, [res(url=URL, table_status="ok")], {},
     {"access_url_reachable", "download_url", "download_url_reachable"}, 50 + 20 + 30),
    (
        "download_url_reachable",
        {},
        [res(url=URL, table_status="failed", sha256="ab" * 32)],  # downloaded, not converted
        {},
        {"access_url_reachable", "download_url", "download_url_reachable"},
        100,
    ),
    ("download_url", {}, [res(url=URL, format="FOO")], {}, {"download_url", "format"}, 20 + 20),
    ("format", {}, [res(format="FOO")], {}, {"format"}, 20),
    ("media_type", {}, [res(media_type="x-custom")], {}, {"media_type"}, 10),
    ("format_vocabulary", {}, [res(media_type="text/csv")], {}, {"media_type", "format_vocabulary"}, 10 + 10),
    ("non_proprietary", {}, [res(format="PDF")], {}, {"format", "format_vocabulary", "non_proprietary"}, 50),
    ("machine_readable", {}, [res(format="XLSX")], {}, {"format", "format_vocabulary", "machine_readable"}, 50),
    ("dcat_ap_compliance", {"title": "T", "description": "D"}, [res(url="https://example.org/page")], {},
     {"dcat_ap_compliance"}, 30),
    ("licence", {"license_raw": "Some licence"}, [], {}, {"licence"}, 20),
    ("licence_vocabulary", {"license_id": "lov2"}, [], {}, {"licence", "licence_vocabulary"}, 30),
    ("access_rights", {}, [], {"access_rights": ["ask the office"]}, {"access_rights"}, 10),
    ("access_rights_vocabulary", {}, [], {"access_rights": [PUBLIC]},
     {"access_rights", "access_rights_vocabulary"}, 15),
    ("contact_point", {"contact_email": "a@b.fr"}, [], {}, {"contact_point"}, 20),
    ("publisher", {"publisher": "Commune"}, [], {}, {"publisher"}, 10),
    ("rights", {}, [], {"rights": ["© IGN"]}, {"rights"}, 5),
    ("byte_size", {}, [res(size_bytes=1234)], {}, {"byte_size"}, 5),
    ("issued", {"issued": T}, [], {}, {"issued"}, 5),
    ("modified", {"modified": T}, [], {}, {"modified"}, 5),
]  # fmt: skip


def test_every_indicator_has_a_case_and_the_weights_add_up_to_405() -> None:
    assert {c[0] for c in CASES} == set(INDICATORS) and MAX_SCORE == 405


@pytest.mark.parametrize(("name", "ds", "resources", "raw", "met", "total"), CASES, ids=[c[0] for c in CASES])
def test_one_dataset_per_indicator(
    name: str,
    ds: dict[str, Any],
    resources: list[dict[str, Any]],
    raw: dict[str, list[str]],
    met: set[str],
    total: int,
) -> None:
    ev = score_dataset(ds, resources, raw)
    assert {n for n, p in ev.points.items() if p} == met
    assert ev.total == total == sum(INDICATORS[n] for n in met)
    assert ev.points[name] == INDICATORS[name]


def full() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]]]:
    ds = {"merged_key": "s:full", "title": "T", "description": "D", "keywords": ["k"], "themes": ["t"],
          "spatial": "FR", "license_raw": "Licence Ouverte", "license_id": "lov2", "contact_email": "a@b.fr",
          "publisher": "P", "issued": T, "modified": T, "source_ids": ["s"]}  # fmt: skip
    r = res(url=URL, format="CSV", media_type="text/csv", size_bytes=10, table_status="unchanged")
    return ds, [r], {"temporal": ["2024"], "access_rights": ["public"], "rights": ["free"]}


def test_a_full_dataset_gets_405_and_an_empty_one_0() -> None:
    assert score_dataset(*full()).total == 405
    empty = score_dataset({}, [], {})
    assert empty.total == 0 and empty.details["format"] == "no distribution"
    row = row_of({"merged_key": "s:full", "title": "T", "source_ids": ["s"]}, score_dataset(*full()))
    assert row["rating"] == "excellent" and row["accessibility"] == 100 and row["interoperability"] == 110
    assert json.loads(row["details"])["keyword"] == {"points": 30, "max": 30, "why": "1 keyword(s)"}


def test_the_best_distribution_gives_the_distribution_points() -> None:
    ds, _, raw = full()
    pdf = res(resource_key="s:d:pdf", url="https://example.org/doc.pdf", format="PDF")
    csv = res(resource_key="s:d:csv", url=URL, format="CSV", media_type="text/csv", table_status="ok")
    ev = score_dataset(ds, [pdf, csv], raw)
    assert ev.points["machine_readable"] == 20 and ev.points["access_url_reachable"] == 50
    assert ev.points["byte_size"] == 0 and ev.total == 400
    assert "best of 2 distribution(s): s:d:csv" in ev.details["machine_readable"]


def test_reachability_comes_from_the_normalise_stage_only() -> None:
    failed = score_dataset({}, [res(url=URL, format="CSV", table_status="failed", table_error="HTTP 404")])
    assert failed.points["access_url_reachable"] == 0 and "download failed: HTTP 404" in failed.details["access_url_reachable"]  # fmt: skip
    assert failed.points["download_url"] == 20 and failed.points["download_url_reachable"] == 0
    parsed = score_dataset({}, [res(url=URL, format="CSV", table_status="failed", sha256="ab" * 32)])
    assert (
        parsed.points["access_url_reachable"] == 50 and "downloaded" in parsed.details["access_url_reachable"]
    )
    never = score_dataset({}, [res(url=URL, format="CSV")])
    assert never.points["access_url_reachable"] == 0 and never.details["access_url_reachable"].startswith("never checked")  # fmt: skip
    wms = score_dataset({}, [res(url="https://example.org/wms?SERVICE=WMS", format="WMS")])
    assert wms.points["download_url"] == 0 and "not a file URL" in wms.details["download_url"]


@pytest.mark.parametrize(
    ("total", "band"), [(405, "excellent"), (351, "excellent"), (350, "good"), (221, "good"), (220, "sufficient"),
                        (121, "sufficient"), (120, "bad"), (0, "bad")]
)  # fmt: skip
def test_mqa_ratings(total: int, band: str) -> None:
    assert rating(total) == band
