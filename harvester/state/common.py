"""What both state backends share: names, timestamps, and the shape of the rows they return."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from harvester import owner as owners

log = logging.getLogger("harvester.state")

RUN_COLUMNS = "run_id, subject, kind, started_at, finished_at, status, summary"
OWNER_COLUMNS = "owner_pid, owner_host, owner_started"
PUBLISH_COLUMNS = "dataset_key, ckan_id, ckan_name, metadata_hash, published_at, withdrawn"
RESOURCE_COLUMNS = "url, etag, last_modified, sha256, columns"


def utcnow() -> datetime:
    return datetime.now(UTC)


def lock_name(subject: str, kind: str) -> str:
    """The lock a run of `kind` on `subject` holds (see harvest_source, normalise_source, publish_pipeline)."""
    if subject.startswith("pipeline:"):
        return f"publish-{subject.removeprefix('pipeline:')}"
    return f"source-{subject}"


def aware(at: datetime) -> datetime:
    """A schedule time with a time zone (a naive one is taken as UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def run_dict(
    row: tuple[Any, ...], owner_gone: Callable[[str, str, owners.Owner | None], bool]
) -> dict[str, Any]:
    """A `runs` row (RUN_COLUMNS [+ OWNER_COLUMNS]) as the dict `last_run` returns."""
    run_id, subject, kind, started, finished, status, summary = row[:7]
    owner = owners.Owner(row[7], row[8], row[9]) if len(row) > 7 and row[7] is not None else None
    out: dict[str, Any] = {
        "run_id": run_id,
        "subject": subject,
        "kind": kind,
        "started_at": started,
        "finished_at": finished,
        "status": status,
        "summary": json.loads(summary) if summary else None,
        "owner": owner.to_dict() if owner else None,
    }
    if finished is None and status is None:
        # still open: running, or left open by a process that died (shown so even on a read-only store)
        out["status"] = "interrupted" if owner_gone(subject, kind, owner) else "running"
    return out


def interrupted_summary(run: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(who owned it, the summary an interrupted run is closed with)"""
    who = f"owner {owners.Owner.from_dict(run['owner'])}" if run["owner"] else "owner unknown"
    return who, {"error": f"the process running it ended without finishing it ({who})"}


def log_interrupted(run: dict[str, Any], who: str, logger: logging.Logger = log) -> None:
    logger.warning(
        "%s run %s of %s was interrupted (%s): marked interrupted",
        run["kind"],
        run["run_id"],
        run["subject"],
        who,
        extra={"run_id": run["run_id"], "event": "run_interrupted"},
    )


def publish_records(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    return {
        r[0]: {
            "ckan_id": r[1],
            "ckan_name": r[2],
            "metadata_hash": r[3],
            "published_at": r[4],
            "withdrawn": bool(r[5]),
        }
        for r in rows
    }


def resource_state(row: tuple[Any, ...]) -> dict[str, Any]:
    url, etag, last_modified, sha256, columns = row
    return {
        "url": url,
        "etag": etag,
        "last_modified": last_modified,
        "sha256": sha256,
        "columns": json.loads(columns) if columns else None,
    }


def columns_json(columns: list[tuple[str, str]] | None) -> str | None:
    return json.dumps([list(c) for c in columns]) if columns is not None else None
