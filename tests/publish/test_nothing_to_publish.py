"""A pipeline none of whose sources was ever harvested: exit 3, a message naming them and what to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harvester.cli import cli, main
from harvester.state import StateStore
from tests.publish.conftest import TOKEN_ENV, write_project
from tests.publish.factory import catalogue, write_source

DOWN = "http://127.0.0.1:1"  # CKAN is never contacted: it would be exit 1 "CKAN is unreachable"


def _publish(root: Path, pipeline: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(["--config", str(root / "sources.yaml"), "--data-dir", str(root / "data"), "publish", pipeline])
    return int(info.value.code or 0)


def test_never_harvested_pipeline_exits_3_and_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "some-token")
    write_project(tmp_path, pipeline="vide", sources=["alpha", "beta"], org="org", url=DOWN, max_retries=1)
    assert _publish(tmp_path, "vide") == 3
    err = capsys.readouterr().err
    assert "nothing to publish for pipeline 'vide'" in err and "never harvested (alpha, beta)" in err
    assert "harvester harvest alpha beta" in err and "unreachable" not in err

    [path] = (tmp_path / "data" / "runs").glob("*/publish-report.json")
    report = json.loads(path.read_text())
    assert report["exit_code"] == 3 and report["missing_sources"] == ["alpha", "beta"]
    assert "never harvested" in report["error"] and report["write_calls"] == report["read_calls"] == 0
    last = StateStore(tmp_path / "data" / "state.sqlite", readonly=True).last_run("pipeline:vide", "publish")
    assert last is not None and last["status"] == "not_harvested"
    # `status` shows the pipeline's publish runs too
    shown = CliRunner().invoke(
        cli,
        [
            "--config",
            str(tmp_path / "sources.yaml"),
            "--data-dir",
            str(tmp_path / "data"),
            "status",
            "--json",
        ],
    )
    assert shown.exit_code == 0, shown.stderr
    [pl] = json.loads(shown.stdout)["pipelines"]
    assert pl["name"] == "vide" and pl["last_run"]["status"] == "not_harvested"
    assert pl["last_run"]["summary"]["exit_code"] == 3


def test_one_harvested_source_is_enough_to_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "some-token")
    write_project(tmp_path, pipeline="moitie", sources=["alpha", "beta"], org="org", url=DOWN, max_retries=1)
    rows, res = catalogue("alpha", 2)
    write_source(tmp_path / "data", "alpha", rows, res)
    assert _publish(tmp_path, "moitie") == 1  # it went on to CKAN (down here), as it should
    assert "CKAN is unreachable" in capsys.readouterr().err
    [path] = (tmp_path / "data" / "runs").glob("*/publish-report.json")
    assert json.loads(path.read_text())["exit_code"] == 1
