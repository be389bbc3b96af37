"""The DCAT connector fetches the next Hydra page (and runs its XML guard) while the page before is mapped.

Through the real HTTP client against Hydra pages served locally (the Rostock DCAT-AP record, cloned).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import harvester.connectors.dcat.connector as dcat_connector
import harvester.connectors.dcat.parse as dcat_parse
from harvester.errors import SourceError
from harvester.http import HttpClient
from tests.connectors.test_dcat import connector
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.dcat_portal import DcatPortal
from tests.portals.dcat_rostock import rostock_datasets

ENTITIES = b"""<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="http://x/&b;"/>
</rdf:RDF>
"""


def _pages_asked(server: FixtureServer) -> list[str]:
    return [r.arg("page", "1") or "1" for r in server.requests]


def test_next_page_is_asked_for_while_the_page_before_is_mapped(
    server: FixtureServer, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = DcatPortal(server, rostock_datasets(30), per_page=10)
    real = dcat_connector.records_from_graph
    asked_during_mapping: list[list[str]] = []

    def mapping(*args: Any, **kw: Any) -> Any:
        # wait (bounded) for the prefetch of the next page: it is sent as soon as this page's next link is known
        page = len(asked_during_mapping) + 1
        deadline = time.monotonic() + 10
        while (
            page < portal.pages and str(page + 1) not in _pages_asked(server) and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        asked_during_mapping.append(_pages_asked(server))
        return real(*args, **kw)

    monkeypatch.setattr(dcat_connector, "records_from_graph", mapping)
    records = list(connector(portal.url, http).records())

    assert len(records) == 30
    assert asked_during_mapping == [["1", "2"], ["1", "2", "3"], ["1", "2", "3"]]
    assert _pages_asked(server) == ["1", "2", "3"]  # no page asked twice, none past the last


def test_a_hostile_next_page_is_refused_by_the_guard_run_ahead_and_never_parsed(
    server: FixtureServer, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = DcatPortal(server, rostock_datasets(30), per_page=10)

    def handle(req: Request) -> Reply:
        if req.arg("page") == "2":
            return Reply(200, ENTITIES, content_type="application/rdf+xml")
        return portal.handle(req)

    server.route(portal.path, handle)
    guarded: list[str] = []
    parsed: list[str] = []
    real_guard, real_parse = dcat_connector.check_prolog, dcat_connector.parse_rdf

    def guard(content: bytes, **kw: Any) -> None:
        guarded.append(kw["url"])
        real_guard(content, **kw)

    def parse(content: bytes, content_type: str | None, base_url: str, **kw: Any) -> Any:
        parsed.append(base_url)
        return real_parse(content, content_type, base_url, **kw)

    def guard_again(*_a: Any, **_kw: Any) -> None:
        raise AssertionError("the guard ran again in parse_rdf on a body already checked")

    monkeypatch.setattr(dcat_connector, "check_prolog", guard)
    monkeypatch.setattr(dcat_connector, "parse_rdf", parse)
    monkeypatch.setattr(dcat_parse, "check_prolog", guard_again)

    kept = []
    with pytest.raises(SourceError) as err:
        for rec in connector(portal.url, http).records():
            kept.append(rec)
    assert "declares entities" in err.value.message
    assert err.value.url == portal.page_url(2)
    assert len(kept) == 10  # page 1's records came out before the error of page 2
    assert guarded == [portal.url, portal.page_url(2)]  # the first page is the catalogue URL itself
    assert parsed == [portal.url]  # the hostile page never reached the RDF parser
