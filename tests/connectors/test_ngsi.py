"""NGSI-LD / NGSIv2 connector and entities GeoParquet, against a broker replaying Smart Data Models examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from harvester.connectors.listing import read_listing
from harvester.connectors.ngsi import NgsiConnector, NgsiParams
from harvester.connectors.ngsi_entity import flatten
from harvester.http import HttpClient
from harvester.normalise.sink import read_geo_metadata
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ngsi_portal import (
    PARKING_LD,
    PARKING_V2,
    WASTE_KV,
    WASTE_LD,
    WASTE_V2,
    NgsiPortal,
    clone,
)
from tests.portals.util import load


def connector(url: str, http: HttpClient, **params: Any) -> NgsiConnector:
    return NgsiConnector("city", url, NgsiParams.model_validate(params), http)


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]
    )


def write_sources(tmp_path: Path, url: str, **params: Any) -> None:
    src = {"id": "city", "type": "ngsi", "url": url, "params": params}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [src]}))


# --- flattening the three representations -----------------------------------------------------------------


def test_ngsi_ld_normalized_keeps_observed_at_and_values() -> None:
    row, dates, location = flatten(load(PARKING_LD))
    assert row["availableSpotNumber"] == 132
    assert row["availableSpotNumber_observedAt"] == "2018-09-21T12:00:00Z"
    assert "availableSpotNumber_observedAt" in dates and "accessModified" in dates
    assert row["accessModified"] == "2018-09-21T12:00:00Z"  # {"@type": "DateTime", "@value": …}
    assert json.loads(row["category"])[0] == "underground"
    assert location == {"type": "Point", "coordinates": [-8.60961198807, 41.150691773]}
    assert "@context" not in row and "location" not in row


def test_unit_code_and_relationship() -> None:
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:1",
        "type": "AirQualityObserved",
        "NO2": {"type": "Property", "value": 22.5, "unitCode": "GQ", "observedAt": "2024-01-01T10:00:00Z"},
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:9"},
    }
    row, _, _ = flatten(entity)
    assert (row["NO2"], row["NO2_unitCode"], row["refDevice"]) == (22.5, "GQ", "urn:ngsi-ld:Device:9")


def test_v2_normalized_and_key_values_give_the_same_columns_as_ld() -> None:
    ld, _, loc_ld = flatten(load(WASTE_LD))
    v2, v2_dates, loc_v2 = flatten(load(WASTE_V2))
    kv, _, loc_kv = flatten(load(WASTE_KV))
    assert loc_ld == loc_v2 == loc_kv
    assert ld["binCapacity"] == v2["binCapacity"] == kv["binCapacity"] == 43
    assert set(ld) == set(v2) == set(kv)
    assert "binLoggedTime" in v2_dates
    parking, _, _ = flatten(load(PARKING_V2))
    assert parking["availableSpotNumber_timestamp"] == "2018-09-21T12:00:00Z"  # v2 metadata


# --- connector --------------------------------------------------------------------------------------------


def test_one_dataset_per_type_with_smart_data_model_description(
    server: FixtureServer, http: HttpClient
) -> None:
    portal = NgsiPortal(server, clone(WASTE_LD, 30) + clone(PARKING_LD, 12))
    records = {
        r.remote_id: r
        for r in read_listing(connector(portal.url, http, page_size=10).list_datasets()).records
    }
    assert set(records) == {"WasteContainer", "OffStreetParking"}
    waste = records["WasteContainer"]
    assert waste.title == "Waste container (WasteContainer)"
    assert (
        waste.landing_page
        == "https://github.com/smart-data-models/dataModel.WasteManagement/tree/master/WasteContainer"
    )
    assert (
        waste.description
        and waste.description.startswith("A waste container")
        and "30 entities" in waste.description
    )
    assert waste.extras["ngsi:count"] == "30"
    assert json.loads(waste.spatial or "")["type"] == "Polygon"
    (res,) = waste.resources
    assert res.url == f"{portal.url}/ngsi-ld/v1/entities?type=WasteContainer" and res.format == "NGSI-LD"
    pages = [r for r in server.requests if r.path.endswith("/entities")]
    assert [p.arg("offset") for p in pages] == ["0", "10", "20", "0", "10"]  # stops at NGSILD-Results-Count
    assert all(p.arg("count") == "true" for p in pages)


def test_headers_from_params_and_tenants(server: FixtureServer, http: HttpClient) -> None:
    portal = NgsiPortal(server, [], tenants={"rennes": clone(WASTE_LD, 3), "brest": clone(PARKING_LD, 2)})
    ctx = "https://smartdatamodels.org/context.jsonld"
    conn = connector(portal.url, http, tenants=["rennes", "brest"], context=ctx, headers={"X-Api": "k"})
    records = read_listing(conn.list_datasets()).records
    assert sorted(r.remote_id for r in records) == ["brest/OffStreetParking", "rennes/WasteContainer"]
    req = server.requests[0]
    assert req.headers["NGSILD-Tenant"] == "rennes" and req.headers["X-Api"] == "k"
    assert (
        req.headers["Link"]
        == f'<{ctx}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )


def test_ngsiv2_with_fiware_service_and_total_count(server: FixtureServer, http: HttpClient) -> None:
    portal = NgsiPortal(server, [], flavour="ngsiv2", tenants={"lyon": clone(PARKING_V2, 25)})
    conn = connector(
        portal.url,
        http,
        flavour="ngsiv2",
        tenants=["lyon"],
        service_path="/parkings",
        types=["OffStreetParking"],
        page_size=10,
    )
    (rec,) = read_listing(conn.list_datasets()).records
    assert rec.extras["ngsi:count"] == "25" and rec.resources[0].format == "NGSIv2"
    pages = [r for r in server.requests if r.path == "/v2/entities"]
    assert len(pages) == 3 and all(p.arg("options") == "count" for p in pages)
    assert (
        pages[0].headers["Fiware-Service"] == "lyon" and pages[0].headers["Fiware-ServicePath"] == "/parkings"
    )


def test_capped_limit_followed_to_the_count(server: FixtureServer, http: HttpClient) -> None:
    portal = NgsiPortal(server, clone(WASTE_LD, 45), cap_limit=20)
    conn = connector(portal.url, http, page_size=100)
    listing = read_listing(conn.list_datasets())
    (rec,) = listing.records
    assert rec.extras["ngsi:count"] == "45" and listing.complete
    assert len([r for r in server.requests if r.path.endswith("/entities")]) == 3


def test_listing_short_of_the_count_is_incomplete(server: FixtureServer, http: HttpClient) -> None:
    portal = NgsiPortal(server, clone(WASTE_LD, 15))

    def inflated(req: Request) -> Reply:
        reply = portal.entities(req)
        reply.headers["NGSILD-Results-Count"] = "40"  # an entity vanished while paging, or a capped window
        return reply

    server.route("/ngsi-ld/v1/entities", inflated)
    conn = connector(portal.url, http, page_size=10, types=["WasteContainer"])
    listing = read_listing(conn.list_datasets())
    (rec,) = listing.records
    assert rec.extras["ngsi:count"] == "15" and listing.complete is False


def test_broker_ignoring_offset_is_a_loop(server: FixtureServer, http: HttpClient) -> None:
    portal = NgsiPortal(server, clone(WASTE_LD, 45), ignore_offset=True)
    conn = connector(portal.url, http, page_size=10)
    listing = read_listing(conn.list_datasets())
    assert listing.records == []  # the type's summary would be wrong: not yielded
    assert not listing.complete and "no new id" in str(listing.end.reason)
    assert len([r for r in server.requests if r.path.endswith("/entities")]) == 2


def test_broken_geometry_is_a_record_error_not_a_source_failure(
    server: FixtureServer, tmp_path: Path
) -> None:
    entities = clone(WASTE_LD, 10)
    entities[3]["location"]["value"] = {"type": "Point", "coordinates": "nowhere"}
    entities[6]["location"]["value"]["coordinates"] = [512.0, 95.0]
    portal = NgsiPortal(server, entities)
    write_sources(tmp_path, portal.url)
    res = invoke(tmp_path, "harvest", "city", "--json")
    assert res.exit_code == 3, res.stderr  # partial: record errors
    src = json.loads(res.stdout)["sources"][0]
    assert src["status"] == "partial" and src["listed"] == 1 and src["record_errors"] == 2
    assert {e["remote_id"] for e in src["errors"]} == {entities[3]["id"], entities[6]["id"]}
    res = invoke(tmp_path, "normalise", "city", "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)["sources"][0]["resources"][0]
    assert out["status"] == "ok" and out["rows"] == 10
    assert "2 entities with a broken location" in out["warnings"][0]
    geoms = pq.read_table(tmp_path / "data" / out["table_path"]).column("geometry").to_pylist()
    assert [i for i, g in enumerate(geoms) if g is None] == [3, 6]


@pytest.mark.timeout(60)
def test_done_when_5000_entities_two_types_geoparquet_read_by_duckdb(
    server: FixtureServer, tmp_path: Path
) -> None:
    entities = clone(WASTE_LD, 2500) + clone(PARKING_LD, 2500)
    portal = NgsiPortal(server, entities)
    write_sources(tmp_path, portal.url, page_size=1000)
    res = invoke(tmp_path, "harvest", "city")
    assert res.exit_code == 0, res.stderr
    datasets = pq.read_table(tmp_path / "data/catalog/city/datasets.parquet").to_pylist()
    assert sorted(d["remote_id"] for d in datasets) == ["OffStreetParking", "WasteContainer"]
    res = invoke(tmp_path, "normalise", "city", "--json")
    assert res.exit_code == 0, res.stderr
    outs = {o["dataset_key"]: o for o in json.loads(res.stdout)["sources"][0]["resources"]}
    parking = tmp_path / "data" / outs["city:OffStreetParking"]["table_path"]
    waste = tmp_path / "data" / outs["city:WasteContainer"]["table_path"]
    table = pq.read_table(parking)
    assert table.num_rows == 2500 and pq.read_table(waste).num_rows == 2500
    assert table.schema.field("availableSpotNumber").type == pa.int64()
    assert table.schema.field("availableSpotNumber_observedAt").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("occupancy").type == pa.float64()
    geo = read_geo_metadata(parking)
    assert geo is not None and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and col["geometry_types"] == ["Point"] and "crs" not in col
    first = shapely.from_wkb(table.column("geometry")[0].as_py())
    assert (first.x, first.y) == (-1.75, 48.07)
    con = duckdb.connect()
    try:
        con.execute("LOAD spatial")
        spatial = True
    except duckdb.Error:
        spatial = False  # the spatial extension is not installed offline: shapely and the metadata decide
    if spatial:
        x, y = con.execute(f"select ST_X(geometry), ST_Y(geometry) from '{parking}' limit 1").fetchone()
        assert (x, y) == (-1.75, 48.07)
    n, ids = con.execute(f"select count(*), count(distinct id) from '{waste}'").fetchone()
    assert (n, ids) == (2500, 2500)
    wkb = con.execute(
        f"select geometry from '{waste}' where id = 'urn:ngsi-ld:WasteContainer:rennes-000101'"
    ).fetchone()[0]
    assert shapely.from_wkb(bytes(wkb)).coords[0] == pytest.approx((-1.748, 48.0708))
    # unchanged broker: the entities are read again, but the tables are kept
    res = invoke(tmp_path, "normalise", "city", "--json")
    src = json.loads(res.stdout)["sources"][0]
    assert (src["converted"], src["unchanged"]) == (0, 2)


def test_ngsiv2_entities_normalised_with_the_tenant_headers(server: FixtureServer, tmp_path: Path) -> None:
    portal = NgsiPortal(
        server, [], flavour="ngsiv2", tenants={"lyon": clone(PARKING_V2, 12) + clone(WASTE_V2, 3)}
    )
    write_sources(tmp_path, portal.url, flavour="ngsiv2", tenants=["lyon"], page_size=5)
    assert invoke(tmp_path, "harvest", "city").exit_code == 0
    res = invoke(tmp_path, "normalise", "city", "--json")
    assert res.exit_code == 0, res.stderr
    outs = {o["dataset_key"]: o for o in json.loads(res.stdout)["sources"][0]["resources"]}
    assert set(outs) == {"city:lyon/OffStreetParking", "city:lyon/WasteContainer"}
    table = pq.read_table(tmp_path / "data" / outs["city:lyon/OffStreetParking"]["table_path"])
    assert table.num_rows == 12
    assert table.schema.field("availableSpotNumber_timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("dateModified").type == pa.timestamp("us", tz="UTC")
    assert shapely.from_wkb(table.column("geometry")[0].as_py()).geom_type == "Point"
    entity_requests = [r for r in server.requests if r.path == "/v2/entities"]
    assert entity_requests and all(r.headers.get("Fiware-Service") == "lyon" for r in entity_requests)
