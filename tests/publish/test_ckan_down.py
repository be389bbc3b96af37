"""CKAN down: a clear error naming the URL, exit 1, nothing recorded as published."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from harvester.errors import TargetError
from harvester.pipelines import get_pipeline
from harvester.publish import publish_pipeline
from harvester.publish.client import CkanClient
from harvester.state import StateStore
from tests.publish.conftest import TOKEN_ENV, write_project
from tests.publish.factory import catalogue, write_source

DOWN = "http://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(TOKEN_ENV, "some-token")
    write_project(tmp_path, pipeline="down", sources=["src"], org="org", url=DOWN, max_retries=1)
    rows, res = catalogue("src", 3)
    write_source(tmp_path / "data", "src", rows, res)
    return tmp_path


def test_library_raises_target_error_and_records_nothing(project: Path) -> None:
    from harvester.config import load_config

    pipeline = get_pipeline(load_config(project / "sources.yaml"), "down")
    state = StateStore(project / "data" / "state.sqlite")
    with pytest.raises(TargetError) as info:
        publish_pipeline(
            pipeline, project / "data", state, client=CkanClient(DOWN, "t", max_retries=1, backoff=0.01)
        )
    assert "CKAN is unreachable" in str(info.value) and DOWN in str(info.value)
    assert state.read_publish_records("down") == {}
    last = state.last_run("pipeline:down", "publish")
    assert last is not None and last["status"] == "failed"


def test_cli_exits_1_with_a_clear_message(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(
            [
                "--config",
                str(project / "sources.yaml"),
                "--data-dir",
                str(project / "data"),
                "publish",
                "down",
            ]
        )
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "CKAN is unreachable" in err and DOWN in err
    state = StateStore(project / "data" / "state.sqlite")
    assert state.read_publish_records("down") == {}


@pytest.mark.parametrize(
    ("no_ckan", "ci", "skipped"),
    [("1", "", True), ("1", "true", False), ("", "", False), ("0", "", False)],
)
def test_only_a_developer_may_opt_out_of_the_ckan_tests(
    monkeypatch: pytest.MonkeyPatch, no_ckan: str, ci: str, skipped: bool
) -> None:
    from tests.publish.conftest import opted_out

    monkeypatch.setenv("HARVESTER_NO_CKAN", no_ckan)
    monkeypatch.setenv("CI", ci)
    assert opted_out() is skipped
