"""Total deadlines over real HTTP (local fixture server): a dripping body, a slow header, the listing and run ones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harvester.download import download
from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from harvester.http_deadline import Deadline, DeadlineError
from tests.fixture_server import FixtureServer, Reply

BODY = b"x" * 6000


def drip(server: FixtureServer, path: str = "/slow") -> None:
    server.route(path, Reply(200, BODY, drip=(200, 0.1), content_type="text/plain"))  # 3 s in all


def test_dripping_body_is_cut_at_the_deadline_although_each_byte_comes_in_time(server: FixtureServer) -> None:
    drip(server)
    http = HttpClient(HttpPolicy(read_timeout=1.0, deadline=0.8, backoff=0.01))
    t0 = time.monotonic()
    with pytest.raises(
        DeadlineError, match=r"deadline passed: http\.deadline of 0\.8 s for the request"
    ) as info:
        http.fetch(f"{server.url}/slow", source_id="slowpoke")
    took = time.monotonic() - t0
    assert 0.7 < took < 1.6  # cut by the watchdog, not after the 3 s the server takes
    assert info.value.source_id == "slowpoke" and info.value.url == f"{server.url}/slow"
    assert server.count("/slow") == 1  # a deadline is never retried
    assert "source slowpoke" in str(info.value) and f"{server.url}/slow" in str(info.value)


def test_the_same_body_is_read_whole_within_a_longer_deadline(server: FixtureServer) -> None:
    drip(server)
    assert HttpClient(HttpPolicy(read_timeout=1.0, deadline=10)).fetch(f"{server.url}/slow").content == BODY


def test_download_is_cut_too_and_leaves_no_file(server: FixtureServer, tmp_path: Path) -> None:
    drip(server)
    dest = tmp_path / "f.csv"
    with pytest.raises(DeadlineError):
        download(HttpClient(HttpPolicy(read_timeout=1.0, deadline=0.5)), f"{server.url}/slow", dest)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_a_server_slow_to_answer_headers_is_cut_by_the_deadline(server: FixtureServer) -> None:
    server.route("/late", Reply(200, "{}", delay=3.0))
    http = HttpClient(HttpPolicy(read_timeout=30.0, deadline=0.5))
    t0 = time.monotonic()
    with pytest.raises(DeadlineError):
        http.fetch(f"{server.url}/late")
    assert time.monotonic() - t0 < 1.5


def test_retries_stop_at_the_deadline(server: FixtureServer) -> None:
    server.route("/busy", Reply(503, "busy", headers={"Retry-After": "1"}))
    http = HttpClient(HttpPolicy(max_retries=10, deadline=1.5))
    t0 = time.monotonic()
    with pytest.raises(DeadlineError):
        http.fetch(f"{server.url}/busy")
    assert time.monotonic() - t0 < 2.5 and 2 <= server.count("/busy") <= 3


def test_listing_deadline_covers_every_request_of_the_source(server: FixtureServer) -> None:
    server.route("/page", Reply(200, "{}", delay=0.3))
    http = HttpClient(HttpPolicy(deadline=60))
    with (
        http.listing_deadline("src", 1.0),
        pytest.raises(DeadlineError, match="http.listing_deadline of 1 s"),
    ):
        for _ in range(10):
            http.fetch(f"{server.url}/page", source_id="src")
    assert server.count("/page") <= 5
    http.fetch(f"{server.url}/page", source_id="src")  # the listing is over: its deadline no longer applies
    http.fetch(f"{server.url}/page", source_id="other")


def test_run_deadline_applies_to_every_request_of_the_client(server: FixtureServer) -> None:
    server.route("/ok", Reply(200, "{}"))
    http = HttpClient(deadline=Deadline.start("run --deadline", 0.2))
    http.fetch(f"{server.url}/ok")
    time.sleep(0.25)
    with pytest.raises(DeadlineError, match="run --deadline of 0.2 s for the run"):
        http.fetch(f"{server.url}/ok")
    assert server.count("/ok") == 1  # nothing sent once the run's deadline passed


def test_deadline_error_is_a_source_error_naming_its_deadline() -> None:
    assert issubclass(DeadlineError, SourceError)


def test_deadlines_are_validated_in_the_source_config(tmp_path: Path) -> None:
    from harvester.config import load_config
    from harvester.errors import ConfigError

    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  - {id: a, type: ckan, url: 'https://e.org', http: {deadline: 0, listing_deadline: soon}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.errors)
    assert "http.deadline" in text and "http.listing_deadline" in text
    path.write_text("sources:\n  - {id: a, type: ckan, url: 'https://e.org', http: {deadline: 20}}\n")
    pol = load_config(path).source("a").http.policy()
    assert pol.deadline == 20 and pol.breaker_failures == 3
