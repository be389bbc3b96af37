"""An OpenDataSoft Explore API v2.1 catalogue built from the vendor's recorded dataset objects, for tests and bench.

It answers `catalog/datasets` with the real paging rules (limit ≤ 100, offset + limit < 10,000, `total_count`), a
`modified >= date'…'` where clause and `refine` facets, and `catalog/exports/json` (unlimited).
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from harvester.dates import parse_datetime
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.util import int_arg, iso, json_reply, load


def ods_records() -> list[dict[str, Any]]:
    """The three real dataset objects of the vendor examples (listing example + single-dataset example)."""
    page = load("opendatasoft/catalog/ods_v2.1_catalog_datasets_example.json")
    single = load("opendatasoft/catalog/ods_v2.1_catalog_dataset_single_example.json")
    return [*page["results"], single]


def ods_clone(record: dict[str, Any], i: int, *, keep_fields: bool = False) -> dict[str, Any]:
    """A copy of a real record with a new identity (`dataset_uid`, `dataset_id`) and a `modified` i hours later."""
    rec = copy.deepcopy(record)
    if not keep_fields:
        rec.pop("fields", None)
    rec["dataset_uid"] = f"da_c{i:07d}"
    rec["dataset_id"] = f"{record['dataset_id']}-{i}"
    meta = rec["metas"]["default"]
    base = parse_datetime(meta.get("modified")) or datetime(2021, 1, 1, tzinfo=UTC)
    meta["modified"] = iso(base + timedelta(hours=i))
    meta["title"] = f"{meta.get('title')} #{i}"
    return rec


_ODS_SINCE = re.compile(r"modified\s*>=\s*date'([^']+)'")


class OdsPortal:
    """`/api/explore/v2.1/catalog/datasets` (limit ≤ 100, offset + limit < 10000) and `catalog/exports/json`."""

    def __init__(
        self, records: list[dict[str, Any]], *, ignore_offset: bool = False, announce: int | None = None
    ) -> None:
        self.records = records
        self.ignore_offset = (
            ignore_offset  # a broken server: always the first page, a new `timings` each time
        )
        self.announce = announce  # a `total_count` larger than what is served
        self.answers = 0

    def install(self, server: FixtureServer, prefix: str = "") -> str:
        server.route(f"{prefix}/api/explore/v2.1/catalog/datasets", self.datasets)
        server.route(f"{prefix}/api/explore/v2.1/catalog/exports/json", self.export)
        return server.url + prefix

    def _filtered(self, req: Request) -> list[dict[str, Any]]:
        out = self.records
        where = req.arg("where") or ""
        m = _ODS_SINCE.search(where)
        if m:
            since = parse_datetime(m.group(1))
            assert since is not None
            out = [
                r
                for r in out
                if (parse_datetime(r["metas"]["default"].get("modified")) or datetime.min.replace(tzinfo=UTC))
                >= since
            ]
        for refine in req.query.get("refine", []):
            facet, _, value = refine.partition(":")
            value = value.strip('"')
            out = [r for r in out if _ods_has(r["metas"]["default"].get(facet), value)]
        return out

    def datasets(self, req: Request) -> Reply:
        limit = int_arg(req, "limit", 10)
        offset = int_arg(req, "offset", 0)
        if limit is None or offset is None or limit > 100 or limit < 1:
            return json_reply(
                {"message": "Invalid value for limit", "error_code": "InvalidRESTParameterError"}, 400
            )
        if offset + limit >= 10_000:
            return json_reply(
                {
                    "message": "Invalid value for offset/limit: offset+limit should be less than 10000",
                    "error_code": "InvalidRESTParameterError",
                },
                400,
            )
        rows = self._filtered(req)
        start = 0 if self.ignore_offset else offset
        page = _select(rows[start : start + limit], req.arg("select"))
        self.answers += 1
        total = self.announce if self.announce is not None else len(rows)
        body: dict[str, Any] = {"total_count": total, "results": page}
        if self.ignore_offset:
            body["timings"] = {"answer": self.answers}
        return json_reply(body)

    def export(self, req: Request) -> Reply:
        return json_reply(_select(self._filtered(req), req.arg("select")))


def _select(rows: list[dict[str, Any]], select: str | None) -> list[dict[str, Any]]:
    """`select=a,b`: flat results with only those fields (dataset fields or `metas.default` ones)."""
    if not select:
        return rows
    names = [n.strip() for n in select.split(",")]
    return [{n: r.get(n, r.get("metas", {}).get("default", {}).get(n)) for n in names} for r in rows]


def _ods_has(value: Any, wanted: str) -> bool:
    if isinstance(value, list):
        return wanted in value
    return value == wanted
