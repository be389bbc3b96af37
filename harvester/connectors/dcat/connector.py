"""DCAT catalogues (DCAT-AP 2/3, GeoDCAT-AP) in RDF/XML, Turtle or JSON-LD, following Hydra paging."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from harvester.connectors.base import BaseConnector
from harvester.connectors.dcat import page_memo
from harvester.connectors.dcat.page_memo import Entry, PageMemo, mapping_code
from harvester.connectors.dcat.params import DcatParams
from harvester.connectors.dcat.parse import dataset_nodes, detect_format, parse_rdf, records_from_graph
from harvester.connectors.dcat.rdf_index import Index, Term, is_iri, text
from harvester.connectors.dcat.rdf_terms import HYDRA
from harvester.dates import to_iso
from harvester.gcpause import gc_paused
from harvester.http import Response
from harvester.paging import PageGuard
from harvester.prefetch import Prefetcher
from harvester.records import DatasetRecord
from harvester.xmlsafe import check_prolog

log = logging.getLogger(__name__)

ACCEPT = "application/rdf+xml, text/turtle;q=0.9, application/ld+json;q=0.8, application/xml;q=0.5, */*;q=0.1"
_NEXT = (HYDRA.next, HYDRA.nextPage)
_ODS_EXPORT_URL = re.compile(r"/api/explore/v2\.\d+/catalog/exports/dcat")
_Fetched = tuple[Response, PageMemo | None, bool]  # the response, its memo, whether the XML guard ran


class DcatConnector(BaseConnector):
    type = "dcat"
    Params = DcatParams
    description = (
        "DCAT-AP 2/3 and GeoDCAT-AP catalogue documents (RDF/XML, Turtle, JSON-LD) with Hydra paging "
        "(hydra:next, legacy hydra:nextPage); the url is the catalogue document."
    )
    incremental = True
    paging = True
    announces_total = True

    params: DcatParams
    # Ids of every dataset read by the last unfiltered listing, so that `ids` costs no request.
    _present: set[str] | None = None
    _errored: set[str]  # ids of the datasets the listing under way could not map (still present)
    pages_unparsed = (
        0  # pages whose records came from their memo (unchanged body), counted for reports and tests
    )

    def _first_url(self, since: datetime | None) -> str:
        if since is None or not self.params.modified_since_param:
            return self.url
        parts = urlsplit(self.url)
        extra = urlencode({self.params.modified_since_param: to_iso(since)})
        return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))

    def pages(self, since: datetime | None = None) -> Iterator[tuple[str, PageMemo]]:
        """Fetch and map each page of the catalogue, following Hydra next links with a loop guard.

        Pages are fetched conditionally; a page whose body is the one a memo was read from (a 304, or the same
        bytes again) is not parsed: its records, errors, ids and next link come from the memo (`page_memo.py`).
        A repeated next link, a page identical to the one before or a page bringing no dataset not already read
        is a pagination loop (PaginationLoop); a catalogue read to its end with fewer datasets than its
        hydra:totalItems is marked incomplete.

        The next page is fetched (with its memo looked up and its XML guard run) in a background thread as soon
        as its link is known, right after the parse of the page before and while that page is mapped: its HTTP
        wait and the guard's libxml2 pass (which releases the GIL) overlap the mapping, ~8% of a large
        catalogue's harvest (alternating runs, README Benchmarks). Its errors are raised when the page is reached, as without the prefetch; a listing
        stopped early may have fetched one page more than it read."""
        guard = PageGuard(self.source_id, max_pages=self.params.max_pages)
        mapping = f"{mapping_code()} {self.source_id} {self._ods()} {self.params.identity}"
        ahead: tuple[str, Future[_Fetched]] | None = None  # the next page, fetched in the background

        with Prefetcher(f"dcat-{self.source_id}") as pool:

            def prefetch(next_url: str | None) -> None:
                nonlocal ahead
                if next_url and ahead is None and not guard.seen_token(next_url):
                    ahead = (next_url, pool.submit(self._fetch, next_url, mapping))

            url: str | None = self._first_url(since)
            while url:
                guard.check(token=url, url=url)
                pending, ahead = ahead, None
                fetched = pending[1].result() if pending and pending[0] == url else self._fetch(url, mapping)
                resp, memo, checked = fetched
                guard.check_content(resp.content, url=resp.url)

                def read(
                    next_url: str | None, ids: list[str | None], total: int | None, page_url: str = resp.url
                ) -> None:
                    # a page bringing no new id ends the listing here, before the next page is asked for
                    guard.page_ids(ids, url=page_url, total=total)
                    prefetch(next_url)

                if memo is None:
                    with gc_paused():
                        memo = self._read_page(resp, url, read, prolog_checked=checked)
                    if resp.headers.get("ETag") or resp.headers.get("Last-Modified"):
                        page_memo.save(self.http.cache_dir, url, resp.content, mapping, memo, self.source_id)
                else:
                    self.pages_unparsed += 1
                    log.debug("page %s unchanged: %d records from its memo", resp.url, len(memo.entries))
                    read(memo.next_url, memo.ids, memo.total)
                self.outcomes.listed += len(memo.ids)
                for issue in memo.errors:
                    self._graph_error(*issue)
                yield resp.url, memo
                url = memo.next_url
        self.check_served(guard, self.url)

    def _fetch(self, url: str, mapping: str) -> _Fetched:
        """One page: the response, its memo when the body is the one the memo was read from, and whether the
        XML guard (`check_prolog`) was run on it (it is run on every RDF/XML body that will be parsed)."""
        resp = self.http.fetch(
            url,
            headers={"Accept": ACCEPT, **self._headers()},
            conditional=True,
            policy=self.policy,
            source_id=self.source_id,
        )
        memo = page_memo.load(self.http.cache_dir, url, resp.content, mapping, self.source_id)
        if (
            memo is not None
            or detect_format(resp.content, resp.headers.get("Content-Type"), resp.url) != "xml"
        ):
            return resp, memo, False
        check_prolog(resp.content, url=resp.url, source_id=self.source_id)
        return resp, None, True

    def _read_page(
        self,
        resp: Response,
        requested: str,
        on_read: Callable[[str | None, list[str | None], int | None], None] = lambda *_: None,
        *,
        prolog_checked: bool = False,
    ) -> PageMemo:
        """Parse and map one page; `on_read` is given the next page's URL, the page's dataset ids and its total
        as soon as they are known, before the mapping (it may raise PaginationLoop: the page is then not mapped)."""
        page_url = resp.url
        graph = parse_rdf(
            resp.content,
            resp.headers.get("Content-Type"),
            page_url,
            source_id=self.source_id,
            prolog_checked=prolog_checked,
        )
        nodes = dataset_nodes(graph)
        memo = PageMemo(
            next_url=next_page(graph, page_url, requested),
            total=_total_items(graph),
            ids=[n if is_iri(n) else None for n in nodes],  # type: ignore[misc]
        )
        on_read(memo.next_url, memo.ids, memo.total)
        memo.entries = [
            Entry.of(rec)
            for rec in records_from_graph(
                graph,
                self.source_id,
                lambda *issue: memo.errors.append(issue),
                ods=self._ods(),
                prefer_identifier=self.params.identity == "identifier",
                nodes=nodes,
            )
        ]
        return memo

    def _ods(self) -> bool | None:
        """ODS identity rules: forced, detected per dataset (ODS export URL), or off."""
        if self.params.identity == "ods":
            return True
        if self.params.identity == "auto" and _ODS_EXPORT_URL.search(self.url or ""):
            return None
        return False

    def _records(self, since: datetime | None) -> Iterator[Entry]:
        """Each distinct dataset of the listing (its record decoded from a page memo only when asked for)."""
        seen: set[str] = set()
        self._errored = set()
        server_filtered = since is not None and bool(self.params.modified_since_param)
        with self.loop_ends_listing():
            for page_url, memo in self.pages(since):
                for entry in memo.entries:
                    if entry.remote_id in seen:
                        log.debug("dataset %s listed again on %s: skipped", entry.remote_id, page_url)
                        self.outcomes.skip("duplicate")
                        continue
                    seen.add(entry.remote_id)
                    yield entry
        if not server_filtered:
            self._present = seen | self._errored

    def _graph_error(self, remote_id: str | None, message: str, url: str | None) -> None:
        reason = "duplicate" if message.startswith("duplicate") else "mapping error"
        if remote_id:
            self._errored.add(remote_id)
        self.on_record_error(remote_id, message, url, skipped=reason)

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        self._present = None
        for entry in self._records(since):
            if since is not None and entry.modified is not None and entry.modified < since:
                self.outcomes.skip("not modified since the cursor")
                continue
            yield self.keep(entry.record())

    def ids(self) -> set[str]:
        """Every dataset id of the catalogue: free after an unfiltered listing, else one full read."""
        if self._present is None:
            for _ in self._records(None):
                pass
        assert self._present is not None
        return set(self._present)


def _total_items(graph: Index) -> int | None:
    """hydra:totalItems of the collection, when the page announces one."""
    for value in graph.all_objects(HYDRA.totalItems):
        try:
            return int(text(value))
        except ValueError:
            continue
    return None


def next_page(graph: Index, page_url: str, requested_url: str | None = None) -> str | None:
    """The Hydra next page (hydra:next of a PartialCollectionView, or legacy hydra:nextPage), absolute.

    When several views are present, the one describing the page just read wins.
    """
    candidates: list[tuple[int, str]] = []
    here = {page_url, requested_url or page_url}
    views: set[Term] = set(graph.all_objects(HYDRA.view))
    for pred in _NEXT:
        for subj, obj in graph.subject_objects(pred):
            target = text(obj).strip()
            if not target:
                continue
            rank = 0 if (is_iri(subj) and subj in here) else 1 if subj in views else 2
            candidates.append((rank, urljoin(page_url, target)))
    if not candidates:
        return None
    candidates.sort()
    return candidates[0][1]
