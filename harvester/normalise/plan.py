"""Planning the normalise stage: a source's catalogue → plain, picklable work units (one per tabular resource).

Each unit carries what the last run left for its resource (`Previous`: the state store's validators and
columns, the index's table), so that `run_unit` needs nothing but the unit and a runtime spec.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester import store
from harvester.config import SourceConfig
from harvester.layout import legacy_table_path, table_location, table_path, url_name
from harvester.normalise.archive import ZipLimits
from harvester.normalise.feeds import FEED_KINDS, feed_options
from harvester.normalise.index import index_rows
from harvester.normalise.resource import Previous, ResourceUnit, with_policy
from harvester.normalise.sniff import resource_kind
from harvester.state import StateBackend

log = logging.getLogger(__name__)


@dataclass
class SourcePlan:
    """What the parent keeps of a source's plan: the units, and what `commit` needs to write the index."""

    source: SourceConfig
    datasets: pa.Table
    resources: list[dict[str, Any]]  # catalogue rows, in the catalogue's order (the index keeps it)
    units: list[ResourceUnit] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # resource keys that are not tabular
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)  # index rows before this run
    kinds: dict[str, str] = field(default_factory=dict)  # resource key → kind


def _legacy_table(data_dir: Path, source_id: str, row: dict[str, Any]) -> dict[str, Any] | None:
    """A table written at the key-named path of older runs, for a resource the index does not know."""
    rel = legacy_table_path(source_id, row["dataset_key"], row["resource_key"])
    path = table_location(data_dir, rel)
    if path.is_file():
        return {"table_path": rel, "table_rows": store.footer(path).num_rows}
    folder = rel.removesuffix(".parquet")
    if table_location(data_dir, folder).is_dir():  # an observations table
        return {"table_path": folder, "table_rows": None}
    return None


def _previous(state: StateBackend, row: dict[str, Any], indexed: dict[str, Any] | None) -> Previous:
    from harvester.normalise.resource import schema_hash

    st = state.read_resource_state(row["resource_key"]) or {}
    cols = st.get("columns")
    columns = tuple((str(n), str(t)) for n, t in cols) if cols else None
    found = indexed or {}
    digest = found.get("table_schema_hash")
    if digest is None and found.get("table_path") and columns:
        digest = schema_hash(list(columns))
    return Previous(
        url=st.get("url"),
        etag=st.get("etag"),
        last_modified=st.get("last_modified"),
        sha256=st.get("sha256"),
        columns=columns,
        table_path=found.get("table_path"),
        table_rows=found.get("table_rows"),
        table_schema_hash=digest,
    )


def plan_units(
    source: SourceConfig,
    datasets: pa.Table,
    resources: pa.Table,
    *,
    data_dir: Path,
    state: StateBackend,
    force: bool,
    max_bytes: int | None,
    zip_limits: ZipLimits,
    work_dir: Path | None = None,
) -> SourcePlan:
    """The work units of a source (tabular resources of live datasets) and the keys of the non-tabular ones."""
    rows = resources.to_pylist()
    plan = SourcePlan(source, datasets, rows, previous=index_rows(data_dir, source.id))
    live = {
        d["dataset_key"]: d
        for d in datasets.select(["dataset_key", "name", "title", "withdrawn_at"]).to_pylist()
        if d["withdrawn_at"] is None
    }
    policy = with_policy(source.http.policy(), max_bytes)
    by_key: dict[str, dict[str, Any]] | None = None  # whole dataset rows, read for feed resources only
    for row in rows:
        dataset = live.get(row["dataset_key"])
        if dataset is None:
            continue
        kind = resource_kind(row.get("format"), row.get("url"))
        if kind is None or not row.get("url"):
            plan.skipped.append(row["resource_key"])
            continue
        feed = None
        if kind in FEED_KINDS:
            by_key = by_key if by_key is not None else {d["dataset_key"]: d for d in datasets.to_pylist()}
            feed = feed_options(kind, source, by_key.get(row["dataset_key"]), row)
        key = row["resource_key"]
        indexed = plan.previous.get(key) or _legacy_table(data_dir, source.id, row)
        plan.kinds[key] = kind
        plan.units.append(
            ResourceUnit(
                source_id=source.id,
                dataset_key=row["dataset_key"],
                resource_key=key,
                url=row["url"],
                kind=kind,
                table_path=table_path(
                    source.id,
                    row["dataset_key"],
                    key,
                    dataset_name=dataset.get("name") or dataset.get("title"),
                    resource_name=row.get("title") or url_name(row.get("url")),
                ),
                data_dir=str(data_dir),
                policy=policy,
                previous=_previous(state, row, indexed),
                force=force,
                zip_limits=zip_limits,
                work_dir=str(work_dir) if work_dir else None,
                feed=feed,
            )
        )
    return plan


def adopt_tables(units: list[ResourceUnit]) -> list[ResourceUnit]:
    """Move each table found at another path (an older layout, a renamed dataset) to its unit's path.

    Runs in the parent under the source's lock, before the units; a unit whose table moved sees it at its
    new path, so an unchanged resource stays unchanged. Folders left empty are removed."""
    out: list[ResourceUnit] = []
    emptied: set[Path] = set()
    for unit in units:
        prev, data = unit.previous, store.data_path(unit.data_dir)
        target = unit.table_path
        if prev.table_path and prev.table_path not in (target, target.removesuffix(".parquet")):
            old = table_location(data, prev.table_path)
            rel = target if old.is_file() else target.removesuffix(".parquet")
            new = table_location(data, rel)
            if old.exists() and not new.exists():
                new.parent.mkdir(parents=True, exist_ok=True)
                store.rename(old, new)
                log.info("table of %s moved: %s → %s", unit.resource_key, prev.table_path, rel)
                emptied.add(old.parent)
                unit = replace(unit, previous=replace(prev, table_path=rel))
        out.append(unit)
    for folder in emptied:
        _remove_if_empty(folder)
    return out


def _remove_if_empty(folder: Path) -> None:
    """Remove a dataset folder holding nothing but its validation.json (revalidated at the new path)."""
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return
    if names <= {"validation.json"}:
        store.remove_tree(folder)
