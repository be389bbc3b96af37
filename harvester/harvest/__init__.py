"""The harvest stage: plan_units, run_unit, commit (see stage.py); the names the CLI and tests use."""

from harvester.harvest.stage import (
    HarvestOutcome,
    HarvestReport,
    SourceResult,
    harvest_source,
    harvest_sources,
    make_connector,
)
from harvester.runs import new_run_id, write_jsonl, write_report

__all__ = [
    "HarvestOutcome",
    "HarvestReport",
    "SourceResult",
    "harvest_source",
    "harvest_sources",
    "make_connector",
    "new_run_id",
    "write_jsonl",
    "write_report",
]
