"""OGC SensorThings API 1.0 / 1.1 connector (FROST-Server and others): one dataset per (Multi)Datastream.

The service root (`{url}`) says which entity sets exist (MultiDatastreams is an extension) and, in 1.1, which
conformance classes the server declares (`dataArray`). Datastreams are listed with `$expand` of the Thing (and its
Locations), Sensor and ObservedProperty, so a catalogue costs one request per page, not one per Datastream. Pages
follow `@iot.nextLink` as an opaque URL (FROST writes keyset `$skipFilter` links) under a loop guard, and stop at
`@iot.count`; a listing that ends short of `@iot.count` is incomplete, so nothing is withdrawn. Incremental runs ask
for `$filter=phenomenonTime ge <cursor>` (Datastreams with observations since), with client-side filtering when
the server rejects the filter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from harvester.connectors.base import BaseConnector, Params
from harvester.connectors.sta_map import entity_path, map_datastream
from harvester.dates import to_iso
from harvester.errors import SourceError
from harvester.paging import PageGuard
from harvester.records import DatasetRecord

log = logging.getLogger(__name__)
DATA_ARRAY = "/req/data-array/data-array"
EXPAND = {
    "Datastreams": "Thing($expand=Locations),Sensor,ObservedProperty",
    "MultiDatastreams": "Thing($expand=Locations),Sensor,ObservedProperties",
}


class SensorThingsParams(Params):
    page_size: int = Field(100, ge=1, le=10_000, description="Datastreams per page (`$top`; servers cap it).")
    filter: str | None = Field(
        None, description="OData `$filter` on the Datastreams, e.g. `Thing/properties/region eq 'Bretagne'`."
    )
    multidatastreams: bool = Field(
        True, description="Also list the MultiDatastreams, when the service root offers them."
    )
    expand: bool = Field(
        True,
        description="Ask for Thing/Locations, Sensor and ObservedProperty inline (`$expand`); turn off for "
        "servers that reject it.",
    )
    since_filter: bool = Field(
        True,
        description="On incremental runs, ask the server for `phenomenonTime ge <cursor>` (falls back to "
        "client-side filtering if it refuses the filter).",
    )
    data_array: bool | None = Field(
        None,
        description="Read Observations as `$resultFormat=dataArray` (compact); default: when the service root "
        "declares the dataArray conformance class (SensorThings 1.1).",
    )
    first_window_days: float | None = Field(
        90,
        gt=0,
        description="Normalise: the first download of a Datastream takes only this many days before its "
        "latest observation (null: the whole history).",
    )
    observations_page_size: int = Field(
        1000, ge=1, le=100_000, description="Normalise: Observations per request (`$top`)."
    )


class SensorThingsConnector(BaseConnector):
    type = "sensorthings"
    Params = SensorThingsParams
    description = (
        "OGC SensorThings API 1.0/1.1 (FROST-Server…; url = the service root, e.g. `…/FROST-Server/v1.1`): one "
        "dataset per Datastream and MultiDatastream, Observations as a time-partitioned table."
    )
    incremental = True
    paging = True
    announces_total = True

    params: SensorThingsParams

    def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, str, bytes]:
        resp = self.http.fetch(
            url, params=params, headers=self._headers(), policy=self.policy, source_id=self.source_id
        )
        return resp.json(source_id=self.source_id), resp.url, resp.content

    def _root(self) -> tuple[set[str], bool]:
        """Entity sets offered by the service root, and whether dataArray is declared."""
        payload, url, _ = self._get(self.url)
        sets = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(sets, list):
            raise SourceError(
                "not a SensorThings API service root (no `value` list of entity sets)",
                source_id=self.source_id,
                url=url,
                hint="the url must be the service root, e.g. https://host/FROST-Server/v1.1",
            )
        names = {str(s.get("name")) for s in sets if isinstance(s, dict)}
        settings = payload.get("serverSettings")
        conformance = settings.get("conformance") if isinstance(settings, dict) else None
        declared = isinstance(conformance, list) and any(
            isinstance(c, str) and c.endswith(DATA_ARRAY) for c in conformance
        )
        return names, declared

    def _query(self, kind: str, since: datetime | None, *, ids_only: bool = False) -> dict[str, Any]:
        query: dict[str, Any] = {"$top": self.params.page_size, "$count": "true"}
        filters = [f"({self.params.filter})"] if self.params.filter else []
        if since is not None:
            filters.append(f"phenomenonTime ge {to_iso(since)}")
        if filters:
            query["$filter"] = " and ".join(filters)
        if ids_only:
            query["$select"] = "id"
        elif self.params.expand:
            query["$expand"] = EXPAND[kind]
        return query

    def _pages(self, kind: str, query: dict[str, Any]) -> Iterator[tuple[list[Any], str]]:
        """Pages of one entity set, following `@iot.nextLink` until `@iot.count` items were read.

        A page that brings no new `@iot.id` is a pagination loop (PaginationLoop); a listing read to its end with
        fewer distinct ids than `@iot.count` is marked incomplete."""
        guard = PageGuard(self.source_id)
        url: str | None = f"{self.url}/{kind}"
        params: dict[str, Any] | None = query
        while url:
            payload, page_url, content = self._get(url, params)
            first = params is not None
            guard.check(token=None if first else url, content=None if first else content, url=page_url)
            if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
                raise SourceError(
                    f"not a SensorThings {kind} page (no `value` list)",
                    source_id=self.source_id,
                    url=page_url,
                )
            items = payload["value"]
            count = payload.get("@iot.count")
            total = count if isinstance(count, int) and not isinstance(count, bool) else None
            guard.page_ids((_iot_id(i) for i in items), url=page_url, total=total)
            yield items, page_url
            nxt = payload.get("@iot.nextLink")
            if guard.announced is not None and guard.served >= guard.announced:
                break
            if not isinstance(nxt, str) or not nxt or not items:
                break
            url, params = nxt, None
        self.check_served(guard, f"{self.url}/{kind}", kind)

    def _kinds(self) -> tuple[list[str], bool]:
        names, declared = self._root()
        kinds = ["Datastreams"] if "Datastreams" in names else []
        if self.params.multidatastreams and "MultiDatastreams" in names:
            kinds.append("MultiDatastreams")
        if not kinds:
            raise SourceError(
                "the service root offers no Datastreams", source_id=self.source_id, url=self.url
            )
        data_array = declared if self.params.data_array is None else self.params.data_array
        return kinds, data_array

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        kinds, data_array = self._kinds()
        seen: set[str] = set()
        with self.loop_ends_listing():
            for kind in kinds:
                for ds, page_url in self._listing(kind, since):
                    self.outcomes.listed += 1
                    if not isinstance(ds, dict) or ds.get("@iot.id") is None:
                        self.on_record_error(
                            None, f"{kind[:-1]} without an @iot.id", page_url, skipped="no id"
                        )
                        continue
                    try:
                        record = map_datastream(
                            ds, source_id=self.source_id, server=self.url, kind=kind, data_array=data_array
                        )
                    except Exception as exc:  # one bad record never stops its source
                        self.on_record_error(
                            str(ds.get("@iot.id")),
                            f"cannot map {kind[:-1]}: {type(exc).__name__}: {exc}",
                            page_url,
                        )
                        continue
                    if record.remote_id in seen:
                        self.outcomes.skip("duplicate")
                        continue
                    seen.add(record.remote_id)
                    if since is not None and (record.modified is None or record.modified < since):
                        # client-side filter (servers that refused it, or interval semantics)
                        self.outcomes.skip("not modified since the cursor")
                        continue
                    yield self.keep(record)

    def _listing(self, kind: str, since: datetime | None) -> Iterator[tuple[Any, str]]:
        server_since = since if self.params.since_filter else None
        started = False
        try:
            for items, page_url in self._pages(kind, self._query(kind, server_since)):
                started = True
                for item in items:
                    yield item, page_url
        except SourceError as exc:
            if started or server_since is None or "HTTP 400" not in exc.message:
                raise
            log.info("%s: the server refused the phenomenonTime filter; filtering locally", self.source_id)
            for items, page_url in self._pages(kind, self._query(kind, None)):
                for item in items:
                    yield item, page_url

    def ids(self) -> set[str]:
        """Every (Multi)Datastream still listed (`$select=id`), so that incremental runs see deletions."""
        kinds, _ = self._kinds()
        split = urlsplit(self.url)
        base = f"{split.netloc}{split.path.rstrip('/')}"
        ids: set[str] = set()
        for kind in kinds:
            for items, _url in self._pages(kind, self._query(kind, None, ids_only=True)):
                for item in items:
                    if isinstance(item, dict) and item.get("@iot.id") is not None:
                        try:
                            ids.add(f"{base}/{entity_path(kind, item['@iot.id'])}")
                        except ValueError:
                            continue
        return ids


def _iot_id(item: Any) -> str | None:
    """The paging guard's key of an entity: its `@iot.id` as text (None when it has none)."""
    if not isinstance(item, dict) or item.get("@iot.id") is None:
        return None
    return str(item["@iot.id"])
