"""CKAN Action API connector: package_search paging with a stable sort, incremental `metadata_modified` filter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

import orjson

from harvester.connectors.base import BaseConnector
from harvester.connectors.portal_params import CkanParams
from harvester.dates import parse_datetime, to_iso
from harvester.errors import SourceError
from harvester.http import Response
from harvester.paging import PageGuard
from harvester.prefetch import Prefetcher
from harvester.records import DatasetRecord, ResourceRef

log = logging.getLogger(__name__)


class CkanConnector(BaseConnector):
    type = "ckan"
    Params = CkanParams
    description = "CKAN Action API (2.2 to 2.12, DKAN envelope tolerated): package_search with paging and incremental runs."
    incremental = True
    paging = True
    announces_total = True

    params: CkanParams

    @property
    def _action_url(self) -> str:
        return f"{self.url}/api/3/action/package_search"

    def _fq(self, since: datetime | None) -> str | None:
        parts = []
        if self.params.fq:
            parts.append(self.params.fq)
        if self.params.organizations:
            parts.append("organization:(" + " OR ".join(self.params.organizations) + ")")
        for org in self.params.exclude_organizations:
            parts.append(f"-organization:{org}")
        if since is not None:
            start = since - timedelta(minutes=self.params.safety_margin_minutes)
            parts.append(f"metadata_modified:[{to_iso(start)} TO *]")
        return " ".join(parts) or None

    def _fetch_page(self, start: int, fq: str | None, fl: str | None, rows: int | None = None) -> Response:
        query: dict[str, Any] = {
            "q": "*:*",
            "rows": self.params.rows if rows is None else rows,
            "start": start,
            "sort": self.params.sort,
        }
        if fq:
            query["fq"] = fq
        if fl:
            query["fl"] = fl
        return self.http.fetch(
            self._action_url,
            params=query,
            headers=self._headers(),
            policy=self.policy,
            source_id=self.source_id,
        )

    def _pages(self, since: datetime | None, fl: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of package dicts. The next page is requested while the caller works on the current one (its
        offset is known as soon as a page arrives), and only when the count says there is one.

        A page that brings no new id is a pagination loop (PaginationLoop); a listing read to its end with fewer
        distinct ids than `count` is marked incomplete."""
        guard = PageGuard(self.source_id)
        fq = self._fq(since)
        with Prefetcher(f"ckan-{self.source_id}") as pool:
            start = 0
            pending: Future[Response] | None = pool.submit(self._fetch_page, start, fq, fl)
            while pending is not None:
                resp = pending.result()
                pending = None
                guard.check(content=resp.content, url=resp.url)
                results, count = self._unwrap(self._decode(resp), resp.url)
                guard.page_ids((_pkg_id(p) for p in results), url=resp.url, total=count)
                if not results:
                    break
                start += len(results)
                if count is None or start < count:
                    pending = pool.submit(self._fetch_page, start, fq, fl)
                yield results
        self.check_served(guard, self._action_url, "dataset ids" if fl else "datasets")

    def _decode(self, resp: Response) -> Any:
        """The page's JSON. orjson decodes the pages (several MB each on heavy portals) in a fraction of the
        stdlib's time; anything it refuses (an HTML page, NaN, huge integers, UTF-16) goes to `Response.json`,
        which accepts what the stdlib accepts and names the URL of what it can't read."""
        if resp.content_type != "text/html":
            try:
                return orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                pass
        return resp.json(source_id=self.source_id)

    def _unwrap(self, payload: Any, url: str) -> tuple[list[dict[str, Any]], int | None]:
        if not isinstance(payload, dict):
            raise SourceError(
                "not a CKAN API response (expected a JSON object)", source_id=self.source_id, url=url
            )
        if payload.get("success") is False:
            err = payload.get("error") or {}
            msg = err.get("message") if isinstance(err, dict) else err
            kind = err.get("__type") if isinstance(err, dict) else None
            raise SourceError(f"CKAN error {kind or ''}: {msg}".strip(), source_id=self.source_id, url=url)
        if "result" not in payload:
            raise SourceError(
                "not a CKAN API response (no `result`)",
                source_id=self.source_id,
                url=url,
                hint="the portal may have changed its API; check the URL in sources.yaml",
            )
        result = payload["result"]
        if isinstance(result, list):  # DKAN wraps the result in a list
            if result and isinstance(result[0], dict) and "results" in result[0]:
                result = result[0]
            else:
                return [r for r in result if isinstance(r, dict)], None
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise SourceError("unexpected package_search result shape", source_id=self.source_id, url=url)
        count = result.get("count")
        return result["results"], count if isinstance(count, int) else None

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        seen: set[str] = set()
        excluded = set(self.params.exclude_organizations)

        def skip_reason(pkg: dict[str, Any]) -> str | None:
            if pkg.get("private") is True:
                return "private"
            state = pkg.get("state", "active")
            if state != "active":
                return str(state) if state in ("draft", "deleted") else "not active"
            return "excluded organisation" if _org_name(pkg) in excluded else None

        with self.loop_ends_listing():
            for page in self._pages(since):
                yield from self.map_entries(
                    page,
                    seen=seen,
                    id_of=_pkg_id,
                    map_entry=lambda pkg, _: self.map_dataset(pkg),
                    url=self._action_url,
                    entry_url=self._dataset_url,
                    skip_reason=skip_reason,
                    is_entry=lambda _: True,  # an entry that is not an object has no `id`
                )

    def listed_total(self) -> int | None:
        """How many datasets the id listing would list now: the `count` of a `rows=0` search with the same filter
        (private and draft datasets are not counted by CKAN, excluded organisations are filtered out by `fq`).
        None when it can't be known (id listing off, an error, an answer without a count)."""
        if not (self.params.id_listing and self.params.deletions_from_count):
            return None
        try:
            resp = self._fetch_page(0, self._fq(None), None, rows=0)
            _, count = self._unwrap(self._decode(resp), resp.url)
        except SourceError as exc:
            log.info("%s: no total from the portal (%s): the ids will be listed", self.source_id, exc)
            return None
        return count if count is not None and count >= 0 else None

    def ids(self) -> set[str]:
        """The ids of every dataset currently listed (cheap: only `id` is asked for), for deletion detection."""
        if not self.params.id_listing:
            raise NotImplementedError
        ids: set[str] = set()
        excluded = set(self.params.exclude_organizations)
        with self.loop_ends_listing():
            for page in self._pages(None, fl="id,private,state,organization"):
                for pkg in page:
                    if _pkg_id(pkg) is not None:
                        if pkg.get("private") is True or pkg.get("state", "active") != "active":
                            continue
                        if excluded and _org_name(pkg) in excluded:
                            continue
                        ids.add(pkg["id"])
        return ids

    def _dataset_url(self, pkg: dict[str, Any]) -> str:
        return f"{self.url}/dataset/{pkg.get('name') or pkg.get('id')}"

    def map_dataset(self, pkg: dict[str, Any]) -> DatasetRecord:
        extras = _extras(pkg.get("extras"))
        org = pkg.get("organization") if isinstance(pkg.get("organization"), dict) else {}
        tags = [
            t.get("display_name") or t.get("name") if isinstance(t, dict) else t
            for t in pkg.get("tags") or []
        ]
        groups = [
            g.get("title") or g.get("name") if isinstance(g, dict) else g for g in pkg.get("groups") or []
        ]
        if pkg.get("license_title"):
            extras.setdefault("license_title", str(pkg["license_title"]))
        if pkg.get("license_url"):
            extras.setdefault("license_url", str(pkg["license_url"]))
        resources = tuple(
            self._resource(r) for r in pkg.get("resources") or [] if isinstance(r, dict) and r.get("url")
        )
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=pkg["id"],
            name=pkg.get("name"),
            title=(pkg.get("title") or pkg.get("name") or pkg["id"]).strip(),
            description=pkg.get("notes") or None,
            landing_page=pkg.get("url") or None,
            remote_url=self._dataset_url(pkg),
            publisher=(org or {}).get("title") or (org or {}).get("name") or pkg.get("author") or None,
            contact_email=pkg.get("maintainer_email") or pkg.get("author_email") or None,
            keywords=tuple(str(t).strip() for t in tags if t and str(t).strip()),
            themes=tuple(str(g) for g in groups if g),
            license_raw=pkg.get("license_id") or pkg.get("license_title") or None,
            issued=parse_datetime(pkg.get("metadata_created")),
            modified=parse_datetime(pkg.get("metadata_modified")),
            frequency=_str(pkg.get("frequency") or extras.get("frequency")),
            spatial=_str(pkg.get("spatial") or extras.get("spatial") or pkg.get("geocover")),
            resources=resources,
            extras=extras,
            raw=pkg,
        )

    def _resource(self, r: dict[str, Any]) -> ResourceRef:
        size = r.get("size")
        try:
            size_bytes = int(size) if size not in (None, "") else None
        except (TypeError, ValueError):
            size_bytes = None
        return ResourceRef(
            url=str(r["url"]).strip(),
            remote_id=r.get("id"),
            title=r.get("name") or None,
            description=r.get("description") or None,
            format=r.get("format") or None,
            media_type=r.get("mimetype") or None,
            size_bytes=size_bytes,
            modified=parse_datetime(r.get("last_modified") or r.get("metadata_modified") or r.get("created")),
        )


def _pkg_id(pkg: Any) -> str | None:
    rid = pkg.get("id") if isinstance(pkg, dict) else None
    return rid if isinstance(rid, str) and rid else None


def _org_name(pkg: dict[str, Any]) -> str | None:
    org = pkg.get("organization")
    if isinstance(org, dict):
        return org.get("name")
    return org if isinstance(org, str) else None


def _extras(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    items = (
        value.items()
        if isinstance(value, dict)
        else ((e.get("key"), e.get("value")) for e in value or [] if isinstance(e, dict))
    )
    for k, v in items:
        if k is None or v is None:
            continue
        out[str(k)] = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return out


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
