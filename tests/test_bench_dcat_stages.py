"""The DCAT bench's step timings run under the harvest's own GC regime: no cyclic collection inside the timed
loop (harvest_listing pauses the collector for the whole listing), and the collector left as it was found."""

from __future__ import annotations

import gc
from typing import Any

from bench.dcat_harvest import stages
from tests.fixture_server import FixtureServer
from tests.portals.dcat_portal import DcatPortal
from tests.portals.dcat_rostock import rostock_datasets


def test_no_cyclic_collection_is_timed_in_the_dcat_steps() -> None:
    server = FixtureServer().start()
    try:
        portal = DcatPortal(server, rostock_datasets(60), per_page=20, conditional=True)
        pages = [(portal.page_url(n), portal.page(n)) for n in range(1, portal.pages + 1)]
    finally:
        server.stop()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    assert gc.isenabled()
    gc.callbacks.append(seen)
    try:
        spans = stages(pages)
        during = list(collections)
    finally:
        gc.callbacks.remove(seen)
    assert gc.isenabled()
    assert set(spans) == {"guard", "index", "fields", "compact", "memo", "rows"}
    assert all(v > 0 for v in spans.values())
    # the one collection allowed is the untimed gc.collect() after the loop (generation 2)
    assert during == [2], during
