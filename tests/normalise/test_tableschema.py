"""Table Schema validation through `harvester normalise` from the CLI: a local udata portal whose resources declare
the static IRVE schema (schema.data.gouv.fr), a `schemas:` rule of sources.yaml, and a schema not available offline."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from tests.fixture_server import FixtureServer
from tests.normalise.served import Files
from tests.portals.udata_portal import UdataPortal, udata_clone, udata_records

VALID = Path(__file__).parent.parent / "fixtures" / "tableschema" / "irve_exemple-valide-statique.csv"
IRVE = {"name": "etalab/schema-irve-statique", "version": "2.3.0", "url": None}


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]
    )


def broken_irve() -> bytes:
    """The valid example with known broken cells (file rows: header = 1)."""
    rows = list(csv.reader(io.StringIO(VALID.read_text(encoding="utf-8"))))
    head, first, second = rows[0], rows[1], rows[2]
    col = head.index
    bad = [list(first), list(second), list(first), list(second)]
    bad[0][col("id_pdc_itinerance")] = "FR*A68*E6802"  # row 2: pattern
    bad[1][col("date_maj")] = "2021-02-30"  # row 3: not a date
    bad[2][col("puissance_nominale")] = "-22"  # row 4: minimum 0
    bad[3][col("nom_enseigne")] = ""  # row 5: required
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([head, *bad])
    return out.getvalue().encode()


def test_irve_schema_errors_per_row_and_field(server: FixtureServer, tmp_path: Path) -> None:
    files = Files(server)
    ds = udata_clone(udata_records()[0], 1)
    template = copy.deepcopy(ds["resources"][0])
    resources = []
    for rid, path, body, schema in [
        ("valid", "/r/valide.csv", VALID.read_bytes(), IRVE),
        ("broken", "/r/invalide.csv", broken_irve(), IRVE),
        ("ruled", "/rule/irve.csv", broken_irve(), None),  # no declaration: the sources.yaml rule applies
        ("remote", "/r/other.csv", VALID.read_bytes(), {"url": "https://example.org/schema.json"}),
    ]:
        res = copy.deepcopy(template) | {
            "id": rid,
            "title": rid,
            "format": "csv",
            "url": files.put(path, body),
        }
        res["schema"] = schema
        resources.append(res)
    ds["resources"] = resources
    portal = UdataPortal([ds])
    url = portal.install(server)
    rule = {"schema": "etalab/schema-irve-statique", "resources": ["*/rule/*.csv"]}
    src = {"id": "irve", "type": "udata", "url": url, "schemas": [rule]}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [src]}))
    assert invoke(tmp_path, "harvest", "irve").exit_code == 0

    out = invoke(tmp_path, "normalise", "irve", "--json")
    assert out.exit_code == 0, out.stderr
    source = json.loads(out.stdout)["sources"][0]
    assert (source["converted"], source["failed"], source["schema_invalid"]) == (4, 0, 2)
    by_id = {r["resource_key"].rsplit(":", 1)[-1]: r for r in source["resources"]}
    assert by_id["valid"]["schema_valid"] is True and by_id["valid"]["schema_errors"] == 0
    assert by_id["broken"]["schema_valid"] is False and by_id["broken"]["table_schema"] == IRVE["name"]
    assert by_id["ruled"]["schema_valid"] is False
    assert by_id["remote"]["schema_valid"] is None
    assert any("schema not available offline" in w for w in by_id["remote"]["warnings"])

    data = tmp_path / "data"
    broken = by_id["broken"]
    assert pq.read_table(data / broken["table_path"]).num_rows == 4  # flagged, not dropped
    report = json.loads((data / broken["table_path"]).parent.joinpath("validation.json").read_text())
    entry = report["tables"][Path(broken["table_path"]).name]
    found = [(e["type"], e["row"], e["field"], e["value"]) for e in entry["errors"]]
    assert found == [
        ("constraint-error", 2, "id_pdc_itinerance", "FR*A68*E6802"),
        ("type-error", 3, "date_maj", "2021-02-30"),
        ("constraint-error", 4, "puissance_nominale", "-22"),
        ("constraint-error", 5, "nom_enseigne", ""),
    ]
    assert entry["valid"] is False and entry["rows"] == 4 and entry["schema"] == IRVE["name"]
    fr = {e["field"]: e["message_fr"] for e in entry["errors"]}
    assert fr["nom_enseigne"] == "La colonne nom_enseigne est obligatoire : la valeur est manquante."
    assert "« -22 »" in fr["puissance_nominale"] and all(e["message_en"] for e in entry["errors"])
    assert report["tables"][Path(by_id["valid"]["table_path"]).name]["errors"] == []

    again = json.loads(invoke(tmp_path, "normalise", "irve", "--json").stdout)["sources"][0]
    assert again["unchanged"] == 4 and again["schema_invalid"] == 2  # last validation kept while unchanged
