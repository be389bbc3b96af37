"""udata connector (data.gouv.fr and other udata instances): API v1 `/api/1/datasets/`.

Identity is the 24-hex `id` (the slug can change). Paging follows `next_page` until it is null. There is no
"modified since" filter on the server: incremental runs sort on `-last_update` and stop at the first dataset
older than the cursor, so an unchanged catalogue costs one page. Datasets that data.gouv.fr itself harvested from
another portal carry a `harvest` block (or legacy `harvest:*` extras) naming their origin; it is kept in `extras`
(`harvest:domain`, `harvest:remote_id`, `harvest:remote_url`, `harvest:source_id`, …) because the merge needs it
to recognise the same dataset harvested directly from its origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urljoin

from harvester.connectors.base import BaseConnector
from harvester.connectors.portal_params import UdataParams
from harvester.dates import parse_datetime
from harvester.errors import SourceError
from harvester.paging import PageGuard
from harvester.records import DatasetRecord, ResourceRef


class UdataConnector(BaseConnector):
    type = "udata"
    Params = UdataParams
    description = (
        "udata portal (data.gouv.fr, API v1): datasets keyed on their 24-hex id, filtered by organisation; "
        "incremental by sorting on -last_update and stopping at the cursor; harvest origin kept for the merge."
    )
    incremental = True
    paging = True
    announces_total = True
    auth_header = "X-API-KEY"

    params: UdataParams

    def _first_urls(self) -> list[str]:
        base: list[tuple[str, Any]] = [
            ("page", 1),
            ("page_size", self.params.page_size),
            ("sort", "-last_update"),
        ]
        base += [("tag", t) for t in self.params.tags]
        if self.params.q:
            base.append(("q", self.params.q))
        endpoint = f"{self.url}{self.params.api_path.rstrip('/')}/datasets/"
        orgs: list[str | None] = list(dict.fromkeys(self.params.organizations)) or [None]
        return [endpoint + "?" + urlencode(base + ([("organization", o)] if o else [])) for o in orgs]

    def _pages(self, first: str, fields: str | None = None) -> Iterator[tuple[list[Any], str]]:
        guard = PageGuard(self.source_id)
        url: str | None = first
        headers = self._headers()
        if fields:
            headers["X-Fields"] = fields  # flask-restx field mask: only these fields are serialised
        while url:
            resp = self.http.fetch(url, headers=headers, policy=self.policy, source_id=self.source_id)
            guard.check(token=url, content=resp.content if url != first else None, url=url)
            payload = resp.json(source_id=self.source_id)
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                raise SourceError(
                    "not a udata API v1 listing (expected an object with a `data` list)",
                    source_id=self.source_id,
                    url=resp.url,
                    hint="the source url must be the portal's base URL (https://www.data.gouv.fr)",
                )
            total = payload.get("total")
            guard.page_ids(
                (_item_id(d) for d in payload["data"]),
                url=resp.url,
                total=total if isinstance(total, int) and not isinstance(total, bool) else None,
            )
            yield payload["data"], resp.url
            nxt = payload.get("next_page")
            url = urljoin(resp.url, nxt) if isinstance(nxt, str) and nxt else None
        self.check_served(guard, first, "dataset ids" if fields else "datasets")

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        seen: set[str] = set()
        older = False

        def skip_reason(item: dict[str, Any]) -> str | None:
            nonlocal older
            if item.get("deleted") or item.get("private") is True:
                return "deleted" if item.get("deleted") else "private"
            updated = _last_update(item)
            if since is not None and updated is not None and updated < since:
                older = True  # sorted by -last_update: everything after this is older too
                return "not modified since the cursor"
            return None

        for first in self._first_urls():
            with self.loop_ends_listing():
                for items, page_url in self._pages(first):
                    yield from self.map_entries(
                        items,
                        seen=seen,
                        id_of=_item_id,
                        map_entry=lambda item, _: self.map_dataset(item),
                        url=page_url,
                        skip_reason=skip_reason,
                        name_of=lambda item: item.get("slug"),
                    )
                    if older:
                        older = False
                        break

    def ids(self) -> set[str]:
        """The ids of every listed dataset, cheaply (`X-Fields` mask), so that incremental runs see deletions."""
        ids: set[str] = set()
        for first in self._first_urls():
            with self.loop_ends_listing():
                for items, _ in self._pages(first, fields="data{id,deleted,private},next_page,total"):
                    for item in items:
                        rid = _item_id(item)
                        if rid is not None and not item.get("deleted") and item.get("private") is not True:
                            ids.add(rid)
        return ids

    # -- mapping --------------------------------------------------------------------------------------------
    def _page(self, item: dict[str, Any]) -> str:
        page = item.get("page")
        if isinstance(page, str) and page.startswith(("http://", "https://")):
            return page
        return f"{self.url}/datasets/{item['id']}/"

    def map_dataset(self, item: dict[str, Any]) -> DatasetRecord:
        rid = item["id"].strip()
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("no title")
        extras = _harvest_extras(item)
        if isinstance(item.get("slug"), str):
            extras["udata:slug"] = item["slug"]
        org = item.get("organization") if isinstance(item.get("organization"), dict) else None
        owner = item.get("owner") if isinstance(item.get("owner"), dict) else None
        if org and org.get("id"):
            extras["udata:organization_id"] = str(org["id"])
        if item.get("archived"):
            extras["udata:archived"] = str(item["archived"])
        if schemas := _resource_schemas(item.get("resources")):
            extras["resource_schemas"] = json.dumps(schemas, ensure_ascii=False, sort_keys=True)
        contacts = [c for c in item.get("contact_points") or [] if isinstance(c, dict)]
        email = next(
            (c["email"] for c in contacts if isinstance(c.get("email"), str) and "@" in c["email"]), None
        )
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=rid,
            name=item.get("slug") or None,
            title=title.strip(),
            description=item.get("description") or None,
            landing_page=extras.get("harvest:remote_url") or self._page(item),
            remote_url=self._page(item),
            publisher=_publisher(org, owner),
            contact_email=email,
            keywords=tuple(str(t) for t in item.get("tags") or [] if t),
            themes=(),
            license_raw=item.get("license") or None,
            issued=parse_datetime(item.get("created_at") or _internal(item, "created_at_internal")),
            modified=_last_update(item),
            frequency=item.get("frequency") or None,
            spatial=_spatial(item.get("spatial")),
            resources=tuple(
                _resource(r) for r in item.get("resources") or [] if isinstance(r, dict) and r.get("url")
            ),
            extras=extras,
            raw=item,
        )


def _item_id(item: Any) -> str | None:
    rid = item.get("id") if isinstance(item, dict) else None
    return rid.strip() if isinstance(rid, str) and rid.strip() else None


def _internal(item: dict[str, Any], key: str) -> Any:
    block = item.get("internal")
    return block.get(key) if isinstance(block, dict) else None


def _last_update(item: dict[str, Any]) -> datetime | None:
    """`last_update` (metadata or resources changed); older payloads only have `last_modified`."""
    return parse_datetime(
        item.get("last_update") or item.get("last_modified") or _internal(item, "last_modified_internal")
    )


def _publisher(org: dict[str, Any] | None, owner: dict[str, Any] | None) -> str | None:
    if org and org.get("name"):
        return str(org["name"])
    if owner:
        name = " ".join(str(owner.get(k) or "") for k in ("first_name", "last_name")).strip()
        return name or None
    return None


def _spatial(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    zones = [z.get("id") if isinstance(z, dict) else z for z in value.get("zones") or []]
    parts = [str(z) for z in zones if z]
    if value.get("granularity"):
        parts.append(f"granularity:{value['granularity']}")
    return ", ".join(parts) or None


def _harvest_extras(item: dict[str, Any]) -> dict[str, str]:
    """Scalar extras (legacy `harvest:*` keys included) and the `harvest` block flattened to `harvest:<key>`."""
    out: dict[str, str] = {}
    extras = item.get("extras")
    if isinstance(extras, dict):
        for k, v in extras.items():
            if isinstance(v, str | int | float | bool) and v != "":
                out[str(k)] = v if isinstance(v, str) else json.dumps(v)
    harvest = item.get("harvest")
    if isinstance(harvest, dict):
        for k, v in harvest.items():
            if isinstance(v, str | int | float | bool) and v != "":
                out[f"harvest:{k}"] = v if isinstance(v, str) else json.dumps(v)
    return out


def _resource_schemas(resources: Any) -> dict[str, dict[str, str]]:
    """Resource URL -> its schema.data.gouv.fr `schema` ({name, version, url}), for resources that declare one."""
    out: dict[str, dict[str, str]] = {}
    for r in resources if isinstance(resources, list) else []:
        schema = r.get("schema") if isinstance(r, dict) else None
        if isinstance(schema, dict) and (schema.get("name") or schema.get("url")) and r.get("url"):
            out[str(r["url"]).strip()] = {
                k: str(v) for k, v in schema.items() if k in ("name", "version", "url") and v
            }
    return out


def _resource(r: dict[str, Any]) -> ResourceRef:
    size = r.get("filesize")
    return ResourceRef(
        url=str(r["url"]).strip(),
        remote_id=r.get("id") or None,
        title=r.get("title") or None,
        description=r.get("description") or None,
        format=r.get("format") or None,
        media_type=r.get("mime") or None,
        size_bytes=size if isinstance(size, int) and size >= 0 else None,
        modified=parse_datetime(r.get("last_modified")),
    )
