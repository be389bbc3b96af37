"""OpenDataSoft connector: Explore API v2.1 `catalog/datasets`, with the catalogue export past the 10,000 cap.

Identity is `dataset_uid` (`da_xxxxxx`): the slug `dataset_id` can be renamed by the portal, so it is kept as
an extra (`ods_dataset_id`, with `ods_domain`). Resources are the dataset export URLs (CSV, Parquet, JSON, GeoJSON for geographic
datasets) and the attachments. Incremental runs ask the server for `modified >= date'…'`.

Paging: `limit` ≤ 100 and `offset + limit` < 10,000. A catalogue larger than that is read in one request from
`catalog/exports/json` (unlimited), with the same `where`/`refine` filters. A 429 quota answer carries its
`reset_time`: the connector waits for it when it is near, and otherwise fails the source with the reset time.

`mode: dcat` harvests the portal's DCAT export (`catalog/exports/dcat`, what data.gouv.fr harvests) through the
`dcat` connector that the registry's builder passes in (`delegates`). The export carries no `dataset_uid`, so in that mode datasets are keyed on the slug
`dataset_id`: switching modes changes the remote ids of a source.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from harvester.connectors.base import BaseConnector, Connector
from harvester.connectors.listing import ListingItem
from harvester.connectors.portal_params import OdsParams
from harvester.dates import parse_datetime
from harvester.errors import ConfigError, SourceError, TransientError
from harvester.paging import PageGuard
from harvester.records import DatasetRecord, ResourceRef

API = "/api/explore/v2.1"
MAX_WINDOW = 10_000  # offset + limit must stay below this
GEO_ONLY = frozenset({"geojson", "shp", "kml", "fgb"})


class OpenDataSoftConnector(BaseConnector):
    type = "opendatasoft"
    Params = OdsParams
    description = (
        "OpenDataSoft portal (Explore API v2.1): datasets keyed on `dataset_uid`, export URLs and attachments as "
        "resources, incremental on `modified`; larger catalogues through the catalogue export."
    )
    incremental = True
    paging = True
    announces_total = True
    delegates_to = ("dcat",)

    params: OdsParams

    # -- HTTP -----------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        token = self.auth.get("token")
        if not token:
            return {}
        header = self.auth.get("header") or self.auth_header
        if header.lower() == "authorization" and not token.lower().startswith("apikey "):
            token = f"Apikey {token}"
        return {header: token}

    def _quota_hint(self, err: TransientError) -> float | None:
        """Read the ODS 429 body `{errorcode: 10002, reset_time, call_limit, limit_time_unit}`."""
        if err.status != 429:
            return None
        try:
            body = json.loads(err.body or b"{}")
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        reset = parse_datetime(body.get("reset_time"))
        if reset is None:
            return None
        wait = (reset - datetime.now(UTC)).total_seconds()
        if wait > self.params.max_quota_wait:
            limit = body.get("call_limit")
            unit = body.get("limit_time_unit")
            quota = f" ({limit} calls per {unit})" if limit and unit else ""
            raise SourceError(
                f"OpenDataSoft API quota exhausted{quota}; it resets at {reset.isoformat()}",
                source_id=self.source_id,
                url=err.url,
                hint="run again after the reset, or set an API key (auth) for a larger quota",
            )
        return max(wait, 0.0) + 1.0

    def _get(self, path: str, query: dict[str, Any]) -> tuple[Any, str, bytes]:
        resp = self.http.fetch(
            f"{self.url}{API}{path}",
            params=query,
            headers=self._headers(),
            policy=self.policy,
            source_id=self.source_id,
            retry_hint=self._quota_hint,
        )
        return resp.json(source_id=self.source_id), resp.url, resp.content

    # -- listing --------------------------------------------------------------------------------------------
    def _filters(self, since: datetime | None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        where = [f"({self.params.where})"] if self.params.where else []
        if since is not None:
            stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            where.append(f"modified >= date'{stamp}'")
        if where:
            query["where"] = " and ".join(where)
        if self.params.refine:
            query["refine"] = [_refine(r) for r in self.params.refine]
        return query

    def _raw_datasets(self, since: datetime | None) -> Iterator[dict[str, Any]]:
        """Pages of `catalog/datasets`; past the 10,000 window, the whole catalogue from `catalog/exports/json`.

        A page with no new `dataset_uid` is a pagination loop; fewer distinct uids than `total_count` (paged or
        exported) marks the listing incomplete."""
        guard = PageGuard(self.source_id)
        base = self._filters(since)
        offset = 0
        listing = f"{self.url}{API}/catalog/datasets"
        while True:
            size = min(self.params.page_size, MAX_WINDOW - 1 - offset)
            if size <= 0:
                raise SourceError(
                    f"the catalogue grew past {MAX_WINDOW - 1} datasets while paging",
                    source_id=self.source_id,
                    url=listing,
                    hint="run again: a catalogue this large is read from the catalogue export",
                )
            query = {**base, "limit": size, "offset": offset, "order_by": self.params.order_by}
            payload, url, content = self._get("/catalog/datasets", query)
            guard.check(content=content if offset else None, url=url)
            if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
                raise SourceError(
                    "not an OpenDataSoft Explore v2.1 response (no `results` list)",
                    source_id=self.source_id,
                    url=url,
                    hint="check that the source url is the portal's base URL (https://data.example.fr)",
                )
            total = payload.get("total_count")
            total = total if isinstance(total, int) and not isinstance(total, bool) else None
            if offset == 0 and total is not None and total >= MAX_WINDOW:
                # The Explore API cannot page past offset+limit = 10,000: read the export instead.
                export = list(self._export(base))
                guard.page_ids((_uid(item) for item in export), url=url, total=total)
                yield from export
                self.check_served(guard, listing)
                return
            results = payload["results"]
            guard.page_ids((_uid(item) for item in results), url=url, total=total)
            yield from results
            offset += len(results)
            if not results or len(results) < size or (total is not None and offset >= total):
                break
        self.check_served(guard, listing)

    def _export(self, base: dict[str, Any]) -> Iterator[dict[str, Any]]:
        payload, url, _ = self._get("/catalog/exports/json", {**base, "order_by": self.params.order_by})
        if isinstance(payload, dict) and isinstance(payload.get("results"), list):
            payload = payload["results"]
        if not isinstance(payload, list):
            raise SourceError(
                "unexpected catalogue export shape (expected a JSON array)", source_id=self.source_id, url=url
            )
        yield from payload

    def list_datasets(self, since: datetime | None = None) -> Iterator[ListingItem]:
        if self.params.mode == "dcat":
            return self._dcat().list_datasets(since)
        return super().list_datasets(since)

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        listing = f"{self.url}{API}/catalog/datasets"
        with self.loop_ends_listing():
            yield from self.map_entries(
                self._raw_datasets(since),
                seen=set(),
                id_of=_uid,
                map_entry=lambda item, _: self.map_dataset(item),
                url=listing,
                entry_url=self._page,
                skip_reason=self._skipped,
                not_entry="catalogue entry is not a JSON object",
                name_of=lambda item: item.get("dataset_id"),
                no_id="dataset without a `dataset_uid`",
            )

    def _skipped(self, item: dict[str, Any]) -> str | None:
        return "federated" if self.params.skip_federated and _default(item).get("federated") is True else None

    def ids(self) -> set[str]:
        """Every `dataset_uid` currently listed, so incremental runs see deletions: one request to the catalogue
        export (unlimited) asking only for that field."""
        if self.params.mode == "dcat":
            raise NotImplementedError
        select = "dataset_uid,federated" if self.params.skip_federated else "dataset_uid"
        ids: set[str] = set()
        for item in self._export({**self._filters(None), "select": select}):
            if not isinstance(item, dict) or not isinstance(item.get("dataset_uid"), str):
                continue
            federated = item.get("federated", _default(item).get("federated"))
            if self.params.skip_federated and federated is True:
                continue
            ids.add(item["dataset_uid"])
        return ids

    def _dcat(self) -> Connector:
        """The DCAT connector of the portal's export, given by whoever built this one (see `delegates_to`)."""
        build = self.delegates.get("dcat")
        if build is None:
            raise ConfigError(
                "`mode: dcat` needs a DCAT connector: build this connector with "
                "harvester.connectors.build_connector, which passes one",
                source_id=self.source_id,
            )
        return build(f"{self.url}{API}/catalog/exports/dcat")

    # -- mapping --------------------------------------------------------------------------------------------
    def _page(self, item: dict[str, Any]) -> str:
        return f"{self.url}/explore/dataset/{quote(str(item.get('dataset_id') or ''), safe='')}/"

    def map_dataset(self, item: dict[str, Any]) -> DatasetRecord:
        uid = str(item["dataset_uid"]).strip()
        slug = item.get("dataset_id")
        if not isinstance(slug, str) or not slug:
            raise ValueError("no `dataset_id` (slug): export URLs cannot be built")
        meta = _default(item)
        dcat = _metas(item, "dcat")
        # same keys as the DCAT export mapping (`dcat.parse`), so both modes join the same way in the merge
        extras = {"ods_dataset_id": slug, "ods_domain": urlsplit(self.url).netloc}
        for key in (
            "license_url",
            "source_domain",
            "source_dataset",
            "records_count",
            "federated",
            "data_processed",
        ):
            if meta.get(key) not in (None, ""):
                extras[f"ods_{key}"] = _text(meta[key])
        inspire = _metas(item, "inspire")
        if inspire.get("file_identifier"):
            extras["file_identifier"] = str(inspire["file_identifier"])
        title = _text(meta.get("title")).strip() or slug
        contact = dcat.get("contact_email")
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=uid,
            name=slug,
            title=title,
            description=_text(meta.get("description")) or None,
            landing_page=self._page(item),
            remote_url=self._page(item),
            publisher=_text(meta.get("publisher")) or None,
            contact_email=contact if isinstance(contact, str) and "@" in contact else None,
            keywords=_strings(meta.get("keyword")),
            themes=_strings(meta.get("theme")),
            license_raw=_text(meta.get("license")) or _text(meta.get("license_url")) or None,
            issued=parse_datetime(dcat.get("issued") or dcat.get("created")),
            modified=parse_datetime(meta.get("modified") or meta.get("metadata_processed")),
            frequency=_text(dcat.get("accrualperiodicity")) or None,
            spatial=", ".join(_strings(meta.get("territory"))) or None,
            resources=self._resources(item, slug, uid),
            extras=extras,
            raw=item,
        )

    def _resources(self, item: dict[str, Any], slug: str, uid: str) -> tuple[ResourceRef, ...]:
        out: list[ResourceRef] = []
        base = f"{self.url}{API}/catalog/datasets/{quote(slug, safe='')}"
        features = item.get("features")
        features = features if isinstance(features, list) else []
        has_records = item.get("has_records") is not False
        is_geo = "geo" in features
        modified = parse_datetime(_default(item).get("data_processed"))
        if has_records:
            for fmt in self.params.exports:
                if fmt in GEO_ONLY and not is_geo:
                    continue
                out.append(
                    ResourceRef(
                        url=f"{base}/exports/{fmt}",
                        remote_id=f"{uid}/exports/{fmt}",
                        title=f"{slug}.{fmt}",
                        format=fmt,
                        modified=modified,
                    )
                )
        if self.params.attachments:
            for att in item.get("attachments") or []:
                if not isinstance(att, dict) or not att.get("id"):
                    continue
                name = str(att.get("title") or att["id"])
                out.append(
                    ResourceRef(
                        url=f"{base}/attachments/{quote(str(att['id']), safe='')}",
                        remote_id=f"{uid}/attachments/{att['id']}",
                        title=name,
                        format=name.rsplit(".", 1)[-1].lower() if "." in name else None,
                        media_type=att.get("mimetype") or None,
                    )
                )
        return tuple(out)


def _uid(item: Any) -> str | None:
    uid = item.get("dataset_uid") if isinstance(item, dict) else None
    return uid.strip() if isinstance(uid, str) and uid.strip() else None


def _refine(value: str) -> str:
    facet, _, val = value.partition(":")
    return f'{facet.strip()}:"{val.strip().strip(chr(34))}"'


def _metas(item: dict[str, Any], block: str) -> dict[str, Any]:
    metas = item.get("metas")
    value = metas.get(block) if isinstance(metas, dict) else None
    return value if isinstance(value, dict) else {}


def _default(item: dict[str, Any]) -> dict[str, Any]:
    return _metas(item, "default")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v is not None)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
