"""A full disk while normalise writes a Parquet table, and while harvest rewrites a catalogue, on a real small
filesystem (tests/faults/small_disk.py: a tmpfs, else a loop-mounted ext4 image).

In each case: exit 1 with the path named, the outputs of the earlier good run byte-identical, no partial file left
beside them, the run's reports (JSON and HTML) and `status` say "disk full", and the next run with space recovers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from harvester.runreport.collect import ordered_runs
from tests.faults.small_disk import fill, small_disk
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources
from tests.portals.ckan_portal import build_packages
from tests.subprocess_cli import harvester_cmd

COMMUNES = (CSV_FR / "ign_rgc2011_communes_head.csv").read_bytes()  # 1.5 MB, a table of about 550 KB


def reversed_rows(csv: bytes) -> bytes:
    header, *rows = csv.decode("latin-1").splitlines()
    return ("\n".join([header, *rows[::-1]]) + "\n").encode("latin-1")


def outputs(data: Path) -> dict[str, bytes]:
    """Every catalogue and table file, by path relative to the data dir."""
    return {
        str(p.relative_to(data)): p.read_bytes()
        for sub in ("catalog", "tables")
        for p in sorted((data / sub).rglob("*"))
        if p.is_file()
    }


def partials(data: Path) -> list[str]:
    """Temporary or half-written files left under catalog/ and tables/ (their names start with a dot)."""
    return [str(p) for sub in ("catalog", "tables") for p in (data / sub).rglob(".*")]


def last_run(data: Path) -> Path:
    """The latest run's folder. Ids hold the start second and a random suffix, so two runs started in the same
    second do not sort by name: `ordered_runs` (what `report` uses) breaks the tie by the first file written."""
    return data / "runs" / ordered_runs(data)[-1]


def test_full_disk_while_parquet_is_written_keeps_the_good_outputs(
    tmp_path: Path, server: FixtureServer
) -> None:
    files = Files(server)
    bnlc = (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()
    portal = ckan_with_resources(
        server,
        [
            {"name": "bnlc", "format": "CSV", "url": files.put("/d/bnlc.csv", bnlc)},
            {"name": "communes", "format": "CSV", "url": files.put("/d/communes.csv", COMMUNES)},
        ],
    )
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]}), encoding="utf-8"
    )

    with small_disk(tmp_path, 16) as (mount, kind):
        print(f"\nfull-disk test on a 16 MiB {kind}")
        data = mount / "data"

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                harvester_cmd(tmp_path, *args, data=data), capture_output=True, text=True, timeout=180
            )

        def status() -> dict[str, object]:
            shown = cli("status", "--json")
            assert shown.returncode == 0, shown.stderr
            src: dict[str, object] = json.loads(shown.stdout)["sources"][0]
            return src

        # a good run
        assert cli("harvest", "demo").returncode == 0
        first = cli("normalise", "demo")
        assert first.returncode == 0, first.stderr
        good = outputs(data)
        tables = [k for k in good if k.startswith("tables/") and k.count("/") == 3]
        [communes] = [k for k in tables if "/communes-" in k]
        assert len(tables) == 2

        # 1. the portal publishes a new version of the big CSV; there is room to download it, not to convert it
        files.put("/d/communes.csv", reversed_rows(COMMUNES))
        assert cli("harvest", "demo").returncode == 0
        ballast = fill(mount, leave=len(COMMUNES) + len(good[communes]) // 2)
        full = cli("normalise", "demo")
        assert full.returncode == 1, full.stderr
        assert f"error: disk full while writing {data / communes} (" in full.stderr, full.stderr
        assert "Traceback" not in full.stderr and "unexpected" not in full.stderr

        # the snapshot and the tables of the good run, byte for byte; normalise's index only records the failure
        after = outputs(data)
        resources_file = "tables/demo/index.parquet"
        assert {k: v for k, v in after.items() if k != resources_file} == {
            k: v for k, v in good.items() if k != resources_file
        }
        was = pq.read_table(pa.BufferReader(good[resources_file])).to_pylist()
        now_rows = pq.read_table(data / resources_file).to_pylist()
        flagged = {"table_status", "table_error", "run_id", "normalised_at", "sha256"}
        assert [{k: v for k, v in r.items() if k not in flagged} for r in now_rows] == [
            {k: v for k, v in r.items() if k not in flagged} for r in was
        ]
        [bad] = [r for r in now_rows if r["table_status"] == "failed"]
        assert bad["title"] == "communes" and bad["table_path"] == communes
        assert bad["table_error"].startswith("disk full while writing")
        assert partials(data) == []
        assert not (data / "tmp").exists() or not any((data / "tmp").iterdir())

        run = last_run(data)
        norm = json.loads((run / "normalise-report.json").read_text())
        assert norm["exit_code"] == 1 and norm["error"].startswith(
            f"disk full while writing {data / communes}"
        )
        [src] = norm["sources"]
        assert src["status"] == "failed" and src["disk_full"] is True
        failed = [r for r in src["resources"] if r["status"] == "failed"]
        assert [r["resource_key"].rsplit(":", 1)[1] for r in failed] == ["res-communes"]
        [err] = [json.loads(x) for x in (run / "errors.jsonl").read_text().splitlines()]
        assert err["url"] == files.url("/d/communes.csv") and err["message"] == norm["error"]
        page = (run / "report.html").read_text()
        assert 'data-cause="disk full"' in page and str(data / communes) in page
        st = status()
        assert st["runs"]["normalise"]["status"] == "failed"  # type: ignore[index]
        assert str(data / communes) in st["runs"]["normalise"]["summary"]["error"]  # type: ignore[index]

        # 2. harvest meets the full disk while rewriting the catalogue (the portal now lists 3000 datasets)
        before, listed = outputs(data), portal.packages
        portal.packages = build_packages(3000)
        fill(mount, leave=160 * 1024)
        big = cli("harvest", "demo")
        assert big.returncode == 1, big.stderr
        assert f"error: disk full while writing {data / 'catalog' / 'demo'}" in big.stderr, big.stderr
        assert outputs(data) == before and partials(data) == []
        run = last_run(data)
        harvest = json.loads((run / "report.json").read_text())
        assert harvest["exit_code"] == 1 and "disk full while writing" in harvest["error"]
        assert harvest["sources"][0]["source_id"] == "demo" and harvest["sources"][0]["status"] == "failed"
        assert 'data-cause="disk full"' in (run / "report.html").read_text()
        assert status()["runs"]["harvest"]["status"] == "failed"  # type: ignore[index]

        # 3. with space again, the next runs recover and convert the new version
        ballast.unlink()
        portal.packages = listed
        assert cli("harvest", "demo").returncode == 0
        again = cli("normalise", "demo")
        assert again.returncode == 0, again.stderr
        now = outputs(data)
        assert now[communes] != good[communes] and partials(data) == []
        new, old = pq.read_table(data / communes), pq.read_table(pa.BufferReader(good[communes]))
        assert (
            new.num_rows == old.num_rows
            and new.slice(0, 1).to_pylist() == old.slice(old.num_rows - 1).to_pylist()
        )
        st = status()
        assert st["runs"]["normalise"]["status"] == "ok" and st["runs"]["harvest"]["status"] == "ok"  # type: ignore[index]
