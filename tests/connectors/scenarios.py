"""Contract scenarios: one per registered connector type, run by tests/connectors/test_contract.py.

A scenario function sets routes on the fixture server (serving real recorded payloads from tests/fixtures/) and
returns a `Scenario`: where the connector points, its params, how many datasets the full listing yields, how many
HTTP requests that listing needs (one per page, nothing more), and a `since` that narrows the result.

To add a connector: write `def my_type(server) -> Scenario` and add it to `SCENARIOS` (one line). The contract suite
fails for any registered type without a scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fixture_server import FixtureServer


@dataclass(frozen=True)
class Scenario:
    url: str  # the source url given to the connector
    params: dict[str, Any]  # raw params, validated by the connector's Params model
    count: int  # datasets the full listing yields
    since: datetime  # a cursor that leaves fewer (but not zero) datasets
    requests: int  # HTTP requests a full listing sends (pages; no extra request past the end)
    since_count: int | None = None  # datasets left with `since`, when the scenario knows it exactly
    extra: dict[str, Any] = field(default_factory=dict)


ScenarioFn = Callable[[FixtureServer], Scenario]

# type name -> scenario builder. Each team member adds their connector's line(s) below.
SCENARIOS: dict[str, ScenarioFn] = {}


def ckan(server: FixtureServer) -> Scenario:
    """25 real package dicts (cloned) served 10 per page: 3 pages."""
    from tests.portals.ckan_portal import CkanPortal, build_packages

    pkgs = build_packages(25)
    CkanPortal(server, pkgs)
    since = datetime.fromisoformat(pkgs[20]["metadata_modified"]).replace(tzinfo=UTC)
    return Scenario(
        url=server.url,
        params={"rows": 10, "safety_margin_minutes": 0},
        count=25,
        since=since,
        requests=3,
        since_count=5,
    )


SCENARIOS["ckan"] = ckan


def opendatasoft(server: FixtureServer) -> Scenario:
    """The 3 real v2.1 dataset objects, 2 per page: 2 pages; `since` keeps the two modified after 14:00."""
    from tests.portals.ods_portal import OdsPortal, ods_records

    url = OdsPortal(ods_records()).install(server)
    return Scenario(
        url=url,
        params={"page_size": 2},
        count=3,
        since=datetime(2021, 6, 23, 14, 0, tzinfo=UTC),
        requests=2,
        since_count=2,
    )


SCENARIOS["opendatasoft"] = opendatasoft


def dcat(server: FixtureServer) -> Scenario:
    """The 27 real datasets of the Rennes Métropole DCAT export, served 10 per Hydra page: 3 pages."""
    from tests.portals.dcat_portal import DcatPortal, modified_of, real_datasets

    datasets = real_datasets()
    portal = DcatPortal(server, datasets, per_page=10)
    dates = sorted(d for d in (modified_of(x) for x in datasets) if d is not None)
    since = dates[-5]
    return Scenario(
        url=portal.url,
        params={},
        count=len(datasets),
        since=since,
        requests=3,
        since_count=sum(1 for d in dates if d >= since),
    )


SCENARIOS["dcat"] = dcat


def udata(server: FixtureServer) -> Scenario:
    """17 real data.gouv.fr dataset objects, 5 per page: 4 pages; `since` 2024-01-01 keeps 5 (sorted -last_update)."""
    from tests.portals.udata_portal import UdataPortal, udata_records

    url = UdataPortal(udata_records()).install(server)
    return Scenario(
        url=url,
        params={"page_size": 5},
        count=17,
        since=datetime(2024, 1, 1, tzinfo=UTC),
        requests=4,
        since_count=5,
    )


SCENARIOS["udata"] = udata


def arcgis(server: FixtureServer) -> Scenario:
    """Évian's real Hub feed (8 datasets, one document); `since` 2023-01-01 keeps 3 (client-side)."""
    from tests.portals.arcgis_portal import EVIAN, serve_feed
    from tests.portals.util import FIXTURES

    url = serve_feed(server, (FIXTURES / EVIAN).read_bytes())
    return Scenario(
        url=url, params={}, count=8, since=datetime(2023, 1, 1, tzinfo=UTC), requests=1, since_count=3
    )


SCENARIOS["arcgis"] = arcgis


def csw(server: FixtureServer) -> Scenario:
    """The 6 real Géo-IDE ISO 19139 records behind a GetRecords endpoint, 2 per page: 3 pages. `since` is
    applied by the server (apiso:Modified >= the cursor): one record was modified after 2020."""
    from tests.portals.csw_portal import CswPortal, real_records

    portal = CswPortal(server, real_records())
    return Scenario(
        url=portal.url,
        params={"page_size": 2},
        count=6,
        since=datetime(2020, 1, 1, tzinfo=UTC),
        requests=3,
        since_count=1,
    )


SCENARIOS["csw"] = csw


def socrata(server: FixtureServer) -> Scenario:
    """The 7 real Discovery API assets, 3 per page: 3 pages; `since` 2018-01-01 keeps the 4 updated in 2018."""
    from tests.portals.socrata_portal import SocrataPortal, socrata_results

    url = SocrataPortal(socrata_results()).install(server)
    domains = ["data.cityofboston.gov", "data.ny.gov", "data.cms.gov", "opendata.howardcountymd.gov"]
    return Scenario(
        url=url,
        params={"domains": [*domains, "data.cityofnewyork.us"], "page_size": 3},
        count=7,
        since=datetime(2018, 1, 1, tzinfo=UTC),
        requests=3,
        since_count=4,
    )


SCENARIOS["socrata"] = socrata


def files(server: FixtureServer) -> Scenario:
    """Three real commune CSV files with ETag and Last-Modified: one HEAD each; `since` keeps the two newer ones."""
    from tests.portals.files_portal import COMMUNE, FileHost, Served

    host = FileHost(server)
    entries = []
    for i, name in enumerate(
        [
            "yffiniac_salles_bom_inside_quotes.csv",
            "cd22_antennes_departementales.csv",
            "bnlc_calvados_covoiturage_utf8_bom.csv",
        ]
    ):
        served = Served((COMMUNE / name).read_bytes(), last_modified=datetime(2024, 1 + 4 * i, 1, tzinfo=UTC))
        entries.append({"url": host.serve(f"/opendata/{name}", served), "title": name, "license": "lov2"})
    return Scenario(
        url=server.url,
        params={"files": entries},
        count=3,
        since=datetime(2024, 3, 1, tzinfo=UTC),
        requests=3,
        since_count=2,
    )


SCENARIOS["files"] = files


def sensorthings(server: FixtureServer) -> Scenario:
    """30 real BGS Datastreams (FROST v1.1, Thing/Sensor/ObservedProperty expanded) with 10 observations each,
    10 per page: the service root and 3 pages. `since` keeps the 10 whose latest observation is newest."""
    from datetime import timedelta

    from tests.portals.sensorthings_portal import T0, StaPortal, bgs_datastreams

    portal = StaPortal(server, bgs_datastreams()[:30])
    portal.add_observations(10)
    since = T0 + timedelta(minutes=20, seconds=9 * 900)
    return Scenario(
        url=portal.url, params={"page_size": 10}, count=30, since=since, requests=4, since_count=10
    )


SCENARIOS["sensorthings"] = sensorthings


def ngsi(server: FixtureServer) -> Scenario:
    """An NGSI-LD broker with 30 WasteContainer and 20 OffStreetParking clones of the Smart Data Models examples,
    10 per page: the type list and 3 + 2 pages. `since` keeps the WasteContainers (observed later)."""
    from datetime import timedelta

    from tests.portals.ngsi_portal import PARKING_LD, T0, WASTE_LD, NgsiPortal, clone

    portal = NgsiPortal(server, clone(PARKING_LD, 20) + clone(WASTE_LD, 30))
    return Scenario(
        url=portal.url,
        params={"page_size": 10},
        count=2,
        since=T0 + timedelta(minutes=25),
        requests=6,
        since_count=1,
    )


SCENARIOS["ngsi"] = ngsi
