"""The work of one harvest unit: read a connector's listing items into a snapshot, withdrawing only when safe.

It reads the state store (the cursor) but writes nothing to it: what the parent's `commit` must store (the new
cursor) is returned. The catalogue files of the source are written here (atomically, see catalog.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester.catalog import Defaults, licence_share, read_catalog, record_rows, write_catalog
from harvester.config import SourceConfig
from harvester.connectors.base import Connector
from harvester.connectors.listing import EndOfListing, EndWatch, Outcomes, RecordIssue
from harvester.gcpause import gc_paused
from harvester.snapshot import INDEX_COLUMNS, apply_listing
from harvester.state import StateBackend

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (source_id, datasets listed so far)


@dataclass
class SourceResult:
    source_id: str
    status: str = "ok"  # ok | partial (some records failed, or the listing was incomplete) | failed | locked
    mode: str = "full"  # full | incremental
    listed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    restored: int = 0
    total: int = 0  # datasets in the snapshot after the run (withdrawn included)
    record_errors: int = 0
    missing: int | None = None  # datasets the portal announced but did not serve (incomplete listing)
    # what became of every entry served: {"listed": n, "kept": n, "skipped": {reason: n}}
    outcomes: dict[str, Any] = field(default_factory=dict)
    licences: dict[str, Any] = field(default_factory=dict)  # live datasets with a known licence (catalog.py)
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Read:
    """One listing of a source, read to its end."""

    rows: list[dict[str, Any]]
    res_rows: list[dict[str, Any]]
    max_modified: datetime | None
    present_ids: set[str] | None
    issues: list[RecordIssue]
    ends: list[EndOfListing]  # the listing's, then the id listing's (incremental runs)
    outcomes: Outcomes

    @property
    def complete(self) -> bool:
        return all(end.complete for end in self.ends)


@gc_paused()  # a context decorator: a fresh pause around each call
def harvest_listing(
    connector: Connector,
    source: SourceConfig,
    data_dir: Path,
    state: StateBackend,
    full: bool,
    result: SourceResult,
    progress: Progress | None,
) -> datetime | None:
    """Harvest one source into `catalog/<id>/`; returns the cursor the parent stores (None: keep the old one).

    The cyclic collector is paused meanwhile (gcpause.py: the listing's objects are acyclic and live until the
    snapshot is written; tracing them again and again cost 0.3-0.45 s of a 2.6 s CKAN harvest)."""
    snap = read_catalog(data_dir, source.id, columns=INDEX_COLUMNS)
    previous = (
        snap[0] if snap is not None else None
    )  # the index columns only; read whole if something changed
    cursor = None if (full or previous is None or not connector.incremental) else state.read_cursor(source.id)
    started = datetime.now(UTC)
    defaults = Defaults(license=source.defaults.license, publisher=source.defaults.publisher)

    read = read_listing(connector, cursor, defaults, started, progress, _active_ids(previous))
    if cursor is not None and read.present_ids is not None and previous is not None:
        known = set(previous.column("remote_id").to_pylist()) | {r["remote_id"] for r in read.rows}
        unknown = read.present_ids - known
        if unknown:
            # Datasets we never saw although their modification date is old (made public, moved in by a
            # filter change): only a full listing gives the snapshot a full run would give.
            result.notes.append(
                f"{len(unknown)} dataset(s) appeared without a recent modification: full listing"
            )
            cursor = None
            read = read_listing(connector, None, defaults, started, progress)
    rows, present_ids = read.rows, read.present_ids
    result.mode = "full" if cursor is None else "incremental"
    result.listed = len(rows)
    result.errors.extend(issue.as_error() for issue in read.issues)
    result.record_errors = len(read.issues)

    _report_listing(read, result)
    complete = read.complete
    allow_withdraw = complete
    prev_active = previous.column("withdrawn_at").null_count if previous is not None else 0
    now_total = len(rows) if cursor is None else (len(present_ids) if present_ids is not None else None)
    if allow_withdraw and now_total is not None and prev_active:
        share = 1 - now_total / prev_active
        if share > source.max_withdraw_share:
            allow_withdraw = False
            result.notes.append(
                f"listing shrank from {prev_active} to {now_total} datasets ({share:.0%} > max_withdraw_share "
                f"{source.max_withdraw_share:.0%}): treated as incomplete, nothing withdrawn"
            )

    def load_previous() -> tuple[pa.Table, pa.Table]:
        full_snapshot = read_catalog(data_dir, source.id)
        assert full_snapshot is not None
        return full_snapshot

    merged = apply_listing(
        previous,
        load_previous,
        rows,
        read.res_rows,
        full=cursor is None,
        present_ids=present_ids,
        allow_withdraw=allow_withdraw,
        now=started,
    )
    if merged.datasets is not None and merged.resources is not None:
        write_catalog(data_dir, source.id, merged.datasets, merged.resources)
        result.licences = licence_share(merged.datasets)
    elif (kept := read_catalog(data_dir, source.id, ["license_id", "withdrawn_at"])) is not None:
        result.licences = licence_share(kept[0])
    result.created, result.updated = len(merged.created), len(merged.updated)
    result.unchanged, result.withdrawn, result.restored = (
        merged.unchanged,
        len(merged.withdrawn),
        len(merged.restored),
    )
    result.total = merged.total
    if result.record_errors or not complete:
        result.status = "partial"
    return read.max_modified if complete else None


def _active_ids(index: pa.Table | None) -> set[str] | None:
    """The remote ids of the previous snapshot's datasets that are not withdrawn."""
    if index is None:
        return None
    # to_pylist, not `is_valid()`: a compute function, whose module costs ~80 ms to import on an unchanged re-run
    gone = index.column("withdrawn_at").to_pylist()
    return {rid for rid, g in zip(index.column("remote_id").to_pylist(), gone, strict=True) if g is None}


def _report_listing(read: Read, result: SourceResult) -> None:
    """Outcome counts, skip reasons and incompleteness of the listing, into the source result."""
    out = read.outcomes
    result.outcomes = out.as_dict()
    if out.skipped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(out.skipped.items()))
        result.notes.append(f"{out.listed} listed, {out.kept} kept, skipped: {reasons}")
    short = [end for end in read.ends if not end.complete]
    for end in short:
        result.notes.append(f"listing incomplete ({end.reason}): nothing withdrawn")
        result.errors.append(end.as_error())
    missing = [end.missing for end in short if end.missing]
    if missing:
        result.missing = sum(missing)
    if short and result.error is None:
        result.error = "; ".join(str(end.reason) for end in short)


def read_listing(
    connector: Connector,
    since: datetime | None,
    defaults: Defaults,
    started: datetime,
    progress: Progress | None,
    known_active: set[str] | None = None,
) -> Read:
    """Consume the listing's items: records become rows (a repeated dataset key or a record that can't be
    normalised is dropped, as an issue for the latter), issues are kept, the EndOfListing says how it ended.

    An incremental run (`since`) then learns which datasets are still listed: from counts when they prove that
    nothing was deleted (`_undeleted`), else from the connector's id listing."""
    rows: list[dict[str, Any]] = []
    res_rows: list[dict[str, Any]] = []
    issues: list[RecordIssue] = []
    drops: list[str] = []
    seen: set[str] = set()
    max_modified: datetime | None = None
    watch = EndWatch(connector.source_id)
    records = 0
    for item in connector.list_datasets(since=since):
        watch.saw(item)
        if isinstance(item, EndOfListing):
            continue
        if isinstance(item, RecordIssue):
            issues.append(item)
            continue
        rec = item
        records += 1
        if rec.dataset_key in seen:
            drops.append("duplicate")
            continue
        seen.add(rec.dataset_key)
        try:
            row, rr = record_rows(rec, defaults, started)
        except Exception as exc:
            issues.append(
                RecordIssue(
                    connector.source_id,
                    rec.remote_id,
                    f"cannot normalise: {type(exc).__name__}: {exc}",
                    rec.remote_url,
                )
            )
            drops.append("mapping error")
            continue
        rows.append(row)
        res_rows.extend(rr)
        if rec.modified is not None and (max_modified is None or rec.modified > max_modified):
            max_modified = rec.modified
        if progress is not None and len(rows) % 100 == 0:
            progress(connector.source_id, len(rows))
    if progress is not None:
        progress(connector.source_id, len(rows))
    end = watch.result(Outcomes(listed=records + len(issues), kept=records))
    outcomes = end.outcomes.copy()
    for reason in drops:
        outcomes.drop(reason)
    present_ids: set[str] | None = None
    ends = [end]
    if since is not None:
        present_ids = _undeleted(connector, known_active, rows) if end.complete else None
        if present_ids is None:
            try:
                listed = connector.list_ids()
            except NotImplementedError:
                listed = None
            if listed is not None:  # an id listing short of its count is an incomplete listing too
                present_ids, ends = listed.ids, [end, listed.end]
    return Read(rows, res_rows, max_modified, present_ids, issues, ends, outcomes)


def _undeleted(
    connector: Connector, known_active: set[str] | None, rows: list[dict[str, Any]]
) -> set[str] | None:
    """The ids still listed, when counts prove that none of the known datasets was deleted; else None.

    Every dataset the run listed (modified since the cursor) is present. If the known live datasets were all
    still there, the portal would list them and the new ones: exactly |known ∪ listed| datasets. A deletion
    makes its total smaller, unless a dataset also appeared without being listed, which the id listing alone
    would show (a dataset made public or moved in changes its metadata_modified and is listed). A deletion and
    an addition in the same interval do not cancel out: the added dataset is listed, so |known ∪ listed| is one
    more than the total. Only an exact match skips the id listing; a missing total never does."""
    if known_active is None:
        return None
    total = connector.listed_total()
    if total is None:
        return None
    present = known_active | {row["remote_id"] for row in rows}
    if total != len(present):
        log.info(
            "%s: the portal lists %d datasets, %d known or new: listing the ids",
            connector.source_id,
            total,
            len(present),
        )
        return None
    return present
