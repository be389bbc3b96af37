"""Conditional DCAT re-runs: unchanged pages (304) are not parsed, their records come from the page memos.

Through the real HTTP client and the harvest stage, against Hydra pages served with ETag and Last-Modified (the
Rostock DCAT-AP record with nine distributions, cloned: tests/portals/dcat_rostock.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import harvester.connectors.dcat.connector as dcat_connector
from harvester.catalog import read_catalog
from harvester.config import parse_sources
from harvester.connectors.dcat import page_memo
from harvester.harvest import SourceResult, harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.connectors.test_dcat import connector, fixture
from tests.fixture_server import FixtureServer
from tests.portals.dcat_portal import DcatPortal
from tests.portals.dcat_rostock import rostock_datasets


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URL of every page the dcat connector parses."""
    seen: list[str] = []
    real = dcat_connector.parse_rdf

    def counting(content: bytes, content_type: str | None, base_url: str, **kw: Any) -> Any:
        seen.append(base_url)
        return real(content, content_type, base_url, **kw)

    monkeypatch.setattr(dcat_connector, "parse_rdf", counting)
    return seen


def _harvest(url: str, tmp_path: Path, state: StateStore, http: HttpClient, **kw: Any) -> SourceResult:
    cfg = parse_sources({"sources": [{"id": "hro", "type": "dcat", "url": url}]})
    return harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), **kw
    )


def _snapshot(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cat = read_catalog(tmp_path / "data", "hro")
    assert cat is not None
    return cat[0].to_pylist(), cat[1].to_pylist()


def _conditional(server: FixtureServer, since: int) -> Iterator[bool]:
    for r in server.requests[since:]:
        yield "If-None-Match" in r.headers and "If-Modified-Since" in r.headers


def test_unchanged_rerun_sends_conditional_requests_and_parses_nothing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient, parses: list[str]
) -> None:
    portal = DcatPortal(server, rostock_datasets(30), per_page=10, conditional=True)
    first = _harvest(portal.url, tmp_path, state, http)
    assert (first.status, first.created, first.requests) == ("ok", 30, 3)
    assert len(parses) == 3 and portal.not_modified == 0
    before = _snapshot(tmp_path)
    assert len(before[1]) == 30 * 9  # nine distributions per dataset
    assert all(r["spatial"].startswith("POLYGON ((11.9936 54.0486") for r in before[0])  # of two locations

    for full in (False, True):  # incremental (cursor), then a full re-read: the memos serve both
        n0, parsed = len(server.requests), len(parses)
        again = _harvest(portal.url, tmp_path, state, http, full=full)
        assert (again.status, again.created, again.updated, again.withdrawn) == ("ok", 0, 0, 0)
        assert len(server.requests) - n0 == 3 and all(_conditional(server, n0))
        assert len(parses) == parsed  # not one page parsed
        assert _snapshot(tmp_path) == before
    assert portal.not_modified == 6


def test_a_changed_page_alone_is_parsed_and_its_change_harvested(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient, parses: list[str]
) -> None:
    datasets = rostock_datasets(30)
    portal = DcatPortal(server, datasets, per_page=10, conditional=True)
    _harvest(portal.url, tmp_path, state, http)
    changed = datasets[14].replace("n° 14</dct:title>", "n° 14 (neu)</dct:title>", 1)
    changed = changed.replace("2024-05-08T00:14:00+00:00", "2025-01-01T00:00:00+00:00", 1)
    assert changed != datasets[14]
    portal.set_datasets([*datasets[:14], changed, *datasets[15:]])

    del parses[:]
    n0 = portal.not_modified
    again = _harvest(portal.url, tmp_path, state, http)
    assert (again.status, again.updated, again.created, again.withdrawn) == ("ok", 1, 0, 0)
    assert parses == [portal.page_url(2)] and portal.not_modified - n0 == 2
    titles = {r["remote_id"]: r["title"] for r in _snapshot(tmp_path)[0]}
    assert titles["https://www.opendata-hro.de/dataset/0000000e-d811-48fb-8818-2cb358b06a63"] == (
        "Liefer- und Abholservices (Gastronomie) n° 14 (neu)"
    )


def test_a_page_that_loses_its_next_link_ends_the_listing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient, parses: list[str]
) -> None:
    datasets = rostock_datasets(50)
    portal = DcatPortal(server, datasets, per_page=10, conditional=True)
    _harvest(portal.url, tmp_path, state, http)
    portal.set_datasets(datasets[:45])  # every page changes (hydra:totalItems); page 5 is shorter
    _harvest(portal.url, tmp_path, state, http, full=True)
    portal.set_datasets(datasets[:40])  # page 5 is gone, page 4 has no next link any more

    del parses[:]
    n0 = len(server.requests)
    again = _harvest(portal.url, tmp_path, state, http, full=True)
    assert (again.status, again.withdrawn) == ("ok", 5)
    assert len(parses) == 4  # each changed page is parsed again, none is answered from its old memo
    assert [r.arg("page") for r in server.requests[n0:]] == [None, "2", "3", "4"]
    rows = _snapshot(tmp_path)[0]
    assert len(rows) == 50 and sum(r["withdrawn_at"] is not None for r in rows) == 10


def test_incomplete_listing_rule_still_applies_to_unchanged_pages(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient, parses: list[str]
) -> None:
    portal = DcatPortal(server, rostock_datasets(20), per_page=10, conditional=True, announce=25)
    for _ in range(2):
        result = _harvest(portal.url, tmp_path, state, http, full=True)
        assert result.status == "partial" and "announced 25" in (result.error or "")
    assert len(parses) == 2 and portal.not_modified == 2


def test_a_memo_is_only_used_with_the_body_and_mapping_it_was_read_from(
    server: FixtureServer, tmp_path: Path, http: HttpClient, parses: list[str]
) -> None:
    server.route("/cat.rdf", fixture("ods-export/rennes-catalog-exports-dcat.rdf"), "application/rdf+xml")
    url = server.url + "/cat.rdf"
    conn = connector(url, http)
    ((_, memo),) = conn.pages()
    records = [e.record() for e in memo.entries]
    assert len(records) == 27 and any(r.resources for r in records)
    body = fixture("ods-export/rennes-catalog-exports-dcat.rdf")
    page_memo.save(tmp_path / "memos", url, body, "m1", memo)
    again = page_memo.load(tmp_path / "memos", url, body, "m1")
    assert again is not None and [e.record() for e in again.entries] == records  # dates, resources, raw
    assert (again.next_url, again.total, again.ids, again.errors) == (
        memo.next_url,
        memo.total,
        memo.ids,
        memo.errors,
    )
    assert [(e.remote_id, e.modified) for e in again.entries] == [(r.remote_id, r.modified) for r in records]
    assert page_memo.load(tmp_path / "memos", url, body + b" ", "m1") is None  # another body
    assert page_memo.load(tmp_path / "memos", url, body, "m2") is None  # another mapping
    path = page_memo.memo_path(tmp_path / "memos", url)
    path.write_text(json.dumps({"body": page_memo.body_digest(body), "mapping": "m1"}))
    assert page_memo.load(tmp_path / "memos", url, body, "m1") is None  # damaged: parsed again
