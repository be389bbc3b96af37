"""Licences on the real CKAN testbed, configured with DataSud's licence list (`licenses_group_url`, setup.sh).

The first two tests need a testbed (re)started by the current `tests/ckan_testbed/setup.sh`; the third holds
with any licence list: what is published is what the target's own `license_list` maps Licence Ouverte to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvester.publish import publish_pipeline
from harvester.publish.licences import licence_map
from harvester.state import StateStore
from tests.publish.conftest import CkanTestbed, pipeline_of, unique, write_project
from tests.publish.factory import dataset, resource, write_source

pytestmark = pytest.mark.ckan

TESTBED_LIST = Path(__file__).resolve().parents[1] / "ckan_testbed" / "licenses_datasud.json"


@pytest.fixture(scope="module")
def published(
    ckan: CkanTestbed, token_env: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Any]]]:
    pipeline, org, sid = unique("lic-"), unique("org-"), unique("lic")
    root = tmp_path_factory.mktemp("licences")
    cfg = write_project(root, pipeline=pipeline, sources=[sid], org=org)
    rows = [
        dataset(sid, "lo2", license_id="lov2", license_raw="Licence Ouverte v2.0"),
        dataset(sid, "odbl", license_id="odc-odbl", license_raw="ODbL"),
        dataset(sid, "lo1", license_id="lov1", license_raw="Licence Ouverte / Open Licence"),
    ]
    write_source(root / "data", sid, rows, [resource(r["dataset_key"], 0) for r in rows])
    state = StateStore(root / "data" / "state.sqlite")
    rep = publish_pipeline(pipeline_of(cfg, pipeline), root / "data", state, client=ckan.client())
    assert rep.outcome.failed == [] and rep.summary()["created"] == 3
    records = state.read_publish_records(pipeline)
    out = {}
    for r in rows:
        pkg = ckan.show(records[r["dataset_key"]]["ckan_id"])
        assert pkg is not None
        out[r["remote_id"]] = pkg
    yield out
    ckan.purge({p["id"] for p in out.values()}, {org})
    state.close()


def test_testbed_offers_the_datasud_licences(ckan: CkanTestbed) -> None:
    offered = {e["id"] for e in ckan.api.action.license_list()}
    expected = {e["id"] for e in json.loads(TESTBED_LIST.read_text(encoding="utf-8"))}
    assert "lov2" in offered, "restart the testbed with the current setup.sh (licenses_group_url)"
    assert offered == expected


def test_licence_ouverte_is_published_as_lov2(published: dict[str, dict[str, Any]]) -> None:
    assert published["lo2"]["license_id"] == "lov2"
    assert published["odbl"]["license_id"] == "odc-odbl" and published["lo1"]["license_id"] == "other-at"


def test_published_licence_is_the_targets_mapping(
    ckan: CkanTestbed, published: dict[str, dict[str, Any]]
) -> None:
    mapping = licence_map(ckan.api.action.license_list())
    assert {k: p["license_id"] for k, p in published.items()} == {
        "lo2": mapping["lov2"],
        "odbl": mapping["odc-odbl"],
        "lo1": mapping["lov1"],
    }
