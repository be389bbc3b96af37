"""The connector protocol and the base model of connector params (unknown keys forbidden)."""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from harvester.connectors.listing import EndOfListing, IdListing, ListingItem, Outcomes, RecordIssue
from harvester.connectors.params import Params
from harvester.http import HttpClient, HttpPolicy
from harvester.paging import PageGuard, PaginationLoop
from harvester.records import DatasetRecord

log = logging.getLogger(__name__)
_NO_TITLE = re.compile(r"\bno (?:dct:)?(?:title|name)\b")


# Alias used inside classes whose `Params` attribute shadows the module-level name.
ParamsModel = Params


# A connector another one delegates to, built for a URL (ODS's `mode: dcat` reads the DCAT export through one).
Delegate = Callable[[str], "Connector"]


@runtime_checkable
class Connector(Protocol):
    """Knows one portal type: lists its datasets. No I/O in the constructor; no state. The harvest's only view
    of a connector."""

    type: ClassVar[str]
    Params: ClassVar[builtins.type[ParamsModel]]
    description: ClassVar[str]
    incremental: ClassVar[bool]
    source_id: str

    def list_datasets(self, since: datetime | None = None) -> Iterator[ListingItem]:
        """Lazily yield a DatasetRecord per remote dataset and a RecordIssue per entry that can't be mapped (one
        bad record never stops its source), then exactly one EndOfListing saying whether the listing was
        complete. `since` is a hint (server- or client-side filter). A failure of the listing raises SourceError.
        """
        ...

    def list_ids(self) -> IdListing:
        """Every remote id currently listed (incremental runs see deletions), or NotImplementedError."""
        ...

    def listed_total(self) -> int | None:
        """How many datasets `list_ids` would list now, from one cheap count query; None when not known. An
        incremental run whose known and new datasets add up to it has had no deletion and lists no ids."""
        ...

    def check(self) -> DatasetRecord | None:
        """Reach the portal and read one record (`harvester check`)."""
        ...


class BaseConnector:
    """The shared lines of a connector: it writes `records(since)`, a generator of DatasetRecords, and reports
    through `on_record_error`, `mark_incomplete`, `check_served`, `loop_ends_listing` and `keep`;
    `list_datasets` turns those into the items of the contract and ends them with the EndOfListing."""

    type: ClassVar[str] = ""
    Params: ClassVar[builtins.type[ParamsModel]] = ParamsModel
    description: ClassVar[str] = ""
    # Whether `since` is applied by the server (True) or only by client-side filtering (False).
    incremental: ClassVar[bool] = False
    # Whether the listing is read page by page (a page bringing no new id is then a loop), and whether the portal
    # announces a total (a listing shorter than it is incomplete). The contract suite tests both.
    paging: ClassVar[bool] = False
    announces_total: ClassVar[bool] = False
    # Header that carries the API token when sources.yaml names none (auth.header).
    auth_header: ClassVar[str] = "Authorization"
    # Connector types this one delegates to (given by the registry's builder as `delegates`, never imported).
    delegates_to: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        source_id: str,
        url: str,
        params: ParamsModel,
        http: HttpClient,
        *,
        policy: HttpPolicy | None = None,
        auth: dict[str, str] | None = None,
        delegates: Mapping[str, Delegate] | None = None,
    ) -> None:
        self.source_id = source_id
        self.url = url.rstrip("/") if url else url
        self.params = params
        self.http = http
        self.policy = policy
        self.auth = auth or {}
        self.delegates = dict(delegates or {})
        # The bookkeeping of the listing under way (reset by each `list_datasets`).
        self.outcomes = Outcomes()
        self._issues: list[RecordIssue] = []
        self._incomplete: list[tuple[str, int | None, str | None]] = []

    # -- the contract ---------------------------------------------------------------------------------------
    def list_datasets(self, since: datetime | None = None) -> Iterator[ListingItem]:
        """`records(since)`, with the issues noted on the way, then the EndOfListing."""
        self.outcomes, self._issues, self._incomplete = Outcomes(), [], []
        for item in self.records(since):
            yield from self._pending_issues()
            yield item
        yield from self._pending_issues()
        yield self._end()

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord | RecordIssue]:
        """The connector's listing: a DatasetRecord per dataset kept (through `keep`)."""
        raise NotImplementedError

    def _pending_issues(self) -> Iterator[RecordIssue]:
        issues, self._issues = self._issues, []
        yield from issues

    def _end(self) -> EndOfListing:
        if not self._incomplete:
            return EndOfListing(self.source_id, complete=True, outcomes=self.outcomes.copy())
        missing = [m for _, m, _ in self._incomplete if m]
        return EndOfListing(
            self.source_id,
            complete=False,
            reason="; ".join(reason for reason, _, _ in self._incomplete),
            missing=sum(missing) if missing else None,
            url=next((u for _, _, u in self._incomplete if u), None),
            outcomes=self.outcomes.copy(),
        )

    # -- helpers of `records` -------------------------------------------------------------------------------
    def mark_incomplete(self, reason: str, *, missing: int | None = None, url: str | None = None) -> None:
        """Say that the listing ended short of the whole catalogue (a short listing, a pagination loop, a skipped
        page…): the records read are kept, nothing is withdrawn, the source ends `partial` with this reason."""
        log.warning("%s: listing incomplete: %s", self.source_id, reason)
        self._incomplete.append((reason, missing, url))

    def on_record_error(
        self,
        remote_id: str | None,
        message: str,
        url: str | None = None,
        *,
        skipped: str | None = "mapping error",
    ) -> None:
        """Note a record that could not be mapped (a RecordIssue of the listing); the harvest writes it to errors
        and goes on. `skipped` is the outcome counted for the entry (None when it does not drop a listed entry)."""
        self._issues.append(RecordIssue(self.source_id, remote_id, message, url))
        if skipped == "mapping error" and _NO_TITLE.search(message):
            skipped = "no title"
        if skipped:
            self.outcomes.skip(skipped)

    def keep(self, record: DatasetRecord) -> DatasetRecord:
        """Count a record as kept (every yielded record goes through here)."""
        self.outcomes.kept += 1
        return record

    def map_entries(
        self,
        entries: Iterable[Any],
        *,
        seen: set[str],
        id_of: Callable[[dict[str, Any]], str | None],
        map_entry: Callable[[dict[str, Any], str], DatasetRecord],
        url: str,
        entry_url: Callable[[dict[str, Any]], str] | None = None,
        skip_reason: Callable[[dict[str, Any]], str | None] | None = None,
        since: datetime | None = None,
        is_entry: Callable[[Any], bool] = lambda e: isinstance(e, dict),
        not_entry: str = "dataset entry is not a JSON object",
        name_of: Callable[[dict[str, Any]], str | None] = lambda e: None,
        no_id: str = "dataset without an `id`",
    ) -> Iterator[DatasetRecord]:
        """The decision on each raw entry of a page, counted: listed; then not an object, no id (`name_of` is what
        the issue names it by), duplicate (ids in `seen`), `skip_reason`, mapping error, or older than `since`
        (on the mapped record's `modified`); else kept. `url` is the page, `entry_url` a dataset's page."""
        for entry in entries:
            self.outcomes.listed += 1
            if not is_entry(entry):
                self.on_record_error(None, not_entry, url, skipped="not an object")
                continue
            rid = id_of(entry)
            if rid is None:
                self.on_record_error(name_of(entry), no_id, url, skipped="no id")
                continue
            if rid in seen:  # repeated across pages when the catalogue changes during paging
                self.outcomes.skip("duplicate")
                continue
            seen.add(rid)
            reason = skip_reason(entry) if skip_reason is not None else None
            if reason:
                self.outcomes.skip(reason)
                continue
            try:
                record = map_entry(entry, rid)
            except Exception as exc:  # one bad record never stops its source
                where = entry_url(entry) if entry_url is not None else url
                self.on_record_error(rid, f"cannot map dataset: {type(exc).__name__}: {exc}", where)
                continue
            if since is not None and record.modified is not None and record.modified < since:
                self.outcomes.skip("not modified since the cursor")
                continue
            yield self.keep(record)

    def check_served(self, guard: PageGuard, url: str | None = None, what: str = "datasets") -> None:
        """After a listing read to its end: fewer distinct ids than the announced total is an incomplete listing."""
        missing = guard.missing()
        if missing:
            self.mark_incomplete(
                f"short listing: the portal announced {guard.announced} {what} but served {guard.served} "
                f"distinct ones ({missing} missing)",
                missing=missing,
                url=url,
            )

    @contextmanager
    def loop_ends_listing(self) -> Iterator[None]:
        """Around a listing: a pagination loop ends it as incomplete, keeping the records read before."""
        try:
            yield
        except PaginationLoop as exc:
            self.mark_incomplete(exc.message, url=exc.url)

    def _headers(self) -> dict[str, str]:
        """The auth header, when the source has a token."""
        token = self.auth.get("token")
        return {self.auth.get("header") or self.auth_header: token} if token else {}

    def list_ids(self) -> IdListing:
        """`ids()`, with how that id listing ended; the bookkeeping of the last listing is left as it was."""
        listing = self.outcomes, self._issues, self._incomplete
        self.outcomes, self._issues, self._incomplete = Outcomes(), [], []
        try:
            ids = self.ids()
            return IdListing(ids, self._end())
        finally:
            self.outcomes, self._issues, self._incomplete = listing

    def listed_total(self) -> int | None:
        """Optional (see the protocol): connectors without a cheap count return None."""
        return None

    def ids(self) -> set[str]:
        """Optional: the remote ids of every dataset currently listed, cheaply, so that incremental runs see
        deletions. Connectors that can't do it better than a full listing leave this unimplemented."""
        raise NotImplementedError

    def check(self) -> DatasetRecord | None:
        """Reach the portal and read one record (`harvester check`)."""
        for item in self.list_datasets():
            if isinstance(item, DatasetRecord):
                return item
        return None
