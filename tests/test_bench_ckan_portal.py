"""The bench's frozen CKAN portal: every package is encoded when it is built, so that no timed client pays it."""

from __future__ import annotations

import json

import requests

from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages


def test_a_frozen_portal_encodes_every_package_before_the_first_request() -> None:
    packages = build_packages(30)
    server = FixtureServer().start()
    try:
        portal = CkanPortal(server, packages, frozen=True)
        # nothing asked yet: the first client (the harvester in the bench) must not wait on json.dumps
        assert len(portal._encoded) == len(packages)
        encoded = dict(portal._encoded)
        page = requests.get(f"{portal.url}/api/3/action/package_search", params={"rows": 1000}, timeout=10)
        shown = requests.get(
            f"{portal.url}/api/3/action/package_show", params={"id": packages[3]["name"]}, timeout=10
        )
    finally:
        server.stop()
    assert portal._encoded == encoded  # answered from what was encoded up front
    results = page.json()["result"]["results"]
    assert {p["id"] for p in results} == {p["id"] for p in packages}
    assert {p["id"]: p for p in results} == json.loads(json.dumps({p["id"]: p for p in packages}))
    assert shown.json()["result"] == json.loads(json.dumps(packages[3]))


def test_an_unfrozen_portal_encodes_nothing_up_front() -> None:
    server = FixtureServer().start()
    try:
        portal = CkanPortal(server, build_packages(5))
        assert portal._encoded == {}  # tests mutate packages between requests: they are encoded per answer
    finally:
        server.stop()
