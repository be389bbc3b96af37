"""The HTTP layer against a local server: conditional requests, politeness limits, size limits, retries."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path

import pytest

from harvester.download import download
from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy, parse_retry_after
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request

BODY = b'{"hello": "world"}'
ETAG = '"v1"'


def etag_route(req: Request) -> Reply:
    if req.headers.get("If-None-Match") == ETAG:
        return Reply(304, b"", headers={"ETag": ETAG})
    return Reply(200, BODY, headers={"ETag": ETAG, "Last-Modified": "Tue, 01 Oct 2024 08:00:00 GMT"})


def test_conditional_fetch_answers_304_from_the_body_cache(server: FixtureServer, http: HttpClient) -> None:
    server.route("/doc", etag_route)
    first = http.fetch(f"{server.url}/doc", conditional=True)
    assert (first.status, first.not_modified, first.content) == (200, False, BODY)
    second = http.fetch(f"{server.url}/doc", conditional=True)
    assert (second.status, second.not_modified, second.content) == (304, True, BODY)
    assert server.requests[1].headers["If-None-Match"] == ETAG
    assert server.requests[1].headers["If-Modified-Since"] == "Tue, 01 Oct 2024 08:00:00 GMT"
    assert second.json() == {"hello": "world"}


def test_validators_survive_a_new_client(server: FixtureServer, tmp_path: Path, state: StateStore) -> None:
    server.route("/doc", etag_route)
    HttpClient(validators=state, cache_dir=tmp_path / "c").fetch(f"{server.url}/doc", conditional=True)
    again = HttpClient(validators=state, cache_dir=tmp_path / "c").fetch(
        f"{server.url}/doc", conditional=True
    )
    assert again.not_modified and again.content == BODY


def test_rate_limit_spaces_requests_to_one_host(server: FixtureServer) -> None:
    arrivals: list[float] = []

    def route(_req: Request) -> Reply:
        arrivals.append(time.monotonic())
        return Reply(200, b"{}")

    server.route("/r", route)
    client = HttpClient(HttpPolicy(rate=20))
    sent: list[float] = []
    for _ in range(5):
        sent.append(time.monotonic())
        client.fetch(f"{server.url}/r")
    elapsed = time.monotonic() - sent[0]
    assert len(arrivals) == 5
    # 20 requests/s: the gate lets the 5th request out at least 4 x 50 ms after the first. Measured on the client
    # (the gate's side): arrival times at the server thread jitter under load, the gate's spacing does not.
    assert elapsed >= 0.195, elapsed
    unlimited = HttpClient(HttpPolicy())
    t0 = time.monotonic()
    for _ in range(5):
        unlimited.fetch(f"{server.url}/r")
    assert time.monotonic() - t0 < elapsed  # without a rate, the same requests go out faster


def test_concurrency_limit_per_host(server: FixtureServer) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def route(_req: Request) -> Reply:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return Reply(200, b"{}")

    server.route("/slow", route)
    client = HttpClient(HttpPolicy(concurrency=2))
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _i: client.fetch(f"{server.url}/slow"), range(6)))
    assert state["max"] == 2


def test_response_size_limit(server: FixtureServer) -> None:
    server.route("/big", b"x" * 5000)
    client = HttpClient(HttpPolicy(max_bytes=1000))
    with pytest.raises(SourceError, match="response too large: 5000 bytes declared, limit 1000") as err:
        client.fetch(f"{server.url}/big", source_id="s")
    assert err.value.url and err.value.url.endswith("/big") and err.value.source_id == "s"


def test_client_errors_are_not_retried(server: FixtureServer, http: HttpClient) -> None:
    server.route("/gone", Reply(404, "not here"))
    with pytest.raises(SourceError, match="HTTP 404") as err:
        http.fetch(f"{server.url}/gone")
    assert err.value.hint and server.count("/gone") == 1


def test_transient_errors_retried_then_given_up(server: FixtureServer) -> None:
    server.route("/busy", Reply(503, "busy"))
    slept: list[float] = []
    client = HttpClient(HttpPolicy(max_retries=3, backoff=0.5), sleep=slept.append)
    with pytest.raises(SourceError, match="gave up after 4 attempts: HTTP 503"):
        client.fetch(f"{server.url}/busy")
    assert server.count("/busy") == 4
    assert len(slept) == 3 and all(0.25 * 2**i <= s <= 0.75 * 2**i for i, s in enumerate(slept))


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    in_a_minute = parse_retry_after(formatdate(time.time() + 60, usegmt=True))
    assert in_a_minute is not None and 55 < in_a_minute <= 60
    assert parse_retry_after("soon") is None


def test_download_streams_with_checksum_and_304(
    server: FixtureServer, tmp_path: Path, http: HttpClient
) -> None:
    data = b"a;b\n1;2\n" * 1000
    server.route(
        "/f.csv",
        lambda req: (
            Reply(304, b"", headers={"ETag": '"f"'})
            if req.headers.get("If-None-Match") == '"f"'
            else Reply(200, data, headers={"ETag": '"f"'}, content_type="text/csv")
        ),
    )
    dest = tmp_path / "f.csv"
    got = download(http, f"{server.url}/f.csv", dest)
    assert (
        got.size == len(data) and got.sha256 == hashlib.sha256(data).hexdigest() and dest.read_bytes() == data
    )
    again = download(http, f"{server.url}/f.csv", dest, validators={"etag": '"f"'})
    assert again.not_modified and dest.read_bytes() == data


def test_download_too_large_leaves_the_previous_file(server: FixtureServer, tmp_path: Path) -> None:
    server.route("/f.csv", b"y" * 5000, content_type="text/csv")
    dest = tmp_path / "f.csv"
    dest.write_bytes(b"previous")
    with pytest.raises(SourceError, match="too large"):
        download(HttpClient(HttpPolicy(max_bytes=1000)), f"{server.url}/f.csv", dest)
    assert dest.read_bytes() == b"previous" and not list(tmp_path.glob("*.part"))
