"""Licences on the target: harvester licence ids mapped to what the target CKAN's `license_list` offers.

Two real lists: CKAN 2.12's default list (recorded from the testbed) and DataSud's list (its IDGO licence table,
in CKAN's format). Pure mapping first, then the real client reading `license_list` from a local fixture server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harvester.licenses import license_ids
from harvester.publish.client import CkanClient
from harvester.publish.licences import licence_map, recognise, target_licences
from harvester.publish.mapping import Target, ckan_license, package_dict
from tests.fixture_server import FixtureServer, Reply
from tests.publish.factory import dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ckan" / "licenses"
TESTBED_LIST = Path(__file__).resolve().parents[1] / "ckan_testbed" / "licenses_datasud.json"


def payload(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return doc


DEFAULT = payload("license_list_ckan_default.json")["result"]
DATASUD = payload("license_list_datasud.json")["result"]


def test_default_list_keeps_todays_mapping() -> None:
    mapping = licence_map(DEFAULT)
    assert len(DEFAULT) == 15 and len(mapping) == len(license_ids()) > 30
    assert {lid: mapping[lid] for lid in license_ids()} == {lid: ckan_license(lid) for lid in license_ids()}
    assert mapping["lov2"] == mapping["lov1"] == "other-at" and mapping["cc0-1.0"] == "cc-zero"


def test_datasud_list_sends_licence_ouverte_to_lov2() -> None:
    mapping = licence_map(DATASUD)
    offered = {e["id"] for e in DATASUD}
    assert mapping["lov2"] == "lov2"
    assert mapping["lov1"] == "other-at"  # LO 1.0 is not LO 2.0: attribution, as in the default list
    assert mapping["cc-by-4.0"] == "cc-by" and mapping["cc-by-sa-3.0"] == "cc-by-sa"
    assert mapping["cc0-1.0"] == "cc-zero" and mapping["odc-odbl"] == "odc-odbl"
    assert mapping["odc-pddl"] == "other-open"  # no public-domain entry: the broader open one
    assert mapping["ogl-uk-3.0"] == "other-at"
    # not open and not offered: no licence rather than a more permissive one (the raw text stays in an extra)
    assert mapping["cc-by-nc-4.0"] == mapping["other-closed"] == mapping["notspecified"] == ""
    assert set(mapping.values()) <= offered | {""}


def test_the_testbed_file_is_the_datasud_payload() -> None:
    assert json.loads(TESTBED_LIST.read_text(encoding="utf-8")) == DATASUD


def test_target_entries_are_recognised_by_title_and_url_and_overrides_win() -> None:
    entries = [
        {"id": "etalab-2.0", "title": "Licence Ouverte 2.0", "url": ""},
        {"id": "LO-v1", "title": "Licence Ouverte / Open Licence", "url": None},
        {"id": "x-odbl", "title": "whatever", "url": "https://opendatacommons.org/licenses/odbl/"},
        {"id": "other-at", "title": "Other (Attribution)"},
    ]
    assert recognise(entries[0]) == "lov2" and recognise(entries[2]) == "odc-odbl"
    mapping = licence_map(entries, overrides={"cc-by": "mine"})
    assert mapping["lov2"] == "etalab-2.0" and mapping["lov1"] == "LO-v1" and mapping["odc-odbl"] == "x-odbl"
    assert mapping["cc-by"] == "mine" and mapping["cc-by-4.0"] == "other-at"


def test_package_dict_uses_the_targets_ids() -> None:
    row = dataset("s", "1", license_id="lov2")
    french = package_dict(row, [], name="s-1", organization="o", target=Target("p", licence_map(DATASUD)))
    default = package_dict(row, [], name="s-1", organization="o", target=Target("p", licence_map(DEFAULT)))
    assert (french["license_id"], default["license_id"]) == ("lov2", "other-at")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("license_list_datasud.json", "lov2"), ("license_list_ckan_default.json", "other-at")],
)
def test_license_list_is_read_once_over_http(server: FixtureServer, fixture: str, expected: str) -> None:
    server.file("/api/action/license_list", f"ckan/licenses/{fixture}")
    client = CkanClient(server.url, "tok", backoff=0.01)
    mapping = target_licences(client, {"cc-by-4.0": "cc-by-4-local"})
    assert (
        server.count("/api/action/license_list") == 1 and client.read_calls == 1 and client.write_calls == 0
    )
    assert mapping["lov2"] == expected and mapping["cc-by-4.0"] == "cc-by-4-local"


def test_a_ckan_without_license_list_keeps_the_default_mapping(
    server: FixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.route(
        "/api/action/license_list", Reply(200, "<html>not a CKAN action</html>", content_type="text/html")
    )
    client = CkanClient(server.url, "tok", backoff=0.01)
    mapping = target_licences(client, {"lov2": "lo-2"})
    assert mapping == {"lov2": "lo-2"} and "license_list failed" in caplog.text
    row = dataset("s", "1", license_id="lov1")
    assert (
        package_dict(row, [], name="n", organization="o", target=Target("p", mapping))["license_id"]
        == "other-at"
    )
