"""harvest → publish on the CKAN testbed: after a listing short of its announced count, publish deletes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.publish.conftest import CkanTestbed, unique, write_project
from tests.publish.test_publish_ckan import exit_code

pytestmark = pytest.mark.ckan


def test_publish_after_a_short_listing_deletes_nothing(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    server: FixtureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    portal = CkanPortal(server, build_packages(10))
    pipeline, org, sid = unique("t-"), unique("org-"), unique("sr")
    write_project(tmp_path, pipeline=pipeline, sources=[sid], org=org, source_urls={sid: portal.url})
    base = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    try:
        assert exit_code([*base, "harvest", sid, "--full"]) == 0
        assert exit_code([*base, "publish", pipeline]) == 0
        assert len(ckan.owned(pipeline)) == 10
        portal.hidden = 1  # count 10, 9 served: 1 withdrawal would be within both share limits
        capsys.readouterr()
        assert exit_code([*base, "harvest", sid, "--full", "--json"]) == 3
        harvested = json.loads(capsys.readouterr().out)["sources"][0]
        assert (harvested["withdrawn"], harvested["missing"]) == (0, 1)
        assert exit_code([*base, "publish", pipeline, "--json"]) == 0
        published = json.loads(capsys.readouterr().out)
        assert (
            published["summary"]["withdrawn"] == 0
            and published["writes_by_action"].get("package_delete") is None
        )
        assert len(ckan.owned(pipeline)) == 10
    finally:
        state = StateStore(tmp_path / "data" / "state.sqlite")
        ckan.purge({r["ckan_id"] for r in state.read_publish_records(pipeline).values()}, {org})
        state.close()
