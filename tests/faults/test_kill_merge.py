"""kill -9 and SIGTERM in the middle of a merge: merged/<pipeline>/ keeps the previous files, byte for byte, and
the next merge completes. The marker is the stage's own log line, written once the catalogues are read."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.faults.stage_kill import cli, expected_code, tree_digest
from tests.publish.factory import catalogue, write_source
from tests.subprocess_cli import harvester_cmd


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill9", "sigterm"])
def test_stopped_mid_merge(tmp_path: Path, sig: int) -> None:
    data = tmp_path / "data"
    for sid in ("a", "b"):
        rows, res = catalogue(sid, 2000, 1)
        write_source(data, sid, rows, res)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump(
            {"sources": [{"id": s, "type": "ckan", "url": f"https://{s}.example.org"} for s in "ab"]}
        )
    )
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(yaml.safe_dump({"name": "p", "sources": ["a", "b"]}))
    first = cli(tmp_path, "merge", "p")
    assert first.returncode == 0, first.stderr
    merged = data / "merged" / "p"
    before = tree_digest(merged)
    assert {"datasets.parquet", "resources.parquet", "provenance.parquet"} <= set(before)

    rows, res = catalogue("b", 1000, 1)  # source b lost half its datasets: the next merge changes every file
    write_source(data, "b", rows, res)
    proc = subprocess.Popen(harvester_cmd(tmp_path, "-v", "merge", "p"), stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the marker: the catalogues are read, the matching is under way
            if "merge p: matching 3000 records of 2 sources" in line:
                break
        else:
            raise AssertionError("the merge never started matching")
        proc.send_signal(sig)
        err = proc.stderr.read()
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == expected_code(sig), err
    assert tree_digest(merged) == before or sig == signal.SIGKILL and _only_staged(merged, before)
    if sig == signal.SIGTERM:
        assert "stopped by SIGTERM" in err and tree_digest(merged) == before  # stopped before the commit

    again = cli(tmp_path, "merge", "p")
    assert again.returncode == 0, again.stderr
    assert "wrote datasets.parquet" in again.stderr and tree_digest(merged) != before
    assert pq.read_metadata(merged / "datasets.parquet").num_rows == 2000  # 1000 merged + 1000 from a alone
    assert not [p for p in merged.iterdir() if p.name.startswith(".")]


def _only_staged(merged: Path, before: dict[str, str]) -> bool:
    """A kill that landed while the new files were being staged: the old ones are intact, the temp files extra."""
    now = tree_digest(merged)
    return {k: v for k, v in now.items() if not k.startswith(".")} == before
