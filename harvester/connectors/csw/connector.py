"""OGC CSW 2.0.2 catalogues (GeoNetwork, Géo-IDE, GéoPicardie…): GetRecords with ISO 19139 output.

Paging follows GeoNetwork's own harvester: the next `startPosition` is `nextRecord` (trusted over
start + returned); the listing ends when `nextRecord` is 0 or beyond `numberOfRecordsMatched`, or when a page is
empty; a `nextRecord` that does not advance, or a page that brings no record not already read, is a pagination
loop: the listing stops there, keeps what it read and is marked incomplete, like a listing that serves fewer
records than `numberOfRecordsMatched`. Two different records with the same fileIdentifier (a GeoNetwork mistake)
are reported and the more recent one is kept (records come sorted by identifier, so duplicates are adjacent).
An OWS ExceptionReport, even
with HTTP 200, is a SourceError; on an incremental run whose `apiso:Modified` filter the server rejects, the
connector falls back to a full listing filtered on the client.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from lxml import etree
from rdflib import Graph

from harvester.connectors.base import BaseConnector
from harvester.connectors.csw.iso import IsoRecordError, file_identifier, map_iso
from harvester.connectors.csw.params import CswParams
from harvester.connectors.csw.request import (
    DCAT,
    GMD,
    ISO_RECORDS,
    Page,
    Query,
    exception_text,
    kvp_params,
    post_body,
    read_page,
)
from harvester.connectors.dcat.parse import as_index, dataset_nodes, records_from_graph
from harvester.errors import SourceError
from harvester.paging import PageGuard, PaginationLoop
from harvester.records import DatasetRecord
from harvester.xmlsafe import parse_xml

log = logging.getLogger(__name__)
_GEONETWORK = re.compile(r"^(.*?/srv/)([a-z]{2,3})/")
_DC_IDENTIFIER = "{http://purl.org/dc/elements/1.1/}identifier"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _record_key(el: etree._Element) -> str:
    """The paging guard's key of a served record: its identifier and a digest of its content, so that a page
    repeated by the server is recognised while two different records sharing a fileIdentifier both count."""
    if etree.QName(el).localname in ISO_RECORDS:
        rid = file_identifier(el)
    else:
        rid = el.findtext(_DC_IDENTIFIER) or el.findtext(".//{http://purl.org/dc/terms/}identifier")
    return f"{(rid or '').strip()}#{hashlib.sha256(etree.tostring(el)).hexdigest()[:20]}"


def _fingerprint(rec: DatasetRecord) -> tuple[object, ...]:
    return (rec.modified, rec.title, rec.description, rec.resources)


class _FilterRejected(Exception):
    """The server answered the filtered first page with an ExceptionReport."""


class CswConnector(BaseConnector):
    type = "csw"
    Params = CswParams
    description = (
        "OGC CSW 2.0.2 GetRecords (ISO 19139 gmd:MD_Metadata, its Swiss che: profile, and ISO 19115-3 "
        "mdb:MD_Metadata) with startPosition/nextRecord paging; the url is the CSW endpoint."
    )
    incremental = True
    paging = True
    announces_total = True

    params: CswParams

    def record_url(self, fid: str) -> str:
        if self.params.record_url:
            return self.params.record_url.replace("{id}", quote(fid, safe=""))
        m = _GEONETWORK.match(self.url + "/")
        if m:
            return f"{m.group(1)}{m.group(2)}/catalog.search#/metadata/{quote(fid, safe='')}"
        query = {"service": "CSW", "version": "2.0.2", "request": "GetRecordById", "id": fid}
        query |= {"outputSchema": GMD, "elementSetName": "full"}
        return f"{self.url}?{urlencode(query)}"

    def _fetch(self, q: Query) -> tuple[Page, str]:
        headers = {"Accept": "application/xml, text/xml;q=0.9", **self._headers()}
        if self.params.method == "post":
            resp = self.http.fetch(
                self.url,
                method="POST",
                data=post_body(q),
                headers={**headers, "Content-Type": "application/xml; charset=UTF-8"},
                policy=self.policy,
                source_id=self.source_id,
            )
        else:
            resp = self.http.fetch(
                self.url, params=kvp_params(q), headers=headers, policy=self.policy, source_id=self.source_id
            )
        root = parse_xml(
            resp.content,
            url=resp.url,
            source_id=self.source_id,
            content_type=resp.headers.get("Content-Type"),
        )
        if q.modified_since is not None and q.start == 1 and exception_text(root) is not None:
            raise _FilterRejected(exception_text(root))
        return read_page(root, resp.url, self.source_id), resp.url

    def pages(
        self, since: datetime | None = None, *, element_set: str = "full", size: int | None = None
    ) -> Iterator[tuple[Page, str]]:
        """GetRecords pages, following nextRecord with the stop rules of GeoNetwork's harvester.

        Raises PaginationLoop when nextRecord does not advance or a page brings no new record; a listing read to
        its end with fewer distinct records than numberOfRecordsMatched is marked incomplete."""
        guard = PageGuard(self.source_id, max_pages=self.params.max_pages)
        start = 1
        while True:
            guard.check(token=str(start), url=self.url)
            q = Query(
                start=start,
                size=size or self.params.page_size,
                types=tuple(self.params.types),
                modified_since=since,
                element_set=element_set,
                sort=self.params.sort,
                output_schema=DCAT if self.params.output_schema == "dcat" and element_set == "full" else GMD,
            )
            page, url = self._fetch(q)
            guard.page_ids((_record_key(el) for el in page.records), url=url, total=page.matched)
            yield page, url
            n = len(page.records)
            nxt = page.next_record if page.next_record is not None else (start + n if n else 0)
            if nxt == 0 or (page.matched is not None and nxt > page.matched):
                break
            if n == 0:
                self.mark_incomplete(
                    f"empty page at startPosition {start} although nextRecord={nxt}: listing stopped",
                    missing=guard.missing() or None,
                    url=url,
                )
                return
            if nxt <= start:
                raise PaginationLoop(
                    f"pagination loop: nextRecord {nxt} does not advance past startPosition {start}",
                    source_id=self.source_id,
                    url=url,
                )
            start = nxt
        self.check_served(guard, self.url, "records")

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        server_since = since if self.params.incremental_filter else None
        try:
            yield from self._records(server_since, since)
        except _FilterRejected as exc:
            log.warning(
                "%s: server rejected the Modified filter (%s): full listing filtered locally",
                self.source_id,
                exc,
            )
            yield from self._records(None, since)

    def _records(self, server_since: datetime | None, since: datetime | None) -> Iterator[DatasetRecord]:
        """Mapped records, one held back until the next one shows whether it has a duplicate fileIdentifier."""
        seen: dict[str, tuple[object, ...]] = {}  # fileIdentifier -> fingerprint of the record read
        held: DatasetRecord | None = None
        with self.loop_ends_listing():
            for page, url in self.pages(server_since):
                dcat = self.params.output_schema == "dcat"
                for rec in self._dcat_records(page, url) if dcat else self._iso_records(page, url):
                    if held is not None and rec.remote_id == held.remote_id:
                        held = self._duplicate(held, rec, url)
                        continue
                    if rec.remote_id in seen:  # not adjacent (unsorted listing): the earlier one was kept
                        if seen[rec.remote_id] == _fingerprint(rec):
                            self.outcomes.skip("duplicate")
                        else:
                            self._duplicate(rec, rec, url, earlier_kept=True)
                        continue
                    seen[rec.remote_id] = _fingerprint(rec)
                    if held is not None:
                        yield from self._release(held, since)
                    held = rec
        if held is not None:
            yield from self._release(held, since)

    def _release(self, rec: DatasetRecord, since: datetime | None) -> Iterator[DatasetRecord]:
        if since is not None and rec.modified is not None and rec.modified < since:
            self.outcomes.skip("not modified since the cursor")
            return
        yield self.keep(rec)

    def _duplicate(
        self, kept: DatasetRecord, other: DatasetRecord, url: str, *, earlier_kept: bool = False
    ) -> DatasetRecord:
        """Two records with one fileIdentifier: the same record repeated (paging) is skipped silently; two
        different records are reported, and the more recent one is kept. Returns the record kept."""
        if kept == other and not earlier_kept:
            self.outcomes.skip("duplicate")
            return kept
        if earlier_kept:
            winner, note = kept, "the one read first was kept (records not sorted by identifier)"
        else:
            winner = other if (other.modified or _EPOCH) > (kept.modified or _EPOCH) else kept
            when = winner.modified.isoformat() if winner.modified else "no date"
            note = f"the more recent one ({when}) was kept"
        self.on_record_error(
            kept.remote_id,
            f"two different records share the fileIdentifier {kept.remote_id!r}: {note}",
            self.record_url(kept.remote_id),
            skipped="duplicate",
        )
        return winner

    def _iso_records(self, page: Page, url: str) -> Iterator[DatasetRecord]:
        iso = [el for el in page.records if etree.QName(el).localname in ISO_RECORDS]
        if page.records and not iso:
            raise SourceError(
                f"the server returned no ISO 19139 record (got <{etree.QName(page.records[0]).localname}>)",
                source_id=self.source_id,
                url=url,
                hint="the catalogue may not support outputSchema=http://www.isotc211.org/2005/gmd",
            )
        iso_set = set(iso)
        self.outcomes.listed += len(page.records)
        for el in page.records:
            if el not in iso_set:
                self.on_record_error(
                    None,
                    f"not an ISO 19139 record: <{etree.QName(el).localname}>",
                    url,
                    skipped="unsupported record type",
                )
                continue
            rec = self._map(el, url)
            if rec is not None:
                yield rec

    def _dcat_records(self, page: Page, url: str) -> Iterator[DatasetRecord]:
        """Records converted to DCAT by the server: each one is an RDF/XML document, mapped like `dcat`."""
        for el in page.records:
            graph = Graph()
            try:
                graph.parse(data=etree.tostring(el), format="xml", publicID=url)
            except Exception as exc:  # one unreadable record never stops the source
                self.outcomes.listed += 1
                self.on_record_error(None, f"cannot read DCAT record: {type(exc).__name__}: {exc}", url)
                continue
            index = as_index(graph)
            nodes = dataset_nodes(index)
            self.outcomes.listed += max(len(nodes), 1)
            if not nodes:
                self.on_record_error(
                    None, "DCAT record without a dcat:Dataset", url, skipped="unsupported record type"
                )
                continue
            for rec in records_from_graph(index, self.source_id, self._graph_error, ods=False, nodes=nodes):
                fid = rec.extras.get("file_identifier")
                yield replace(rec, remote_id=fid) if fid else rec

    def _graph_error(self, remote_id: str | None, message: str, url: str | None) -> None:
        reason = "duplicate" if message.startswith("duplicate") else "mapping error"
        self.on_record_error(remote_id, message, url, skipped=reason)

    def _map(self, el: etree._Element, page_url: str) -> DatasetRecord | None:
        fid = file_identifier(el)
        where = self.record_url(fid) if fid else page_url
        try:
            return map_iso(el, self.source_id, where if fid else None)
        except IsoRecordError as exc:
            self.on_record_error(fid, str(exc), where)
        except Exception as exc:  # one malformed record never stops the source
            self.on_record_error(fid, f"cannot map ISO record: {type(exc).__name__}: {exc}", where)
        return None

    def ids(self) -> set[str]:
        """Every fileIdentifier of the catalogue, read from brief records (used on incremental runs)."""
        if not self.params.id_listing:
            raise NotImplementedError
        ids: set[str] = set()
        for page, _url in self.pages(None, element_set="brief", size=self.params.id_page_size):
            for el in page.records:
                fid = (
                    file_identifier(el)
                    if etree.QName(el).localname in ISO_RECORDS
                    else el.findtext(_DC_IDENTIFIER)
                )
                if fid and fid.strip():
                    ids.add(fid.strip())
        return ids
