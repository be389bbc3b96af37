"""Fault-injection tests: a project on disk, a local CKAN portal that a test breaks and then repairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.project import Project
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages


@pytest.fixture
def portal(server: FixtureServer) -> CkanPortal:
    return CkanPortal(server, build_packages(30))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def ckan_source(portal: CkanPortal, source_id: str = "sud", **http: object) -> dict[str, object]:
    return {"id": source_id, "type": "ckan", "url": portal.url, "http": {"backoff": 0, **http}}
