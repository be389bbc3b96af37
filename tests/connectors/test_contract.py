"""The contract every registered connector must honour, generated from the registry.

Each type runs its scenario from tests/connectors/scenarios.py against the local fixture server (real HTTP code).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from harvester.connectors import REGISTRY
from harvester.connectors.base import BaseConnector, Connector
from harvester.connectors.listing import EndOfListing, Listing, ListingItem, Outcomes, read_listing
from harvester.http import HttpClient
from harvester.records import DatasetRecord, ResourceRef
from tests.connectors.scenarios import LOOPING, SCENARIOS, SHORT, Broken, Scenario
from tests.fixture_server import FixtureServer

TYPES = sorted(REGISTRY)
PAGING = [t for t in TYPES if REGISTRY[t].paging]
TOTALS = [t for t in TYPES if REGISTRY[t].announces_total]


def _scenario(type_name: str, server: FixtureServer) -> Scenario:
    if type_name not in SCENARIOS:
        pytest.fail(f"connector type {type_name!r} has no contract scenario in tests/connectors/scenarios.py")
    return SCENARIOS[type_name](server)


def _connector(type_name: str, sc: Scenario | Broken, http: HttpClient) -> BaseConnector:
    cls = REGISTRY[type_name]
    return cls("contract", sc.url, cls.Params.model_validate(sc.params), http)


def test_every_registered_type_has_a_scenario() -> None:
    missing = sorted(set(REGISTRY) - set(SCENARIOS))
    assert not missing, f"registered connector types without a contract scenario: {missing}"
    unknown = sorted(set(SCENARIOS) - set(REGISTRY))
    assert not unknown, f"scenarios for unregistered types: {unknown}"
    assert PAGING and TOTALS
    missing = sorted(set(TOTALS) - set(SHORT)) + sorted(set(PAGING) - set(LOOPING))
    assert not missing, f"types announcing a total or paging without a SHORT/LOOPING scenario: {missing}"


def _listing(conn: BaseConnector, since: datetime | None = None) -> Listing:
    """Read the whole listing, checking the contract of its items: records and issues, then one EndOfListing."""
    items: list[ListingItem] = list(conn.list_datasets(since=since))
    ends = [i for i in items if isinstance(i, EndOfListing)]
    assert len(ends) == 1 and items[-1] is ends[0], (
        f"the listing must end with exactly one EndOfListing: {ends}"
    )
    assert ends[0].source_id == "contract"
    return read_listing(items)


def _assert_outcomes_add_up(o: Outcomes, yielded: int) -> None:
    assert o.kept == yielded, (o, yielded)
    assert o.listed == o.kept + sum(o.skipped.values()), o
    assert all(n > 0 for n in o.skipped.values()), o


@pytest.mark.parametrize("type_name", TYPES)
def test_class_attributes_and_described_params(type_name: str) -> None:
    cls = REGISTRY[type_name]
    assert cls.type == type_name
    assert cls.description.strip(), f"{type_name}: empty description"
    for name, f in cls.Params.model_fields.items():
        assert f.description and f.description.strip(), f"{type_name}.{name} has no description"


@pytest.mark.parametrize("type_name", TYPES)
def test_unknown_params_rejected(type_name: str) -> None:
    with pytest.raises(ValidationError):
        REGISTRY[type_name].Params.model_validate({"nope": 1})


@pytest.mark.parametrize("type_name", TYPES)
def test_constructor_sends_no_request(type_name: str, server: FixtureServer, http: HttpClient) -> None:
    sc = _scenario(type_name, server)
    _connector(type_name, sc, http)
    assert server.requests == []
    assert http.requests_sent == 0


@pytest.mark.parametrize("type_name", TYPES)
def test_listing_unique_ids_expected_count_and_paging_ends(
    type_name: str, server: FixtureServer, http: HttpClient
) -> None:
    sc = _scenario(type_name, server)
    conn = _connector(type_name, sc, http)
    assert isinstance(conn, Connector)  # the Protocol the harvest stage uses
    listing = _listing(conn)
    records = listing.records
    assert all(isinstance(r, DatasetRecord) for r in records)
    ids = [r.remote_id for r in records]
    assert all(isinstance(i, str) and i.strip() for i in ids), "empty remote_id"
    assert len(ids) == len(set(ids)), "duplicate remote_id"
    assert len(records) == sc.count
    # Paging ends: exactly one request per page the scenario serves, none past the end.
    assert len(server.requests) == sc.requests, [f"{r.path}?{r.query}" for r in server.requests]
    assert listing.issues == []
    assert listing.end.complete is True and listing.end.reason is None and listing.end.missing is None
    for r in records:
        assert r.source_id == "contract"
        assert r.title.strip()
        for d in (r.modified, r.issued):
            assert d is None or (isinstance(d, datetime) and d.utcoffset() is not None), "naive datetime"
        assert all(isinstance(res, ResourceRef) and res.url for res in r.resources)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in r.extras.items())


@pytest.mark.parametrize("type_name", TYPES)
def test_since_narrows(type_name: str, server: FixtureServer, http: HttpClient) -> None:
    sc = _scenario(type_name, server)
    listing = _listing(_connector(type_name, sc, http), since=sc.since)
    records = listing.records
    assert listing.end.complete
    assert 0 < len(records) < sc.count
    if sc.since_count is not None:
        assert len(records) == sc.since_count
    for r in records:
        assert r.modified is not None and r.modified >= sc.since, (r.remote_id, r.modified)


@pytest.mark.parametrize("type_name", TYPES)
def test_outcomes_add_up(type_name: str, server: FixtureServer, http: HttpClient) -> None:
    """Every entry served is either kept or counted as skipped with a reason, in full and incremental runs."""
    sc = _scenario(type_name, server)
    listing = _listing(_connector(type_name, sc, http))
    _assert_outcomes_add_up(listing.end.outcomes, len(listing.records))
    assert listing.end.outcomes.listed >= sc.count
    inc = _listing(_connector(type_name, sc, http), since=sc.since)
    _assert_outcomes_add_up(inc.end.outcomes, len(inc.records))


@pytest.mark.parametrize("type_name", TOTALS)
def test_listing_shorter_than_announced_is_incomplete(
    type_name: str, server: FixtureServer, http: HttpClient
) -> None:
    sc = SHORT[type_name](server)
    listing = _listing(_connector(type_name, sc, http))
    records = listing.records
    assert len(records) == sc.kept  # what was served is kept…
    end = listing.end
    assert end.complete is False  # …but nothing may be withdrawn
    assert end.missing == sc.missing and end.reason and "short listing" in end.reason, end
    _assert_outcomes_add_up(end.outcomes, len(records))


@pytest.mark.parametrize("type_name", PAGING)
def test_server_ignoring_paging_stops_within_two_pages(
    type_name: str, server: FixtureServer, http: HttpClient
) -> None:
    """Page 1 served for every page, in an envelope (or next link) that changes: the second page brings no new id."""
    sc = LOOPING[type_name](server)
    listing = _listing(_connector(type_name, sc, http))
    records = listing.records
    assert len(server.requests) == sc.overhead + 2, [f"{r.path}?{r.query}" for r in server.requests]
    assert len(records) == sc.kept  # the first page is kept
    end = listing.end
    assert end.complete is False
    assert end.reason and "pagination loop" in end.reason and "no new id" in end.reason, end
    _assert_outcomes_add_up(end.outcomes, len(records))
