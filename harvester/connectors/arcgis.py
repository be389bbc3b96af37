"""ArcGIS Hub connector: the site's DCAT-US 1.1 feed (`/data.json` or `/api/feed/dcat-us/1.1.json`).

The whole catalogue comes in one JSON document, fetched conditionally (ETag / Last-Modified), so an unchanged
feed costs one small round trip. Identity is the ArcGIS item id plus the layer: `identifier` is
`https://www.arcgis.com/home/item.html?id=<32-hex>&sublayer=<n>` and one item fans out into one dataset per
layer, so the remote id is `<item id>_<layer>` (the Hub's own dataset id, as in its `/maps/<id>_<n>` pages).
Quirks handled: `license` and `description` are HTML blobs (the licence is reduced to its text, the description to
text with its paragraphs; the HTML stays in `raw`), `spatial` and `theme` may be `""`, `contactPoint.hasEmail` may not be an address. `since` is applied on
the client (the feed's `updated` parameter is undocumented).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from harvester.connectors.base import BaseConnector, Params
from harvester.connectors.html_text import html_to_text as description_text
from harvester.dates import parse_datetime
from harvester.errors import SourceError
from harvester.records import DatasetRecord, ResourceRef

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ITEM_ID = re.compile(r"^[0-9a-f]{32}$")


class ArcgisParams(Params):
    web_pages: bool = Field(
        False,
        description="Also list the `Web Page` distributions (the Hub's own page of the dataset) as resources.",
    )
    geoservices: bool = Field(
        True,
        description="List the `ArcGIS GeoServices REST API` distributions (FeatureServer/MapServer layers).",
    )


class ArcgisHubConnector(BaseConnector):
    type = "arcgis"
    Params = ArcgisParams
    description = (
        "ArcGIS Hub site feed in DCAT-US 1.1 (`/data.json`, `/api/feed/dcat-us/1.1.json`; url = the feed): one "
        "dataset per item layer, downloads as resources, HTML licences reduced to text."
    )
    incremental = False

    params: ArcgisParams

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        resp = self.http.fetch(
            self.url, headers=self._headers(), conditional=True, policy=self.policy, source_id=self.source_id
        )
        doc = resp.json(source_id=self.source_id)
        if not isinstance(doc, dict) or not isinstance(doc.get("dataset"), list):
            raise SourceError(
                "not a DCAT-US catalogue (expected an object with a `dataset` list)",
                source_id=self.source_id,
                url=resp.url,
                hint="the source url must be the Hub feed, e.g. https://<site>/api/feed/dcat-us/1.1.json",
            )
        seen: set[str] = set()
        self.outcomes.listed += len(doc["dataset"])
        for item in doc["dataset"]:
            if not isinstance(item, dict):
                self.on_record_error(
                    None, "dataset entry is not a JSON object", resp.url, skipped="not an object"
                )
                continue
            identifier = item.get("identifier")
            if not isinstance(identifier, str) or not identifier.strip():
                self.on_record_error(
                    _text(item.get("title")) or None,
                    "dataset without an `identifier`",
                    resp.url,
                    skipped="no id",
                )
                continue
            remote_id, extras = _identity(identifier.strip())
            if remote_id in seen:
                self.on_record_error(
                    remote_id,
                    "duplicate identifier in the feed: later entry skipped",
                    resp.url,
                    skipped="duplicate",
                )
                continue
            seen.add(remote_id)
            try:
                record = self.map_dataset(item, remote_id, extras)
            except Exception as exc:  # one bad record never stops its source
                self.on_record_error(remote_id, f"cannot map dataset: {type(exc).__name__}: {exc}", resp.url)
                continue
            if since is not None and record.modified is not None and record.modified < since:
                self.outcomes.skip("not modified since the cursor")
                continue
            yield self.keep(record)

    def map_dataset(self, item: dict[str, Any], remote_id: str, extras: dict[str, str]) -> DatasetRecord:
        title = _text(item.get("title")).strip()
        if not title:
            raise ValueError("no title")
        for key in ("accessLevel", "conformsTo", "bureauCode", "programCode", "language"):
            if item.get(key) not in (None, "", []):
                extras[f"dcat_us:{key}"] = _text(item[key])
        publisher = item.get("publisher")
        contact = item.get("contactPoint")
        email = (
            _text(contact.get("hasEmail") if isinstance(contact, dict) else None)
            .removeprefix("mailto:")
            .strip()
        )
        landing = _text(item.get("landingPage")) or None
        licence = html_to_text(_text(item.get("license")))
        spatial = item.get("spatial")
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=remote_id,
            name=remote_id,
            title=title,
            description=description_text(_text(item.get("description"))) or None,
            landing_page=landing,
            remote_url=landing,
            publisher=(_text(publisher.get("name")) if isinstance(publisher, dict) else _text(publisher))
            or None,
            contact_email=email if EMAIL.match(email) else None,
            keywords=_strings(item.get("keyword")),
            themes=_strings(item.get("theme")),
            license_raw=licence or None,
            issued=parse_datetime(item.get("issued")),
            modified=parse_datetime(item.get("modified")),
            frequency=_text(item.get("accrualPeriodicity")) or None,
            spatial=(spatial if isinstance(spatial, str) else json.dumps(spatial)) if spatial else None,
            resources=self._resources(item),
            extras=extras,
            raw=item,
        )

    def _resources(self, item: dict[str, Any]) -> tuple[ResourceRef, ...]:
        out: list[ResourceRef] = []
        urls: set[str] = set()
        for dist in item.get("distribution") or []:
            if not isinstance(dist, dict):
                continue
            fmt = _text(dist.get("format")) or None
            if fmt == "Web Page" and not self.params.web_pages:
                continue
            if fmt == "ArcGIS GeoServices REST API" and not self.params.geoservices:
                continue
            url = _text(dist.get("downloadURL") or dist.get("accessURL")).strip()
            if not url.startswith(("http://", "https://")) or url in urls:
                continue
            urls.add(url)
            out.append(
                ResourceRef(
                    url=url,
                    title=_text(dist.get("title")) or None,
                    description=_text(dist.get("description")) or None,
                    format=fmt,
                    media_type=_text(dist.get("mediaType")) or None,
                )
            )
        return tuple(out)


def _identity(identifier: str) -> tuple[str, dict[str, str]]:
    """`…/home/item.html?id=<hex>&sublayer=<n>` → `<hex>_<n>`; any other identifier is kept as it is."""
    extras = {"dcat:identifier": identifier}
    parts = urlsplit(identifier)
    query = parse_qs(parts.query)
    item_id = (query.get("id") or [""])[0].lower()
    if parts.path.endswith("/home/item.html") and ITEM_ID.match(item_id):
        extras["arcgis:item_id"] = item_id
        layer = (query.get("sublayer") or [""])[0]
        if layer.isdigit():
            extras["arcgis:sublayer"] = layer
            return f"{item_id}_{layer}", extras
        return item_id, extras
    return identifier, extras


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """The text of an HTML fragment, whitespace collapsed (`<DIV><P><SPAN>Soumis à …` → `Soumis à …`)."""
    if "<" not in value and "&" not in value:
        return " ".join(value.split())
    parser = _TextOnly()
    parser.feed(value)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value if v not in (None, ""))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(str(v).strip() for v in value if isinstance(v, str | int) and str(v).strip())
