"""runs/<run_id>/report.html: one self-contained page (jinja2, autoescaped; inline CSS and SVG, nothing fetched)."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from harvester import store
from harvester.diskspace import disk_guard
from harvester.runreport.chart import history_svg
from harvester.runreport.collect import (
    group_errors,
    history,
    load_run,
    retried,
    schema_changes,
    stage_durations,
    summary,
)
from harvester.runs import run_dir

log = logging.getLogger(__name__)

HTML_NAME = "report.html"
PLAN_LIMIT = 200
CARDS: tuple[tuple[str, str, str | None], ...] = (  # (summary key, label, the stage it belongs to)
    ("sources", "sources", None),
    ("datasets", "datasets", "harvest"),
    ("created", "created", "harvest"),
    ("updated", "updated", "harvest"),
    ("unchanged", "unchanged", "harvest"),
    ("withdrawn", "withdrawn", "harvest"),
    ("record_errors", "record errors", "harvest"),
    ("resources_converted", "tables converted", "normalise"),
    ("resources_unchanged", "tables unchanged", "normalise"),
    ("resources_failed", "tables failed", "normalise"),
    ("schema_changes", "schema changes", "normalise"),
    ("merged_datasets", "merged datasets", "merge"),
    ("published_created", "published: created", "publish"),
    ("published_updated", "published: updated", "publish"),
    ("published_withdrawn", "published: withdrawn", "publish"),
    ("published_failed", "published: failed", "publish"),
    ("errors", "errors", None),
)  # datasets listed per plan action; the full plan is in publish-plan.json


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harvester.runreport", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiling the template costs ~0.3 s, paid by every command that writes a run report (a cron harvest of an
    unchanged portal takes ~0.7 s in all): jinja2 keeps the compiled template in its per-user cache folder (in the
    system temp folder, mode 0700, checked to be the user's) and recompiles when the template or jinja2 changes."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no usable temp folder: compile each time
        return None


def context(data_dir: Path, run_id: str) -> dict[str, Any]:
    """Everything the template shows, from the run folder alone."""
    view = load_run(data_dir, run_id)
    plan = view.plan or {}
    numbers = summary(view)
    return {
        "run_id": run_id,
        "files": view.files,
        "summary": numbers,
        "cards": [(k, label) for k, label, stage in CARDS if stage is None or stage in numbers["stages"]],
        "durations": stage_durations(view),
        "harvest": view.sources("harvest"),
        "normalise": view.sources("normalise"),
        "errors": view.errors,
        "error_groups": group_errors(view.errors),
        "schema_changes": schema_changes(view),
        "retried": retried(view),
        "merge": view.reports("merge"),
        "quality": view.quality,
        "publish": view.reports("publish"),
        "plan": {
            k: (plan.get(k) or [])[:PLAN_LIMIT]
            for k in ("create", "update", "withdraw", "refused", "orphaned")
        }
        if plan
        else None,
        "plan_counts": plan.get("counts") or {},
        "plan_limit": PLAN_LIMIT,
        "chart": history_svg(points := history(data_dir, run_id)),
        "history": points,
    }


def render(data_dir: Path, run_id: str) -> str:
    return _env().get_template("report.html.j2").render(**context(data_dir, run_id))


def write_html_report(data_dir: Path, run_id: str) -> Path | None:
    """(Re)write runs/<run_id>/report.html from that folder's report files; returns its path.

    A full disk raises DiskFullError like every other write; any other failure to build the page is logged
    and returns None: the JSON reports are the record, the page must never fail a run.
    """
    path = run_dir(data_dir, run_id) / HTML_NAME
    try:
        text = render(data_dir, run_id)
    except Exception as exc:  # a report file of an unexpected shape: say so, keep the run's outcome
        log.warning("run report %s not written: %s: %s", path, type(exc).__name__, exc, exc_info=True)
        return None
    with disk_guard(path, "report"):
        store.write_text(text, path)
    return path
