"""udata connector against real data.gouv.fr API v1 dataset objects served by the local server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from harvester.connectors.listing import read_listing
from harvester.connectors.udata import UdataConnector, UdataParams
from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from tests.fixture_server import FixtureServer, Reply
from tests.portals.udata_portal import UdataPortal, udata_clone, udata_records
from tests.portals.util import FIXTURES

LISTING = "/api/1/datasets/"
LYON = "534fff7aa3a7292c64a77e0c"
SGAR_ARA = "6155a0cfcdc64b4a0c792d63"
MONTLUEL = "6163f01f7b240574f0c50337"
DLVA = "5911d508c751df168e15a89f"


def _conn(url: str, http: HttpClient, **params: object) -> UdataConnector:
    return UdataConnector("datagouv", url, UdataParams.model_validate(params), http)


def _by_id(records: list) -> dict:  # type: ignore[type-arg]
    return {r.remote_id: r for r in records}


def test_maps_real_records(server: FixtureServer, http: HttpClient) -> None:
    url = UdataPortal(udata_records()).install(server)
    records = read_listing(_conn(url, http).list_datasets()).records
    assert len(records) == 17
    # sorted on -last_update by the server, in one page of 100
    assert (
        records[0].remote_id == "5d13a8b6634f41070a43dff3"
        and records[-1].remote_id == "5baaeb519ce2e7674c6c0dc1"
    )
    assert server.requests[0].arg("sort") == "-last_update" and server.count() == 1
    by = _by_id(records)

    cat = by["5d13a8b6634f41070a43dff3"]
    assert cat.title == "Catalogue des données de data.gouv.fr"
    assert cat.name == "catalogue-des-donnees-de-data-gouv-fr"
    assert cat.license_raw == "lov2"
    assert cat.publisher == "data.gouv.fr"
    assert cat.frequency == "weekly"
    assert cat.modified == datetime(2025, 4, 7, 8, 15, 30, 581000, tzinfo=UTC)
    assert cat.issued == datetime(2019, 6, 26, 19, 17, 42, 238000, tzinfo=UTC)
    assert cat.remote_url == "https://www.data.gouv.fr/fr/datasets/catalogue-des-donnees-de-data-gouv-fr/"
    assert cat.extras["udata:organization_id"] == "646b7187b50b2a93b1ae3d45"
    assert len(cat.resources) == 8
    first = cat.resources[0]
    assert first.remote_id == "f868cca6-8da1-4369-a78d-47463f19a9a3"
    assert first.format == "csv" and first.size_bytes == 176653507
    assert first.modified == datetime(2025, 4, 7, 7, 49, 37, 212000, tzinfo=UTC)
    assert first.url.startswith("https://")

    # a 2018 dataset harvested by data.gouv.fr from an ODS portal: legacy harvest:* extras kept
    gtfs = by["5baaeb519ce2e7674c6c0dc1"]
    assert gtfs.license_raw == "odc-odbl"
    assert gtfs.publisher == "Département de Loire-Atlantique"
    assert gtfs.extras["harvest:domain"] == "data.loire-atlantique.fr"
    assert gtfs.extras["harvest:remote_id"] == "248500589_arrets-horaires-et-circuits-impulsyon-gtfs_lrsya"
    assert gtfs.extras["harvest:source_id"] == "5b5ad7b0c751df13d73d26c9"
    assert gtfs.modified == datetime(2018, 10, 2, 9, 51, 18, 348000, tzinfo=UTC)  # naive in the payload: UTC
    assert gtfs.keywords == ("arrets", "horaires", "impulsyon", "lignes", "mobilite", "transports")
    assert [r.format for r in gtfs.resources][:1] == ["csv"] and gtfs.resources[0].media_type == "text/csv"

    # harvested from DataSud's CKAN: the `harvest` block names the origin, which the merge needs
    dlva = by["612904755f59b6818346ea4d"]
    assert dlva.publisher == "Durance Luberon Verdon Agglomération"
    assert dlva.extras["harvest:domain"] == "trouver.datasud.fr"
    assert dlva.extras["harvest:backend"] == "CKAN"
    assert dlva.extras["harvest:remote_id"] == "0c5ad935-272e-4d9e-b0db-cdcb1a5309b8"
    assert dlva.extras["harvest:source_id"] == "610cf47d38c7f6272f320805"
    remote = "https://trouver.datasud.fr/dataset/lignes-dautocars-urbains-et-interurbains-de-la-dlva"
    assert dlva.extras["harvest:remote_url"] == remote and dlva.landing_page == remote
    assert dlva.remote_url == f"{url}/datasets/612904755f59b6818346ea4d/"
    assert dlva.modified == datetime(2022, 11, 15, tzinfo=UTC)  # from the `internal` block
    assert [(r.format, r.url) for r in dlva.resources] == [
        (
            "gtfs",
            "https://trouver.datasud.fr/dataset/0c5ad935-272e-4d9e-b0db-cdcb1a5309b8/resource/"
            "0ca29750-b689-4580-afc0-4b127ee4b914/download/dlva.gtfs.zip",
        )
    ]
    assert all(isinstance(v, str) for r in records for v in r.extras.values())


def test_follows_next_page(server: FixtureServer, http: HttpClient) -> None:
    url = UdataPortal(udata_records()).install(server)
    records = read_listing(_conn(url, http, page_size=5).list_datasets()).records
    assert len(records) == 17 and len({r.remote_id for r in records}) == 17
    assert [r.arg("page") for r in server.requests] == ["1", "2", "3", "4"]


def test_one_listing_per_organisation(server: FixtureServer, http: HttpClient) -> None:
    url = UdataPortal(udata_records()).install(server)
    records = read_listing(_conn(url, http, organizations=[LYON, SGAR_ARA, MONTLUEL]).list_datasets()).records
    assert [r.remote_id for r in records] == [
        "65271c20a80b3f04010e71ff",
        "6155ad9c9c3b0ee5891f3374",
        "6164085521df2138379e8854",
    ]
    assert [r.arg("organization") for r in server.requests] == [LYON, SGAR_ARA, MONTLUEL]
    assert records[0].title == "Marchés publics de la Métropole de Lyon"


def test_organisation_slugs_are_refused() -> None:
    with pytest.raises(ValidationError, match="24-hex"):
        UdataParams.model_validate({"organizations": ["metropole-de-lyon"]})


def test_since_stops_at_the_cursor(server: FixtureServer, http: HttpClient) -> None:
    url = UdataPortal(udata_records()).install(server)
    since = datetime(2024, 1, 1, tzinfo=UTC)
    records = read_listing(_conn(url, http, page_size=3).list_datasets(since=since)).records
    assert [r.remote_id for r in records] == [
        "5d13a8b6634f41070a43dff3",
        "65271c20a80b3f04010e71ff",
        "5b7ffc618b4c4169d30727e0",
        "5530fbacc751df5ff937dddb",
        "5c4ae55a634f4117716d5656",
    ]
    assert all(r.modified and r.modified >= since for r in records)
    assert server.count() == 2  # the second page reached older datasets: no third request


def test_large_catalogue(server: FixtureServer, http: HttpClient) -> None:
    real = udata_records()
    rows = [udata_clone(real[i % len(real)], i) for i in range(2_500)]
    url = UdataPortal(rows).install(server)
    records = read_listing(_conn(url, http, page_size=1000).list_datasets()).records
    assert len(records) == 2_500 and len({r.remote_id for r in records}) == 2_500
    assert server.count() == 3
    assert all(len(r.remote_id) == 24 for r in records)


def test_unexpected_shape(server: FixtureServer, http: HttpClient) -> None:
    server.route(LISTING, (FIXTURES / "udata/datagouv/datagouv_api1_dataset_catalogue.json").read_bytes())
    with pytest.raises(SourceError, match="not a udata API v1 listing") as exc:
        read_listing(_conn(server.url, http).list_datasets())
    assert LISTING in (exc.value.url or "")


def test_404_names_the_url(server: FixtureServer, http: HttpClient) -> None:
    server.route(
        LISTING, Reply(404, (FIXTURES / "udata/datagouv/datagouv_api1_dataset_404_error.json").read_bytes())
    )
    with pytest.raises(SourceError, match="HTTP 404") as exc:
        read_listing(_conn(server.url, http).list_datasets())
    assert LISTING in (exc.value.url or "") and exc.value.hint


def test_bad_organisation_id_is_a_400(server: FixtureServer, http: HttpClient) -> None:
    # the API's own check (a config with a slug is refused before any request; here a server that refuses)
    server.route(LISTING, Reply(400, '{"message": "Organization arg must be an identifier"}'))
    with pytest.raises(SourceError, match="Organization arg must be an identifier"):
        read_listing(_conn(server.url, http, organizations=[DLVA]).list_datasets())


def test_html_instead_of_json(server: FixtureServer, http: HttpClient) -> None:
    server.route(LISTING, Reply(200, "<html><body>Maintenance</body></html>", content_type="text/html"))
    with pytest.raises(SourceError, match="HTML"):
        read_listing(_conn(server.url, http).list_datasets())


def test_truncated_json(server: FixtureServer, http: HttpClient) -> None:
    text = (FIXTURES / "udata/datagouv/datagouv_api1_organizations_search_q_reims_page.json").read_text()
    server.route(LISTING, text[:-40])
    with pytest.raises(SourceError, match="malformed JSON"):
        read_listing(_conn(server.url, http).list_datasets())


def test_next_page_loop(server: FixtureServer, http: HttpClient) -> None:
    url = UdataPortal(udata_records(), loop=True).install(server)
    conn = _conn(url, http, page_size=5)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 10  # pages 1 and 2 are kept
    assert server.count() == 3  # pages 1, 2, then 2 again is refused after it is read
    assert "pagination loop" in str(listing.end.reason) and not listing.complete


def test_oversized_response(server: FixtureServer) -> None:
    url = UdataPortal(udata_records()).install(server)
    http = HttpClient(HttpPolicy(max_bytes=10_000, max_retries=0))
    with pytest.raises(SourceError, match="too large"):
        read_listing(_conn(url, http).list_datasets())


def test_bad_records_are_reported_and_skipped(server: FixtureServer, http: HttpClient) -> None:
    real = udata_records()[:3]
    no_id = {k: v for k, v in real[1].items() if k != "id"}
    no_title = {**real[2], "title": ""}
    deleted = {**udata_clone(real[0], 1), "deleted": "2024-01-01T00:00:00"}
    url = UdataPortal([real[0], no_id, no_title, 42, deleted]).install(server)  # type: ignore[list-item]
    conn = _conn(url, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert [r.remote_id for r in records] == ["5d13a8b6634f41070a43dff3"]
    assert sorted((str(e["remote_id"]), e["message"]) for e in listing.errors) == [
        (real[2]["id"], "cannot map dataset: ValueError: no title"),
        ("None", "dataset entry is not a JSON object"),
        ("arrets-horaires-et-circuits-impulsyon-a-la-roche-sur-yon-gtfs-5", "dataset without an `id`"),
    ]
    assert all(LISTING in e["url"] for e in listing.errors)


def test_list_ids_uses_a_field_mask(server: FixtureServer, http: HttpClient) -> None:
    real = udata_records()
    gone = {**udata_clone(real[0], 7), "deleted": "2024-05-01T00:00:00"}
    url = UdataPortal([*real, gone]).install(server)
    ids = _conn(url, http, page_size=10).list_ids().ids
    assert ids == {r["id"] for r in real}
    assert [r.headers.get("X-Fields") for r in server.requests] == [
        "data{id,deleted,private},next_page,total"
    ] * 2


def test_outcomes_count_every_entry_served(server: FixtureServer, http: HttpClient) -> None:
    rows = udata_records()
    rows[3] = {**rows[3], "title": ""}
    rows[5] = {**rows[5], "private": True}
    rows[7] = {k: v for k, v in rows[7].items() if k != "id"}
    url = UdataPortal(rows).install(server)
    conn = _conn(url, http, page_size=5)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 14
    skipped = {"no id": 1, "no title": 1, "private": 1}
    assert listing.end.outcomes.as_dict() == {"listed": 17, "kept": 14, "skipped": skipped}
    assert listing.complete  # 17 served (one without an id, still served): all of `total`
