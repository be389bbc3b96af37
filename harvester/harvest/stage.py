"""The harvest stage: one source at a time (a work unit), connector → canonical snapshot, with safe withdrawals.

The parent holds each source's lock and opens its run row, the unit (`run_unit`, in a thread or a process) lists
and writes the source's catalogue, and `commit` in the parent is the one place that stores what the unit found:
the cursor, the HTTP validators and the run's result. A unit that never reaches `commit` (a crash, a kill) leaves
the previous cursor and validators as they were; its run row is then closed as interrupted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from harvester.config import Config, SourceConfig
from harvester.connectors import build_connector
from harvester.connectors.base import Connector
from harvester.diskspace import disk_guard
from harvester.errors import EXIT_ABORTED, ConfigError, DiskFullError, HarvesterError, LockedError
from harvester.harvest.source import Progress, SourceResult, harvest_listing
from harvester.harvest.staged import staging
from harvester.http import HttpClient
from harvester.http_hosts import errors_by_host
from harvester.layout import catalog_dir, run_dir
from harvester.redact import redact_obj
from harvester.runner import ExecutorKind, run_units
from harvester.runreport import write_html_report
from harvester.runs import append_errors, new_run_id, stage_exit_code, write_report
from harvester.runtime import RuntimeSpec, bound, live
from harvester.state import StateBackend

log = logging.getLogger(__name__)

__all__ = ["HarvestOutcome", "HarvestReport", "HarvestUnit", "Progress", "SourceResult"]


@dataclass
class HarvestReport:
    """The harvest stage's report (`--json`, report.json): one result per source."""

    run_id: str
    started_at: str
    finished_at: str | None = None
    sources: list[SourceResult] = field(default_factory=list)
    report_path: str | None = None
    error: str | None = None  # what stopped the whole stage (a full disk)
    unreachable_hosts: list[dict[str, Any]] = field(default_factory=list)  # the HTTP client's circuit breaker
    kind: ClassVar[str] = "harvest"

    def statuses(self) -> list[str]:
        return [s.status for s in self.sources]

    @property
    def exit_code(self) -> int:
        return stage_exit_code(self.statuses(), stopped_by=EXIT_ABORTED if self.error else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": "harvest",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "error": self.error,
            "sources": [asdict(s) for s in self.sources],
            "errors_by_host": errors_by_host([e for s in self.sources for e in s.errors]),
            "unreachable_hosts": self.unreachable_hosts,
        }


@dataclass(frozen=True)
class HarvestUnit:
    """One source to harvest: plain data, picklable."""

    source: SourceConfig
    run_id: str
    full: bool = False


@dataclass
class HarvestOutcome:
    """What a unit returns: its result, and what `commit` stores (the unit writes no state)."""

    result: SourceResult
    cursor: datetime | None = None  # the newest `modified` of a complete listing (None: keep the cursor)
    validators: dict[str, dict[str, str]] = field(default_factory=dict)  # HTTP validators read on the way
    fatal: dict[str, Any] | None = None  # a full disk (DiskFullError attrs): the run stops after commit


def make_connector(source: SourceConfig, http: HttpClient) -> Connector:
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
    return build_connector(
        source.type, source.id, source.url, source.params, http, policy=source.http.policy(), auth=auth
    )


def plan_units(
    config: Config, source_ids: list[str], *, run_id: str, full: bool = False
) -> list[HarvestUnit]:
    return [HarvestUnit(config.source(sid), run_id, full) for sid in source_ids]


def run_unit(unit: HarvestUnit, spec: RuntimeSpec) -> HarvestOutcome:
    """Harvest one source with this process's state store (read only) and HTTP client for `spec`."""
    rt = live(spec)
    return harvest_unit(
        unit.source, data_dir=spec.data, state=rt.state, http=rt.http, full=unit.full, progress=rt.progress
    )


def harvest_unit(
    source: SourceConfig,
    *,
    data_dir: Path,
    state: StateBackend,
    http: HttpClient,
    full: bool = False,
    progress: Progress | None = None,
) -> HarvestOutcome:
    """List one source into `catalog/<id>/`. Never raises for a source failure: the outcome says what happened."""
    result = SourceResult(source.id)
    outcome = HarvestOutcome(result)
    t0 = time.monotonic()
    sent0 = http.requests_by_source[source.id]
    with staging(http) as staged:
        try:
            with (
                disk_guard(catalog_dir(data_dir, source.id), "harvest"),
                http.listing_deadline(source.id, source.http.listing_deadline),
            ):
                connector = make_connector(source, http)
                outcome.cursor = harvest_listing(connector, source, data_dir, state, full, result, progress)
        except DiskFullError as exc:  # the whole run stops: every other source would meet the same full disk
            result.status, result.error = "failed", str(exc)
            outcome.fatal = {**exc.attrs(), "source_id": exc.source_id or source.id}
        except HarvesterError as exc:
            result.status, result.error = "failed", str(exc)
            result.errors.append({**exc.attrs(), "source_id": exc.source_id or source.id})
            log.error("source %s failed: %s", source.id, exc, extra={"source_id": source.id})
        except Exception as exc:  # an unexpected bug in one source must not stop the others
            result.status = "failed"
            result.error = f"unexpected {type(exc).__name__}: {exc}"
            result.errors.append({"type": type(exc).__name__, "message": str(exc), "source_id": source.id})
            log.exception("source %s crashed", source.id, extra={"source_id": source.id})
    outcome.validators = staged
    result.requests = http.requests_by_source[source.id] - sent0
    result.seconds = round(time.monotonic() - t0, 3)
    return outcome


def commit_source(outcome: HarvestOutcome, state: StateBackend, run_id: str) -> SourceResult:
    """In the parent: store what one unit found (validators, the cursor of a complete listing, the run)."""
    result = outcome.result
    for key, validators in outcome.validators.items():
        state.write_validators(key, validators)
    if outcome.cursor is not None and result.status != "failed":
        old = state.read_cursor(result.source_id)
        state.write_cursor(result.source_id, max(outcome.cursor, old) if old is not None else outcome.cursor)
    if outcome.fatal is not None:
        with suppress(DiskFullError):
            state.finish_run(run_id, result.source_id, result.status, _summary(result))
        return result
    state.finish_run(run_id, result.source_id, result.status, _summary(result))
    log.info(
        "source %s: %s (%s), listed %d, new %d, changed %d, withdrawn %d, record errors %d, %d requests, %.1fs",
        result.source_id,
        result.status,
        result.mode,
        result.listed,
        result.created,
        result.updated,
        result.withdrawn,
        result.record_errors,
        result.requests,
        result.seconds,
        extra={"source_id": result.source_id, "run_id": run_id, "stage": "harvest", "event": "source_done"},
    )
    return result


def _summary(r: SourceResult) -> dict[str, Any]:
    return redact_obj({k: v for k, v in asdict(r).items() if k != "errors"})  # kept in the state store


@contextmanager
def opened(units: Sequence[HarvestUnit], state: StateBackend) -> Iterator[dict[str, SourceResult]]:
    """In the parent, around the units and their commit: each source's lock, and its run row opened.
    Yields the results of the sources that are locked by another run (those are not run)."""
    locked: dict[str, SourceResult] = {}
    with ExitStack() as stack:
        for unit in units:
            sid = unit.source.id
            try:
                stack.enter_context(state.lock(f"source-{sid}"))
            except LockedError as exc:
                locked[sid] = SourceResult(sid, status="locked", error=str(exc))
                continue
            state.start_run(unit.run_id, sid, "harvest")
        yield locked


def commit(
    report: HarvestReport,
    outcomes: Sequence[HarvestOutcome | SourceResult],
    state: StateBackend,
    data_dir: Path,
) -> HarvestReport:
    """In the parent, the one place the stage writes state: each source's validators, cursor and run, then the
    run report and errors.jsonl. A full disk met by a unit stops the run here, once all is stored."""
    fatal: dict[str, Any] | None = None
    report.sources = []
    for outcome in outcomes:
        if isinstance(outcome, SourceResult):  # locked: nothing ran
            report.sources.append(outcome)
            continue
        report.sources.append(commit_source(outcome, state, report.run_id))
        fatal = fatal or outcome.fatal
    if fatal is not None:  # the run stops; its folder says why if a few bytes are left for it
        report.error = fatal["message"]
        with suppress(DiskFullError), disk_guard(run_dir(data_dir, report.run_id), "report"):
            _write_outputs(report, data_dir)
        raise DiskFullError(
            fatal["message"],
            source_id=fatal.get("source_id"),
            stage=fatal.get("stage"),
            hint=fatal.get("hint"),
        )
    _write_outputs(report, data_dir)
    return report


def _write_outputs(report: HarvestReport, data_dir: Path) -> None:
    """report.json, the stage's rows of errors.jsonl, and the run's report.html."""
    report.finished_at = datetime.now(UTC).isoformat()
    report.report_path = str(write_report(data_dir, report.run_id, "report.json", report.to_dict()))
    append_errors(data_dir, report.run_id, [e for s in report.sources for e in s.errors])
    write_html_report(data_dir, report.run_id)


def harvest_source(
    source: SourceConfig,
    *,
    data_dir: Path,
    state: StateBackend,
    http: HttpClient,
    run_id: str,
    full: bool = False,
    progress: Progress | None = None,
) -> SourceResult:
    """Harvest one source in this thread: lock, open the run, the unit's work, then its commit."""
    unit = HarvestUnit(source, run_id, full)
    with opened([unit], state) as locked:
        if source.id in locked:
            return locked[source.id]
        outcome = harvest_unit(
            source, data_dir=data_dir, state=state, http=http, full=full, progress=progress
        )
        result = commit_source(outcome, state, run_id)
        if outcome.fatal is not None:
            fatal = outcome.fatal
            raise DiskFullError(fatal["message"], stage=fatal.get("stage"), hint=fatal.get("hint"))
        return result


def harvest_sources(
    config: Config,
    source_ids: list[str],
    *,
    data_dir: Path,
    state: StateBackend,
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
    spec = replace(RuntimeSpec.for_data_dir(data_dir, state.url), deadline=http.run_deadline)
    with opened(units, state) as locked:
        todo = [u for u in units if u.source.id not in locked]
        # units run in this process's threads share the parent's HTTP client and state store
        with bound(spec, state, http, progress):
            done = iter(run_units(run_unit, todo, spec, workers=workers, kind=executor))
        report.unreachable_hosts = http.breaker.report()
        outcomes = [locked[u.source.id] if u.source.id in locked else next(done) for u in units]
        return commit(report, outcomes, state, data_dir)
