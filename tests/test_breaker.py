"""The per-host circuit breaker over real sockets: refused connections, a host that does not resolve, recovery."""

from __future__ import annotations

import socket
import time

import pytest

from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from harvester.http_hosts import HostUnreachableError, errors_by_host
from tests.fixture_server import FixtureServer, Reply


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return port


def test_after_n_refused_connections_the_host_fails_at_once() -> None:
    slept: list[float] = []
    http = HttpClient(HttpPolicy(max_retries=4, backoff=0.01, breaker_failures=3), sleep=slept.append)
    url = f"http://127.0.0.1:{closed_port()}/x"
    with pytest.raises(HostUnreachableError, match="host unreachable since") as info:
        http.fetch(url, source_id="s")
    assert http.requests_sent == 3 and len(slept) == 2  # the third failure opened it: no fourth attempt
    t0 = time.monotonic()
    for _ in range(20):
        with pytest.raises(HostUnreachableError):
            http.fetch(url + "?page=2", source_id="s")
    assert time.monotonic() - t0 < 2 and http.requests_sent == 3  # nothing more was sent (0.3 ms each)
    assert info.value.host.startswith("127.0.0.1:")
    [host] = http.breaker.report()
    assert (
        host["failures"] == 3 and host["refused_requests"] == 21 and "ConnectionError" in host["last_error"]
    )


def test_a_host_that_does_not_resolve_is_not_retried() -> None:
    slept: list[float] = []
    http = HttpClient(HttpPolicy(max_retries=4, backoff=0.01, breaker_failures=3), sleep=slept.append)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="no DNS answer for host files.example.invalid"):
        http.fetch("http://files.example.invalid/a.csv")
    assert http.requests_sent == 1 and slept == []
    for name in ("b", "c"):
        with pytest.raises(SourceError, match="no DNS answer"):
            http.fetch(f"http://files.example.invalid/{name}.csv")
    with pytest.raises(HostUnreachableError):  # three names unresolved: the host is given up for this run
        http.fetch("http://files.example.invalid/d.csv")
    assert http.requests_sent == 3 and time.monotonic() - t0 < 5


def test_an_answer_resets_the_count_and_other_hosts_are_unaffected(server: FixtureServer) -> None:
    state = {"up": False}
    server.route("/x", lambda _r: Reply(200, "{}") if state["up"] else Reply(500, "down"))
    http = HttpClient(HttpPolicy(max_retries=0, breaker_failures=2))
    dead = f"http://127.0.0.1:{closed_port()}/x"
    with pytest.raises(SourceError):
        http.fetch(dead)
    with pytest.raises(SourceError, match="HTTP 500"):  # an HTTP error is an answer: the host is reachable
        http.fetch(f"{server.url}/x")
    for _ in range(3):
        with pytest.raises(SourceError, match="HTTP 500"):
            http.fetch(f"{server.url}/x")
    assert not http.breaker.is_open(f"{server.url}/x")
    with pytest.raises(SourceError, match="gave up after 1 attempts"):
        http.fetch(dead)  # the second failure in a row opens the breaker of that host
    with pytest.raises(HostUnreachableError):
        http.fetch(dead)
    assert http.breaker.is_open(dead) and not http.breaker.is_open(f"{server.url}/x")
    state["up"] = True
    assert http.fetch(f"{server.url}/x").status == 200


def test_the_next_run_tries_the_host_again(server: FixtureServer) -> None:
    server.route("/x", Reply(200, "{}"))
    url = f"{server.url}/x"
    first = HttpClient(HttpPolicy(max_retries=0, breaker_failures=1))
    first.breaker.failure(url, "ConnectionError: refused", 1)
    with pytest.raises(HostUnreachableError):
        first.fetch(url)
    assert HttpClient().fetch(url).status == 200  # a new run, a new client: the host is tried again


def test_errors_group_by_host() -> None:
    groups = errors_by_host(
        [
            {
                "url": "http://a.invalid/1.csv",
                "message": "host unreachable since 2026-01-01T00:00:00Z (3 ...)",
            },
            {"url": "http://a.invalid/2.csv?apikey=k", "message": "no DNS answer for host a.invalid"},
            {"url": "http://b.org/3.csv", "message": "HTTP 404 not found"},
        ]
    )
    assert list(groups) == ["a.invalid", "b.org"] and groups["a.invalid"]["count"] == 2
    assert groups["a.invalid"]["causes"] == {
        "host unreachable (circuit breaker open)": 1,
        "no DNS answer for host a.invalid": 1,
    }
    assert groups["a.invalid"]["urls"][1] == "http://a.invalid/2.csv?apikey=***"
