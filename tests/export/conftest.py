"""A merged multi-source pipeline built through the CLI from replayed portals (tests/portals/merge_chain.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harvester.cli import main
from tests.portals.merge_chain import Chain, build_chain


@dataclass
class Merged:
    root: Path
    pipeline: str
    chain: Chain

    def cli(self, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
        capsys.readouterr()
        code = 0
        try:
            main(["--config", str(self.root / "sources.yaml"), "--data-dir", str(self.root / "data"), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr().out
        return code, json.loads(out) if out.strip() else {}


@pytest.fixture
def merged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Merged]:
    chain = build_chain()
    try:
        (tmp_path / "sources.yaml").write_text(
            yaml.safe_dump({"sources": chain.sources()}, allow_unicode=True)
        )
        (tmp_path / "pipelines").mkdir()
        (tmp_path / "pipelines" / "chain.yaml").write_text(
            yaml.safe_dump({"name": "chain", "sources": ["communes", "datasud", "dgouv"]})
        )
        m = Merged(tmp_path, "chain", chain)
        code, out = m.cli("harvest", "--all", "--json", capsys=capsys)
        assert code == 0, out
        code, out = m.cli("merge", "chain", "--json", capsys=capsys)
        assert code == 0 and out["merged_datasets"] == 5, out
        yield m
    finally:
        chain.stop()
