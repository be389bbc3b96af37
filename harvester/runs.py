"""Runs: their ids, the statuses of their units, one report made of stage reports, one exit-code rule, and the
report files under runs/<run_id>/."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from harvester import store
from harvester.diskspace import disk_guard
from harvester.errors import combine_exit_codes, exit_code_for
from harvester.layout import errors_file, run_dir
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


def stage_exit_code(statuses: list[str], stopped_by: int | None = None) -> int:
    """The one rule, for every stage: the exit code of the error that stopped the stage if one did (`stopped_by`),
    else 0 when every unit is ok, 1 when every unit aborted, 3 otherwise."""
    if stopped_by is not None:
        return stopped_by
    return exit_code_for(list(statuses), aborted=ABORTED)


def run_exit_code(stage_codes: list[int]) -> int:
    """Exit code of a command made of several stages (`run`): 0 all ok, 1 every stage aborted, else 3."""
    return combine_exit_codes(stage_codes)


def all_aborted(statuses: list[str]) -> bool:
    """True when there were units and none of them got anywhere (`run` then stops before publishing)."""
    return bool(statuses) and all(s in ABORTED for s in statuses)


STAGES: tuple[str, ...] = ("harvest", "normalise", "merge", "publish")


class StageReport(Protocol):
    """What every stage's report gives (HarvestReport, NormaliseReport, MergeOutcome, PublishReport)."""

    @property
    def kind(self) -> str: ...

    def statuses(self) -> list[str]:
        """The status of each unit (source, pipeline…), for the exit rule."""
        ...

    @property
    def exit_code(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class RunReport:
    """A run: the reports of the stages it ran, in stage order, under one run id and one exit rule."""

    run_id: str
    stages: dict[str, StageReport] = field(default_factory=dict)
    stopped: str | None = None  # why the later stages did not run

    def add(self, report: StageReport) -> StageReport:
        if report.kind not in STAGES:
            raise ValueError(f"unknown stage {report.kind!r}; valid: {', '.join(STAGES)}")
        self.stages[report.kind] = report
        return report

    def all_aborted(self, kind: str) -> bool:
        """Every unit of that stage aborted (every harvested source: the run then stops)."""
        stage = self.stages.get(kind)
        return stage is not None and all_aborted(stage.statuses())

    @property
    def exit_code(self) -> int:
        return run_exit_code([r.exit_code for r in self.stages.values()])

    def to_dict(self) -> dict[str, Any]:
        """`{"harvest": {...}, "normalise": {...}, …}`: each stage's own report, in stage order."""
        return {k: self.stages[k].to_dict() for k in STAGES if k in self.stages}


def write_report(data_dir: Path, run_id: str, name: str, payload: dict[str, Any]) -> Path:
    path = run_dir(data_dir, run_id) / name
    with disk_guard(path, "report"):
        text = json.dumps(redact_obj(payload), ensure_ascii=False, indent=2, default=str)
        store.write_text(text, path)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(redact_obj(r), ensure_ascii=False, default=str) + "\n" for r in rows)
    store.append_text(path, text)


def append_errors(data_dir: Path, run_id: str, errors: list[dict[str, Any]]) -> None:
    if errors:
        write_jsonl(errors_file(data_dir, run_id), errors)
