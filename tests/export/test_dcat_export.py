"""`harvester export`: the merged catalogue as DCAT-AP 3, valid against the official SHACL shapes, and harvested
back by harvester's own dcat connector into the same datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from rdflib import Graph
from rdflib.namespace import DCAT, PROV, RDF

from harvester.export.dcat import description_of
from harvester.export.writer import EXTENSIONS
from tests.export.conftest import Merged
from tests.fixture_server import FixtureServer


def _merged(root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, set[tuple[str, str]]]]:
    d = root / "data" / "merged" / "chain"
    datasets = {r["merged_key"]: r for r in pq.read_table(d / "datasets.parquet").to_pylist()}
    res: dict[str, set[tuple[str, str]]] = {k: set() for k in datasets}
    for r in pq.read_table(d / "resources.parquet").to_pylist():
        res[r["merged_key"]].add((r["url"], r["format"]))
    return datasets, res


@pytest.mark.parametrize("rdf_format", ["turtle", "xml", "jsonld"])
def test_export_has_no_shacl_violation(
    merged: Merged, capsys: pytest.CaptureFixture[str], rdf_format: str
) -> None:
    out = merged.root / f"out{EXTENSIONS[rdf_format]}"
    code, doc = merged.cli("export", "chain", "--rdf-format", rdf_format, "-o", str(out), "--validate", "--json",
                           capsys=capsys)  # fmt: skip
    assert code == 0, doc
    assert doc["violations"] == 0 and doc["datasets"] == 5 and doc["files"] == [str(out)]
    g = Graph().parse(out, format={"turtle": "turtle", "xml": "xml", "jsonld": "json-ld"}[rdf_format])
    # every chunk was joined into one document (agents and formats shared by datasets are repeated in chunks)
    assert len(set(g.subjects(RDF.type, DCAT.Dataset))) == 5 and 0 < len(g) <= doc["triples"]
    assert len(set(g.subjects(RDF.type, DCAT.Distribution))) == doc["distributions"]
    prov = pq.read_table(merged.root / "data" / "merged" / "chain" / "provenance.parquet").to_pylist()
    derived = {str(o) for o in g.objects(None, PROV.wasDerivedFrom)}
    assert derived == {p["remote_url"] for p in prov if p["remote_url"]}  # every contributing record is named
    assert len(derived) == 9


def test_round_trip_through_the_dcat_connector_with_hydra_pages(
    merged: Merged, capsys: pytest.CaptureFixture[str]
) -> None:
    out = merged.root / "export" / "cat.ttl"
    code, doc = merged.cli("export", "chain", "-o", str(out), "--page-size", "2", "--validate", "--json",
                           capsys=capsys)  # fmt: skip
    assert code == 0 and doc["violations"] == 0, doc
    names = [Path(f).name for f in doc["files"]]
    assert names == ["cat-1.ttl", "cat-2.ttl", "cat-3.ttl"]
    srv = FixtureServer().start()
    try:
        for name in names:
            srv.route(f"/export/{name}", (out.parent / name).read_bytes(), "text/turtle")
        cfg = yaml.safe_load((merged.root / "sources.yaml").read_text())
        cfg["sources"].append({"id": "back", "type": "dcat", "url": f"{srv.url}/export/cat-1.ttl",
                               "params": {"identity": "identifier"}})  # fmt: skip
        (merged.root / "sources.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
        code, rep = merged.cli("harvest", "back", "--json", capsys=capsys)
        assert code == 0, rep
        assert [r.path for r in srv.requests] == [f"/export/{n}" for n in names]  # hydra:next followed
    finally:
        srv.stop()
    back_dir = merged.root / "data" / "catalog" / "back"
    back = {r["remote_id"]: r for r in pq.read_table(back_dir / "datasets.parquet").to_pylist()}
    back_res: dict[str, set[tuple[str, str]]] = {k: set() for k in back}
    for r in pq.read_table(back_dir / "resources.parquet").to_pylist():
        back_res[r["dataset_key"].removeprefix("back:")].add((r["url"], r["format"]))
    datasets, resources = _merged(merged.root)
    assert set(back) == set(datasets)
    for key, row in datasets.items():
        got = back[key]
        assert got["title"] == row["title"]
        assert got["description"] == description_of(row)
        assert sorted(got["keywords"] or []) == sorted(row["keywords"] or [])
        assert got["license_id"] == row["license_id"]
        assert got["publisher"] == row["publisher"]
        assert back_res[key] == resources[key]
    assert sum(len(v) for v in resources.values()) >= 7


def test_a_dataset_without_title_is_a_violation(merged: Merged, capsys: pytest.CaptureFixture[str]) -> None:
    path = merged.root / "data" / "merged" / "chain" / "datasets.parquet"
    table = pq.read_table(path)
    titles = table.column("title").to_pylist()
    broken = table.column("merged_key").to_pylist()[0]
    titles[0] = None
    table = table.set_column(table.schema.get_field_index("title"), "title", pa.array(titles, pa.string()))
    pq.write_table(table, path)
    out = merged.root / "out.ttl"
    code, doc = merged.cli("export", "chain", "-o", str(out), "--validate", "--json", capsys=capsys)
    assert code == 1
    assert doc["violations"] >= 1
    paths = {v["path"] for v in doc["first_violations"] if v["focus"].endswith(f"dataset/{broken}")}
    assert "http://purl.org/dc/terms/title" in paths
