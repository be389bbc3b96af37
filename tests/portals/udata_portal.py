"""A udata API v1 `/api/1/datasets/` built from real data.gouv.fr dataset objects, for tests and bench.

Records: two complete API v1 dataset objects (`datagouv_api1_dataset_catalogue.json`, a current one with a
`harvest: null` block and `internal` dates; `datagouv_api1_dataset_impulsyon_gtfs.json`, a 2018 one with legacy
`harvest:*` extras) and the 15 datasets of udata's fixtures bundle. The bundle stores each dataset, its
organisation and its resources separately, and its generator dropped `license`, `last_update`, `page`; the API
shape is restored by embedding the organisation reference and the resources and by moving the `*_internal` dates
into the `internal` block, as the API returns them. Nothing else is changed.

The listing answers like udata: `page`/`page_size`, `sort=-last_update`, `organization` (ObjectId only, else 400),
`tag`, and the envelope `{data, facets, next_page, page, page_size, previous_page, total}`.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from harvester.dates import parse_datetime
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.util import int_arg, iso, json_reply, load

ORG_REF_KEYS = ("acronym", "badges", "id", "logo", "name", "slug")


def api_v1_from_bundle(entry: dict[str, Any]) -> dict[str, Any]:
    ds = copy.deepcopy(entry["dataset"])
    internal = {k: ds.pop(k) for k in ("created_at_internal", "last_modified_internal") if k in ds}
    if internal:
        ds["internal"] = internal
    org = entry.get("organization")
    ds["organization"] = {k: org.get(k) for k in ORG_REF_KEYS} | {"class": "Organization"} if org else None
    ds["resources"] = copy.deepcopy(entry.get("resources") or [])
    return ds


def udata_records() -> list[dict[str, Any]]:
    """17 real dataset objects in the API v1 shape."""
    out = [
        load("udata/datagouv/datagouv_api1_dataset_catalogue.json"),
        load("udata/datagouv/datagouv_api1_dataset_impulsyon_gtfs.json"),
    ]
    bundle = load("udata/datagouv/udata_fixtures_15_datasets_subset.json")
    out += [api_v1_from_bundle(e) for e in bundle["datasets"]]
    return out


def updated(ds: dict[str, Any]) -> datetime:
    if not isinstance(ds, dict):  # a broken entry, for the bad-record tests
        return datetime.min.replace(tzinfo=UTC)
    internal = ds.get("internal") or {}
    value = ds.get("last_update") or ds.get("last_modified") or internal.get("last_modified_internal")
    return parse_datetime(value) or datetime.min.replace(tzinfo=UTC)


def udata_clone(ds: dict[str, Any], i: int) -> dict[str, Any]:
    """A copy with a new 24-hex id and slug, updated i minutes after 2024-01-01."""
    rec = copy.deepcopy(ds)
    rec["id"] = f"{0xC0FFEE0000000000000000 + i:024x}"
    rec["slug"] = f"{ds.get('slug')}-{i}"
    rec["title"] = f"{ds.get('title')} #{i}"
    rec["last_update"] = iso(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
    rec.pop("page", None)
    return rec


class UdataPortal:
    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        loop: bool = False,
        ignore_page: bool = False,
        announce: int | None = None,
    ) -> None:
        self.records = records
        self.loop = loop  # a broken server whose next_page always points at page 2
        self.ignore_page = (
            ignore_page  # a broken server that serves page 1 for every `page` (next_page goes on)
        )
        self.announce = announce  # a `total` larger than what is served (a stale search index)
        self.path = "/api/1/datasets/"
        self.base = ""

    def install(self, server: FixtureServer, prefix: str = "") -> str:
        self.path = f"{prefix}/api/1/datasets/"
        self.base = server.url
        server.route(self.path, self.datasets)
        return server.url + prefix

    def datasets(self, req: Request) -> Reply:
        page = int_arg(req, "page", 1)
        size = int_arg(req, "page_size", 20)
        if page is None or size is None or page < 1 or size < 1:
            return json_reply(
                {"message": "Input payload validation failed", "errors": {"page": "invalid"}}, 400
            )
        rows = self.records
        org = req.arg("organization")
        if org is not None:
            if not re.match(r"^[0-9a-f]{24}$", org):
                return json_reply({"message": "Organization arg must be an identifier"}, 400)
            rows = [r for r in rows if (r.get("organization") or {}).get("id") == org]
        for tag in req.query.get("tag", []):
            rows = [r for r in rows if tag in (r.get("tags") or [])]
        if req.arg("sort") == "-last_update":
            rows = sorted(rows, key=updated, reverse=True)
        served = 1 if self.ignore_page else page
        data = rows[(served - 1) * size : served * size]
        if req.headers.get("X-Fields", "").startswith("data{"):
            keep = req.headers["X-Fields"][5:].split("}")[0].split(",")
            data = [{k: d.get(k) for k in keep} if isinstance(d, dict) else d for d in data]
        nxt = page + 1 if page * size < len(rows) or self.ignore_page else None
        if self.loop:
            nxt = 2
        query = {k: v[0] for k, v in req.query.items()}
        return json_reply(
            {
                "data": data,
                "facets": {},
                "next_page": f"{self.base}{self.path}?{urlencode({**query, 'page': nxt})}" if nxt else None,
                "page": page,
                "page_size": size,
                "previous_page": None,
                "total": self.announce if self.announce is not None else len(rows),
            }
        )
