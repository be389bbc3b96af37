"""Normalise's own index of a source's tables: `tables/<source>/index.parquet`, one row per catalogue resource.

The normalise stage is its only writer (in the parent, atomically); publish, merge, status and tools read it.
It names each resource's table (`table_path`, relative to the data dir), its rows, columns and status, and keeps
the resource's URL: table folders are named after the dataset and the resource, not after the URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester import store
from harvester.layout import resources_file, table_index_file
from harvester.redact import stored_form
from harvester.schema import TABLE_COLUMNS, TABLE_FIELDS, TS

COLUMN = pa.struct([pa.field("name", pa.string()), pa.field("type", pa.string())])

INDEX = pa.schema(
    [
        pa.field("resource_key", pa.string(), nullable=False),
        pa.field("dataset_key", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),  # the resource's title in the catalogue
        pa.field("url", pa.string()),  # what was downloaded (its secrets redacted: redact.stored_form)
        pa.field("kind", pa.string()),  # csv | spreadsheet | json | geojson | zip | sensorthings | ngsi
        *TABLE_FIELDS,  # table_path, table_rows, table_schema_hash, table_status, table_error
        pa.field("columns", pa.list_(COLUMN)),  # the table's Arrow columns (name, type)
        pa.field("sha256", pa.string()),  # of the downloaded file
        pa.field("table_schema", pa.string()),  # the declared Table Schema, if any
        pa.field("schema_valid", pa.bool_()),  # None: no schema declared, or not available
        pa.field("run_id", pa.string()),  # the run that last wrote the row
        pa.field("normalised_at", TS),
    ]
)


def read_index(data_dir: Path, source_id: str) -> pa.Table | None:
    """The index of a source's tables, or None when the source was never normalised (since the index exists)."""
    path = table_index_file(data_dir, source_id)
    return store.read_table(path).cast(INDEX) if path.exists() else None


def index_rows(data_dir: Path, source_id: str) -> dict[str, dict[str, Any]]:
    """The index rows of a source by resource key; for a data dir written before the index, the `table_*`
    columns older runs kept in `catalog/<source>/resources.parquet` (read, never written)."""
    table = read_index(data_dir, source_id)
    if table is not None:
        return {r["resource_key"]: r for r in table.to_pylist()}
    return legacy_rows(data_dir, source_id)


def legacy_rows(data_dir: Path, source_id: str) -> dict[str, dict[str, Any]]:
    path = resources_file(data_dir, source_id)
    if not path.exists():
        return {}
    names = set(store.read_schema(path).names)
    if not set(TABLE_COLUMNS) <= names:
        return {}
    cols = ["resource_key", "dataset_key", "url", *TABLE_COLUMNS]
    return {r["resource_key"]: r for r in store.read_table(path, columns=cols).to_pylist() if r["table_path"]}


def table_count(data_dir: Path, source_id: str) -> int | None:
    """Tables of a source that can be read (status ok or unchanged), or None if it was never normalised."""
    path = table_index_file(data_dir, source_id)
    if not path.exists():
        return None
    status = store.read_table(path, columns=["table_status"]).column("table_status").to_pylist()
    return sum(1 for s in status if s in ("ok", "unchanged"))


def write_index(data_dir: Path, source_id: str, rows: list[dict[str, Any]]) -> Path:
    """Replace the index (temporary file, fsync, rename)."""
    from harvester.catalog import write_table_atomic

    path = table_index_file(data_dir, source_id)
    write_table_atomic(pa.Table.from_pylist(rows, schema=INDEX), path)
    return path


def table_columns(data_dir: Path, source_id: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`resources` (catalogue rows) with the `table_*` values of their index rows, for rows whose URL is still
    the one that was converted (what merge writes into merged/<pipeline>/resources.parquet)."""
    index = index_rows(data_dir, source_id) if resources else {}
    out: list[dict[str, Any]] = []
    for r in resources:
        found = index.get(r["resource_key"])
        url = r.get("url")
        same = found is not None and found.get("url") in (url, stored_form(url) if url else None)
        out.append({**r, **{c: found.get(c) if same and found else None for c in TABLE_COLUMNS}})
    return out
