"""The harvest stage: one source at a time (a work unit), connector → canonical snapshot, with safe withdrawals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from harvester.catalog import Defaults, licence_share, read_catalog, record_rows, write_catalog
from harvester.config import Config, SourceConfig
from harvester.connectors import get_connector_class
from harvester.connectors.base import BaseConnector, Outcomes
from harvester.diskspace import disk_guard
from harvester.errors import ConfigError, DiskFullError, HarvesterError, LockedError
from harvester.http import HttpClient
from harvester.layout import catalog_dir
from harvester.runner import ExecutorKind, run_units
from harvester.runs import append_errors, new_run_id, stage_exit_code, write_report
from harvester.runtime import RuntimeSpec, bound, live
from harvester.snapshot import INDEX_COLUMNS, apply_listing
from harvester.state import StateStore

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
class HarvestReport:
    """The harvest stage's report (`--json`, report.json): one result per source."""

    run_id: str
    started_at: str
    finished_at: str | None = None
    sources: list[SourceResult] = field(default_factory=list)
    report_path: str | None = None
    kind: ClassVar[str] = "harvest"

    def statuses(self) -> list[str]:
        return [s.status for s in self.sources]

    @property
    def exit_code(self) -> int:
        return stage_exit_code(self.statuses())

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": "harvest",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "sources": [asdict(s) for s in self.sources],
        }


def make_connector(source: SourceConfig, http: HttpClient) -> BaseConnector:
    cls = get_connector_class(source.type)
    auth: dict[str, str] = {}
    if source.auth:
        token = source.token()
        if not token:
            raise ConfigError(
                f"environment variable {source.auth.token_env} is not set",
                source_id=source.id,
                stage="harvest",
            )
        auth = {"token": token}
        if source.auth.header:
            auth["header"] = source.auth.header
    return cls(source.id, source.url, source.params, http, policy=source.http.policy(), auth=auth)


def harvest_source(
    source: SourceConfig,
    *,
    data_dir: Path,
    state: StateStore,
    http: HttpClient,
    run_id: str,
    full: bool = False,
    progress: Progress | None = None,
) -> SourceResult:
    """Harvest one source into `catalog/<id>/`. Never raises for a source failure: the result says what happened."""
    result = SourceResult(source.id)
    t0 = time.monotonic()
    sent0 = http.requests_by_source[source.id]
    try:
        with state.lock(f"source-{source.id}"):
            state.start_run(run_id, source.id, "harvest")
            try:
                with disk_guard(catalog_dir(data_dir, source.id), "harvest"):
                    _harvest_locked(source, data_dir, state, http, full, result, progress)
            except (
                DiskFullError
            ) as exc:  # the whole run stops: every other source would meet the same full disk
                result.status, result.error = "failed", str(exc)
                with suppress(DiskFullError):
                    state.finish_run(run_id, source.id, result.status, _summary(result))
                raise
            except HarvesterError as exc:
                result.status = "failed"
                result.error = str(exc)
                result.errors.append({**exc.attrs(), "source_id": exc.source_id or source.id})
                log.error(
                    "source %s failed: %s", source.id, exc, extra={"source_id": source.id, "run_id": run_id}
                )
            except Exception as exc:  # an unexpected bug in one source must not stop the others
                result.status = "failed"
                result.error = f"unexpected {type(exc).__name__}: {exc}"
                result.errors.append(
                    {"type": type(exc).__name__, "message": str(exc), "source_id": source.id}
                )
                log.exception(
                    "source %s crashed", source.id, extra={"source_id": source.id, "run_id": run_id}
                )
            result.requests = http.requests_by_source[source.id] - sent0
            result.seconds = round(time.monotonic() - t0, 3)
            state.finish_run(run_id, source.id, result.status, _summary(result))
            log.info(
                "source %s: %s (%s), listed %d, new %d, changed %d, withdrawn %d, record errors %d, %d requests, %.1fs",
                source.id,
                result.status,
                result.mode,
                result.listed,
                result.created,
                result.updated,
                result.withdrawn,
                result.record_errors,
                result.requests,
                result.seconds,
                extra={"source_id": source.id, "run_id": run_id, "stage": "harvest", "event": "source_done"},
            )
    except LockedError as exc:
        result.status = "locked"
        result.error = str(exc)
    return result


def _summary(r: SourceResult) -> dict[str, Any]:
    return {k: v for k, v in asdict(r).items() if k != "errors"}


def _harvest_locked(
    source: SourceConfig,
    data_dir: Path,
    state: StateStore,
    http: HttpClient,
    full: bool,
    result: SourceResult,
    progress: Progress | None,
) -> None:
    connector = make_connector(source, http)
    snap = read_catalog(data_dir, source.id, columns=INDEX_COLUMNS)
    previous = (
        snap[0] if snap is not None else None
    )  # the index columns only; read whole if something changed
    cursor = None if (full or previous is None or not connector.incremental) else state.read_cursor(source.id)
    started = datetime.now(UTC)
    defaults = Defaults(license=source.defaults.license, publisher=source.defaults.publisher)

    rows, res_rows, max_modified, present_ids = _list(connector, cursor, defaults, started, progress)
    if cursor is not None and present_ids is not None and previous is not None:
        known = set(previous.column("remote_id").to_pylist()) | {r["remote_id"] for r in rows}
        unknown = present_ids - known
        if unknown:
            # Datasets we never saw although their modification date is old (made public, moved in by a
            # filter change): only a full listing gives the snapshot a full run would give.
            result.notes.append(
                f"{len(unknown)} dataset(s) appeared without a recent modification: full listing"
            )
            cursor = None
            rows, res_rows, max_modified, present_ids = _list(connector, None, defaults, started, progress)
    result.mode = "full" if cursor is None else "incremental"
    result.listed = len(rows)
    result.errors.extend(connector.record_errors)
    result.record_errors = len(connector.record_errors)

    _report_listing(connector, result)
    allow_withdraw = connector.listing_complete
    prev_active = 0
    if previous is not None:
        prev_active = previous.column("withdrawn_at").null_count
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

    applied = apply_listing(
        previous,
        load_previous,
        rows,
        res_rows,
        full=cursor is None,
        present_ids=present_ids,
        allow_withdraw=allow_withdraw,
        now=started,
    )
    if applied.datasets is not None and applied.resources is not None:
        write_catalog(data_dir, source.id, applied.datasets, applied.resources)
        result.licences = licence_share(applied.datasets)
    elif (kept := read_catalog(data_dir, source.id, ["license_id", "withdrawn_at"])) is not None:
        result.licences = licence_share(kept[0])
    result.created, result.updated = len(applied.created), len(applied.updated)
    result.unchanged, result.withdrawn, result.restored = (
        applied.unchanged,
        len(applied.withdrawn),
        len(applied.restored),
    )
    result.total = applied.total
    if result.record_errors or not connector.listing_complete:
        result.status = "partial"
    if connector.listing_complete:
        old = state.read_cursor(source.id)
        new = max((d for d in (max_modified, old) if d is not None), default=None)
        if new is not None:
            state.write_cursor(source.id, new)


def _report_listing(connector: BaseConnector, result: SourceResult) -> None:
    """Outcome counts, skip reasons and incompleteness of the listing, into the source result."""
    out = connector.outcomes
    result.outcomes = out.as_dict()
    if out.skipped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(out.skipped.items()))
        result.notes.append(f"{out.listed} listed, {out.kept} kept, skipped: {reasons}")
    for entry in connector.incomplete:
        result.notes.append(f"listing incomplete ({entry['message']}): nothing withdrawn")
        result.errors.append(entry)
    missing = [e["missing"] for e in connector.incomplete if e.get("missing")]
    if missing:
        result.missing = sum(missing)
    if connector.incomplete and result.error is None:
        result.error = "; ".join(e["message"] for e in connector.incomplete)


def _list(
    connector: BaseConnector,
    since: datetime | None,
    defaults: Defaults,
    started: datetime,
    progress: Progress | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], datetime | None, set[str] | None]:
    rows: list[dict[str, Any]] = []
    res_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    max_modified: datetime | None = None
    connector.outcomes = Outcomes()  # the counts describe the last listing (a full one after a fallback)
    for rec in connector.list_datasets(since=since):
        if rec.dataset_key in seen:
            connector.outcomes.drop("duplicate")
            continue
        seen.add(rec.dataset_key)
        try:
            row, rr = record_rows(rec, defaults, started)
        except Exception as exc:
            connector.on_record_error(
                rec.remote_id, f"cannot normalise: {type(exc).__name__}: {exc}", rec.remote_url, skipped=None
            )
            connector.outcomes.drop("mapping error")
            continue
        rows.append(row)
        res_rows.extend(rr)
        if rec.modified is not None and (max_modified is None or rec.modified > max_modified):
            max_modified = rec.modified
        if progress is not None and len(rows) % 100 == 0:
            progress(connector.source_id, len(rows))
    if progress is not None:
        progress(connector.source_id, len(rows))
    present_ids: set[str] | None = None
    if since is not None:
        try:
            present_ids = connector.list_ids()
        except NotImplementedError:
            present_ids = None
    return rows, res_rows, max_modified, present_ids


@dataclass(frozen=True)
class HarvestUnit:
    """One source to harvest: plain data, picklable."""

    source: SourceConfig
    run_id: str
    full: bool = False


def plan_units(
    config: Config, source_ids: list[str], *, run_id: str, full: bool = False
) -> list[HarvestUnit]:
    return [HarvestUnit(config.source(sid), run_id, full) for sid in source_ids]


def run_unit(unit: HarvestUnit, spec: RuntimeSpec) -> SourceResult:
    """Harvest one source with this process's state store and HTTP client for `spec`."""
    rt = live(spec)
    return harvest_source(
        unit.source,
        data_dir=spec.data,
        state=rt.state,
        http=rt.http,
        run_id=unit.run_id,
        full=unit.full,
        progress=rt.progress,
    )


def commit(report: HarvestReport, data_dir: Path) -> HarvestReport:
    """In the parent: the run report and errors.jsonl of the harvest stage."""
    report.finished_at = datetime.now(UTC).isoformat()
    report.report_path = str(write_report(data_dir, report.run_id, "report.json", report.to_dict()))
    append_errors(data_dir, report.run_id, [e for s in report.sources for e in s.errors])
    return report


def harvest_sources(
    config: Config,
    source_ids: list[str],
    *,
    data_dir: Path,
    state: StateStore,
    http: HttpClient,
    full: bool = False,
    run_id: str | None = None,
    progress: Progress | None = None,
    workers: int = 2,
    executor: ExecutorKind | None = None,
) -> HarvestReport:
    """Harvest several sources (each an independent unit; `workers` run at once) and write the run report."""
    report = HarvestReport(run_id or new_run_id(), datetime.now(UTC).isoformat())
    units = plan_units(config, source_ids, run_id=report.run_id, full=full)
    spec = RuntimeSpec.for_data_dir(data_dir, state.path)
    # units run in this process's threads share the parent's HTTP client and state store
    with bound(spec, state, http, progress):
        report.sources = run_units(run_unit, units, spec, workers=workers, kind=executor)
    return commit(report, data_dir)
