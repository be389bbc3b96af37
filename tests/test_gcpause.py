"""The cyclic collector is paused while a listing is read and merged, and always resumed after (gcpause.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.config import parse_sources
from harvester.gcpause import gc_paused
from harvester.harvest import harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ckan_portal import CkanPortal, build_packages


@pytest.fixture(autouse=True)
def gc_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_nested_and_concurrent_pauses_resume_once_at_the_last_exit() -> None:
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner exit did not resume it
        t = threading.Thread(target=other)
        t.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the other thread still holds its pause
    release.set()
    t.join(5)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_an_error_in_the_block_resumes_the_collector() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def _harvest(server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient) -> str:
    cfg = parse_sources(
        {
            "sources": [
                {
                    "id": "demo",
                    "type": "ckan",
                    "url": server.url,
                    "params": {"rows": 100},
                    "http": {"backoff": 0.01, "timeout": 2},
                }
            ]
        }
    )
    result = harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=True
    )
    return result.status


def test_the_collector_is_off_while_a_listing_is_read_and_on_after_it(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    portal = CkanPortal(server, build_packages(250))
    seen: list[bool] = []

    def search(req: Request) -> Reply:
        seen.append(gc.isenabled())  # the server thread shares the process's collector
        return portal.package_search(req)

    server.route("/api/3/action/package_search", search)
    assert _harvest(server, tmp_path, state, http) == "ok"
    assert len(seen) >= 3 and not any(seen)
    assert gc.isenabled()


def test_a_failed_listing_resumes_the_collector(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    portal = CkanPortal(server, build_packages(250))
    portal.fail[100] = Reply(200, "{not json")
    assert _harvest(server, tmp_path, state, http) in ("failed", "partial")
    assert gc.isenabled()
