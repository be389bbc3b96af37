"""The normalise stage's report: one entry per source, one outcome per resource (`--json`, normalise-report.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from harvester.errors import EXIT_ABORTED
from harvester.http_hosts import errors_by_host, host_of
from harvester.normalise.resource import ResourceOutcome
from harvester.runs import stage_exit_code


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
    disk_full: bool = False  # stopped by a full disk (the whole stage stopped with it)
    resources: list[ResourceOutcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What the state store's run row keeps (everything but the resources)."""
        return {k: v for k, v in asdict(self).items() if k != "resources"}


@dataclass
class NormaliseReport:
    run_id: str
    started_at: str
    finished_at: str | None = None
    sources: list[SourceNormalise] = field(default_factory=list)
    report_path: str | None = None
    error: str | None = None  # what stopped the whole stage (a full disk)
    unreachable_hosts: list[dict[str, Any]] = field(default_factory=list)  # the HTTP client's circuit breaker
    kind: ClassVar[str] = "normalise"

    def statuses(self) -> list[str]:
        return [s.status for s in self.sources]

    @property
    def exit_code(self) -> int:
        return stage_exit_code(self.statuses(), stopped_by=EXIT_ABORTED if self.error else None)

    def errors(self) -> list[dict[str, Any]]:
        """One line of errors.jsonl per failed resource."""
        return [
            {
                "stage": "normalise",
                "source_id": s.source_id,
                "dataset_key": o.dataset_key,
                "resource_key": o.resource_key,
                "url": o.url,
                "host": host_of(o.url),
                "message": o.error,
            }
            for s in self.sources
            for o in s.resources
            if o.status == "failed"
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": "normalise",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "error": self.error,
            "sources": [asdict(s) for s in self.sources],
            "errors_by_host": errors_by_host(self.errors()),
            "unreachable_hosts": self.unreachable_hosts,
        }
