"""The listing items: how a listing's end is read when a connector gets it wrong (pure unit tests)."""

from __future__ import annotations

from harvester.connectors.listing import (
    NO_END,
    EndOfListing,
    ListingItem,
    Outcomes,
    RecordIssue,
    read_listing,
)
from harvester.records import DatasetRecord


def _record(rid: str) -> DatasetRecord:
    return DatasetRecord(source_id="s", remote_id=rid, title=f"Dataset {rid}")


END = EndOfListing("s", complete=True, outcomes=Outcomes(listed=3, kept=2))
ISSUE = RecordIssue("s", "c", "cannot map dataset: ValueError: no title", "http://portal/c")


def test_a_listing_with_its_end_is_read_as_it_says() -> None:
    listing = read_listing([_record("a"), ISSUE, _record("b"), END])
    assert [r.remote_id for r in listing.records] == ["a", "b"] and listing.issues == [ISSUE]
    assert listing.end is END and listing.complete
    assert listing.errors == [
        {"source_id": "s", "remote_id": "c", "message": ISSUE.message, "url": "http://portal/c"}
    ]


def test_a_listing_without_a_proper_end_is_incomplete() -> None:
    items: list[ListingItem] = [_record("a"), ISSUE, _record("b")]
    no_end = read_listing(items, "s")
    assert not no_end.complete and no_end.end.reason == NO_END and no_end.end.source_id == "s"
    assert no_end.end.outcomes.as_dict() == {"listed": 3, "kept": 2, "skipped": {}}
    after = read_listing([_record("a"), END, _record("b")], "s")
    assert not after.complete and "after the EndOfListing" in str(after.end.reason)
    assert len(after.records) == 2
    twice = read_listing([_record("a"), END, END], "s")
    assert not twice.complete and "several" in str(twice.end.reason)


def test_an_incomplete_end_is_the_errors_entry_of_the_run() -> None:
    end = EndOfListing("s", complete=False, reason="short listing", missing=4, url="http://portal/api")
    assert end.as_error() == {
        "type": "IncompleteListing",
        "source_id": "s",
        "message": "short listing",
        "missing": 4,
        "url": "http://portal/api",
    }
