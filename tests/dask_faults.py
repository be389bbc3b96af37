"""Stage units made to fail once on a Dask cluster (test-only task functions, imported by the workers).

Each wraps the stage's own `run_unit` and raises on its first call (an exclusive marker file next to the data dir
decides which call is first, whatever worker makes it); Dask then runs the task again and the stage's report
lists it in `retried`.
"""

from __future__ import annotations

from pathlib import Path

from harvester.merge import stage as merge_stage
from harvester.merge.stage import MergeOutcome, MergeUnit
from harvester.publish import units as publish_units
from harvester.publish.units import PublishUnit, UnitOutcome
from harvester.runtime import RuntimeSpec


def first_call(spec: RuntimeSpec, name: str) -> bool:
    """True for the first call of the run, on any worker (the marker is created atomically)."""
    try:
        with open(Path(spec.data_dir).parent / name, "x") as fh:
            fh.write("failed once")
    except FileExistsError:
        return False
    return True


def merge_fails_once(unit: MergeUnit, spec: RuntimeSpec) -> MergeOutcome:
    """The merge raises before reading anything, the first time."""
    if first_call(spec, "merge-failed-once"):
        raise RuntimeError("merge: first attempt fails")
    return merge_stage.run_unit(unit, spec)


def publish_fails_after_writing(unit: PublishUnit, spec: RuntimeSpec) -> UnitOutcome:
    """A publish batch that did its CKAN writes, then raised before handing back its outcome (the first time):
    the retry finds the datasets the lost attempt created."""
    outcome = publish_units.run_unit(unit, spec)
    if first_call(spec, "publish-failed-once"):
        raise RuntimeError("publish: the outcome of the first attempt is lost")
    return outcome
