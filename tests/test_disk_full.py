"""A full disk, on a real small filesystem (a 2 MiB tmpfs): a clear error, exit 1, nothing earlier damaged.

The test mounts a tmpfs (it needs root, as on the development machines and CI). If the mount is refused it FAILS
with the reason: a full-disk test that silently does not run would prove nothing.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from harvester.catalog import read_catalog
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.subprocess_cli import harvester_cmd


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a 2 MiB tmpfs for the full-disk test (needs root): {done.stderr.strip() or done.returncode}",
            pytrace=False,
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int = 0) -> Path:
    """Fill the filesystem until fewer than `leave` bytes are free (0: until ENOSPC)."""
    import shutil

    ballast = mount / "ballast"
    with ballast.open("wb") as fh:
        while True:
            free = shutil.disk_usage(mount).free
            if free <= leave:
                break
            try:
                fh.write(b"\0" * min(65536, max(4096, free - leave)))
                fh.flush()
            except OSError:
                break
    return ballast


def cli(root: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = harvester_cmd(root, *args, data=data)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_full_disk_is_a_clear_error_and_status_still_works(
    tmp_path: Path, small_fs: Path, server: FixtureServer
) -> None:
    import shutil

    portal = CkanPortal(server, build_packages(30))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    data = small_fs / "data"
    first = cli(tmp_path, data, "harvest", "demo")
    assert first.returncode == 0, first.stderr
    before = (data / "catalog" / "demo" / "datasets.parquet").read_bytes()

    # 1. No byte left: harvest stops at the state store with a clear message, exit 1, no traceback
    ballast = fill(small_fs)
    assert shutil.disk_usage(small_fs).free == 0
    full = cli(tmp_path, data, "harvest", "demo", "--full")
    assert full.returncode == 1, full.stderr
    assert f"error: disk full while writing {data}" in full.stderr and "(0 bytes free)" in full.stderr
    assert "Traceback" not in full.stderr and "unexpected" not in full.stderr

    # status (read-only) still works on the full disk and shows the last good run
    shown = cli(tmp_path, data, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    src = json.loads(shown.stdout)["sources"][0]
    assert src["datasets"] == 30 and src["runs"]["harvest"]["status"] == "ok"
    assert cli(tmp_path, data, "status").returncode == 0

    # 2. Some room for the state store, not for the new catalogue: the Parquet write fails, named, exit 1
    ballast.unlink()
    portal.packages = build_packages(3000)
    fill(small_fs, leave=160 * 1024)
    big = cli(tmp_path, data, "harvest", "demo", "--full")
    assert big.returncode == 1, big.stderr
    assert f"error: disk full while writing {data / 'catalog' / 'demo'}" in big.stderr, big.stderr
    assert "bytes free" in big.stderr or "KiB free" in big.stderr
    assert "Traceback" not in big.stderr

    # nothing earlier was damaged: the previous snapshot is intact, no half-written file, the store is sound
    assert (data / "catalog" / "demo" / "datasets.parquet").read_bytes() == before
    snap = read_catalog(data, "demo")
    assert snap is not None and snap[0].num_rows == 30
    assert pq.read_metadata(data / "catalog" / "demo" / "resources.parquet").num_rows > 0
    assert [p.name for p in (data / "catalog" / "demo").iterdir() if p.name.startswith(".")] == []
    db = sqlite3.connect(f"{(data / 'state.sqlite').as_uri()}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    statuses = [r[0] for r in db.execute("SELECT status FROM runs ORDER BY started_at")]
    assert statuses == ["ok", "failed"]

    # once space is freed, the same command works
    (small_fs / "ballast").unlink()
    portal.packages = build_packages(30)
    again = cli(tmp_path, data, "harvest", "demo", "--full")
    assert again.returncode == 0, again.stderr
