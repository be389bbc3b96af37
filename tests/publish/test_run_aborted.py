"""`run` when every harvested source aborted: exit 1, and nothing normalised or published (the old catalogue stays)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harvester.cli import main
from tests.publish.conftest import TOKEN_ENV, write_project
from tests.publish.factory import catalogue, write_source

DOWN = "http://127.0.0.1:1"


def test_run_stops_with_exit_1_when_every_source_aborted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "some-token")
    write_project(tmp_path, pipeline="sud", sources=["alpha"], org="org", url=DOWN, max_retries=1)
    sources = {"sources": [{"id": "alpha", "type": "ckan", "url": DOWN, "http": {"max_retries": 0}}]}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(sources), encoding="utf-8")
    rows, res = catalogue("alpha", 2)
    write_source(tmp_path / "data", "alpha", rows, res)  # an older catalogue: publish would have something

    with pytest.raises(SystemExit) as info:
        args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
        main([*args, "run", "sud", "--json"])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "every source aborted in harvest: nothing normalised or published" in captured.err
    assert "CKAN is unreachable" not in captured.err  # publish never ran
    out = json.loads(captured.out)
    assert out["harvest"]["sources"][0]["status"] == "failed" and set(out) == {"harvest"}
    run_dir = next((tmp_path / "data" / "runs").iterdir())
    assert (run_dir / "report.json").exists()
    assert not (run_dir / "publish-report.json").exists() and not (run_dir / "normalise-report.json").exists()
