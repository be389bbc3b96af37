"""`harvester normalise` from the CLI: harvest a local CKAN, convert its real CSV resources, re-run with 304s."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]
    )


def test_normalise_command_end_to_end(server: FixtureServer, tmp_path: Path) -> None:
    files = Files(server)
    resources = [
        {
            "name": "bnlc",
            "format": "CSV",
            "url": files.put("/d/bnlc.csv", (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()),
        },
        {
            "name": "irve",
            "format": "CSV",
            "url": files.put("/d/irve.csv", (CSV_FR / "irve_schema_v2_sample.csv").read_bytes()),
        },
        {
            "name": "ssmsi",
            "format": "CSV",
            "url": files.put(
                "/d/ssmsi.csv", (CSV_FR / "ssmsi_delinquance_departements_2022.csv").read_bytes()
            ),
        },
        {
            "name": "notice",
            "format": "PDF",
            "url": files.put("/d/notice.pdf", b"%PDF-1.4", "application/pdf"),
        },
    ]
    portal = ckan_with_resources(server, resources)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    assert invoke(tmp_path, "harvest", "demo").exit_code == 0

    assert invoke(tmp_path, "normalise").exit_code == 2  # SOURCE or --all
    first = invoke(tmp_path, "normalise", "demo", "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    src = report["sources"][0]
    assert (src["status"], src["converted"], src["unchanged"], src["failed"], src["skipped"]) == (
        "ok",
        3,
        0,
        0,
        1,
    )
    assert src["rows"] == 37 + 100 + 9898
    data = tmp_path / "data"
    assert (data / "runs" / report["run_id"] / "normalise-report.json").exists()
    res = {r["title"]: r for r in pq.read_table(data / "tables/demo/index.parquet").to_pylist()}
    bnlc = pq.read_table(data / res["bnlc"]["table_path"])
    assert bnlc.num_rows == 37 and "geometry" in bnlc.column_names
    irve = pq.read_table(data / res["irve"]["table_path"])
    assert irve.column("geometry").null_count == 0  # coordonneesXY "[lon, lat]"
    ssmsi = pq.read_table(data / res["ssmsi"]["table_path"])
    assert ssmsi.num_rows == 9898 and "geometry" not in ssmsi.column_names
    rate = [c for c in ssmsi.column_names if "taux" in c.lower()][0]
    assert str(ssmsi.schema.field(rate).type) == "double"  # decimal comma

    n0 = len(server.requests)
    second = invoke(tmp_path, "normalise", "--all")
    assert second.exit_code == 0, second.stderr
    assert "normalise run" in second.stderr
    file_requests = [r for r in server.requests[n0:] if r.path.startswith("/d/")]
    assert len(file_requests) == 3 and all("If-None-Match" in r.headers for r in file_requests)
    res2 = {
        r["title"]: r["table_status"] for r in pq.read_table(data / "tables/demo/index.parquet").to_pylist()
    }
    assert res2 == {"bnlc": "unchanged", "irve": "unchanged", "ssmsi": "unchanged", "notice": "skipped"}

    files.files["/d/irve.csv"].body = b"<!doctype html><title>503</title>"
    third = invoke(tmp_path, "normalise", "demo")
    assert third.exit_code == 3
    assert "HTML page instead of a table" in third.stderr and "/d/irve.csv" in third.stderr
