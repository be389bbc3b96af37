"""Catalogue row -> CKAN package dict: fields, licences, extras (nothing lost), resources."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harvester.publish.mapping import CKAN_ROOT_KEYS, PROVENANCE_KEYS, Target, ckan_license, package_dict
from harvester.publish.names import resource_id
from tests.publish.factory import dataset, resource


@pytest.mark.parametrize(
    ("harvester_id", "ckan_id"),
    [
        ("lov2", "other-at"),
        ("lov1", "other-at"),
        ("odc-odbl", "odc-odbl"),
        ("cc-by-4.0", "cc-by"),
        ("cc-by-sa-4.0", "cc-by-sa"),
        ("cc-by-nc-4.0", "cc-nc"),
        ("cc0-1.0", "cc-zero"),
        ("odc-by", "odc-by"),
        (None, "notspecified"),
        ("something-else", "notspecified"),
        ("other-open", "other-open"),
    ],
)
def test_licence_mapping(harvester_id: str | None, ckan_id: str) -> None:
    assert ckan_license(harvester_id) == ckan_id


def test_licence_overrides_from_the_pipeline() -> None:
    assert ckan_license("lov2", {"lov2": "fr-lo"}) == "fr-lo"


def test_package_dict() -> None:
    row = dataset("datasud", "abc", metadata_hash="h1", keywords=["Qualité de l'air", "x"], license_id=None,
                  license_raw="Licence maison", spatial='{"type": "Point", "coordinates": [5.4, 43.3]}',
                  extras=[("name", "portal slug"), ("harvest_remote_id", "spoof"), ("origin", "test")])  # fmt: skip
    res = [resource(row["dataset_key"], 1), resource(row["dataset_key"], 2, title=None, size_bytes=None)]
    pkg = package_dict(row, res, name="datasud-abc-12345678", organization="region-sud", target=Target("sud"))
    assert pkg["name"] == "datasud-abc-12345678" and pkg["owner_org"] == "region-sud"
    assert pkg["title"] == row["title"] and pkg["notes"] == row["description"]
    assert pkg["url"] == row["landing_page"] and pkg["license_id"] == "notspecified"
    assert pkg["tags"] == [{"name": "Qualité de l air"}]
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert [k for k in extras if k.startswith("harvest_")] == list(PROVENANCE_KEYS)
    assert extras["harvest_remote_id"] == "abc" and extras["source_harvest_remote_id"] == "spoof"
    assert extras["source_name"] == "portal slug" and extras["origin"] == "test"
    assert json.loads(extras["keywords"]) == ["Qualité de l'air", "x"]
    assert extras["license_raw"] == "Licence maison" and extras["harvest_metadata_hash"] == "h1"
    assert (
        extras["harvest_harvested_at"] == "2024-03-01T12:00:00Z"
        and extras["issued"] == "2024-03-01T12:00:00Z"
    )
    assert json.loads(extras["spatial"])["type"] == "Point"
    assert not set(extras) & CKAN_ROOT_KEYS
    r1, r2 = pkg["resources"]
    assert (
        r1["id"] == resource_id("sud", res[0]["resource_key"])
        and r1["harvest_resource_key"] == res[0]["resource_key"]
    )
    assert r1["last_modified"] == "2024-03-01T12:00:00" and r1["size"] == 1235 and r1["format"] == "CSV"
    assert r2["name"] == "abc-2.csv" and "size" not in r2  # no title: the file name; unknown size: left out


def test_values_ckan_would_reject_are_kept_in_extras() -> None:
    row = dataset("s", "1", contact_email="Mairie, service SIG", spatial="Nice (06)", metadata_hash="h")
    pkg = package_dict(row, [], name="s-1-00000000", organization="o", target=Target("p"))
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert pkg["maintainer_email"] == "" and extras["contact"] == "Mairie, service SIG"
    assert extras["spatial_text"] == "Nice (06)" and "spatial" not in extras


def test_naive_datetimes_are_utc() -> None:
    row = dataset("s", "1", harvested_at=datetime(2024, 1, 2, 3, 4, 5), metadata_hash="h")
    res = [resource("s:1", 0, modified=datetime(2024, 1, 2, 5, 4, 5, tzinfo=UTC))]
    pkg = package_dict(row, res, name="s-1-00000000", organization="o", target=Target("p"))
    assert {e["key"]: e["value"] for e in pkg["extras"]}["harvest_harvested_at"] == "2024-01-02T03:04:05Z"
    assert pkg["resources"][0]["last_modified"] == "2024-01-02T05:04:05"


CKAN_DEFAULT_LICENSES = {
    "notspecified",
    "odc-pddl",
    "odc-odbl",
    "odc-by",
    "cc-zero",
    "cc-by",
    "cc-by-sa",
    "gfdl",
    "other-open",
    "other-pd",
    "other-at",
    "uk-ogl",
    "cc-nc",
    "other-nc",
    "other-closed",
}  # fmt: skip  (CKAN 2.12's default licence list, as `license_list` returns it)


def test_every_harvester_licence_has_a_ckan_licence() -> None:
    from pathlib import Path

    table = json.loads((Path(__file__).resolve().parents[2] / "harvester/data/licenses.json").read_text())
    ids = [entry["id"] for entry in table["licenses"]]
    assert len(ids) > 20
    mapped = {i: ckan_license(i) for i in ids}
    assert set(mapped.values()) <= CKAN_DEFAULT_LICENSES
    assert mapped["cc-by-nd-4.0"] == "other-closed" and mapped["ogl-uk-3.0"] == "uk-ogl"
    assert mapped["cc-by-nc-sa-4.0"] == "cc-nc" and mapped["notspecified"] == "notspecified"
