"""A harvest of heavy scheming-shaped CKAN dicts gives the snapshot it gave before the speed work of issue 13.

The digests below were computed with the code of main at 3b1b207 (before the faster row building, format
normalisation and date parsing) on the same 300 packages; each column is digested on its own, so a failure names
the column that changed. `harvested_at` is the time of the run and is left out; `remote_url` is digested with the
portal's address (a random port) replaced, and `metadata_hash`, which covers that address, is recomputed from
the stored columns by the definition main had: a new hash definition would show every dataset as updated on the
first run after an upgrade."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from harvester.catalog import read_catalog
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_heavy import build_heavy_packages
from tests.portals.ckan_portal import CkanPortal
from tests.test_harvest import config, run

EXPECTED_DATASETS = {
    "dataset_key": "37b54e71fd5aadbf",
    "source_id": "f2ba8131d62b5e75",
    "remote_id": "484d721176491d7b",
    "name": "cfe5bc052e516c2a",
    "title": "5f9cda6d48bd0483",
    "description": "f6332e4a004b0980",
    "landing_page": "c20aa379b6e36d13",
    "remote_url": "6585f7932d58a3b8",
    "publisher": "2b2bfe2ce8081c2a",
    "contact_email": "b11a1735b5ca009e",
    "keywords": "21ce4540f1da410a",
    "themes": "21ec72b909c91365",
    "license_raw": "35241c1977b65f83",
    "license_id": "0e9569a664186cd6",
    "issued": "05760930ea8607bb",
    "modified": "708ac2c2ba898049",
    "frequency": "1f607d92d0e0b6ea",
    "spatial": "6a076320f7ae02d7",
    "extras": "cb99d1ae652463c6",
    "withdrawn_at": "5cf30fb85d4eefb1",
    "raw": "995c4119e0949713",
}
EXPECTED_RESOURCES = {
    "dataset_key": "1c976381a3ad03e9",
    "resource_key": "02f28231bffeb91a",
    "source_id": "f38adb06ed5d39d4",
    "remote_id": "1074d7b4cc51544f",
    "url": "2f93fc0d4b34f90a",
    "title": "3397183d61ebf1e1",
    "description": "ba817bbaef976f32",
    "format": "a46fc4a4eb7e348a",
    "media_type": "a6a3fce5693f8004",
    "size_bytes": "1d88c154a986cd09",
    "modified": "343ec71fc6e15018",
}


def digests(table: pa.Table, skip: tuple[str, ...] = (), base: str = "") -> dict[str, str]:
    out = {}
    for name in table.column_names:
        if name in skip:
            continue
        values = table.column(name).to_pylist()
        if name == "remote_url":
            values = [v.replace(base, "PORTAL") for v in values]
        out[name] = hashlib.sha256(orjson.dumps(values, default=str)).hexdigest()[:16]
    return out


def main_hash(row: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    """metadata_hash as main at 3b1b207 defined it (catalog.content_hash)."""
    volatile = ("harvested_at", "withdrawn_at", "raw", "metadata_hash")
    payload = {
        "dataset": {k: v for k, v in row.items() if k not in volatile},
        "resources": sorted(resources, key=lambda r: r["resource_key"]),
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def test_heavy_harvest_snapshot_is_unchanged(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    portal = CkanPortal(server, build_heavy_packages(300))
    res = run(config(portal.url), tmp_path, state, http)
    assert (res.status, res.created) == ("ok", 300)
    cat = read_catalog(tmp_path / "data", "demo")
    assert cat is not None
    datasets, resources = cat
    assert digests(datasets, skip=("harvested_at", "metadata_hash"), base=portal.url) == EXPECTED_DATASETS
    assert digests(resources) == EXPECTED_RESOURCES
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in resources.to_pylist():
        by_key.setdefault(r["dataset_key"], []).append(r)
    for row in datasets.to_pylist():
        assert row["metadata_hash"] == main_hash(row, by_key.get(row["dataset_key"], []))
