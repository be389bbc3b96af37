"""What the shared host limits (harvester/http_shared.py) cost per request, against this process's own gate.

Two figures for the in-process gate (`--executor local`), the shared limits in SQLite (`<state>-hosts.sqlite`)
and, when the testbed's PostgreSQL is reachable ($CKAN_TESTBED_DIR/state_dsn.txt), in a fresh PostgreSQL
database; each with a concurrency limit only, and with a rate limit too (high enough never to wait: only its
statement is counted):

- the gate alone: what a request adds around the HTTP exchange (breaker check, slot taken and given back,
  answer counted), BENCH_HOST_LIMITS_OPS times;
- whole requests: one client sends BENCH_HOST_LIMITS_REQUESTS small GETs, one after the other, to a local
  fixture server. The overhead is the difference with the in-process gate.

Each figure is the median of ROUNDS rounds, the configurations taking turns (the machine's load moves).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from statistics import median

from harvester.http import HttpClient, HttpPolicy
from harvester.http_shared import HostsSpec, open_shared
from tests.fixture_server import FixtureServer

N = int(os.environ.get("BENCH_HOST_LIMITS_REQUESTS", "200"))
OPS = int(os.environ.get("BENCH_HOST_LIMITS_OPS", "1000"))
ROUNDS = 5


def _per_request(client: HttpClient, url: str, policy: HttpPolicy) -> float:
    t0 = time.perf_counter()
    for _ in range(N):
        client.fetch(url, policy=policy)
    return (time.perf_counter() - t0) / N


def _per_gate(client: HttpClient, url: str, policy: HttpPolicy) -> float:
    """A request's work on the host's gate and breaker, without the request."""
    gate = client.gate("bench.example", policy.rate, policy.concurrency)
    t0 = time.perf_counter()
    for _ in range(OPS):
        client.breaker.check(url, None)
        with gate.slot():
            pass
        client.breaker.success(url)
    return (time.perf_counter() - t0) / OPS


def _pg_database() -> tuple[str, Callable[[], None]] | None:
    path = Path(os.environ.get("CKAN_TESTBED_DIR") or ".ckan-testbed") / "state_dsn.txt"
    try:
        import psycopg

        from tests.state.conftest import with_dbname

        admin = path.read_text(encoding="utf-8").strip()
        name = f"harvester_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[call-overload]
    except Exception:
        return None

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[call-overload]

    return with_dbname(admin, name), drop


def run(out_dir: Path) -> str:
    server = FixtureServer().start()
    server.route("/x", b"{}")
    url = server.url + "/x"
    policies = {
        "concurrency 4": HttpPolicy(concurrency=4),
        "concurrency 4, rate": HttpPolicy(concurrency=4, rate=1e6),
    }
    pg = _pg_database()
    times: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    try:
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            backends: dict[str, str | None] = {
                "in-process gate": None,
                "SQLite": str(Path(tmp) / "state.sqlite"),
            }
            if pg is not None:
                backends["PostgreSQL"] = pg[0]
            clients = {}
            for label, state_url in backends.items():
                for pname, policy in policies.items():
                    shared = open_shared(HostsSpec.new(state_url)) if state_url else None
                    client = clients[label, pname] = HttpClient(shared=shared)
                    for _ in range(20):  # warm: connection pool, tables, statements
                        client.fetch(url, policy=policy)
                    times[label, pname] = ([], [])
            for _ in range(ROUNDS):
                for (label, pname), client in clients.items():
                    times[label, pname][0].append(_per_gate(client, url, policies[pname]))
                    times[label, pname][1].append(_per_request(client, url, policies[pname]))
            for client in clients.values():
                if client.shared is not None:
                    client.shared.close()
    finally:
        server.stop()
        if pg is not None:
            pg[1]()
    rows = [(label, p, median(g), median(r)) for (label, p), (g, r) in times.items()]
    base = {p: r for label, p, _g, r in rows if label == "in-process gate"}
    lines = [
        "## host_limits",
        "",
        f"Median of {ROUNDS} rounds (shared 2-core machine): the gate alone ({OPS} times), and {N} sequential GETs",
        "of a 2-byte body from one client to a local fixture server.",
        "",
        "| limits | policy | gate alone (ms) | ms per request | overhead per request (ms) |",
        "|---|---|---|---|---|",
    ]
    for label, pname, g, r in rows:
        lines.append(
            f"| {label} | {pname} | {g * 1000:.3f} | {r * 1000:.2f} | {(r - base[pname]) * 1000:+.2f} |"
        )
    if pg is None:
        lines.append("\nPostgreSQL: not measured (no reachable $CKAN_TESTBED_DIR/state_dsn.txt).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(Path(tempfile.gettempdir())))
