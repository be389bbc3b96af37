"""SensorThings API connector and Observations tables, against a FROST-like replay of the real BGS Datastreams."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from harvester.connectors.listing import read_listing
from harvester.connectors.sensorthings import SensorThingsConnector, SensorThingsParams
from harvester.connectors.sta_map import map_datastream
from harvester.errors import SourceError
from harvester.http import HttpClient
from harvester.licenses import normalise_license
from harvester.normalise.observations import existing_state
from tests.fixture_server import FixtureServer, Reply
from tests.portals.sensorthings_portal import StaPortal, bgs_datastreams
from tests.portals.util import load


def connector(url: str, http: HttpClient, **params: Any) -> SensorThingsConnector:
    return SensorThingsConnector("bgs", url, SensorThingsParams.model_validate(params), http)


def obs_paths(server: FixtureServer) -> list[str]:
    return [r.path for r in server.requests if r.path.endswith("/Observations")]


# --- mapping ------------------------------------------------------------------------------------------------


def test_real_bgs_datastream_maps_title_licence_extent_and_extras(
    server: FixtureServer, http: HttpClient
) -> None:
    portal = StaPortal(server, bgs_datastreams()[:3])
    portal.add_observations(4)
    records = read_listing(connector(portal.url, http).list_datasets()).records
    rec = records[0]
    assert rec.remote_id == f"{portal.url.split('://')[1]}/Datastreams(1)"
    assert rec.title == "GGERFS_01 Barometric Pressure"
    assert rec.license_raw is not None and "Open Government Licence" in rec.license_raw
    assert normalise_license(rec.license_raw) == "ogl-uk"
    assert json.loads(rec.spatial or "")["type"] == "Point"
    assert "Barometric Pressure" in rec.keywords
    assert rec.extras["sta:observationType"] == "OM_Measurement"
    assert json.loads(rec.extras["sta:unitOfMeasurement"])[0]["symbol"] == "mbar"
    assert rec.extras["sta:properties:data_type"] == "Measured"
    assert rec.modified == datetime(2023, 1, 1, 0, 45, tzinfo=UTC)
    (res,) = rec.resources
    assert res.url == f"{portal.url}/Datastreams(1)/Observations?$resultFormat=dataArray"
    assert res.format == "SensorThings"
    # one request per page thanks to $expand, none per Datastream
    assert [r.path for r in server.requests] == [portal.base_path, f"{portal.base_path}/Datastreams"]
    assert "Thing($expand=Locations)" in (server.requests[1].arg("$expand") or "")


def test_frost_test_entities_thing_location_is_the_extent() -> None:
    thing = load("iot/sensorthings/frost_tests_entities_default.json")
    ds = dict(thing["Datastreams"][0], Thing=thing, **{"@iot.id": "ds-1"})
    rec = map_datastream(ds, source_id="s", server="https://h/v1.0", kind="Datastreams", data_array=False)
    assert rec.remote_id == "h/v1.0/Datastreams('ds-1')"
    assert json.loads(rec.spatial or "") == {"type": "Point", "coordinates": [-117.05, 51.05]}
    assert rec.extras["sta:observationType"] == "OM_Measurement"  # from the full OGC URI
    assert rec.resources[0].url == "https://h/v1.0/Datastreams('ds-1')/Observations"
    assert rec.modified is None


def test_v10_server_without_data_array_and_json_observations(server: FixtureServer, http: HttpClient) -> None:
    portal = StaPortal(server, bgs_datastreams()[:2], version="v1.0")
    portal.add_observations(3)
    rec = read_listing(connector(portal.url, http).list_datasets()).records[0]
    assert "$resultFormat" not in rec.resources[0].url


# --- paging -------------------------------------------------------------------------------------------------


def test_keyset_next_links_followed_to_count_on_a_server_capping_top(
    server: FixtureServer, http: HttpClient
) -> None:
    portal = StaPortal(server, bgs_datastreams(), cap_top=25)
    portal.add_observations(1)
    conn = connector(portal.url, http, page_size=100)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 102 and listing.complete
    pages = [r for r in server.requests if r.path.endswith("/Datastreams")]
    assert len(pages) == 5  # 25 per page: 102 = 4 × 25 + 2, no request past @iot.count
    keys = [int((p.arg("$skipFilter") or "").removeprefix("(id gt ").rstrip(")")) for p in pages[1:]]
    assert keys == sorted(keys) and keys[0] == 25  # keyset links, opaque to the client


def test_listing_short_of_count_is_incomplete(server: FixtureServer, http: HttpClient) -> None:
    portal = StaPortal(server, bgs_datastreams()[:20])
    real = server.routes[f"{portal.base_path}/Datastreams"]

    def no_next(req: Any) -> Reply:
        reply = real(req)
        body = json.loads(reply.body)
        body.pop("@iot.nextLink", None)
        return Reply(200, json.dumps(body))

    server.route(f"{portal.base_path}/Datastreams", no_next)
    conn = connector(portal.url, http, page_size=5)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 5
    assert listing.complete is False


def test_next_link_loop_ends_the_listing_incomplete(server: FixtureServer, http: HttpClient) -> None:
    """A next link back to the first page: the first page is kept, the listing is incomplete (nothing withdrawn)."""
    portal = StaPortal(server, bgs_datastreams()[:20])
    portal.loop = True
    conn = connector(portal.url, http, page_size=5)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 5
    assert not listing.complete and "pagination loop" in str(listing.end.reason)


def test_not_a_service_root(server: FixtureServer, http: HttpClient) -> None:
    server.route("/x", Reply(200, "<html>portal</html>", content_type="text/html"))
    with pytest.raises(SourceError):
        read_listing(connector(f"{server.url}/x", http).list_datasets())


def test_incremental_filter_and_fallback_when_refused(server: FixtureServer, http: HttpClient) -> None:
    portal = StaPortal(server, bgs_datastreams()[:10])
    portal.add_observations(4)
    portal.add_observations(4, streams=[2, 7])
    since = datetime(2023, 1, 1, 1, 30, tzinfo=UTC)
    got = read_listing(connector(portal.url, http).list_datasets(since=since)).records
    assert sorted(r.extras["sta:iot_id"] for r in got) == ["3", "8"]
    assert server.requests[-1].arg("$filter") == "phenomenonTime ge 2023-01-01T01:30:00Z"
    # a server that refuses the filter: client-side filtering gives the same answer
    portal.refuse_time_filter = True
    server.requests.clear()
    got2 = read_listing(connector(portal.url, http).list_datasets(since=since)).records
    assert sorted(r.extras["sta:iot_id"] for r in got2) == ["3", "8"]
    statuses = [r.arg("$filter") for r in server.requests if r.path.endswith("/Datastreams")]
    assert statuses == ["phenomenonTime ge 2023-01-01T01:30:00Z", None]  # refused (400), then read whole


# --- observations tables ------------------------------------------------------------------------------------


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]
    )


def write_sources(tmp_path: Path, url: str, **params: Any) -> None:
    src = {"id": "bgs", "type": "sensorthings", "url": url, "params": params}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [src]}))


def tables_rows(data: Path) -> int:
    rows = pq.read_table(data / "tables/bgs/index.parquet").to_pylist()
    return sum(existing_state(data / r["table_path"])[0] for r in rows if r["table_path"])


@pytest.mark.timeout(60)
def test_done_when_100k_observations_then_1000_new_through_the_cli(
    server: FixtureServer, tmp_path: Path
) -> None:
    """BGS-shaped replay: 50 Datastreams × 2,000 observations in pages of 500; then 1,000 new ones."""
    portal = StaPortal(server, bgs_datastreams()[:50])
    portal.add_observations(2000)
    write_sources(tmp_path, portal.url, observations_page_size=500, first_window_days=365)
    res = invoke(tmp_path, "harvest", "bgs")
    assert res.exit_code == 0, res.stderr
    datasets = pq.read_table(tmp_path / "data/catalog/bgs/datasets.parquet")
    assert datasets.num_rows == 50
    res = invoke(tmp_path, "normalise", "bgs", "--json")
    assert res.exit_code == 0, res.stderr
    src = json.loads(res.stdout)["sources"][0]
    assert (src["converted"], src["failed"]) == (50, 0)
    assert portal.obs_served == 100_000
    assert len(obs_paths(server)) == 50 * 4  # 2,000 / 500 pages each
    resources = pq.read_table(tmp_path / "data/tables/bgs/index.parquet").to_pylist()
    assert {r["table_status"] for r in resources} == {"ok"} and len(resources) == 50
    assert all(r["table_rows"] == 2000 for r in resources)
    table = pq.read_table(tmp_path / "data" / resources[0]["table_path"])
    assert table.schema.field("phenomenonTime").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("result").type == pa.float64()
    assert table.column("unit_symbol").unique().to_pylist() == ["mbar"]
    assert table.column("resultQuality_quality").unique().to_pylist() == ["Good"]
    assert tables_rows(tmp_path / "data") == 100_000

    portal.obs_served = 0
    server.requests.clear()
    portal.add_observations(100, streams=list(range(0, 50, 5)))  # 10 Datastreams × 100 = 1,000 new
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    res = invoke(tmp_path, "normalise", "bgs", "--json")
    assert res.exit_code == 0, res.stderr
    src = json.loads(res.stdout)["sources"][0]
    assert (src["converted"], src["unchanged"], src["failed"]) == (10, 40, 0)
    assert portal.obs_served == 1000  # only the new observations were downloaded
    assert len(obs_paths(server)) == 10  # the 40 others cost no request
    filters = {r.arg("$filter") for r in server.requests if r.path.endswith("/Observations")}
    assert all(f and f.startswith("phenomenonTime gt 2023-01-") for f in filters)
    assert tables_rows(tmp_path / "data") == 101_000
    glob = str(tmp_path / "data/tables/bgs/*/*/**/*.parquet")
    con = duckdb.connect()
    n, distinct, months = con.execute(
        f"select count(*), count(distinct id), count(distinct month) from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchone()
    assert (n, distinct) == (101_000, 101_000)
    assert months == 1


def test_first_window_and_json_format_with_real_quality(server: FixtureServer, tmp_path: Path) -> None:
    portal = StaPortal(server, bgs_datastreams()[:2], data_array=False)
    portal.add_observations(3000)  # 31 days of 15-minute values
    write_sources(tmp_path, portal.url, first_window_days=7, observations_page_size=400)
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    assert invoke(tmp_path, "normalise", "bgs").exit_code == 0
    assert tables_rows(tmp_path / "data") == 2 * (7 * 96 + 1)  # the week before the latest observation
    req = next(r for r in server.requests if r.path.endswith("/Observations"))
    assert req.arg("$resultFormat") is None and req.arg("$orderby") == "phenomenonTime asc"
    resources = pq.read_table(tmp_path / "data/tables/bgs/index.parquet").to_pylist()
    table = pq.read_table(tmp_path / "data" / resources[0]["table_path"])
    assert table.column("resultQuality_reason")[0].as_py() == "Data Verified (manual check)"


@pytest.mark.parametrize(
    ("otype", "results", "arrow", "expected", "invalid"),
    [
        ("OM_CountObservation", [3, 4.0, "x"], pa.int64(), [3, 4, None], 1),
        ("OM_TruthObservation", [True, "false", 2], pa.bool_(), [True, False, None], 1),
        ("OM_CategoryObservation", ["dry", "wet", 1], pa.string(), ["dry", "wet", "1"], 0),
        ("OM_Observation", [{"a": 1}, "t", None], pa.string(), ['{"a":1}', "t", None], 0),
    ],
)
def test_result_typed_from_observation_type(
    server: FixtureServer,
    tmp_path: Path,
    otype: str,
    results: list[Any],
    arrow: pa.DataType,
    expected: list[Any],
    invalid: int,
) -> None:
    ds = dict(bgs_datastreams()[0], observationType=otype)
    portal = StaPortal(server, [ds])
    portal.add_observations(len(results))
    real = portal._obs
    portal._obs = lambda s, k: {**real(s, k), "result": results[k]}  # type: ignore[method-assign]
    write_sources(tmp_path, portal.url, first_window_days=None)
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    res = invoke(tmp_path, "normalise", "bgs", "--json")
    out = json.loads(res.stdout)["sources"][0]["resources"][0]
    table = pq.read_table(tmp_path / "data" / out["table_path"])
    assert table.schema.field("result").type == arrow
    assert table.column("result").to_pylist() == expected
    assert out["detected"]["observation_type"] == otype
    if invalid:
        assert table.column("result_invalid").drop_null().to_pylist() == [str(results[-1])]
        assert any("result_invalid" in w for w in out["warnings"])


MULTI = {
    "@iot.id": 7,
    "name": "GGA01 weather mast",
    "description": "Air temperature and rain gauge tips",
    "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation",
    "multiObservationDataTypes": [
        "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation",
    ],
    "unitOfMeasurements": [
        {"name": "degree Celsius", "symbol": "degC", "definition": "ucum:Cel"},
        {"name": "count", "symbol": "{tips}", "definition": "ucum:{tips}"},
    ],
    "ObservedProperties": [{"name": "Air temperature"}, {"name": "Rain gauge tips"}],
}


def test_multidatastream_dataset_and_component_columns(server: FixtureServer, tmp_path: Path) -> None:
    portal = StaPortal(server, bgs_datastreams()[:1], multidatastreams=True)
    portal.add_observations(5)
    portal.add_multi(MULTI, 30)
    write_sources(tmp_path, portal.url, first_window_days=None, observations_page_size=8)
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    datasets = {
        d["name"]: d for d in pq.read_table(tmp_path / "data/catalog/bgs/datasets.parquet").to_pylist()
    }
    multi = datasets["multidatastream-7"]
    assert multi["remote_id"].endswith("/MultiDatastreams(7)") and "Rain gauge tips" in multi["keywords"]
    res = invoke(tmp_path, "normalise", "bgs", "--json")
    assert res.exit_code == 0, res.stderr
    out = {o["dataset_key"]: o for o in json.loads(res.stdout)["sources"][0]["resources"]}[
        multi["dataset_key"]
    ]
    table = pq.read_table(tmp_path / "data" / out["table_path"])
    assert table.num_rows == 30
    assert (table.schema.field("result_1").type, table.schema.field("result_2").type) == (
        pa.float64(),
        pa.int64(),
    )
    assert table.column("result_2").to_pylist()[:3] == [0, 1, 2]
    assert table.column("unit_symbol_1")[0].as_py() == "degC"


def test_server_ignoring_the_time_filter_adds_no_duplicates(server: FixtureServer, tmp_path: Path) -> None:
    portal = StaPortal(server, bgs_datastreams()[:1])
    portal.add_observations(50)
    write_sources(tmp_path, portal.url, first_window_days=None)
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    assert invoke(tmp_path, "normalise", "bgs").exit_code == 0
    portal.add_observations(7)
    route = f"{portal.base_path}/Datastreams({portal.streams[0].iot_id})/Observations"
    real = server.routes[route]

    def ignore_filter(req: Any) -> Reply:
        req.query.pop("$filter", None)
        return real(req)

    server.route(route, ignore_filter)
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    res = invoke(tmp_path, "normalise", "bgs", "--json")
    out = json.loads(res.stdout)["sources"][0]["resources"][0]
    assert (out["status"], out["rows"], out["detected"]["observations_new"]) == ("ok", 57, 7)
    assert "50 older observations dropped" in out["warnings"][0]
    assert tables_rows(tmp_path / "data") == 57


def test_many_appends_are_compacted_per_month(
    server: FixtureServer, tmp_path: Path, monkeypatch: Any
) -> None:
    from harvester.normalise import observations

    monkeypatch.setattr(observations, "MAX_PARTS", 2)
    portal = StaPortal(server, bgs_datastreams()[:1])
    portal.add_observations(10)
    write_sources(tmp_path, portal.url, first_window_days=None)
    for _ in range(4):  # one part per run, merged when a month holds more than 2
        assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
        assert invoke(tmp_path, "normalise", "bgs").exit_code == 0
        portal.add_observations(10)
    data = tmp_path / "data"
    (month,) = {p.parent for p in data.glob("tables/bgs/*/*/year=*/month=*/*.parquet")}
    parts = sorted(month.glob("*.parquet"))
    assert len(parts) == 2 and sum(p.name.endswith("-compacted.parquet") for p in parts) == 1
    rows, latest, _ = existing_state(month.parent.parent)
    assert rows == 40 and latest == datetime(2023, 1, 1, 9, 45, tzinfo=UTC)
    ids = pq.read_table(month.parent.parent).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 40


def test_force_rewrites_and_a_broken_page_fails_the_resource_only(
    server: FixtureServer, tmp_path: Path
) -> None:
    portal = StaPortal(server, bgs_datastreams()[:2])
    portal.add_observations(40)
    write_sources(tmp_path, portal.url, first_window_days=None, observations_page_size=15)
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    assert invoke(tmp_path, "normalise", "bgs").exit_code == 0
    res = invoke(tmp_path, "normalise", "bgs", "--force", "--json")
    assert [o["rows"] for o in json.loads(res.stdout)["sources"][0]["resources"]] == [40, 40]
    assert tables_rows(tmp_path / "data") == 80  # rewritten, not appended twice

    portal.add_observations(5)
    route = f"{portal.base_path}/Datastreams({portal.streams[1].iot_id})/Observations"
    server.route(route, Reply(200, "<html><body>Maintenance</body></html>", content_type="text/html"))
    assert invoke(tmp_path, "harvest", "bgs").exit_code == 0
    res = invoke(tmp_path, "normalise", "bgs", "--json")
    assert res.exit_code == 3  # some resources failed
    outs = json.loads(res.stdout)["sources"][0]["resources"]
    assert [o["status"] for o in outs] == ["ok", "failed"]
    assert "HTML" in outs[1]["error"]
    resources = pq.read_table(tmp_path / "data/tables/bgs/index.parquet").to_pylist()
    assert [r["table_rows"] for r in resources] == [45, 40]  # the failed one keeps its table
    assert tables_rows(tmp_path / "data") == 85
