"""The normalise stage: every tabular resource of a source's catalogue → tables/<source>/<dataset>/<resource>.parquet."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester.catalog import catalog_dir, read_catalog, write_table_atomic
from harvester.config import Config, SourceConfig
from harvester.diskspace import disk_guard
from harvester.errors import DiskFullError, HarvesterError, LockedError, exit_code_for
from harvester.http import HttpClient
from harvester.interrupt import Terminated
from harvester.leftovers import reclaim, run_tmp_dir, tmp_root
from harvester.normalise.archive import ZipLimits
from harvester.normalise.drift import append_schema_changes, diff_columns
from harvester.normalise.feeds import FEED_KINDS, feed_options
from harvester.normalise.resource import (
    Previous,
    ResourceOutcome,
    ResourceUnit,
    normalise_resource,
    with_policy,
)
from harvester.normalise.schemacheck import check_schemas
from harvester.normalise.sniff import resource_kind
from harvester.normalise.staging import discard, promote, stage_units
from harvester.runner import executor
from harvester.runs import new_run_id, write_jsonl, write_report
from harvester.runtime import RuntimeSpec, bound, live
from harvester.schema import RESOURCES
from harvester.state import StateStore

log = logging.getLogger(__name__)

OnStart = Callable[[str, int], None]  # (source_id, resources to process)
OnDone = Callable[[str, ResourceOutcome], None]  # called after each resource


@dataclass
class SourceNormalise:
    source_id: str
    status: str = "ok"  # ok | partial (some resources failed) | failed | locked | not_harvested
    converted: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0  # not tabular
    rows: int = 0  # rows written by this run
    bytes: int = 0  # bytes downloaded
    seconds: float = 0.0
    error: str | None = None
    schema_changes: int = 0
    schema_invalid: int = 0  # tables that fail their declared Table Schema (still converted)
    resources: list[ResourceOutcome] = field(default_factory=list)


@dataclass
class NormaliseReport:
    run_id: str
    started_at: str
    finished_at: str | None = None
    sources: list[SourceNormalise] = field(default_factory=list)
    report_path: str | None = None

    @property
    def exit_code(self) -> int:
        return exit_code_for([s.status for s in self.sources], aborted=("failed", "locked", "not_harvested"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": "normalise",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "sources": [asdict(s) for s in self.sources],
        }


def _segment(text: str) -> str:
    """A safe file name part: unchanged when already safe, else cleaned and suffixed with a short hash."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:80]
    if clean == text and clean:
        return clean
    return f"{clean or 'x'}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def table_path_for(source_id: str, dataset_key: str, resource_key: str) -> str:
    """`tables/<source>/<dataset>/<resource>.parquet`, relative to the data dir."""
    dataset = dataset_key.removeprefix(f"{source_id}:")
    resource = resource_key.removeprefix(f"{dataset_key}:")
    return f"tables/{_segment(source_id)}/{_segment(dataset)}/{_segment(resource)}.parquet"


def _previous(state: StateStore, row: dict[str, Any]) -> Previous:
    st = state.read_resource_state(row["resource_key"]) or {}
    cols = st.get("columns")
    return Previous(
        url=st.get("url"),
        etag=st.get("etag"),
        last_modified=st.get("last_modified"),
        sha256=st.get("sha256"),
        columns=tuple((str(n), str(t)) for n, t in cols) if cols else None,
        table_path=row.get("table_path"),
        table_rows=row.get("table_rows"),
        table_schema_hash=row.get("table_schema_hash"),
    )


def plan_units(
    source: SourceConfig,
    datasets: pa.Table,
    resources: pa.Table,
    *,
    data_dir: Path,
    state: StateStore,
    force: bool,
    max_bytes: int | None,
    zip_limits: ZipLimits,
    work_dir: Path | None = None,
) -> tuple[list[ResourceUnit], list[str]]:
    """The work units of a source (tabular resources of live datasets) and the keys of the non-tabular ones."""
    withdrawn = {
        k
        for k, w in zip(
            datasets.column("dataset_key").to_pylist(),
            datasets.column("withdrawn_at").to_pylist(),
            strict=True,
        )
        if w
    }
    policy = with_policy(source.http.policy(), max_bytes)
    by_key: dict[str, dict[str, Any]] | None = None  # dataset rows, read for feed resources only
    units: list[ResourceUnit] = []
    skipped: list[str] = []
    for row in resources.to_pylist():
        if row["dataset_key"] in withdrawn:
            continue
        kind = resource_kind(row.get("format"), row.get("url"))
        if kind is None or not row.get("url"):
            skipped.append(row["resource_key"])
            continue
        feed = None
        if kind in FEED_KINDS:
            by_key = by_key if by_key is not None else {d["dataset_key"]: d for d in datasets.to_pylist()}
            feed = feed_options(kind, source, by_key.get(row["dataset_key"]), row)
        units.append(
            ResourceUnit(
                source_id=source.id,
                dataset_key=row["dataset_key"],
                resource_key=row["resource_key"],
                url=row["url"],
                kind=kind,
                table_path=table_path_for(source.id, row["dataset_key"], row["resource_key"]),
                data_dir=str(data_dir),
                policy=policy,
                previous=_previous(state, row),
                force=force,
                zip_limits=zip_limits,
                work_dir=str(work_dir) if work_dir else None,
                feed=feed,
            )
        )
    return units, skipped


def normalise_source(
    source: SourceConfig,
    *,
    data_dir: Path,
    state: StateStore,
    http: HttpClient,
    run_id: str,
    force: bool = False,
    workers: int = 4,
    max_bytes: int | None = None,
    zip_limits: ZipLimits | None = None,
    on_start: OnStart | None = None,
    on_done: OnDone | None = None,
    work_dir: Path | None = None,
) -> SourceNormalise:
    """Normalise one source's tabular resources. Never raises for a resource or source failure.

    Downloads go under `work_dir` (the run's `tmp/<run_id>-<pid>/`; by default `<data_dir>/tmp`)."""
    result = SourceNormalise(source.id)
    t0 = time.monotonic()
    try:
        with state.lock(f"source-{source.id}"):
            state.start_run(run_id, source.id, "normalise")
            try:
                _normalise_locked(
                    source,
                    data_dir,
                    state,
                    http,
                    run_id,
                    force,
                    workers,
                    max_bytes,
                    zip_limits or ZipLimits(),
                    result,
                    on_start,
                    on_done,
                    work_dir,
                )
            except DiskFullError:
                raise  # the whole run stops: the next sources would meet the same full disk
            except HarvesterError as exc:
                result.status, result.error = "failed", str(exc)
            except Exception as exc:  # a bug must not stop the other sources
                log.exception("normalise of %s crashed", source.id, extra={"source_id": source.id})
                result.status, result.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
            result.seconds = round(time.monotonic() - t0, 3)
            summary = {k: v for k, v in asdict(result).items() if k != "resources"}
            state.finish_run(run_id, source.id, result.status, summary)
    except LockedError as exc:
        result.status, result.error = "locked", str(exc)
    return result


def run_unit(unit: ResourceUnit, spec: RuntimeSpec) -> ResourceOutcome:
    """Normalise one resource with this process's HTTP client for `spec` (the unit is plain data)."""
    return normalise_resource(unit, live(spec).http)


def _normalise_locked(
    source: SourceConfig,
    data_dir: Path,
    state: StateStore,
    http: HttpClient,
    run_id: str,
    force: bool,
    workers: int,
    max_bytes: int | None,
    zip_limits: ZipLimits,
    result: SourceNormalise,
    on_start: OnStart | None,
    on_done: OnDone | None,
    work_dir: Path | None,
) -> None:
    snapshot = read_catalog(data_dir, source.id)
    if snapshot is None:
        result.status = "not_harvested"
        result.error = "no catalogue yet: run `harvester harvest` first"
        return
    datasets, resources = snapshot
    units, skipped = plan_units(
        source,
        datasets,
        resources,
        data_dir=data_dir,
        state=state,
        force=force,
        max_bytes=max_bytes,
        zip_limits=zip_limits,
        work_dir=work_dir,
    )
    result.skipped = len(skipped)
    if on_start is not None:
        on_start(source.id, len(units))
    outcomes: list[ResourceOutcome] = []
    spec = RuntimeSpec.for_data_dir(data_dir, state.path)
    units, real_paths = stage_units(units)  # new tables are put in place at the commit only
    stopped: Terminated | None = None
    try:
        with bound(spec, state, http), executor(workers, name="normalise") as pool:
            futures = [pool.submit(run_unit, u, spec) for u in units]
            try:
                for fut in as_completed(futures):
                    outcome = fut.result()
                    outcomes.append(outcome)
                    if on_done is not None:
                        on_done(source.id, outcome)
            except Terminated as exc:  # SIGTERM: commit what completed, then stop
                stopped = exc
                pool.shutdown(wait=True, cancel_futures=True)
                seen = {id(o) for o in outcomes}
                done = [f for f in futures if f.done() and not f.cancelled() and f.exception() is None]
                outcomes += [f.result() for f in done if id(f.result()) not in seen]
        _commit(
            source,
            data_dir,
            state,
            run_id,
            datasets,
            resources,
            units,
            real_paths,
            outcomes,
            skipped,
            http,
            result,
        )
    finally:
        discard(units, data_dir)
    if stopped is not None:
        raise stopped


def _commit(
    source: SourceConfig,
    data_dir: Path,
    state: StateStore,
    run_id: str,
    datasets: pa.Table,
    resources: pa.Table,
    units: list[ResourceUnit],
    real_paths: dict[str, str],
    outcomes: list[ResourceOutcome],
    skipped: list[str],
    http: HttpClient,
    result: SourceNormalise,
) -> None:
    by_unit = {u.resource_key: u for u in units}
    outcomes.sort(key=lambda o: o.resource_key)
    promote(outcomes, real_paths, data_dir)  # the tables, then the catalogue that lists them, then the state
    _update_resources(data_dir, source.id, outcomes, by_unit, set(skipped))
    result.schema_invalid = check_schemas(source, data_dir, datasets, outcomes, http)
    now = datetime.now(UTC)
    changes: list[dict[str, Any]] = []
    for o in outcomes:
        unit = by_unit[o.resource_key]
        _record_state(state, unit, o)
        if o.status == "ok" and unit.previous.columns and o.columns is not None:
            o.schema_changes = diff_columns(list(unit.previous.columns), o.columns)
            for c in o.schema_changes:
                changes.append(
                    {
                        **c,
                        "source_id": source.id,
                        "dataset_key": o.dataset_key,
                        "resource_key": o.resource_key,
                        "run_id": run_id,
                    }
                )
        result.bytes += o.bytes
        if o.status == "ok":
            result.converted += 1
            result.rows += o.rows or 0
        elif o.status == "unchanged":
            result.unchanged += 1
        else:
            result.failed += 1
    if changes:
        append_schema_changes(data_dir, source.id, changes, now)
        result.schema_changes = len(changes)
    result.resources = outcomes
    if result.failed:
        result.status = "partial"


def _record_state(state: StateStore, unit: ResourceUnit, o: ResourceOutcome) -> None:
    if o.status == "ok" or (o.status == "unchanged" and o.sha256):
        state.write_resource_state(
            o.resource_key,
            url=unit.url,
            etag=o.etag,
            last_modified=o.last_modified,
            sha256=o.sha256,
            columns=o.columns,
        )


def _update_resources(
    data_dir: Path,
    source_id: str,
    outcomes: list[ResourceOutcome],
    units: dict[str, ResourceUnit],
    skipped: set[str],
) -> None:
    """Write the table_* columns into resources.parquet (re-read under the source lock, replaced atomically)."""
    snapshot = read_catalog(data_dir, source_id)
    if snapshot is None:
        return
    by_key = {o.resource_key: o for o in outcomes}
    rows = snapshot[1].to_pylist()
    for row in rows:
        key = row["resource_key"]
        o = by_key.get(key)
        if o is None:
            if key in skipped:
                row.update(
                    table_path=None,
                    table_rows=None,
                    table_schema_hash=None,
                    table_status="skipped",
                    table_error=None,
                )
            continue
        if o.status in ("ok", "unchanged"):
            row.update(
                table_path=o.table_path,
                table_rows=o.rows,
                table_schema_hash=o.schema_hash,
                table_status=o.status,
                table_error=None,
            )
        else:  # failed: the previous table (if any) stays usable and listed
            prev = units[key].previous
            still = bool(prev.table_path) and (data_dir / str(prev.table_path)).exists()
            row.update(
                table_path=prev.table_path if still else None,
                table_rows=prev.table_rows if still else None,
                table_schema_hash=prev.table_schema_hash if still else None,
                table_status="failed",
                table_error=o.error,
            )
    write_table_atomic(
        pa.Table.from_pylist(rows, schema=RESOURCES), catalog_dir(data_dir, source_id) / "resources.parquet"
    )


def normalise_sources(
    config: Config,
    source_ids: list[str],
    *,
    data_dir: Path,
    state: StateStore,
    http: HttpClient,
    run_id: str | None = None,
    force: bool = False,
    workers: int = 4,
    max_bytes: int | None = None,
    zip_limits: ZipLimits | None = None,
    on_start: OnStart | None = None,
    on_done: OnDone | None = None,
) -> NormaliseReport:
    """Normalise several sources one after the other (resources in parallel) and write `normalise-report.json`.

    Used by `harvester normalise` and by `harvester run` (pass the run's `run_id` to share its report folder).
    """
    sources = [config.source(sid) for sid in source_ids]
    report = NormaliseReport(run_id or new_run_id(), datetime.now(UTC).isoformat())
    reclaim(data_dir)  # what normalise runs killed earlier left under tmp/ and tables/
    with disk_guard(tmp_root(data_dir), "normalise"), run_tmp_dir(data_dir, report.run_id) as work:
        for src in sources:
            report.sources.append(
                normalise_source(
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
                )
            )
    report.finished_at = datetime.now(UTC).isoformat()
    report.report_path = str(write_report(data_dir, report.run_id, "normalise-report.json", report.to_dict()))
    errors = [
        {
            "stage": "normalise",
            "source_id": s.source_id,
            "dataset_key": o.dataset_key,
            "resource_key": o.resource_key,
            "url": o.url,
            "message": o.error,
        }
        for s in report.sources
        for o in s.resources
        if o.status == "failed"
    ]
    if errors:
        write_jsonl(data_dir / "runs" / report.run_id / "errors.jsonl", errors)
    return report
