"""Without the PostgreSQL state database, the tests marked `postgres` fail — in CI always; only a developer may
opt out (HARVESTER_NO_CKAN=1), and then they are skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("no_ckan", "ci", "outcome"),
    [("1", "", "1 skipped"), ("1", "true", "1 error"), ("", "", "1 error")],
)
def test_a_missing_dsn_fails_unless_a_developer_opts_out(
    tmp_path: Path, no_ckan: str, ci: str, outcome: str
) -> None:
    env = {
        **os.environ,
        "CKAN_TESTBED_DIR": str(tmp_path / "no-testbed"),
        "HARVESTER_NO_CKAN": no_ckan,
        "CI": ci,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/state/test_contract.py::test_cursors[postgres]"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert outcome in proc.stdout, proc.stdout
    if outcome.endswith("error"):
        assert proc.returncode != 0 and "state_dsn.txt" in proc.stdout and "make ckan-up" in proc.stdout
