"""The items of a listing: records, record issues, and one `EndOfListing` that says whether it was complete.

`Connector.list_datasets` yields `DatasetRecord`s and `RecordIssue`s in any order, then exactly one
`EndOfListing`. A listing that stops without it (a connector bug) is read as incomplete, so nothing is withdrawn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harvester.records import DatasetRecord

NO_END = "the connector ended its listing without an EndOfListing"


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

    def copy(self) -> Outcomes:
        return Outcomes(self.listed, self.kept, Counter(self.skipped))

    def as_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "kept": self.kept, "skipped": dict(sorted(self.skipped.items()))}


@dataclass(frozen=True)
class RecordIssue:
    """A listed entry that could not be mapped: written to the run's errors, its source goes on."""

    source_id: str
    remote_id: str | None
    message: str
    url: str | None = None

    def as_error(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "remote_id": self.remote_id,
            "message": self.message,
            "url": self.url,
        }


@dataclass(frozen=True)
class EndOfListing:
    """The last item of a listing. `complete=False` (a short listing, a pagination loop, a file not read…) keeps
    the records read but withdraws nothing; `reason`, `missing` (announced but not served) and `url` say why."""

    source_id: str
    complete: bool
    reason: str | None = None
    missing: int | None = None
    url: str | None = None
    outcomes: Outcomes = field(default_factory=Outcomes)

    def as_error(self) -> dict[str, Any]:
        """The `IncompleteListing` entry of errors.jsonl."""
        return {
            "type": "IncompleteListing",
            "source_id": self.source_id,
            "message": self.reason,
            "missing": self.missing,
            "url": self.url,
        }


ListingItem = DatasetRecord | RecordIssue | EndOfListing


@dataclass(frozen=True)
class IdListing:
    """Every remote id a portal lists now (`Connector.list_ids`), and how that id listing ended."""

    ids: set[str]
    end: EndOfListing


@dataclass
class Listing:
    """A listing read to its end (tests, `harvester check`): the records, the issues and the end item."""

    records: list[DatasetRecord]
    issues: list[RecordIssue]
    end: EndOfListing

    @property
    def complete(self) -> bool:
        return self.end.complete

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The issues as the harvest writes them to errors.jsonl."""
        return [issue.as_error() for issue in self.issues]


def read_listing(items: Iterable[ListingItem], source_id: str = "") -> Listing:
    """Sort a listing's items. A listing without exactly one `EndOfListing`, as its last item, is incomplete."""
    records: list[DatasetRecord] = []
    issues: list[RecordIssue] = []
    end = EndWatch(source_id)
    for item in items:
        end.saw(item)
        if isinstance(item, EndOfListing):
            continue
        if isinstance(item, RecordIssue):
            issues.append(item)
        else:
            records.append(item)
    return Listing(records, issues, end.result(Outcomes(len(records) + len(issues), len(records))))


class EndWatch:
    """Follows a listing for its end: `saw(item)` for every item; `result()` is its EndOfListing, or an
    incomplete one when there was none, several, or items after it."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self.ends: list[EndOfListing] = []
        self.after_end = False

    def saw(self, item: ListingItem) -> None:
        if isinstance(item, EndOfListing):
            self.ends.append(item)
        else:
            self.after_end = self.after_end or bool(self.ends)

    def result(self, counted: Outcomes) -> EndOfListing:
        """The end of the listing; `counted` are the outcomes assumed when the connector gave none."""
        if len(self.ends) == 1 and not self.after_end:
            return self.ends[0]
        if not self.ends:
            return missing_end(self.source_id, counted)
        reason = "items after the EndOfListing" if self.after_end else "several EndOfListing items"
        return missing_end(self.source_id, self.ends[0].outcomes, f"the connector sent {reason}")


def missing_end(source_id: str, outcomes: Outcomes, reason: str = NO_END) -> EndOfListing:
    """The end assumed for a listing that did not say how it ended: incomplete, so nothing is withdrawn."""
    return EndOfListing(source_id, complete=False, reason=reason, outcomes=outcomes)
