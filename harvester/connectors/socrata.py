"""Socrata (Tyler Data & Insights) connector: the Discovery API catalogue `/api/catalog/v1`.

The catalogue is asked for one or more domains (`domains=`, default: the host of the source url) and paged with
`limit`/`offset` up to the API's 10,000-result window (a larger listing is reported as incomplete, so nothing is
withdrawn). Identity is `<domain>:<4x4 id>`. Resources are the dataset's CSV export (`/api/views/<id>/rows.csv`)
and its SODA JSON endpoint (`/resource/<id>.json`). There is no server-side "modified since" filter: `since` is
applied on the client to `updatedAt` (or the newer `data_updated_at` / `metadata_updated_at`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from harvester.connectors.base import BaseConnector, Params
from harvester.dates import parse_datetime
from harvester.errors import SourceError
from harvester.paging import PageGuard, iter_offset
from harvester.records import DatasetRecord, ResourceRef

WINDOW = 10_000
Export = Literal["csv", "json"]
EXPORTS: list[Export] = ["csv", "json"]


class SocrataParams(Params):
    domains: list[str] = Field(
        default_factory=list, description="Socrata domains to list (default: the host of the source url)."
    )
    catalog_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Discovery API endpoint, e.g. `https://api.eu.socrata.com/api/catalog/v1` (default: "
        "`<url>/api/catalog/v1`).",
    )
    only: str = Field(
        "dataset", description="Asset types to list (`dataset`, `map`, `file`…, comma-separated)."
    )
    categories: list[str] = Field(default_factory=list, description="Only assets in these categories.")
    tags: list[str] = Field(default_factory=list, description="Only assets with these tags.")
    q: str | None = Field(None, description="Full-text query.")
    page_size: int = Field(100, ge=1, le=1000, description="Assets per page (`limit`).")
    exports: list[Export] = Field(
        default_factory=lambda: list(EXPORTS), description="Resources listed for tabular datasets."
    )


class SocrataConnector(BaseConnector):
    type = "socrata"
    Params = SocrataParams
    description = (
        "Socrata portal through the Discovery API catalogue (`/api/catalog/v1`, url = the portal): datasets keyed "
        "on domain and 4x4 id, CSV and SODA JSON endpoints as resources."
    )
    incremental = False
    paging = True
    announces_total = True
    auth_header = "X-App-Token"

    params: SocrataParams

    def _endpoint(self) -> str:
        return self.params.catalog_url or f"{self.url}/api/catalog/v1"

    def _query(self) -> dict[str, Any]:
        domains = self.params.domains or [urlsplit(self.url).netloc]
        query: dict[str, Any] = {"domains": ",".join(domains), "only": self.params.only}
        if self.params.categories:
            query["categories"] = self.params.categories
        if self.params.tags:
            query["tags"] = self.params.tags
        if self.params.q:
            query["q"] = self.params.q
        return query

    def _fetch_page(self, guard: PageGuard) -> Any:
        endpoint = self._endpoint()
        base = self._query()

        def fetch(offset: int, size: int) -> tuple[Sequence[Any], int | None]:
            resp = self.http.fetch(
                endpoint,
                params={**base, "limit": size, "offset": offset},
                headers=self._headers(),
                policy=self.policy,
                source_id=self.source_id,
            )
            guard.check(content=resp.content if offset else None, url=resp.url)
            payload = resp.json(source_id=self.source_id)
            if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
                raise SourceError(
                    "not a Socrata Discovery API response (no `results` list)",
                    source_id=self.source_id,
                    url=resp.url,
                    hint="the source url must be the portal (https://data.example.org) or set params.catalog_url",
                )
            total = payload.get("resultSetSize")
            total = total if isinstance(total, int) and not isinstance(total, bool) else None
            guard.page_ids((_remote_id(i) for i in payload["results"]), url=resp.url, total=total)
            return payload["results"], total

        return fetch

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        seen: set[str] = set()
        endpoint = self._endpoint()
        guard = PageGuard(self.source_id)
        fetch = self._fetch_page(guard)
        with self.loop_ends_listing():
            yield from self.map_entries(
                iter_offset(fetch, self.params.page_size, limit=WINDOW),
                seen=seen,
                id_of=_remote_id,
                map_entry=lambda item, rid: self.map_dataset(item, rid, _domain(item) or ""),
                url=endpoint,
                since=since,
                is_entry=lambda item: isinstance(item, dict) and isinstance(item.get("resource"), dict),
                not_entry="catalogue entry without a `resource` object",
                name_of=lambda item: item["resource"].get("name"),
                no_id="asset without an id or a domain",
            )
            if guard.announced is not None and guard.announced > WINDOW:
                self.mark_incomplete(
                    f"the Discovery API lists only the first {WINDOW} of {guard.announced} assets",
                    missing=guard.missing(),
                    url=endpoint,
                )
            else:
                self.check_served(guard, endpoint, "assets")

    def map_dataset(self, item: dict[str, Any], remote_id: str, domain: str) -> DatasetRecord:
        res = item["resource"]
        fxf = str(res["id"]).strip()
        name = res.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("no name")
        cls = _dict(item.get("classification"))
        meta = _dict(item.get("metadata"))
        dates = [parse_datetime(res.get(k)) for k in ("updatedAt", "data_updated_at", "metadata_updated_at")]
        known = [d for d in dates if d is not None]
        extras = {"socrata:domain": domain, "socrata:id": fxf}
        for key in ("type", "provenance", "parent_fxf", "attribution_link"):
            if res.get(key) not in (None, "", []):
                extras[f"socrata:{key}"] = str(res[key])
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=remote_id,
            name=fxf,
            title=name.strip(),
            description=res.get("description") or None,
            landing_page=item.get("link") or item.get("permalink") or None,
            remote_url=item.get("permalink") or item.get("link") or None,
            publisher=res.get("attribution") or domain,
            keywords=_unique(cls.get("tags"), cls.get("domain_tags")),
            themes=_unique(cls.get("categories"), [cls.get("domain_category")]),
            license_raw=meta.get("license") or None,
            issued=parse_datetime(res.get("createdAt")),
            modified=max(known) if known else None,
            resources=self._resources(res, domain, fxf),
            extras=extras,
            raw=item,
        )

    def _resources(self, res: dict[str, Any], domain: str, fxf: str) -> tuple[ResourceRef, ...]:
        if res.get("type") not in (None, "dataset"):
            return ()
        links = {
            "csv": ResourceRef(
                url=f"https://{domain}/api/views/{fxf}/rows.csv?accessType=DOWNLOAD",
                remote_id=f"{fxf}.csv",
                title=f"{res.get('name') or fxf} (CSV)",
                format="csv",
                media_type="text/csv",
            ),
            "json": ResourceRef(
                url=f"https://{domain}/resource/{fxf}.json",
                remote_id=f"{fxf}.json",
                title=f"{res.get('name') or fxf} (SODA API)",
                format="json",
                media_type="application/json",
            ),
        }
        return tuple(links[f] for f in self.params.exports)


def _remote_id(item: Any) -> str | None:
    """`<domain>:<4x4 id>`, or None when the entry lacks one of them."""
    res = item.get("resource") if isinstance(item, dict) else None
    fxf = res.get("id") if isinstance(res, dict) else None
    domain = _domain(item) if isinstance(res, dict) else None
    return f"{domain}:{fxf.strip()}" if isinstance(fxf, str) and fxf.strip() and domain else None


def _domain(item: dict[str, Any]) -> str | None:
    meta = item.get("metadata")
    domain = meta.get("domain") if isinstance(meta, dict) else None
    if isinstance(domain, str) and domain.strip():
        return domain.strip().lower()
    link = item.get("permalink") or item.get("link")
    return urlsplit(link).netloc.lower() or None if isinstance(link, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _unique(*lists: Any) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for values in lists:
        for v in values or []:
            if isinstance(v, str) and v.strip():
                out.setdefault(v.strip(), None)
    return tuple(out)
