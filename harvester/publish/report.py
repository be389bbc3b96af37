"""The publish stage's report (`--json`, publish-report.json): the plan, what was written, and the one exit rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from harvester.errors import EXIT_PARTIAL
from harvester.interrupt import EXIT_SIGINT, EXIT_SIGTERM
from harvester.publish.plan import Plan
from harvester.publish.writer import Outcome
from harvester.runs import stage_exit_code


@dataclass
class PublishReport:
    run_id: str
    pipeline: str
    ckan_url: str
    dry_run: bool
    started_at: str
    plan: Plan
    outcome: Outcome = field(default_factory=Outcome)
    finished_at: str | None = None
    seconds: float = 0.0
    plan_seconds: float = 0.0  # reading CKAN and planning, before the first write
    write_calls: int = 0
    read_calls: int = 0
    writes_by_action: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    missing_sources: list[str] = field(default_factory=list)
    state_rebuilt: int = 0
    plan_path: str | None = None
    report_path: str | None = None
    error: str | None = None
    aborted_exit_code: int | None = None  # the exit code of the error that stopped the run, if one did
    merge: dict[str, Any] | None = None  # the merge publish ran first (None: merged/<pipeline>/ was fresh)
    tables: dict[str, Any] | None = None  # the table resources written (publish.tables), None when off

    kind: ClassVar[str] = "publish"

    def statuses(self) -> list[str]:
        """One unit, the pipeline: partial when a dataset failed, was refused or could not be withdrawn."""
        if self.error:
            return ["failed"]
        failed = self.outcome.failed or (self.tables or {}).get("failed")
        return ["partial" if failed or self.plan.refused or self.plan.withdraw_blocked else "ok"]

    @property
    def exit_code(self) -> int:
        """The one rule (runs.py): that of the error that stopped the run, else 3 if anything failed."""
        return stage_exit_code(self.statuses(), stopped_by=self.aborted_exit_code)

    @property
    def run_status(self) -> str:
        if self.aborted_exit_code in (EXIT_SIGINT, EXIT_SIGTERM):
            return "interrupted"  # stopped by a signal between two writes
        if self.aborted_exit_code == EXIT_PARTIAL:
            return "not_harvested"  # NothingToPublishError, the only error that ends a publish with 3
        return self.statuses()[0]

    @property
    def browse_url(self) -> str:
        """CKAN's dataset search, narrowed to this pipeline's datasets."""
        return f"{self.ckan_url}/dataset/?q=extras_harvest_pipeline:{self.pipeline}"

    def summary(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "created": o.count("created"),
            "updated": o.count("updated"),
            "withdrawn": o.count("withdrawn"),
            "unchanged": len(self.plan.unchanged),
            "refused": len(self.plan.refused),
            "failed": len(o.failed),
            "withdraw_blocked": len(self.plan.withdraw_blocked),
            "orphaned": len(self.plan.orphaned),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": "publish",
            "pipeline": self.pipeline,
            "ckan_url": self.ckan_url,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
            "plan_seconds": self.plan_seconds,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "planned": self.plan.counts(),
            "withdraw_blocked_reason": self.plan.withdraw_blocked_reason,
            "write_calls": self.write_calls,
            "read_calls": self.read_calls,
            "writes_by_action": self.writes_by_action,
            "retries": self.retries,
            "organizations_created": self.outcome.organizations_created,
            "failed": self.outcome.failed,
            "retried": self.outcome.retried,
            "refused": [a.to_dict() for a in self.plan.refused],
            "missing_sources": self.missing_sources,
            "state_rebuilt": self.state_rebuilt,
            "plan_path": self.plan_path,
            "report_path": self.report_path,
            "browse_url": self.browse_url,
            "merge": self.merge,
            "tables": self.tables,
            "error": self.error,
        }
