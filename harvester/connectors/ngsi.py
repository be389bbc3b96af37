"""NGSI-LD (`/ngsi-ld/v1/entities`) and NGSIv2 (`/v2/entities`) context brokers (FIWARE Orion, Orion-LD,
Scorpio, Stellio…): one dataset per entity type, and per tenant when `tenants` are configured.

Types come from `params.types`, else from the broker's `/types`. Each type's entities are paged with
`limit`/`offset` and `count=true` (NGSI-LD, `NGSILD-Results-Count`) or `options=count` (NGSIv2,
`Fiware-Total-Count`) up to that count; a listing that ends short of it is incomplete (nothing withdrawn). The
listing gives the dataset its entity count, bounding box and latest `observedAt` / `dateModified`; an entity whose
location is not valid GeoJSON is a record error, never a source failure. Smart Data Models types get the model's
title, description and links (harvester/data/smart_data_models.json). There is no server-side "modified since":
`since` is applied to the type's latest time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from pydantic import Field

from harvester.connectors.base import BaseConnector, Params
from harvester.connectors.ngsi_entity import location_wkb, summary
from harvester.connectors.ngsi_query import (
    FORMAT,
    LD,
    entities_url,
    feed_headers,
    iter_entity_pages,
    smart_data_model,
    types_url,
)
from harvester.errors import SourceError
from harvester.records import DatasetRecord, ResourceRef


class NgsiParams(Params):
    flavour: Literal["ngsi-ld", "ngsiv2"] = Field(
        "ngsi-ld",
        description="`ngsi-ld` (`/ngsi-ld/v1/entities`) or `ngsiv2` (`/v2/entities`, FIWARE Orion).",
    )
    types: list[str] = Field(
        default_factory=list, description="Entity types to harvest (default: every type the broker lists)."
    )
    q: str | None = Field(None, description="NGSI query filter on the entities, e.g. `fillingLevel>0.5`.")
    tenants: list[str] = Field(
        default_factory=list,
        description="Tenants (`NGSILD-Tenant`, or `Fiware-Service` for NGSIv2): one dataset per type and tenant.",
    )
    service_path: str | None = Field(
        None, description="`Fiware-ServicePath` header (NGSIv2), e.g. `/parking`."
    )
    context: str | None = Field(
        None, pattern=r"^https?://", description="JSON-LD @context URL sent in the `Link` header (NGSI-LD)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Other headers sent with every request."
    )
    page_size: int = Field(
        100, ge=1, le=1000, description="Entities per page (`limit`; Orion and most brokers cap it at 1000)."
    )


class NgsiConnector(BaseConnector):
    type = "ngsi"
    Params = NgsiParams
    description = (
        "FIWARE context broker, NGSI-LD or NGSIv2 (url = the broker root): one dataset per entity type (and "
        "tenant), entities as a GeoParquet table; Smart Data Models described."
    )
    incremental = False

    params: NgsiParams

    def _types(self, tenant: str | None) -> list[str]:
        if self.params.types:
            return list(dict.fromkeys(self.params.types))
        flavour = self.params.flavour
        resp = self.http.fetch(
            types_url(self.url, flavour),
            params={"limit": 1000} if flavour == LD else {"options": "values", "limit": 1000},
            headers={**feed_headers(self.params, tenant), **self._headers()},
            policy=self.policy,
            source_id=self.source_id,
        )
        payload = resp.json(source_id=self.source_id)
        if isinstance(payload, dict):  # NGSI-LD EntityTypeList
            payload = payload.get("typeList")
        if not isinstance(payload, list):
            raise SourceError("not an NGSI type list", source_id=self.source_id, url=resp.url)
        names = [t if isinstance(t, str) else t.get("type") or t.get("id") for t in payload if t]
        return [n for n in names if isinstance(n, str) and n]

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        tenants: list[str | None] = [*self.params.tenants] or [None]
        with self.loop_ends_listing():
            for tenant in tenants:
                types = self._types(tenant)
                self.outcomes.listed += len(types)
                for entity_type in types:
                    record = self._dataset(entity_type, tenant)
                    if since is not None and (record.modified is None or record.modified < since):
                        self.outcomes.skip("not modified since the cursor")
                        continue
                    yield self.keep(record)

    def _dataset(self, entity_type: str, tenant: str | None) -> DatasetRecord:
        flavour = self.params.flavour
        endpoint = entities_url(self.url, flavour)
        count, latest, bbox = 0, None, None

        def short(read: int, total: int) -> None:
            self.mark_incomplete(
                f"short listing: the broker announced {total} {entity_type} entities but served {read}",
                missing=total - read,
                url=endpoint,
            )

        for items, page_url, _ in iter_entity_pages(
            self.http,
            endpoint,
            flavour=flavour,
            entity_type=entity_type,
            q=self.params.q,
            limit=self.params.page_size,
            headers={**feed_headers(self.params, tenant), **self._headers()},
            policy=self.policy,
            source_id=self.source_id,
            on_short=short,
        ):
            for entity in items:
                if not isinstance(entity, dict) or not entity.get("id"):
                    # an entity, not a listed dataset: reported, the dataset (the entity type) is still kept
                    self.on_record_error(None, f"{entity_type} entity without an id", page_url, skipped=None)
                    continue
                count += 1
                location, t = summary(entity)
                latest = t if t is not None and (latest is None or t > latest) else latest
                _wkb, b, error = location_wkb(location)
                if error:
                    self.on_record_error(str(entity["id"]), f"{entity_type}: {error}", page_url, skipped=None)
                elif b is not None:
                    bbox = (
                        b
                        if bbox is None
                        else (min(bbox[0], b[0]), min(bbox[1], b[1]), max(bbox[2], b[2]), max(bbox[3], b[3]))
                    )
        return self._record(entity_type, tenant, count, latest, bbox)

    def _record(
        self,
        entity_type: str,
        tenant: str | None,
        count: int,
        latest: datetime | None,
        bbox: tuple[float, ...] | None,
    ) -> DatasetRecord:
        flavour = self.params.flavour
        model = smart_data_model(entity_type)
        query: dict[str, str] = {"type": entity_type}
        if self.params.q:
            query["q"] = self.params.q
        url = f"{entities_url(self.url, flavour)}?{urlencode(query)}"
        label = model["title"] if model else entity_type
        title = f"{label} ({entity_type})" + (f" — {tenant}" if tenant else "")
        where = f"{count} entities of type {entity_type} on the {FORMAT[flavour]} broker {self.url}"
        extras = {"ngsi:type": entity_type, "ngsi:flavour": flavour, "ngsi:count": str(count)}
        if tenant:
            extras["ngsi:tenant"] = tenant
        if self.params.service_path:
            extras["ngsi:service_path"] = self.params.service_path
        if model:
            extras.update(
                {"sdm:model": model["url"], "sdm:schema": model["schema"], "sdm:subject": model["subject"]}
            )
        spatial = None
        if bbox is not None:
            x0, y0, x1, y1 = bbox
            ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
            spatial = json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=f"{tenant}/{entity_type}" if tenant else entity_type,
            name=entity_type,
            title=title,
            description=(f"{model['description']}\n\n{where}." if model else f"{where}."),
            landing_page=model["url"] if model else url,
            remote_url=url,
            keywords=tuple([entity_type, *(model["domains"] if model else []), FORMAT[flavour]]),
            modified=latest,
            spatial=spatial,
            resources=(
                ResourceRef(
                    url=url,
                    remote_id="entities",
                    title=f"{entity_type} entities",
                    description="Entities of this type, read by the normalise stage into GeoParquet",
                    format=FORMAT[flavour],
                ),
            ),
            extras=extras,
            raw={"type": entity_type, "tenant": tenant, "count": count, "flavour": flavour},
        )
