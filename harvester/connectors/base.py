"""The connector protocol and the base model of connector params (unknown keys forbidden)."""

from __future__ import annotations

import builtins
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from harvester.http import HttpClient, HttpPolicy
from harvester.paging import PageGuard, PaginationLoop
from harvester.records import DatasetRecord

log = logging.getLogger(__name__)
_NO_TITLE = re.compile(r"\bno (?:dct:)?(?:title|name)\b")


class Params(BaseModel):
    """Base of every connector's params model: unknown keys are an error, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Alias used inside classes whose `Params` attribute shadows the module-level name.
ParamsModel = Params


class RecordIssue(Exception):
    """Carried inside a listing for a record that could not be mapped (see `Listing.issues`)."""


@dataclass
class Outcomes:
    """What became of every entry a listing served: kept, or skipped for a reason. `listed` is counted where the
    pages are read, the others where each entry is decided, so `listed == kept + sum(skipped)` is a real check."""

    listed: int = 0
    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def drop(self, reason: str) -> None:
        """A kept record dropped later (by the harvest: duplicate dataset key, normalisation error)."""
        self.kept -= 1
        self.skip(reason)

    def as_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "kept": self.kept, "skipped": dict(sorted(self.skipped.items()))}


@runtime_checkable
class Connector(Protocol):
    """Knows one portal type: lists its datasets as DatasetRecords. No I/O in the constructor; no state."""

    type: ClassVar[str]
    Params: ClassVar[builtins.type[ParamsModel]]
    description: ClassVar[str]

    def list_datasets(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        """Lazily yield one DatasetRecord per remote dataset; `since` is a hint (server- or client-side filter).

        A record that can't be mapped is reported through `on_record_error`, not raised: one bad record never
        stops its source. A failure of the listing itself raises SourceError.
        """
        ...


class BaseConnector:
    """A few shared lines: stores its arguments, offers the record-error hook and the default `check()`."""

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

    def __init__(
        self,
        source_id: str,
        url: str,
        params: ParamsModel,
        http: HttpClient,
        *,
        policy: HttpPolicy | None = None,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.source_id = source_id
        self.url = url.rstrip("/") if url else url
        self.params = params
        self.http = http
        self.policy = policy
        self.auth = auth or {}
        self.record_errors: list[dict[str, Any]] = []
        # Why the listing ended incomplete without failing (see `mark_incomplete`).
        self.incomplete: list[dict[str, Any]] = []
        self.outcomes = Outcomes()

    @property
    def listing_complete(self) -> bool:
        """False once `mark_incomplete` was called: the harvest then withdraws nothing."""
        return not self.incomplete

    def mark_incomplete(self, reason: str, *, missing: int | None = None, url: str | None = None) -> None:
        """Say that the listing ended short of the whole catalogue (a short listing, a pagination loop, a skipped
        page…): the records read are kept, nothing is withdrawn, the source ends `partial` with this reason."""
        log.warning("%s: listing incomplete: %s", self.source_id, reason)
        self.incomplete.append(
            {
                "type": "IncompleteListing",
                "source_id": self.source_id,
                "message": reason,
                "missing": missing,
                "url": url,
            }
        )

    def on_record_error(
        self,
        remote_id: str | None,
        message: str,
        url: str | None = None,
        *,
        skipped: str | None = "mapping error",
    ) -> None:
        """Note a record that could not be mapped; the harvest writes it to errors and goes on. `skipped` is the
        outcome counted for the entry (None when the error does not drop a listed entry)."""
        self.record_errors.append(
            {"source_id": self.source_id, "remote_id": remote_id, "message": message, "url": url}
        )
        if skipped == "mapping error" and _NO_TITLE.search(message):
            skipped = "no title"
        if skipped:
            self.outcomes.skip(skipped)

    def keep(self, record: DatasetRecord) -> DatasetRecord:
        """Count a record as kept (every yielded record goes through here)."""
        self.outcomes.kept += 1
        return record

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

    def list_datasets(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        raise NotImplementedError

    def list_ids(self) -> set[str]:
        """Optional: the remote ids of every dataset currently listed, cheaply, so that incremental runs see
        deletions. Connectors that can't do it better than a full listing leave this unimplemented."""
        raise NotImplementedError

    def check(self) -> DatasetRecord | None:
        """Reach the portal and read one record (`harvester check`)."""
        for record in self.list_datasets():
            return record
        return None
