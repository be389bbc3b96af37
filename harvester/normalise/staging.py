"""Staged tables: a resource's new table is written beside the old one and put in place only at the commit.

A unit converts into `.<name>.<pid>.tmp` (pid: the process that commits). The commit renames each staged table
onto its real path just before the source's table index is replaced, so a run killed while converting (kill -9, a crash)
leaves the previous tables and the catalogue that describes them untouched; its staged files are removed by the
next run (harvester/leftovers.py knows the name). A run stopped by SIGTERM commits what it had completed.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path, PurePosixPath

from harvester import store
from harvester.layout import table_location
from harvester.normalise.resource import ResourceOutcome, ResourceUnit


def staged_path(table_path: str, pid: int) -> str:
    p = PurePosixPath(table_path)
    return str(p.with_name(f".{p.name}.{pid}.tmp"))


def stage_units(units: list[ResourceUnit]) -> tuple[list[ResourceUnit], dict[str, str]]:
    """The units writing to staged paths, and resource key → real table path of each staged one.

    API feeds (SensorThings observations, NGSI entities) are not staged: they append to, or compare with, the
    table they already have, and write each of their files atomically themselves."""
    pid = os.getpid()
    real = {u.resource_key: u.table_path for u in units if u.feed is None}
    staged = [replace(u, table_path=staged_path(u.table_path, pid)) if u.feed is None else u for u in units]
    return staged, real


def promote(outcomes: list[ResourceOutcome], real: dict[str, str], data_dir: Path) -> None:
    """Put each converted table in place (an atomic rename) and point its outcome at the real path."""
    pid = os.getpid()
    for o in outcomes:
        target = real.get(o.resource_key)
        if target is not None and o.error:  # a message names the table, not its staged file
            staged_file = str(table_location(data_dir, staged_path(target, pid)))
            o.error = o.error.replace(staged_file, str(table_location(data_dir, target)))
        if o.status != "ok" or target is None or o.table_path == target:
            continue
        staged = table_location(data_dir, str(o.table_path))
        if staged.exists():
            store.rename(staged, table_location(data_dir, target))
        o.table_path = target


def discard(units: list[ResourceUnit], data_dir: Path) -> None:
    """Remove the staged tables that were not put in place (the run stopped, or a unit failed)."""
    for u in units:
        if u.feed is None:
            table_location(data_dir, u.table_path).unlink(missing_ok=True)
