"""IoT feeds on an S3 data directory (moto's server on 127.0.0.1): SensorThings observations (month-partitioned,
appended, compacted) and NGSI-LD entity tables harvested and normalised through the CLI give the local run's
tables cell by cell, and no temporary key is left in the bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from harvester import store
from harvester.cli import cli
from harvester.normalise.observations import existing_state
from tests.conftest import BUCKET
from tests.fixture_server import FixtureServer
from tests.portals.ngsi_portal import PARKING_LD, WASTE_LD, NgsiPortal, clone
from tests.portals.sensorthings_portal import StaPortal, bgs_datastreams

VOLATILE = {"run_id", "normalised_at"}


def write_sources(tmp_path: Path, src: dict[str, Any]) -> None:
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [src]}))


def run(tmp_path: Path, data: str, source: str) -> dict[str, Any]:
    """Harvest then normalise `source` into `data` (an S3 URL gets a local SQLite state); the normalise report."""
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", data]
    if store.is_url(data):
        args += ["--state", f"sqlite:///{tmp_path / 'state.sqlite'}"]
    res = CliRunner().invoke(cli, [*args, "harvest", source])
    assert res.exit_code == 0, (res.output, res.stderr)
    res = CliRunner().invoke(cli, [*args, "normalise", source, "--json"])
    assert res.exit_code == 0, (res.output, res.stderr)
    return dict(json.loads(res.stdout)["sources"][0])


def tables(data: Path, source: str) -> dict[str, Any]:
    """The index rows (without run times) and every table's rows sorted by id, read with pyarrow via the store."""
    rows = store.read_table(data / f"tables/{source}/index.parquet").to_pylist()
    out: dict[str, Any] = {
        "index": sorted(
            ({k: v for k, v in r.items() if k not in VOLATILE} for r in rows),
            key=lambda r: str(r["resource_key"]),
        )
    }
    for r in rows:
        if r["table_path"]:
            t = store.read_table(data / r["table_path"])  # a partitioned folder for observations
            out[r["table_path"]] = sorted(t.to_pylist(), key=lambda row: str(row["id"]))
    return out


def assert_same(local: dict[str, Any], remote: dict[str, Any]) -> None:
    assert local.keys() == remote.keys()
    for key, value in local.items():
        assert remote[key] == value, key


def no_temporary_key(s3: Any, prefix: str) -> None:
    keys = s3.find(f"{BUCKET}/{prefix}")
    assert keys and not [k for k in keys if k.split("/")[-1].startswith(".") or k.endswith((".tmp", ".part"))]


@pytest.mark.timeout(120)
def test_sensorthings_on_s3_twice_gives_the_local_tables(
    s3: Any, server: FixtureServer, tmp_path: Path
) -> None:
    """3 Datastreams × 3,000 observations in pages of 500, then 200 new ones on two of them (incremental)."""
    portal = StaPortal(server, bgs_datastreams()[:3])
    portal.add_observations(3000)
    write_sources(
        tmp_path,
        {
            "id": "bgs",
            "type": "sensorthings",
            "url": portal.url,
            "params": {"observations_page_size": 500, "first_window_days": 365},
        },
    )
    url = f"s3://{BUCKET}/sta"
    local, remote = tmp_path / "local", store.data_path(url)
    first = run(tmp_path, str(local), "bgs")
    assert (first["converted"], first["failed"]) == (3, 0)
    first_s3 = run(tmp_path, url, "bgs")
    assert (first_s3["converted"], first_s3["failed"]) == (3, 0)
    assert_same(tables(local, "bgs"), tables(remote, "bgs"))

    portal.add_observations(100, streams=[0, 2])
    served = portal.obs_served
    second = run(tmp_path, str(local), "bgs")
    assert (second["converted"], second["unchanged"], second["failed"]) == (2, 1, 0)
    assert portal.obs_served - served == 200  # incremental: only the new observations
    second_s3 = run(tmp_path, url, "bgs")
    assert (second_s3["converted"], second_s3["unchanged"], second_s3["failed"]) == (2, 1, 0)
    assert portal.obs_served - served == 400  # the S3 table kept its cursor too
    got, want = tables(remote, "bgs"), tables(local, "bgs")
    assert_same(want, got)
    index = got["index"]
    assert sorted(r["table_rows"] for r in index) == [3000, 3100, 3100]
    assert sum(existing_state(remote / r["table_path"])[0] for r in index) == 9200
    parts = [k for k in s3.find(f"{BUCKET}/sta/tables") if "/year=" in k]
    assert parts and all(k.endswith(".parquet") and "/month=" in k for k in parts)
    no_temporary_key(s3, "sta")


def test_compaction_on_s3_keeps_every_row(
    s3: Any, server: FixtureServer, tmp_path: Path, monkeypatch: Any
) -> None:
    from harvester.normalise import observations

    monkeypatch.setattr(observations, "MAX_PARTS", 2)
    portal = StaPortal(server, bgs_datastreams()[:1])
    portal.add_observations(10)
    write_sources(
        tmp_path,
        {"id": "bgs", "type": "sensorthings", "url": portal.url, "params": {"first_window_days": None}},
    )
    url = f"s3://{BUCKET}/compact"
    for _ in range(4):  # one part per run, merged when a month holds more than 2
        run(tmp_path, str(tmp_path / "local"), "bgs")
        run(tmp_path, url, "bgs")
        portal.add_observations(10)
    remote = store.data_path(url)
    (month,) = {p.parent for p in remote.glob("tables/bgs/*/*/year=*/month=*/*.parquet")}
    parts = sorted(p.name for p in month.glob("*.parquet"))
    assert len(parts) == 2 and sum(p.endswith("-compacted.parquet") for p in parts) == 1
    rows, _latest, _ = existing_state(month.parent.parent)
    assert rows == 40
    ids = pq.read_table(store._key(month.parent.parent), filesystem=s3).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 40
    assert_same(tables(tmp_path / "local", "bgs"), tables(remote, "bgs"))
    no_temporary_key(s3, "compact")


def test_ngsi_ld_entities_on_s3_give_the_local_tables(s3: Any, server: FixtureServer, tmp_path: Path) -> None:
    portal = NgsiPortal(server, clone(WASTE_LD, 300) + clone(PARKING_LD, 200))
    write_sources(tmp_path, {"id": "city", "type": "ngsi", "url": portal.url, "params": {"page_size": 100}})
    url = f"s3://{BUCKET}/ngsi"
    local, remote = tmp_path / "local", store.data_path(url)
    assert run(tmp_path, str(local), "city")["converted"] == 2
    assert run(tmp_path, url, "city")["converted"] == 2
    got = tables(remote, "city")
    assert sorted(len(v) for k, v in got.items() if k != "index") == [200, 300]
    assert_same(tables(local, "city"), got)
    for r in got["index"]:
        kv = store.parquet_file(remote / r["table_path"]).metadata.metadata or {}
        assert json.loads(kv[b"geo"])["primary_column"] == "geometry"  # GeoParquet on S3 too
    no_temporary_key(s3, "ngsi")
    again = run(tmp_path, url, "city")  # an unchanged broker: the S3 tables are kept
    assert (again["converted"], again["unchanged"]) == (0, 2)


def test_a_compaction_interrupted_on_s3_loses_no_row(s3: Any, monkeypatch: Any) -> None:
    """The merged part is uploaded before any old part is deleted: a failure among the deletions leaves the old
    parts that remain beside the merged one (rows seen twice), every row still there."""
    import pyarrow as pa

    from harvester.normalise.observations import compact_month

    month = store.data_path(f"s3://{BUCKET}/crash/obs/year=2023/month=01")
    for i in range(3):
        store.write_table(pa.table({"id": list(range(10 * i, 10 * i + 10))}), month / f"part-{i}.parquet")
    calls: list[str] = []
    unlink = type(month).unlink

    def failing_unlink(self: Path, missing_ok: bool = False) -> None:
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError("store unreachable")
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(month), "unlink", failing_unlink)
    with pytest.raises(OSError, match="unreachable"):
        compact_month(month, "t", max_parts=2)
    names = sorted(p.name for p in month.glob("*.parquet"))
    assert names == ["part-1.parquet", "part-2.parquet", "part-t-compacted.parquet"]
    ids = store.read_table(month).column("id").to_pylist()
    assert set(ids) == set(range(30)) and len(ids) == 50  # part-1 and part-2 twice until they are removed
    no_temporary_key(s3, "crash")
