"""Schema drift between two harvests of a resource: added, removed, renamed and retyped columns."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester import store
from harvester.layout import legacy_schema_changes_file, schema_changes_file
from harvester.schema import TS

Columns = list[tuple[str, str]]  # [(name, arrow type)], in file order

SCHEMA_CHANGES = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("dataset_key", pa.string(), nullable=False),
        pa.field("resource_key", pa.string(), nullable=False),
        pa.field("run_id", pa.string()),
        pa.field("detected_at", TS),
        pa.field("change", pa.string(), nullable=False),  # added | removed | renamed | type_changed
        pa.field("column", pa.string()),  # the column now (the old one for `removed`)
        pa.field("old_column", pa.string()),  # renamed: the previous name
        pa.field("old_type", pa.string()),
        pa.field("new_type", pa.string()),
    ]
)


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


def diff_columns(old: Columns, new: Columns) -> list[dict[str, Any]]:
    """The changes from `old` to `new`.

    A removed and an added column are taken as one rename when their names only differ in case, accents or
    punctuation, or when they sit at the same position with the same type.
    """
    old_t, new_t = dict(old), dict(new)
    old_names, new_names = [n for n, _ in old], [n for n, _ in new]
    removed = [n for n in old_names if n not in new_t]
    added = [n for n in new_names if n not in old_t]
    changes: list[dict[str, Any]] = []
    for r in list(removed):
        match = next((a for a in added if _key(a) == _key(r)), None)
        if match is None:
            pos = old_names.index(r)
            if pos < len(new_names) and new_names[pos] in added and new_t[new_names[pos]] == old_t[r]:
                match = new_names[pos]
        if match is not None:
            removed.remove(r)
            added.remove(match)
            changes.append(_change("renamed", match, r, old_t[r], new_t[match]))
    for name in new_names:
        if name in old_t and old_t[name] != new_t[name]:
            changes.append(_change("type_changed", name, None, old_t[name], new_t[name]))
    changes += [_change("removed", n, None, old_t[n], None) for n in removed]
    changes += [_change("added", n, None, None, new_t[n]) for n in added]
    return changes


def _change(
    kind: str, column: str, old_column: str | None, old_type: str | None, new_type: str | None
) -> dict[str, Any]:
    return {
        "change": kind,
        "column": column,
        "old_column": old_column,
        "old_type": old_type,
        "new_type": new_type,
    }


def schema_changes_path(data_dir: Path, source_id: str) -> Path:
    """`tables/<source>/schema_changes.parquet`; a log left under `catalog/<source>/` by older runs is moved."""
    path = schema_changes_file(data_dir, source_id)
    legacy = legacy_schema_changes_file(data_dir, source_id)
    if not path.exists() and legacy.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        store.rename(legacy, path)
    return path


def append_schema_changes(
    data_dir: Path, source_id: str, rows: list[dict[str, Any]], detected_at: datetime
) -> Path:
    """Add rows to `tables/<source>/schema_changes.parquet` (append-only; the file is rewritten atomically)."""
    from harvester.catalog import write_table_atomic

    path = schema_changes_path(data_dir, source_id)
    new = pa.Table.from_pylist([{**r, "detected_at": detected_at} for r in rows], schema=SCHEMA_CHANGES)
    if path.exists():
        new = pa.concat_tables([store.read_table(path).cast(SCHEMA_CHANGES), new])
    write_table_atomic(new, path)
    return path
