"""The merge stage through the CLI on catalogues written by the catalogue code (not yet replayed portals)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner, Result

from harvester.catalog import Defaults, record_rows, write_catalog
from harvester.cli import cli
from harvester.records import DatasetRecord, ResourceRef
from harvester.schema import DATASETS, RESOURCES

# The DLVA network as data.gouv.fr harvested it from DataSud (harvest block of the real record in
# tests/fixtures/udata/datagouv/udata_fixtures_15_datasets_subset.json: domain trouver.datasud.fr).
UID = "0c5ad935-272e-4d9e-b0db-cdcb1a5309b8"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _catalog(data: Path, sid: str, recs: list[DatasetRecord]) -> None:
    rows, res = [], []
    for r in recs:
        row, resources = record_rows(r, Defaults(), NOW)
        rows.append(row)
        res += resources
    write_catalog(
        data, sid, pa.Table.from_pylist(rows, schema=DATASETS), pa.Table.from_pylist(res, schema=RESOURCES)
    )


def _setup(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    sources = [
        {"id": "datasud", "type": "ckan", "url": "https://www.datasud.fr/fr/indexer/service/ckan"},
        {"id": "dgouv", "type": "udata", "url": "https://www.data.gouv.fr"},
    ]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    (tmp_path / "pipelines" / "sud.yaml").write_text(
        yaml.safe_dump({"name": "sud", "sources": ["datasud", "dgouv"]})
    )
    data = tmp_path / "data"
    title = "Réseau de transport en commun Trans'Agglo de DLVA"
    _catalog(
        data,
        "datasud",
        [
            DatasetRecord(
                source_id="datasud",
                remote_id=UID,
                title=f"{title} 2023",
                publisher="DLVA",
                resources=(ResourceRef(url="https://x.fr/gtfs-2023.zip"),),
            ),
            DatasetRecord(
                source_id="datasud",
                remote_id="11111111-272e-4d9e-b0db-cdcb1a5309b8",
                title=f"{title} 2024",
                publisher="DLVA",
                resources=(ResourceRef(url="https://x.fr/gtfs-2024.zip"),),
            ),
        ],
    )
    _catalog(
        data,
        "dgouv",
        [
            DatasetRecord(
                source_id="dgouv",
                remote_id="5f0000000000000000000001",
                title=f"{title.upper()} 2023",
                publisher="Durance Luberon Verdon Agglomération",
                description="from data.gouv.fr",
                extras={"harvest:domain": "trouver.datasud.fr", "harvest:remote_id": UID},
                resources=(ResourceRef(url="http://www.x.fr/gtfs-2023.zip/?utm_source=dg"),),
            ),
            DatasetRecord(
                source_id="dgouv",
                remote_id="5f0000000000000000000009",
                title="A copy of what we published",
                extras={"harvest_pipeline": "sud", "harvest_source_id": "datasud", "harvest_remote_id": UID},
            ),
        ],
    )


def _invoke(tmp_path: Path, *args: str) -> Result:
    base = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    return CliRunner().invoke(cli, [*base, *args])


def test_merge_links_provenance_fills_fields_and_rewrites_nothing_when_unchanged(tmp_path: Path) -> None:
    _setup(tmp_path)
    res = _invoke(tmp_path, "merge", "sud", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["merged_datasets"] == 2 and report["multi_source_datasets"] == 1
    assert report["sources"]["dgouv"]["our_copies"] == 1
    out = tmp_path / "data" / "merged" / "sud"
    prov = pq.read_table(out / "provenance.parquet").to_pylist()
    linked = {p["dataset_key"]: p for p in prov if p["merged_key"] == f"datasud:{UID}"}
    assert set(linked) == {f"datasud:{UID}", "dgouv:5f0000000000000000000001"}
    assert linked[f"datasud:{UID}"]["won"] and not linked["dgouv:5f0000000000000000000001"]["won"]
    assert linked["dgouv:5f0000000000000000000001"]["rule"] == "harvest_provenance"
    ds = {d["merged_key"]: d for d in pq.read_table(out / "datasets.parquet").to_pylist()}
    assert ds[f"datasud:{UID}"]["description"] == "from data.gouv.fr"  # filled from the copy
    res_rows = pq.read_table(out / "resources.parquet").to_pylist()
    assert [r["url"] for r in res_rows if r["merged_key"] == f"datasud:{UID}"] == [
        "https://x.fr/gtfs-2023.zip"
    ]
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.parquet")}
    again = _invoke(tmp_path, "merge", "sud", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["written"] == []
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.parquet")} == before


def test_explain_gives_rules_and_refuses_the_other_year(tmp_path: Path) -> None:
    _setup(tmp_path)
    res = _invoke(tmp_path, "merge", "sud", "--explain", "dgouv:5f0000000000000000000001", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["merged_key"] == f"datasud:{UID}"
    assert {e["rule"] for e in doc["links"]} >= {"harvest_provenance", "resource_url"}
    assert any("11111111" in e["to"] or "11111111" in e["from"] for e in doc["rejected"])
