"""kill -9 and SIGTERM in the middle of a normalisation: the catalogue and its tables stay consistent, status says
`interrupted`, and the next run completes (resources whose download had not changed are not converted again)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from harvester.normalise.index import read_index
from tests.faults.stage_kill import Gate, cli, expected_code, start, status, stop, tree_digest
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources

NAMES = (
    "bnlc_calvados_covoiturage_utf8_bom.csv",
    "irve_schema_v2_sample.csv",
    "ssmsi_delinquance_departements_2022.csv",
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill9", "sigterm"])
def test_stopped_mid_normalise(tmp_path: Path, server: FixtureServer, sig: int) -> None:
    files = Files(server)
    resources = [
        {"name": f"t{i}", "format": "CSV", "url": files.put(f"/d/t{i}.csv", (CSV_FR / n).read_bytes())}
        for i, n in enumerate(NAMES)
    ]
    portal = ckan_with_resources(server, resources)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "src", "type": "ckan", "url": portal.url}]})
    )
    assert cli(tmp_path, "harvest", "src").returncode == 0
    first = cli(tmp_path, "normalise", "src", "--workers", "1")
    assert first.returncode == 0, first.stderr
    data = tmp_path / "data"
    before = outputs(data)

    # every file changes upstream; the second download is held: the normalisation is under way
    for i in range(len(NAMES)):
        files.files[f"/d/t{i}.csv"].body = (CSV_FR / NAMES[(i + 1) % 3]).read_bytes()
    gate = Gate(files._handler("/d/t0.csv"), when=lambda r: r.method == "GET")  # the first download is held
    for i in range(len(NAMES)):
        server.route(f"/d/t{i}.csv", gate.wrap(files._handler(f"/d/t{i}.csv")))
    proc = start(tmp_path, "normalise", "src", "--workers", "1")
    try:
        assert gate.reached.wait(30), "the normalisation never downloaded a file"
        code, err = stop(proc, sig, gate)
    finally:
        gate.release.set()
        if proc.poll() is None:
            proc.kill()
    assert code == expected_code(sig), err
    after = outputs(data)
    staged = sorted(k for k in after if Path(k).name.startswith("."))
    # the previous tables and the catalogue that lists them are intact, byte for byte; a killed process may
    # leave its staged tables (.<name>.<pid>.tmp) and nothing else, a stopped one leaves none
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert all(Path(k).name.endswith(".tmp") for k in staged)
    if sig == signal.SIGKILL:
        assert {k: v for k, v in after.items() if k not in staged} == before
    else:  # the download under way was finished and committed: its table and the catalogue, nothing else
        assert not staged and set(after) - set(before) == {
            "tables/src/schema_changes.parquet"
        }  # its drift, recorded
        tables = [
            k
            for k in changed
            if k.startswith("tables/") and not k.endswith(("/index.parquet", "/schema_changes.parquet"))
        ]
        assert len(tables) == 1, changed
        assert "tables/src/index.parquet" in changed
    res = index(data)
    for r in res:  # every table the catalogue names exists and has the rows it says
        assert pq.read_metadata(data / r["table_path"]).num_rows == r["table_rows"]
    if sig == signal.SIGTERM:
        assert "stopped by SIGTERM" in err and "marked interrupted: src (" in err
    shown = status(tmp_path)["sources"][0]
    assert shown["runs"]["normalise"]["status"] == "interrupted"
    assert shown["consecutive_failures"] == 1 and shown["last_failure"]["kind"] == "normalise"

    gate.after = 10**6
    n0 = len(server.requests)
    again = cli(tmp_path, "normalise", "src", "--workers", "1", "--json")
    assert again.returncode == 0, again.stderr
    got = [r for r in server.requests[n0:] if r.path.startswith("/d/") and r.method == "GET"]
    assert sorted(r.path for r in got) == ["/d/t0.csv", "/d/t1.csv", "/d/t2.csv"]
    report = json.loads(again.stdout)["sources"][0]
    # what the stopped run completed is not converted again (304); a killed run had committed nothing
    assert (report["converted"], report["unchanged"]) == ((2, 1) if sig == signal.SIGTERM else (3, 0))
    res = {r["title"]: r for r in index(data)}
    rows = {"bnlc": 37, "irve": 100, "ssmsi": 9898}
    assert res["t0"]["table_rows"] == rows["irve"] and res["t1"]["table_rows"] == rows["ssmsi"]
    assert res["t2"]["table_rows"] == rows["bnlc"]
    shown = status(tmp_path)["sources"][0]
    assert shown["consecutive_failures"] == 0 and shown["runs"]["normalise"]["status"] == "ok"
    assert not [p for p in (data / "tables").rglob(".*")]  # what the killed run left was reclaimed

    n1 = len(server.requests)
    third = cli(tmp_path, "normalise", "src", "--workers", "1")
    assert third.returncode == 0, third.stderr
    revalidated = [r for r in server.requests[n1:] if r.path.startswith("/d/")]
    assert all("If-None-Match" in r.headers for r in revalidated)  # what completed is not converted again


def outputs(data: Path) -> dict[str, str]:
    """Digests of the catalogue and the tables (with their index), keyed by their path under the data dir."""
    return {f"{top}/{k}": v for top in ("catalog", "tables") for k, v in tree_digest(data / top).items()}


def index(data: Path) -> list[dict[str, Any]]:
    table = read_index(data, "src")
    assert table is not None
    return [r for r in table.to_pylist() if r["table_path"]]
