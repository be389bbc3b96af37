"""A Socrata Discovery API (`/api/catalog/v1`) over the real recorded results, for tests and bench.

It pages with `limit`/`offset` (window of 10,000), filters on `domains` (comma-separated) and `only`, and answers
`{results, resultSetSize, timings}` like the real API. Larger catalogues are clones with new 4x4 ids.
"""

from __future__ import annotations

import copy
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.util import int_arg, iso, json_reply, load

DISCOVERY = "socrata/discovery/socrata_discovery_api_catalog_v1.json"
ALPHABET = string.digits + string.ascii_lowercase


def socrata_results() -> list[dict[str, Any]]:
    """The 7 real assets (5 domains)."""
    return list(load(DISCOVERY)["results"])


def fourbyfour(i: int) -> str:
    chars = []
    for _ in range(8):
        i, r = divmod(i, 36)
        chars.append(ALPHABET[r])
    s = "".join(reversed(chars))
    return f"{s[:4]}-{s[4:]}"


def socrata_clone(item: dict[str, Any], i: int, domain: str | None = None) -> dict[str, Any]:
    rec = copy.deepcopy(item)
    fxf = fourbyfour(i)
    dom = domain or rec["metadata"]["domain"]
    rec["resource"]["id"] = fxf
    rec["resource"]["name"] = f"{rec['resource']['name']} #{i}"
    rec["resource"]["updatedAt"] = iso(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
    rec["metadata"]["domain"] = dom
    rec["permalink"] = f"https://{dom}/d/{fxf}"
    rec["link"] = f"https://{dom}/d/{fxf}"
    return rec


class SocrataPortal:
    def __init__(
        self, results: list[dict[str, Any]], *, ignore_offset: bool = False, announce: int | None = None
    ) -> None:
        self.results = results
        self.ignore_offset = ignore_offset  # a broken server: always the first page
        self.announce = announce  # a `resultSetSize` larger than what is served
        self.answers = 0

    def install(self, server: FixtureServer, prefix: str = "") -> str:
        server.route(f"{prefix}/api/catalog/v1", self.catalog)
        return server.url + prefix

    def catalog(self, req: Request) -> Reply:
        limit = int_arg(req, "limit", 100)
        offset = int_arg(req, "offset", 0)
        if limit is None or offset is None or offset + limit > 10_000:
            return json_reply({"error": "Invalid limit/offset: offset + limit must be at most 10000"}, 400)
        rows = self.results
        if req.arg("domains"):
            wanted = set((req.arg("domains") or "").split(","))
            rows = [r for r in rows if r["metadata"]["domain"] in wanted]
        if req.arg("only"):
            kinds = set((req.arg("only") or "").split(","))
            rows = [r for r in rows if r["resource"].get("type") in kinds]
        start = 0 if self.ignore_offset else offset
        page = rows[start : start + limit]
        self.answers += 1  # `timings` differ from one answer to the next, as on the real API
        total = self.announce if self.announce is not None else len(rows)
        return json_reply(
            {"results": page, "resultSetSize": total, "timings": {"serviceMillis": 2 + self.answers}}
        )
