"""opendatasoft, udata, arcgis, socrata and files harvested into the catalogue (harvest stage, Parquet snapshot).

Each harvests its real recorded payloads from the local server; the catalogue holds the right counts, identities,
titles, dates, licences (normalised), publishers and resources. A failing later run (HTML instead of the API,
malformed or oversized answers) leaves the previous snapshot byte for byte intact.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from harvester.config import parse_sources
from harvester.harvest import SourceResult, harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply
from tests.portals.arcgis_portal import EVIAN, serve_feed
from tests.portals.files_portal import COMMUNE, FileHost, Served
from tests.portals.ods_portal import OdsPortal, ods_records
from tests.portals.socrata_portal import SocrataPortal, socrata_results
from tests.portals.udata_portal import UdataPortal, udata_records
from tests.portals.util import FIXTURES

FAST = {"backoff": 0.01, "timeout": 2, "max_retries": 1}


def harvest(tmp_path: Path, state: StateStore, http: HttpClient, source: dict[str, Any]) -> SourceResult:
    cfg = parse_sources({"sources": [{"http": FAST, **source}]})
    return harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id()
    )


def catalogue(tmp_path: Path, source_id: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    d = tmp_path / "data" / "catalog" / source_id
    datasets = {r["remote_id"]: r for r in pq.read_table(d / "datasets.parquet").to_pylist()}
    return datasets, pq.read_table(d / "resources.parquet").to_pylist()


def files_digest(tmp_path: Path, source_id: str) -> dict[str, str]:
    d = tmp_path / "data" / "catalog" / source_id
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob("*.parquet"))}


def test_opendatasoft_into_the_catalogue(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    url = OdsPortal(ods_records()).install(server)
    res = harvest(tmp_path, state, http, {"id": "rennes", "type": "opendatasoft", "url": url})
    assert (res.status, res.listed, res.created) == ("ok", 3, 3)
    ds, resources = catalogue(tmp_path, "rennes")
    assert sorted(ds) == ["da_5m8ykr", "da_6kvv9v", "da_s2n5ed"]
    world = ds["da_6kvv9v"]
    assert world["dataset_key"] == "rennes:da_6kvv9v"
    assert world["title"] == "World Administrative Boundaries - Countries and Territories"
    assert (world["license_raw"], world["license_id"]) == ("Open Government Licence v3.0", "ogl-uk-3.0")
    assert world["publisher"] == "World Food Programme (UN agency)"
    assert world["modified"] == datetime(2021, 6, 23, 14, 59, 57, tzinfo=UTC)
    assert ("ods_dataset_id", "world-administrative-boundaries-countries-and-territories") in world["extras"]
    assert ds["da_s2n5ed"]["license_id"] == "cc-by-4.0" and ds["da_5m8ykr"]["license_id"] is None
    formats = sorted((r["dataset_key"].split(":")[1], r["format"]) for r in resources)
    assert formats.count(("da_5m8ykr", "ZIP")) == 1  # the attachment
    assert [f for k, f in formats if k == "da_6kvv9v"] == ["CSV", "GEOJSON", "JSON", "PARQUET"]
    assert len(resources) == 13

    before = files_digest(tmp_path, "rennes")
    server.route(
        "/api/explore/v2.1/catalog/datasets",
        Reply(200, "<html><body>Maintenance</body></html>", content_type="text/html"),
    )
    failed = harvest(tmp_path, state, http, {"id": "rennes", "type": "opendatasoft", "url": url})
    assert failed.status == "failed" and "HTML" in (failed.error or "")
    assert "/api/explore/v2.1/catalog/datasets" in (failed.error or "")
    assert files_digest(tmp_path, "rennes") == before  # the previous snapshot is intact


def test_udata_into_the_catalogue_then_incremental(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    url = UdataPortal(udata_records()).install(server)
    src = {"id": "datagouv", "type": "udata", "url": url, "params": {"page_size": 5}}
    first = harvest(tmp_path, state, http, src)
    assert (first.status, first.mode, first.listed, first.created) == ("ok", "full", 17, 17)
    ds, resources = catalogue(tmp_path, "datagouv")
    cat = ds["5d13a8b6634f41070a43dff3"]
    assert (cat["title"], cat["license_id"], cat["publisher"]) == (
        "Catalogue des données de data.gouv.fr",
        "lov2",
        "data.gouv.fr",
    )
    assert cat["modified"] == datetime(2025, 4, 7, 8, 15, 30, 581000, tzinfo=UTC)
    dlva = dict(ds["612904755f59b6818346ea4d"]["extras"])
    assert dlva["harvest:domain"] == "trouver.datasud.fr"
    assert dlva["harvest:remote_id"] == "0c5ad935-272e-4d9e-b0db-cdcb1a5309b8"
    assert ds["5baaeb519ce2e7674c6c0dc1"]["license_id"] == "odc-odbl"
    assert len(resources) == sum(len(r["resources"]) for r in udata_records())

    # Incremental: stops at the cursor (the newest dataset) on the first page, and lists ids for deletions.
    server.requests.clear()
    second = harvest(tmp_path, state, http, src)
    assert (second.status, second.mode, second.listed, second.unchanged) == ("ok", "incremental", 1, 1)
    assert (second.total, second.withdrawn) == (17, 0)
    listing = [r for r in server.requests if "X-Fields" not in r.headers]
    assert [r.arg("page") for r in listing] == ["1"]

    before = files_digest(tmp_path, "datagouv")
    server.route("/api/1/datasets/", '{"data": [{"id": "5d13a8b6634f41070a43dff3", "title": "Catal')
    failed = harvest(tmp_path, state, http, src)
    assert failed.status == "failed" and "malformed JSON" in (failed.error or "")
    assert files_digest(tmp_path, "datagouv") == before


def test_arcgis_into_the_catalogue(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    url = serve_feed(server, (FIXTURES / EVIAN).read_bytes())
    res = harvest(tmp_path, state, http, {"id": "evian", "type": "arcgis", "url": url})
    assert (res.status, res.listed) == ("ok", 8)
    ds, resources = catalogue(tmp_path, "evian")
    velos = ds["f6565516d1354383b25793e630cf3f2b_5"]
    assert velos["title"] == "stationnement velos" and velos["publisher"] == "Ville d'Evian-les-Bains"
    assert velos["license_id"] == "lov2"  # "Soumis à la licence Etalab : …" once the HTML is removed
    assert velos["issued"] == datetime(2022, 7, 29, 10, 7, 13, tzinfo=UTC)
    mine = sorted(
        r["format"] for r in resources if r["dataset_key"] == "evian:f6565516d1354383b25793e630cf3f2b_5"
    )
    assert mine == ["CSV", "ESRI REST", "GEOJSON", "KML", "SHP"]

    before = files_digest(tmp_path, "evian")
    failed = harvest(
        tmp_path,
        state,
        http,
        {"id": "evian", "type": "arcgis", "url": url, "http": {**FAST, "max_bytes": 4096}},
    )
    assert failed.status == "failed" and "too large" in (failed.error or "") and url in (failed.error or "")
    assert files_digest(tmp_path, "evian") == before


def test_socrata_into_the_catalogue(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    url = SocrataPortal(socrata_results()).install(server)
    params = {"domains": ["data.cityofboston.gov", "opendata.howardcountymd.gov"], "page_size": 2}
    res = harvest(tmp_path, state, http, {"id": "socrata", "type": "socrata", "url": url, "params": params})
    assert (res.status, res.listed) == ("ok", 4)
    ds, resources = catalogue(tmp_path, "socrata")
    boston = ds["data.cityofboston.gov:msk6-43c6"]
    assert (
        boston["title"] == "Approved Building Permits"
        and boston["publisher"] == "Inspectional Services Division"
    )
    assert (boston["license_raw"], boston["license_id"]) == (
        "Creative Commons Attribution 3.0 Unported",
        "cc-by-3.0",
    )
    assert ds["opendata.howardcountymd.gov:kvz2-j5cj"]["license_id"] == "other-pd"
    assert sorted(
        r["format"] for r in resources if r["dataset_key"] == "socrata:data.cityofboston.gov:msk6-43c6"
    ) == [
        "CSV",
        "JSON",
    ]


def test_files_hash_follows_the_file(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    host = FileHost(server)
    t1 = datetime(2024, 3, 1, tzinfo=UTC)
    salles = host.serve(
        "/f/salles.csv",
        Served((COMMUNE / "yffiniac_salles_bom_inside_quotes.csv").read_bytes(), last_modified=t1),
    )
    antennes = host.serve(
        "/f/antennes.csv", Served((COMMUNE / "cd22_antennes_departementales.csv").read_bytes(), head=False)
    )
    src = {
        "id": "yffiniac",
        "type": "files",
        "params": {
            "files": [
                {
                    "url": salles,
                    "title": "Salles municipales",
                    "publisher": "Commune d'Yffiniac",
                    "license": "lov2",
                },
                {
                    "url": antennes,
                    "title": "Antennes du CD22",
                    "publisher": "CD22",
                    "license": "Licence Ouverte",
                },
            ]
        },
    }
    first = harvest(tmp_path, state, http, src)
    assert (first.status, first.created) == ("ok", 2)
    ds, resources = catalogue(tmp_path, "yffiniac")
    assert ds[salles]["title"] == "Salles municipales" and ds[salles]["license_id"] == "lov2"
    assert ds[salles]["modified"] == t1 and ds[antennes]["license_id"] == "lov2"
    assert sorted(r["format"] for r in resources) == ["CSV", "CSV"]
    hashes = {k: v["metadata_hash"] for k, v in ds.items()}

    again = harvest(tmp_path, state, http, src)
    assert (again.unchanged, again.updated) == (2, 0)  # HEAD for one, a 304 for the other

    host.files["/f/antennes.csv"] = Served(
        (COMMUNE / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes(), head=False
    )
    changed = harvest(tmp_path, state, http, src)
    assert (changed.unchanged, changed.updated) == (1, 1)
    ds2, _ = catalogue(tmp_path, "yffiniac")
    assert (
        ds2[salles]["metadata_hash"] == hashes[salles] and ds2[antennes]["metadata_hash"] != hashes[antennes]
    )

    server.route("/f/salles.csv", Reply(404, "Not Found", content_type="text/plain"))
    gone = harvest(tmp_path, state, http, src)
    assert gone.status == "partial" and gone.withdrawn == 0  # a missing file is an error, not a withdrawal
    ds3, _ = catalogue(tmp_path, "yffiniac")
    assert ds3[salles]["withdrawn_at"] is None and ds3[salles]["metadata_hash"] == hashes[salles]
