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


# --- Broken portals ----------------------------------------------------------------------------------------------
# For each connector whose class says `announces_total`, SHORT serves fewer datasets than the announced total; for
# each `paging` one, LOOPING ignores the paging parameter (page 1 every time) while its envelope or next link
# changes, so only the "no new id" rule can stop it. The contract suite fails for a type missing here.


@dataclass(frozen=True)
class Broken:
    url: str
    params: dict[str, Any]
    kept: int  # records the listing still yields (all served for SHORT, the first page for LOOPING)
    missing: int | None = None  # announced minus served (SHORT)
    overhead: int = 0  # requests before the first page (a service root), not counted as pages


BrokenFn = Callable[[FixtureServer], Broken]
SHORT: dict[str, BrokenFn] = {}
LOOPING: dict[str, BrokenFn] = {}


def ckan_short(server: FixtureServer) -> Broken:
    """50 packages counted, 45 served (a stale Solr count)."""
    from tests.portals.ckan_portal import CkanPortal, build_packages

    CkanPortal(server, build_packages(50)).hidden = 5
    return Broken(server.url, {"rows": 10}, kept=45, missing=5)


def ckan_looping(server: FixtureServer) -> Broken:
    from tests.portals.ckan_portal import CkanPortal, build_packages

    portal = CkanPortal(server, build_packages(30))
    portal.ignore_start = portal.stamp = True
    return Broken(server.url, {"rows": 10}, kept=10)


def udata_short(server: FixtureServer) -> Broken:
    from tests.portals.udata_portal import UdataPortal, udata_records

    url = UdataPortal(udata_records(), announce=20).install(server)
    return Broken(url, {"page_size": 5}, kept=17, missing=3)


def udata_looping(server: FixtureServer) -> Broken:
    from tests.portals.udata_portal import UdataPortal, udata_records

    url = UdataPortal(udata_records(), ignore_page=True).install(server)
    return Broken(url, {"page_size": 5}, kept=5)


def opendatasoft_short(server: FixtureServer) -> Broken:
    from tests.portals.ods_portal import OdsPortal, ods_records

    url = OdsPortal(ods_records(), announce=5).install(server)
    return Broken(url, {"page_size": 2}, kept=3, missing=2)


def opendatasoft_looping(server: FixtureServer) -> Broken:
    from tests.portals.ods_portal import OdsPortal, ods_clone, ods_records

    rows = [ods_clone(r, i) for i, r in enumerate(ods_records() * 2)]
    url = OdsPortal(rows, ignore_offset=True).install(server)
    return Broken(url, {"page_size": 2}, kept=2)


def socrata_short(server: FixtureServer) -> Broken:
    from tests.portals.socrata_portal import SocrataPortal, socrata_results

    url = SocrataPortal(socrata_results(), announce=9).install(server)
    return Broken(url, {"domains": ["data.cityofboston.gov"], "page_size": 3}, kept=1, missing=8)


def socrata_looping(server: FixtureServer) -> Broken:
    from tests.portals.socrata_portal import SocrataPortal, socrata_clone, socrata_results

    rows = [socrata_clone(r, i, "data.ny.gov") for i, r in enumerate(socrata_results() * 2)]
    url = SocrataPortal(rows, ignore_offset=True).install(server)
    return Broken(url, {"domains": ["data.ny.gov"], "page_size": 3}, kept=3)


def csw_short(server: FixtureServer) -> Broken:
    from tests.portals.csw_portal import CswPortal, real_records

    portal = CswPortal(server, real_records(), announce=10)
    return Broken(portal.url, {"page_size": 2}, kept=6, missing=4)


def csw_looping(server: FixtureServer) -> Broken:
    from tests.portals.csw_portal import CswPortal, real_records

    portal = CswPortal(server, real_records(), ignore_start=True)
    return Broken(portal.url, {"page_size": 2}, kept=2)


def dcat_short(server: FixtureServer) -> Broken:
    from tests.portals.dcat_portal import DcatPortal, real_datasets

    datasets = real_datasets()
    portal = DcatPortal(server, datasets, per_page=10, announce=len(datasets) + 7)
    return Broken(portal.url, {}, kept=len(datasets), missing=7)


def dcat_looping(server: FixtureServer) -> Broken:
    from tests.portals.dcat_portal import DcatPortal, real_datasets

    portal = DcatPortal(server, real_datasets(), per_page=10, ignore_page=True)
    return Broken(portal.url, {}, kept=10)


def sensorthings_short(server: FixtureServer) -> Broken:
    """20 Datastreams counted (`@iot.count`), the first page of 5 served without its `@iot.nextLink`."""
    import json

    from tests.fixture_server import Reply
    from tests.portals.sensorthings_portal import StaPortal, bgs_datastreams

    portal = StaPortal(server, bgs_datastreams()[:20])
    route = f"{portal.base_path}/Datastreams"
    real = server.routes[route]

    def no_next(req: Any) -> Reply:
        body = json.loads(real(req).body)
        body.pop("@iot.nextLink", None)
        return Reply(200, json.dumps(body))

    server.route(route, no_next)
    return Broken(portal.url, {"page_size": 5}, kept=5, missing=15)


def sensorthings_looping(server: FixtureServer) -> Broken:
    """Every `@iot.nextLink` points back to the first page (`$skip=0`)."""
    from tests.portals.sensorthings_portal import StaPortal, bgs_datastreams

    portal = StaPortal(server, bgs_datastreams()[:20])
    portal.loop = True
    return Broken(portal.url, {"page_size": 5}, kept=5, overhead=1)


SHORT.update(
    sensorthings=sensorthings_short,
    ckan=ckan_short,
    udata=udata_short,
    opendatasoft=opendatasoft_short,
    socrata=socrata_short,
    csw=csw_short,
    dcat=dcat_short,
)
LOOPING.update(
    sensorthings=sensorthings_looping,
    ckan=ckan_looping,
    udata=udata_looping,
    opendatasoft=opendatasoft_looping,
    socrata=socrata_looping,
    csw=csw_looping,
    dcat=dcat_looping,
)
