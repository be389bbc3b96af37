"""kill -9 and SIGTERM in the middle of a publication into the real CKAN testbed: what was written is recorded
or found again, status says `interrupted`, and the next run completes without a duplicate in CKAN."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harvester.state import StateStore
from tests.faults.ckan_gate import HoldingProxy
from tests.faults.stage_kill import cli, expected_code, start, status
from tests.publish.conftest import TOKEN_ENV, CkanTestbed, unique, write_project
from tests.publish.conftest import ckan as ckan  # noqa: F401 (the testbed fixture)
from tests.publish.factory import catalogue, write_source

pytestmark = pytest.mark.ckan


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill9", "sigterm"])
def test_stopped_mid_publish(ckan: CkanTestbed, tmp_path: Path, sig: int) -> None:
    pipeline, org, src = unique("kp-"), unique("org-"), unique("src")
    # organization_create + 4 package_create go through; the 5th package_create is held
    proxy = HoldingProxy(ckan.url, after=5)
    write_project(
        tmp_path, pipeline=pipeline, sources=[src], org=org, url=proxy.url, concurrency=1, max_retries=1
    )
    rows, res = catalogue(src, 10)
    write_source(tmp_path / "data", src, rows, res)
    env = {TOKEN_ENV: ckan.token}
    try:
        proc = start(tmp_path, "publish", pipeline, env=env)
        try:
            assert proxy.reached.wait(60), f"the publish never got to its 5th dataset: {proxy.writes_seen}"
            proc.send_signal(sig)
            if sig == signal.SIGKILL:
                proc.wait(30)
                proxy.forward_held = False  # killed before its request was sent: CKAN never sees it
            proxy.release.set()  # SIGTERM: the write under way is finished
            _out, err = proc.communicate(timeout=60)
        finally:
            proxy.release.set()
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == expected_code(sig), err
        assert len(ckan.owned(pipeline)) == (5 if sig == signal.SIGTERM else 4)
        state = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
        # publish records are committed by the parent when the publish units end (harvester/publish/units.py):
        # a stopped or killed publish may not have recorded its writes; the next run finds them in CKAN again
        assert len(state.read_publish_records(pipeline)) <= len(ckan.owned(pipeline))
        if sig == signal.SIGTERM:
            assert "stopped by SIGTERM" in err and f"pipeline:{pipeline}" in err
        shown = status(tmp_path, env=env)["pipelines"][0]
        assert shown["last_run"]["status"] == "interrupted" and shown["consecutive_failures"] == 1

        again = cli(tmp_path, "publish", pipeline, "--json", env=env)
        assert again.returncode == 0, again.stderr
        owned = ckan.owned(pipeline)
        assert (
            len(owned) == 10
            and len(
                {
                    p["extras_harvest_remote_id"] if "extras_harvest_remote_id" in p else p["name"]
                    for p in owned
                }
            )
            == 10
        )
        assert len({p["name"] for p in owned}) == 10  # no duplicate
        assert (
            len(StateStore(tmp_path / "data" / "state.sqlite", readonly=True).read_publish_records(pipeline))
            == 10
        )
        shown = status(tmp_path, env=env)["pipelines"][0]
        assert shown["consecutive_failures"] == 0 and shown["datasets"] == 10
        assert shown["counts"]["created"] + shown["counts"]["unchanged"] + shown["counts"]["updated"] == 10
    finally:
        proxy.close()
        in_org = ckan.api.action.package_search(fq=f"organization:{org}", rows=1000, include_private=True)
        ckan.purge({p["id"] for p in ckan.owned(pipeline)} | {p["id"] for p in in_org["results"]}, {org})
