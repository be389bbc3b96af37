"""What `harvester status` says of each source and pipeline: last success and failure, failures in a row, counts,
duration and next due time. Read-only: everything comes from the state store and the snapshots."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.schedule import is_due, next_time

if TYPE_CHECKING:
    from harvester.config import SourceConfig
    from harvester.pipelines import PipelineConfig
    from harvester.state import StateBackend

SUCCESS = ("ok", "partial")
FAILURE = ("failed", "interrupted")
COUNTS = ("created", "updated", "withdrawn", "unchanged")


def _brief(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    summary = run.get("summary") or {}
    out = {
        "run_id": run["run_id"],
        "kind": run["kind"],
        "status": run["status"],
        "at": run["finished_at"] or run["started_at"],
    }
    if run["status"] not in SUCCESS:
        out["error"] = summary.get("error")
    return out


def history(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Last success, last failure (with its error) and consecutive failures of runs given newest first."""
    finished = [r for r in runs if r["status"] in SUCCESS + FAILURE]
    streak = 0
    for r in finished:
        if r["status"] not in FAILURE:
            break
        streak += 1
    return {
        "last_success": _brief(next((r for r in finished if r["status"] in SUCCESS), None)),
        "last_failure": _brief(next((r for r in finished if r["status"] in FAILURE), None)),
        "consecutive_failures": streak,
    }


def _duration(run: dict[str, Any] | None) -> float | None:
    if run is None:
        return None
    seconds = (run.get("summary") or {}).get("seconds")
    if isinstance(seconds, int | float):
        return float(seconds)
    if run["finished_at"] and run["started_at"]:
        delta = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
        return round(delta.total_seconds(), 3)
    return None


def _schedule(
    state: StateBackend, kind: str, name: str, expr: str | None, now: datetime, runs_with: str | None = None
) -> dict[str, Any]:
    if runs_with is not None:
        return {"schedule": expr, "runs_with": runs_with, "next_due": None, "due_now": False}
    if not expr:
        return {"schedule": None, "next_due": None, "due_now": False}
    last = state.last_scheduled(kind, name)
    due = is_due(expr, last, now)
    return {
        "schedule": expr,
        "last_scheduled": last.isoformat() if last else None,
        "due_now": due,
        "next_due": now.isoformat() if due else next_time(expr, now).isoformat(),
    }


def source_status(
    state: StateBackend, data_dir: Path, source: SourceConfig, now: datetime, runs_with: str | None
) -> dict[str, Any]:
    from harvester.catalog import read_snapshot_count
    from harvester.normalise.index import table_count

    runs = {kind: state.last_run(source.id, kind) for kind in ("harvest", "normalise")}
    harvest = runs["harvest"]
    summary = (harvest or {}).get("summary") or {}
    return {
        "id": source.id,
        "enabled": source.enabled,
        "last_run": harvest,
        "runs": runs,
        "cursor": state.read_cursor(source.id),
        "datasets": read_snapshot_count(data_dir, source.id),
        "tables": table_count(data_dir, source.id),
        **history(state.recent_runs(source.id, ("harvest", "normalise"))),
        "counts": {k: summary.get(k) for k in ("listed", *COUNTS)} if harvest else None,
        "duration_seconds": _duration(harvest),
        **_schedule(state, "source", source.id, source.schedule, now, runs_with),
    }


def pipeline_status(state: StateBackend, pipeline: PipelineConfig, now: datetime) -> dict[str, Any]:
    subject = f"pipeline:{pipeline.name}"
    last = state.last_run(subject, "publish")
    summary = ((last or {}).get("summary") or {}).get("summary") or {}
    records = state.read_publish_records(pipeline.name)
    return {
        "name": pipeline.name,
        "sources": pipeline.sources,
        "last_run": last,
        "datasets": sum(1 for r in records.values() if not r["withdrawn"]),
        **history(state.recent_runs(subject, ("publish", "merge"))),
        "counts": {k: summary.get(k) for k in COUNTS} if last else None,
        "duration_seconds": _duration(last),
        **_schedule(state, "pipeline", pipeline.name, pipeline.schedule, now),
    }


def failing(rows: list[dict[str, Any]], label: str, key: str, n: int) -> list[str]:
    """One line per row that failed `n` or more times in a row (for `status --fail-after N`)."""
    out = []
    for r in rows:
        if r["consecutive_failures"] >= n:
            error = (r["last_failure"] or {}).get("error") or "no error recorded"
            out.append(f"{label} {r[key]} failed {r['consecutive_failures']} times in a row (last: {error})")
    return out
