"""The command line of a harvester run in a child process (tests that kill it, limit it, or fill its disk)."""

from __future__ import annotations

import sys
from pathlib import Path


def harvester_cmd(root: Path, *args: str, data: Path | None = None) -> list[str]:
    """`python -m harvester --config ROOT/sources.yaml --data-dir DATA ARGS…` (DATA defaults to ROOT/data)."""
    return [
        sys.executable,
        "-m",
        "harvester",
        "--config",
        str(root / "sources.yaml"),
        "--data-dir",
        str(data if data is not None else root / "data"),
        *args,
    ]
