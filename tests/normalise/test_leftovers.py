"""A normalise killed by SIGKILL mid-conversion: the next run removes its leftovers; earlier tables stay intact."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import yaml

from harvester.leftovers import reclaim, run_tmp_dir
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources
from tests.subprocess_cli import harvester_cmd

PARTIAL = re.compile(r"^\..+\.\d+\.(part|tmp)$")


def big_csv(rows: int) -> bytes:
    head = b"code;commune;population;surface;date\n"
    return head + b"".join(
        b"%d;Commune %d;%d;%d,%02d;2023-%02d-01\n" % (i, i, i * 7, i % 900, i % 100, i % 12 + 1)
        for i in range(rows)
    )


def cli(root: Path, *args: str) -> list[str]:
    return harvester_cmd(root, *args)


def partials(data: Path) -> list[Path]:
    return [p for p in (data / "tables").rglob(".*") if PARTIAL.match(p.name)]


def test_killed_normalise_leftovers_are_reclaimed_by_the_next_run(
    server: FixtureServer, tmp_path: Path
) -> None:
    files = Files(server)
    small = (CSV_FR / "ssmsi_delinquance_departements_2022.csv").read_bytes()
    resources = [
        {"name": "grand", "format": "CSV", "url": files.put("/d/grand.csv", small)},
        {
            "name": "bnlc",
            "format": "CSV",
            "url": files.put("/d/bnlc.csv", (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()),
        },
    ]
    portal = ckan_with_resources(server, resources)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    data = tmp_path / "data"
    for args in (("harvest", "demo"), ("normalise", "demo")):
        done = subprocess.run(cli(tmp_path, *args), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    tables = {p: p.read_bytes() for p in (data / "tables").glob("*/*/*.parquet")}  # not the index
    assert len(tables) == 2

    def converting() -> list[Path]:
        """The Parquet being written from the large download, in the run's scratch directory."""
        return [
            p
            for p in (data / "tmp").glob("*/normalise-*/.table.parquet.*.tmp")
            if (p.parent / "download").exists() and (p.parent / "download").stat().st_size > 50_000_000
        ]

    files.put("/d/grand.csv", big_csv(1_500_000))  # ~60 MB: a conversion that takes a while
    proc = subprocess.Popen(cli(tmp_path, "normalise", "demo", "--force"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not converting() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert converting(), "the conversion of the large CSV was never seen in progress"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    [run_dir] = list((data / "tmp").iterdir())
    assert run_dir.name.endswith(f"-{proc.pid}") and (run_dir / "owner.json").exists()
    left = [*partials(data), *(p for p in run_dir.rglob("*") if p.is_file())]
    assert any(p.name.startswith(".table.parquet.") for p in left)  # the Parquet begun
    left_bytes = sum(p.stat().st_size for p in left)
    assert left_bytes > 50_000_000  # the download (and the Parquet begun) are still there
    assert {p: p.read_bytes() for p in tables} == tables  # the earlier tables were not touched

    files.put("/d/grand.csv", small)  # as it was: the next run finds everything unchanged (304)
    nxt = subprocess.run(cli(tmp_path, "normalise", "demo"), capture_output=True, text=True, timeout=120)
    assert nxt.returncode == 0, nxt.stderr
    m = re.search(r"removed (\d+) leftover\(s\) of interrupted runs, (\d+) bytes freed", nxt.stderr)
    assert m and int(m.group(2)) >= left_bytes, nxt.stderr
    assert str(run_dir) in nxt.stderr
    assert not partials(data) and list((data / "tmp").iterdir()) == []
    assert {p: p.read_bytes() for p in tables} == tables
    # and the killed run shows as interrupted (it is the one before the last)
    st = StateStore(data / "state.sqlite", readonly=True)
    statuses = [r[0] for r in st._exec("SELECT status FROM runs WHERE kind='normalise' ORDER BY started_at")]
    assert statuses == ["ok", "interrupted", "ok"]


def test_reclaim_leaves_live_runs_alone(tmp_path: Path) -> None:
    with run_tmp_dir(tmp_path, "r1") as mine:
        (mine / "download").write_bytes(b"x" * 1000)
        live_partial = tmp_path / "tables" / "s" / f".t.parquet.{os.getpid()}.tmp"
        live_partial.parent.mkdir(parents=True)
        live_partial.write_bytes(b"y")
        dead = subprocess.Popen(["true"])
        dead.wait()
        dead_partial = live_partial.with_name(f".t.parquet.{dead.pid}.part")
        dead_partial.write_bytes(b"z" * 10)
        got = reclaim(tmp_path)
        assert got.paths == [str(dead_partial)] and got.bytes == 10
        assert (mine / "download").exists() and live_partial.exists()
    assert not mine.exists()  # removed by its own run at the end
