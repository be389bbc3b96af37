"""Shared fixtures: a local fixture HTTP server, a temporary data dir, an HTTP client that never sleeps long."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harvester.http import HttpClient, HttpPolicy
from harvester.state import StateStore
from tests.fixture_server import FixtureServer

if TYPE_CHECKING:
    from tests.portals.merge_chain import Chain

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--live", action="store_true", help="also run tests that reach real portals")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--live"):
        return
    skip = pytest.mark.skip(reason="live test: run with --live")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a host other than loopback fails the test."""
    real = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and not (host.startswith("127.") or host in ("localhost", "::1"))
            and "/" not in host
        ):
            raise AssertionError(f"test tried to reach {host!r}: tests never use the internet")
        return real(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _local_executor() -> Iterator[None]:
    """`harvester --executor …` sets the process-wide default: every test starts (and ends) on `local`."""
    from harvester.runner import set_default_executor

    set_default_executor("local")
    yield
    set_default_executor("local")


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    srv = FixtureServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def servers() -> Iterator[list[FixtureServer]]:
    """Four fixture servers (four hosts)."""
    started = [FixtureServer().start() for _ in range(4)]
    try:
        yield started
    finally:
        for s in started:
            s.stop()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    st = StateStore(tmp_path / "state.sqlite")
    yield st
    st.close()


@pytest.fixture
def http(tmp_path: Path, state: StateStore) -> HttpClient:
    """The real client with fast retries (backoff 10 ms) and short timeouts."""
    return HttpClient(
        HttpPolicy(backoff=0.01, max_backoff=0.2, read_timeout=2.0, connect_timeout=2.0),
        validators=state,
        cache_dir=tmp_path / "http-cache",
    )


@pytest.fixture
def chain() -> Iterator[Chain]:
    """The three replayed portals of tests/portals/merge_chain.py (commune files, DataSud-style CKAN, data.gouv.fr),
    stopped after the test."""
    from tests.portals.merge_chain import build_chain

    c = build_chain()
    yield c
    c.stop()


BUCKET = "harvest"  # the bucket of the `s3` fixture


@pytest.fixture(scope="session")
def s3() -> Iterator[Any]:
    """A moto S3 server on loopback (an S3 API, not a mock of harvester's calls) with one bucket `BUCKET`, reached
    through the standard AWS variables as a deployment reaches its store; yields the s3fs filesystem. One server for
    the session: fsspec caches filesystems by their options, so a second server on another port would be missed."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import s3fs

        fs = s3fs.S3FileSystem(use_listings_cache=False)
        fs.mkdir(BUCKET)
        yield fs
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
