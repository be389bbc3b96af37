"""kill -9 and SIGTERM in the middle of a harvest: the previous snapshot is intact, status says `interrupted`,
the lock is not left held, and the next run completes."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from harvester.state import StateStore
from tests.faults.stage_kill import Gate, cli, expected_code, start, status, stop, tree_digest
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages, touch


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill9", "sigterm"])
def test_stopped_mid_harvest(tmp_path: Path, server: FixtureServer, sig: int) -> None:
    packages = build_packages(15)
    portal = CkanPortal(server, packages)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "src", "type": "ckan", "url": server.url, "params": {"rows": 5}}]})
    )
    first = cli(tmp_path, "harvest", "src")
    assert first.returncode == 0, first.stderr
    catalog = tmp_path / "data" / "catalog" / "src"
    before = tree_digest(catalog)
    assert before

    for p in packages[:6]:
        touch(p, datetime.now(UTC), title=p["title"] + " (v2)")
    gate = Gate(portal.package_search, after=1)  # the second page is held: the harvest is under way
    server.route("/api/3/action/package_search", gate)
    proc = start(tmp_path, "harvest", "src", "--full")
    try:
        assert gate.reached.wait(30), "the harvest never asked for its second page"
        code, err = stop(proc, sig, gate)
    finally:
        gate.release.set()
        if proc.poll() is None:
            proc.kill()
    assert code == expected_code(sig), err
    assert tree_digest(catalog) == before  # the previous snapshot is intact, byte for byte
    lock = tmp_path / "data" / "locks" / "source-src.lock"
    if sig == signal.SIGTERM:
        assert "stopped by SIGTERM" in err and "marked interrupted: src (" in err
        assert lock.read_text() == ""  # let go cleanly
        row = StateStore(tmp_path / "data" / "state.sqlite", readonly=True).last_run("src", "harvest")
        assert row is not None and row["finished_at"] is not None  # closed by the process itself

    shown = status(tmp_path)["sources"][0]
    assert shown["runs"]["harvest"]["status"] == "interrupted"
    assert shown["last_failure"]["status"] == "interrupted" and shown["consecutive_failures"] == 1
    assert (
        shown["last_success"]["run_id"]
        == StateStore(tmp_path / "data" / "state.sqlite", readonly=True).recent_runs("src", ("harvest",))[1][
            "run_id"
        ]
    )
    assert shown["datasets"] == 15  # the previous snapshot's count

    gate.after = 10**6  # the portal answers normally again
    again = cli(tmp_path, "-v", "harvest", "src")
    assert again.returncode == 0, again.stderr
    if sig == signal.SIGKILL:
        assert "lock source-src recovered" in again.stderr  # the dead holder's lease is taken over, loudly
    titles = set(pq.read_table(catalog / "datasets.parquet", columns=["title"]).column("title").to_pylist())
    assert sum(1 for t in titles if t.endswith("(v2)")) == 6  # the changes the killed run missed
    shown = status(tmp_path)["sources"][0]
    assert shown["consecutive_failures"] == 0 and shown["last_success"]["status"] == "ok"
    assert shown["counts"]["updated"] == 6 and shown["counts"]["unchanged"] == 9
