"""A project on disk (sources.yaml, data dir) run through the CLI, and what a fault test checks after each run."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from harvester.cli import cli


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"

    def sources(self, sources: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")

    def pipeline(self, name: str, sources: list[str], ckan: dict[str, Any]) -> None:
        (self.root / "pipelines").mkdir(parents=True, exist_ok=True)
        (self.root / "pipelines" / f"{name}.yaml").write_text(
            yaml.safe_dump({"name": name, "sources": sources, "publish": {"ckan": ckan}}), encoding="utf-8"
        )

    def cli(self, *args: str, pre: tuple[str, ...] = ()) -> Ran:
        t0 = time.monotonic()
        res = CliRunner().invoke(
            cli, ["--config", str(self.root / "sources.yaml"), "--data-dir", str(self.data), *pre, *args]
        )
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return Ran(res.exit_code, res.stdout, res.stderr, time.monotonic() - t0)

    # --- what the checks read ---------------------------------------------------------------------------------
    def snapshot(self, source_id: str) -> dict[str, str]:
        """Digest of every file of a source's catalogue (to prove a failed run left it untouched)."""
        folder = self.data / "catalog" / source_id
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}

    def status(self) -> dict[str, Any]:
        ran = self.cli("status", "--json")
        assert ran.code == 0, ran.stderr
        return {s["id"]: s for s in ran.json()["sources"]}

    def last_report(self, name: str = "report.json") -> dict[str, Any]:
        runs = sorted((self.data / "runs").glob(f"*/{name}"), key=lambda p: p.stat().st_mtime)
        return json.loads(runs[-1].read_text(encoding="utf-8"))


def source_status(project: Project, source_id: str, kind: str = "harvest") -> tuple[str, str | None, Any]:
    """(status, error, datasets) of the source's last run of `kind`, as `status --json` shows them."""
    s = project.status()[source_id]
    run = s["runs"][kind]
    summary = run.get("summary") or {}
    return run["status"], summary.get("error"), s["datasets"]
