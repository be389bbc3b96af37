"""Fixtures of the run report tests: headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runreport.chromium import Chromium, find_chromium


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    return find_chromium(tmp_path_factory.mktemp("chromium"))


@pytest.fixture
def artifacts() -> Path:
    from tests.runreport.chromium import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
