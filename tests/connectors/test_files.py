"""`files` connector: real commune CSV files served with the HTTP behaviours met on commune web servers."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from harvester.connectors.files import FilesConnector, FilesParams
from harvester.connectors.listing import read_listing
from harvester.http import HttpClient, HttpPolicy
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply
from tests.portals.files_portal import COMMUNE, FileHost, Served

YFFINIAC = (COMMUNE / "yffiniac_salles_bom_inside_quotes.csv").read_bytes()
CD22 = (COMMUNE / "cd22_antennes_departementales.csv").read_bytes()
CALVADOS = (COMMUNE / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()
T1 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
T2 = datetime(2024, 9, 15, 17, 0, tzinfo=UTC)


def _conn(http: HttpClient, files: list[dict[str, object]], **params: object) -> FilesConnector:
    return FilesConnector("yffiniac", "", FilesParams.model_validate({"files": files, **params}), http)


def _entry(url: str, title: str = "Salles municipales", **kw: object) -> dict[str, object]:
    return {"url": url, "title": title, "publisher": "Commune d'Yffiniac", "license": "lov2", **kw}


def test_issue_example_shape_is_accepted() -> None:
    doc = yaml.safe_load(
        """
        files:
          - url: https://www.example-commune.fr/opendata/budget-2024.csv
            title: Budget primitif 2024
            publisher: Ville de Digne-les-Bains
            license: lov2
            description: optional
        """
    )
    params = FilesParams.model_validate(doc)
    assert params.files[0].publisher == "Ville de Digne-les-Bains"
    with pytest.raises(ValidationError):
        FilesParams.model_validate(
            {"files": [{"url": "https://x.fr/a.csv", "title": "A", "licence": "lov2"}]}
        )
    with pytest.raises(ValidationError):
        FilesParams.model_validate({"files": [{"url": "ftp://x.fr/a.csv", "title": "A"}]})
    with pytest.raises(ValidationError, match="duplicated"):
        FilesParams.model_validate({"files": [{"url": "https://x.fr/a.csv", "title": "A"}] * 2})
    with pytest.raises(ValidationError):
        FilesParams.model_validate({"files": []})


def test_head_gives_the_metadata(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    a = host.serve("/opendata/salles.csv", Served(YFFINIAC, last_modified=T1))
    b = host.serve("/opendata/antennes.csv", Served(CD22, last_modified=T2))
    conn = _conn(
        http, [_entry(a, description="Salles et capacités"), _entry(b, "Antennes", publisher="CD22")]
    )
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert [r.method for r in server.requests] == ["HEAD", "HEAD"]  # nothing downloaded
    salles, antennes = records
    assert salles.remote_id == a and salles.title == "Salles municipales"
    assert salles.publisher == "Commune d'Yffiniac" and salles.license_raw == "lov2"
    assert salles.description == "Salles et capacités"
    assert salles.modified == T1
    res = salles.resources[0]
    assert (res.url, res.format, res.size_bytes, res.media_type, res.modified) == (
        a,
        "csv",
        len(YFFINIAC),
        "text/csv",
        T1,
    )
    assert salles.extras == {
        "files:etag": '"' + hashlib.sha1(YFFINIAC).hexdigest()[:16] + '"',
        "files:last_modified": "Fri, 01 Mar 2024 08:30:00 GMT",
        "files:size": str(len(YFFINIAC)),
    }
    assert antennes.publisher == "CD22" and antennes.modified == T2
    assert listing.complete and listing.errors == []


def test_head_refused_then_conditional_get(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    url = host.serve("/data/salles.csv", Served(YFFINIAC, last_modified=T1, head=False))
    first = read_listing(_conn(http, [_entry(url)]).list_datasets()).records[0]
    assert [r.method for r in server.requests] == ["HEAD", "GET"]
    assert first.extras["files:sha256"] == hashlib.sha256(YFFINIAC).hexdigest()
    assert first.extras["files:size"] == str(len(YFFINIAC)) and first.modified == T1

    second = read_listing(_conn(http, [_entry(url)]).list_datasets()).records[0]
    get = server.requests[-1]
    assert (
        get.method == "GET" and get.headers.get("If-None-Match") == host.files["/data/salles.csv"].etag_value
    )
    assert second.extras == first.extras and second.modified == first.modified  # a 304: same record
    assert second.resources == first.resources and second.resources[0].media_type == "text/csv"

    host.files["/data/salles.csv"] = Served(
        CD22, last_modified=T2, head=False
    )  # the commune replaced the file
    third = read_listing(_conn(http, [_entry(url)]).list_datasets()).records[0]
    assert third.extras["files:sha256"] == hashlib.sha256(CD22).hexdigest()
    assert third.extras != first.extras and third.modified == T2


def test_no_validators_size_then_checksum(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    url = host.serve("/f/covoiturage.csv", Served(CALVADOS, etag=False))
    rec = read_listing(_conn(http, [_entry(url, "Aires de covoiturage")]).list_datasets()).records[0]
    # HEAD with only Content-Length: the size is the change signal (data.gouv.fr's rule), no download
    assert [r.method for r in server.requests] == ["HEAD"]
    assert rec.extras == {"files:size": str(len(CALVADOS))} and rec.modified is None

    refused = host.serve("/f/refused.csv", Served(CALVADOS, etag=False, head=False))
    one = read_listing(_conn(http, [_entry(refused)]).list_datasets()).records[0]
    two = read_listing(_conn(http, [_entry(refused)]).list_datasets()).records[0]
    # HEAD refused and no validators: the checksum decides; the same bytes give the same record
    assert one.extras["files:sha256"] == hashlib.sha256(CALVADOS).hexdigest()
    assert one.extras == two.extras
    assert [r.method for r in server.requests[1:]] == ["HEAD", "GET", "HEAD", "GET"]
    assert "If-None-Match" not in server.requests[-1].headers


def test_checksum_survives_a_later_usable_head(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    url = host.serve("/f/salles.csv", Served(YFFINIAC, last_modified=T1, head=False))
    first = read_listing(_conn(http, [_entry(url)]).list_datasets()).records[0]
    host.files["/f/salles.csv"] = Served(YFFINIAC, last_modified=T1, head=True)  # server fixed its HEAD
    second = read_listing(_conn(http, [_entry(url)]).list_datasets()).records[0]
    assert server.requests[-1].method == "HEAD"
    assert second.extras == first.extras  # same version: the measured checksum is kept, the hash is stable


def test_formats_and_ids(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("salles.csv", YFFINIAC)
    geo = json.dumps({"type": "FeatureCollection", "features": []}).encode()
    z_url = host.serve("/f/salles.zip", Served(buf.getvalue(), "application/zip", T1))
    g_url = host.serve("/f/points.geojson", Served(geo, "application/geo+json", T1))
    x_url = host.serve("/f/export", Served(CD22, "application/octet-stream", T1))
    recs = list(
        read_listing(
            _conn(
                http,
                [
                    _entry(z_url, "Salles (zip)"),
                    _entry(g_url, "Points", keywords=["sig"]),
                    _entry(x_url, "Export", id="export-budget", format="xlsx"),
                ],
            ).list_datasets()
        ).records
    )
    assert [(r.remote_id, r.resources[0].format) for r in recs] == [
        (z_url, "zip"),
        (g_url, "geojson"),
        ("export-budget", "xlsx"),
    ]
    assert recs[1].keywords == ("sig",) and recs[2].name == "export-budget"
    assert recs[0].resources[0].media_type == "application/zip"


def test_html_page_instead_of_the_file(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    good = host.serve("/f/salles.csv", Served(YFFINIAC, last_modified=T1))
    page = b"<!DOCTYPE html><html><body><h1>Page introuvable</h1></body></html>"
    soft = host.serve("/f/budget.csv", Served(page, "text/html; charset=utf-8", T1))
    conn = _conn(http, [_entry(soft, "Budget"), _entry(good)])
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert [r.remote_id for r in records] == [good]
    assert [r.method for r in server.requests] == ["HEAD", "GET", "HEAD"]  # HTML on HEAD: the GET decides
    (err,) = listing.errors
    assert err["remote_id"] == soft and err["url"] == soft
    assert "expected a csv file but the server sent an HTML page" in err["message"]
    assert listing.complete is False  # the previous snapshot of that dataset stays


def test_missing_file_is_a_record_error(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    good = host.serve("/f/salles.csv", Served(YFFINIAC, last_modified=T1))
    gone = f"{server.url}/f/ancien.csv"
    server.route("/f/ancien.csv", Reply(404, "Not Found", content_type="text/plain"))
    conn = _conn(http, [_entry(gone, "Ancien"), _entry(good)])
    listing = read_listing(conn.list_datasets())
    assert [r.remote_id for r in listing.records] == [good]
    (err,) = listing.errors
    assert err["remote_id"] == gone and "HTTP 404" in err["message"] and err["url"] == gone


def test_oversized_file(server: FixtureServer, tmp_path: Path) -> None:
    host = FileHost(server)
    url = host.serve("/f/big.csv", Served(CALVADOS * 20, etag=False, head=False))
    state = StateStore(tmp_path / "s.sqlite")
    http = HttpClient(HttpPolicy(max_bytes=10_000, max_retries=0), validators=state)
    conn = _conn(http, [_entry(url, "Gros fichier")])
    listing = read_listing(conn.list_datasets())
    assert listing.records == []
    assert "too large" in listing.errors[0]["message"]
    state.close()


def test_large_declared_size_on_head_is_only_metadata(server: FixtureServer) -> None:
    host = FileHost(server)
    url = host.serve("/f/big.csv", Served(CALVADOS * 20, last_modified=T1))
    http = HttpClient(HttpPolicy(max_bytes=10_000, max_retries=0))
    (rec,) = read_listing(_conn(http, [_entry(url, "Gros fichier")]).list_datasets()).records
    assert (
        rec.resources[0].size_bytes == len(CALVADOS) * 20
    )  # the GET of the normalise stage enforces the limit


def test_since_keeps_newer_files(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    a = host.serve("/f/a.csv", Served(YFFINIAC, last_modified=T1))
    b = host.serve("/f/b.csv", Served(CD22, last_modified=T2))
    recs = list(
        read_listing(
            _conn(http, [_entry(a, "A"), _entry(b, "B")]).list_datasets(
                since=datetime(2024, 6, 1, tzinfo=UTC)
            )
        ).records
    )
    assert [r.remote_id for r in recs] == [b]


def test_get_only_mode(server: FixtureServer, http: HttpClient) -> None:
    host = FileHost(server)
    url = host.serve("/f/a.csv", Served(YFFINIAC, last_modified=T1))
    rec = read_listing(_conn(http, [_entry(url)], head=False).list_datasets()).records[0]
    assert [r.method for r in server.requests] == ["GET"]
    assert rec.extras["files:sha256"] == hashlib.sha256(YFFINIAC).hexdigest()
