"""The normalise stage: every tabular resource of a source's catalogue → a typed (Geo)Parquet table.

Shaped like the other stages: `plan_units` (plan.py: one plain unit per resource), a module-level
`run_unit(unit, spec)` that downloads and converts with this process's HTTP client, and `commit` in the parent,
the one place where normalise writes the state store and its index, `tables/<source>/index.parquet`.
Units run on the runner (`--executor local|processes`); sources run one after the other, each under its lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.catalog import read_catalog
from harvester.config import Config, SourceConfig
from harvester.diskspace import disk_guard
from harvester.errors import DiskFullError, HarvesterError, LockedError
from harvester.http import HttpClient
from harvester.interrupt import Terminated
from harvester.layout import run_dir, table_location, tables_dir, tmp_root
from harvester.leftovers import reclaim, run_tmp_dir
from harvester.normalise.archive import ZipLimits
from harvester.normalise.drift import append_schema_changes, diff_columns, schema_changes_path
from harvester.normalise.index import write_index
from harvester.normalise.plan import SourcePlan, adopt_tables, plan_units
from harvester.normalise.report import NormaliseReport, SourceNormalise
from harvester.normalise.resource import ResourceOutcome, ResourceUnit, normalise_resource
from harvester.normalise.schemacheck import check_schemas
from harvester.normalise.staging import discard, promote, stage_units
from harvester.redact import redact_obj, stored_form
from harvester.runner import ExecutorKind, run_units, take_retried
from harvester.runreport import write_html_report
from harvester.runs import append_errors, new_run_id, write_report
from harvester.runtime import RuntimeSpec, bound, live
from harvester.state import StateBackend

__all__ = [
    "NormaliseReport",
    "SourceNormalise",
    "commit",
    "normalise_source",
    "normalise_sources",
    "plan_units",
    "run_unit",
]

log = logging.getLogger(__name__)

OnStart = Callable[[str, int], None]  # (source_id, resources to process)
OnDone = Callable[[str, ResourceOutcome], None]  # called after each resource


def run_unit(unit: ResourceUnit, spec: RuntimeSpec) -> ResourceOutcome:
    """Normalise one resource with this process's HTTP client for `spec` (the unit is plain data)."""
    return normalise_resource(unit, live(spec).http)


def normalise_source(
    source: SourceConfig,
    *,
    data_dir: Path,
    state: StateBackend,
    http: HttpClient,
    run_id: str,
    force: bool = False,
    workers: int = 4,
    max_bytes: int | None = None,
    zip_limits: ZipLimits | None = None,
    on_start: OnStart | None = None,
    on_done: OnDone | None = None,
    work_dir: Path | None = None,
    executor: ExecutorKind | None = None,
) -> SourceNormalise:
    """Normalise one source's tabular resources. Never raises for a resource or source failure.

    Downloads go under `work_dir` (the run's `tmp/<run_id>-<pid>/`; by default `<data_dir>/tmp`)."""
    result = SourceNormalise(source.id)
    t0 = time.monotonic()
    try:
        with state.lock(f"source-{source.id}"):
            state.start_run(run_id, source.id, "normalise")
            try:
                with disk_guard(tables_dir(data_dir, source.id), "normalise"):
                    _normalise_locked(
                        source,
                        data_dir,
                        state,
                        http,
                        run_id,
                        force,
                        workers,
                        max_bytes,
                        zip_limits,
                        on_start,
                        on_done,
                        work_dir,
                        executor,
                        result,
                    )
            except DiskFullError as exc:  # normalise_sources stops there: the next writes would fail too
                result.status, result.error, result.disk_full = "failed", exc.message, True
                result.seconds = round(time.monotonic() - t0, 3)
                with suppress(DiskFullError):
                    state.finish_run(run_id, source.id, result.status, redact_obj(result.summary()))
                return result
            except HarvesterError as exc:
                result.status, result.error = "failed", str(exc)
            except Exception as exc:  # a bug must not stop the other sources
                log.exception("normalise of %s crashed", source.id, extra={"source_id": source.id})
                result.status, result.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
            result.seconds = round(time.monotonic() - t0, 3)
            state.finish_run(run_id, source.id, result.status, redact_obj(result.summary()))
    except LockedError as exc:
        result.status, result.error = "locked", str(exc)
    return result


def _normalise_locked(
    source: SourceConfig,
    data_dir: Path,
    state: StateBackend,
    http: HttpClient,
    run_id: str,
    force: bool,
    workers: int,
    max_bytes: int | None,
    zip_limits: ZipLimits | None,
    on_start: OnStart | None,
    on_done: OnDone | None,
    work_dir: Path | None,
    executor: ExecutorKind | None,
    result: SourceNormalise,
) -> None:
    """Plan, run the units, check schemas and commit; raises DiskFullError after committing what completed."""
    snapshot = read_catalog(data_dir, source.id)
    if snapshot is None:
        result.status = "not_harvested"
        result.error = "no catalogue yet: run `harvester harvest` first"
        return
    plan = plan_units(
        source,
        *snapshot,
        data_dir=data_dir,
        state=state,
        force=force,
        max_bytes=max_bytes,
        zip_limits=zip_limits or ZipLimits(),
        work_dir=work_dir,
    )
    plan.units = adopt_tables(plan.units)
    result.skipped = len(plan.skipped)
    if on_start is not None:
        on_start(source.id, len(plan.units))
    spec = RuntimeSpec.for_data_dir(data_dir, state.url)
    plan.units, real_paths = stage_units(plan.units)  # new tables are put in place at the commit only
    completed: list[ResourceOutcome] = []

    def done(_unit: ResourceUnit, outcome: ResourceOutcome) -> None:
        completed.append(outcome)
        if on_done is not None:
            on_done(source.id, outcome)

    stopped: Terminated | None = None  # SIGTERM: the units under way end, the completed ones are committed
    try:
        try:
            with bound(spec, state, http):
                outcomes = run_units(run_unit, plan.units, spec, workers=workers, kind=executor, on_done=done)
        except Terminated as exc:
            stopped, outcomes = exc, completed
        promote(outcomes, real_paths, data_dir)
        result.schema_invalid = check_schemas(source, data_dir, plan.datasets, outcomes, http)
        commit(plan, outcomes, state, data_dir=data_dir, run_id=run_id, result=result)
    finally:
        discard(plan.units, data_dir)
    if stopped is not None:
        raise stopped
    full = next((o for o in outcomes if o.disk_full), None)
    if full is not None:  # what completed is committed above; the run stops here
        raise DiskFullError(str(full.error), source_id=source.id, url=full.url, stage="normalise")


def commit(
    plan: SourcePlan,
    outcomes: list[ResourceOutcome],
    state: StateBackend,
    *,
    data_dir: Path,
    run_id: str,
    result: SourceNormalise,
) -> SourceNormalise:
    """In the parent: resource state, schema drift and the source's index; the counts into `result`."""
    units = {u.resource_key: u for u in plan.units}
    outcomes = sorted(outcomes, key=lambda o: o.resource_key)
    now = datetime.now(UTC)
    # the index first, then the resource state: a process killed between the two downloads again next time
    write_index(data_dir, plan.source.id, index_rows(plan, outcomes, data_dir, run_id, now))
    changes: list[dict[str, Any]] = []
    for o in outcomes:
        unit = units[o.resource_key]
        if o.status == "ok" or (o.status == "unchanged" and o.sha256):
            state.write_resource_state(
                o.resource_key,
                url=stored_form(unit.url),  # no secret in the state store
                etag=o.etag,
                last_modified=o.last_modified,
                sha256=o.sha256,
                columns=o.columns,
            )
        if o.status == "ok" and unit.previous.columns and o.columns is not None:
            o.schema_changes = diff_columns(list(unit.previous.columns), o.columns)
            meta = {"source_id": plan.source.id, "dataset_key": o.dataset_key, "resource_key": o.resource_key}
            changes.extend({**c, **meta, "run_id": run_id} for c in o.schema_changes)
        result.bytes += o.bytes
        if o.status == "ok":
            result.converted += 1
            result.rows += o.rows or 0
        elif o.status == "unchanged":
            result.unchanged += 1
        else:
            result.failed += 1
    schema_changes_path(data_dir, plan.source.id)  # an older data dir's drift log moves beside the index
    if changes:
        append_schema_changes(data_dir, plan.source.id, changes, now)
        result.schema_changes = len(changes)
    result.resources = outcomes
    if result.failed:
        result.status = "partial"
    return result


def index_rows(
    plan: SourcePlan, outcomes: list[ResourceOutcome], data_dir: Path, run_id: str, now: datetime
) -> list[dict[str, Any]]:
    """One row per catalogue resource, in the catalogue's order; resources not planned keep their last row."""
    by_key = {o.resource_key: o for o in outcomes}
    units = {u.resource_key: u for u in plan.units}
    skipped = set(plan.skipped)
    rows: list[dict[str, Any]] = []
    for res in plan.resources:
        key = res["resource_key"]
        base = {
            "resource_key": key,
            "dataset_key": res["dataset_key"],
            "source_id": plan.source.id,
            "title": res.get("title"),
            "url": stored_form(res["url"]) if res.get("url") else None,  # no secret in the index
            "kind": plan.kinds.get(key),
        }
        o = by_key.get(key)
        if o is None:
            if key in skipped:
                rows.append({**base, "table_status": "skipped", "run_id": run_id, "normalised_at": now})
            elif (prev := plan.previous.get(key)) is not None:  # a withdrawn dataset: its table stays listed
                rows.append({**base, **prev, **{k: base[k] for k in ("title", "source_id")}})
            continue
        row = {**base, "sha256": o.sha256, "run_id": run_id, "normalised_at": now}
        row.update(table_schema=o.table_schema, schema_valid=o.schema_valid, table_status=o.status)
        if o.status in ("ok", "unchanged"):
            row.update(table_path=o.table_path, table_rows=o.rows, table_schema_hash=o.schema_hash)
            row["columns"] = _columns(o.columns)
        else:  # failed: the previous table (if any) stays usable and listed
            last = units[key].previous
            if last.table_path and table_location(data_dir, last.table_path).exists():
                row.update(
                    table_path=last.table_path,
                    table_rows=last.table_rows,
                    table_schema_hash=last.table_schema_hash,
                    columns=_columns(list(last.columns) if last.columns else None),
                )
            row["table_error"] = o.error
        rows.append(row)
    return rows


def _columns(columns: list[tuple[str, str]] | None) -> list[dict[str, str]] | None:
    return None if columns is None else [{"name": n, "type": t} for n, t in columns]


def normalise_sources(
    config: Config,
    source_ids: list[str],
    *,
    data_dir: Path,
    state: StateBackend,
    http: HttpClient,
    run_id: str | None = None,
    force: bool = False,
    workers: int = 4,
    max_bytes: int | None = None,
    zip_limits: ZipLimits | None = None,
    on_start: OnStart | None = None,
    on_done: OnDone | None = None,
    executor: ExecutorKind | None = None,
) -> NormaliseReport:
    """Normalise several sources one after the other (resources in parallel) and write `normalise-report.json`.

    Used by `harvester normalise` and by `harvester run` (pass the run's `run_id` to share its report folder).
    """
    sources = [config.source(sid) for sid in source_ids]
    report = NormaliseReport(run_id or new_run_id(), datetime.now(UTC).isoformat())
    reclaim(data_dir)  # what normalise runs killed earlier left under tmp/ and tables/
    with disk_guard(tmp_root(data_dir), "normalise"), run_tmp_dir(data_dir, report.run_id) as work:
        for src in sources:
            result = normalise_source(
                src,
                data_dir=data_dir,
                state=state,
                http=http,
                run_id=report.run_id,
                force=force,
                workers=workers,
                max_bytes=max_bytes,
                zip_limits=zip_limits,
                on_start=on_start,
                on_done=on_done,
                work_dir=work,
                executor=executor,
            )
            report.sources.append(result)
            if result.disk_full:
                report.error = result.error
                break  # every next source would meet the same full disk
    report.finished_at = datetime.now(UTC).isoformat()
    report.unreachable_hosts = http.breaker.report()
    report.retried = take_retried()
    if report.error:  # say so in the run folder if a few bytes are left for it, then stop the command
        with suppress(DiskFullError), disk_guard(run_dir(data_dir, report.run_id), "report"):
            _write_outputs(data_dir, report)
        raise DiskFullError(
            report.error,
            stage="normalise",
            hint="free some space on that filesystem and run the command again; the tables and catalogues "
            "of earlier runs were left as they were",
        )
    _write_outputs(data_dir, report)
    return report


def _write_outputs(data_dir: Path, report: NormaliseReport) -> None:
    """normalise-report.json, the stage's rows of errors.jsonl, and the run's report.html."""
    report.report_path = str(write_report(data_dir, report.run_id, "normalise-report.json", report.to_dict()))
    append_errors(data_dir, report.run_id, report.errors())
    write_html_report(data_dir, report.run_id)
