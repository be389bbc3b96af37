"""Applying a run's listing to a source's previous snapshot (`apply_listing`): created, updated, unchanged, withdrawn, restored.

Vectorised with Arrow: an unchanged run reads only the key, hash and withdrawal columns of the previous snapshot
and writes nothing, which keeps incremental runs of large catalogues cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harvester.schema import DATASETS, RESOURCES

INDEX_COLUMNS = ["dataset_key", "remote_id", "metadata_hash", "withdrawn_at"]


@dataclass
class AppliedListing:
    datasets: pa.Table | None  # None when nothing changed: the previous snapshot stays as it is
    resources: pa.Table | None
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    withdrawn: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.withdrawn or self.restored)


def apply_listing(
    index: pa.Table | None,
    load_previous: Callable[[], tuple[pa.Table, pa.Table]],
    rows: list[dict[str, Any]],
    resource_rows: list[dict[str, Any]],
    *,
    full: bool,
    present_ids: set[str] | None,
    allow_withdraw: bool,
    now: datetime,
) -> AppliedListing:
    """Combine the previous snapshot (`index`: its INDEX_COLUMNS; `load_previous` reads it whole) with a listing.

    - `full`: the listing was the whole catalogue; previous datasets missing from it are withdrawn.
    - not `full` (incremental): listed datasets replace their previous versions, others are kept; with
      `present_ids` (every id still listed), missing ones are withdrawn as in a full run.
    - `allow_withdraw=False` (incomplete listing): nothing is withdrawn, whatever is missing.
    Unchanged datasets keep their previous row (and `harvested_at`) and resources.
    """
    out = AppliedListing(None, None)
    if index is None or index.num_rows == 0:
        out.created = [r["dataset_key"] for r in rows]
        # sorted as rows (Python's sort is stable, as Arrow's, and orders str as Arrow orders UTF-8): sorting the
        # built table would copy every column, the raw JSON included
        out.datasets = table_of(sorted(rows, key=_by_dataset), DATASETS)
        out.resources = table_of(sorted(resource_rows, key=_by_dataset), RESOURCES)
        out.total = out.datasets.num_rows
        return out

    keys = index.column("dataset_key").to_pylist()
    hashes = index.column("metadata_hash").to_pylist()
    remote_ids = index.column("remote_id").to_pylist()
    withdrawn = index.column("withdrawn_at").is_valid().to_pylist()
    position = {k: i for i, k in enumerate(keys)}
    keep = [True] * len(keys)  # previous rows kept (possibly with a new withdrawn_at)
    new_withdrawn_at: dict[int, datetime | None] = {}
    replaced: list[dict[str, Any]] = []
    listed: set[str] = set()
    for row in rows:
        key = row["dataset_key"]
        listed.add(key)
        i = position.get(key)
        if i is not None and hashes[i] == row["metadata_hash"]:
            out.unchanged += 1
            if withdrawn[i]:
                out.restored.append(key)
                new_withdrawn_at[i] = None
            continue
        if i is None:
            out.created.append(key)
        else:
            out.updated.append(key)
            keep[i] = False
            if withdrawn[i]:
                out.restored.append(key)
        replaced.append(row)
    if allow_withdraw:
        for i, key in enumerate(keys):
            if key in listed or withdrawn[i]:
                continue
            still_there = not full and (present_ids is None or remote_ids[i] in present_ids)
            if not still_there:
                new_withdrawn_at[i] = now
                out.withdrawn.append(key)
    out.total = len(keys) + len(out.created)
    if not out.changed:
        return out

    prev_ds, prev_res = load_previous()
    if new_withdrawn_at:
        col = prev_ds.column("withdrawn_at").to_pylist()
        for i, value in new_withdrawn_at.items():
            col[i] = value
        prev_ds = prev_ds.set_column(
            prev_ds.schema.get_field_index("withdrawn_at"),
            DATASETS.field("withdrawn_at"),
            pa.array(col, type=DATASETS.field("withdrawn_at").type),
        )
    kept = prev_ds.cast(DATASETS).filter(pa.array(keep))
    out.datasets = pa.concat_tables([kept, table_of(replaced, DATASETS)]).sort_by("dataset_key")

    replaced_keys = pa.array([r["dataset_key"] for r in replaced], type=pa.string())
    prev_res = prev_res.cast(RESOURCES)
    is_replaced = pc.is_in(prev_res.column("dataset_key"), value_set=replaced_keys)
    kept_res = prev_res.filter(pc.invert(is_replaced))
    replaced_set = set(replaced_keys.to_pylist())
    new_res = [r for r in resource_rows if r["dataset_key"] in replaced_set]
    out.resources = _sorted(pa.concat_tables([kept_res, table_of(new_res, RESOURCES)]))
    return out


def table_of(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """`pa.Table.from_pylist(rows, schema=schema)` (a missing key is a null), built column by column: faster."""
    return pa.Table.from_arrays(
        [pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema], schema=schema
    )


def _by_dataset(row: dict[str, Any]) -> str:
    return str(row["dataset_key"])


def _sorted(resources: pa.Table) -> pa.Table:
    # Arrow's sort is stable: resources keep their order within a dataset.
    return resources.sort_by("dataset_key")
