"""Runs: their ids, the statuses of their units, one exit-code rule, and the report files under runs/<run_id>/."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from harvester.diskspace import disk_guard
from harvester.errors import combine_exit_codes, exit_code_for
from harvester.redact import redact_obj


class Status(StrEnum):
    """What became of one work unit (a source, a resource, a dataset)."""

    OK = "ok"
    PARTIAL = "partial"  # done, but some records failed or the listing was incomplete
    FAILED = "failed"
    LOCKED = "locked"  # another process held the unit's lock
    NOT_HARVESTED = "not_harvested"  # normalise: the source has no catalogue yet


ABORTED: tuple[str, ...] = (Status.FAILED, Status.LOCKED, Status.NOT_HARVESTED)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def stage_exit_code(statuses: list[str]) -> int:
    """The one rule: 0 every unit ok, 1 every unit aborted, 3 otherwise."""
    return exit_code_for(list(statuses), aborted=ABORTED)


def run_exit_code(stage_codes: list[int]) -> int:
    """Exit code of a command made of several stages (`run`)."""
    return combine_exit_codes(stage_codes)


def all_aborted(statuses: list[str]) -> bool:
    """True when there were units and none of them got anywhere (`run` then stops before publishing)."""
    return bool(statuses) and all(s in ABORTED for s in statuses)


def run_dir(data_dir: Path, run_id: str) -> Path:
    return data_dir / "runs" / run_id


def write_report(data_dir: Path, run_id: str, name: str, payload: dict[str, Any]) -> Path:
    path = run_dir(data_dir, run_id) / name
    tmp = path.with_suffix(".tmp")
    with disk_guard(path, "report"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(redact_obj(payload), ensure_ascii=False, indent=2, default=str)
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(redact_obj(r), ensure_ascii=False, default=str) + "\n")


def append_errors(data_dir: Path, run_id: str, errors: list[dict[str, Any]]) -> None:
    if errors:
        write_jsonl(run_dir(data_dir, run_id) / "errors.jsonl", errors)
