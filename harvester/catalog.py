"""The canonical catalogue of a source: DatasetRecords → Arrow tables, hashes, snapshot merge, atomic files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from harvester import store
from harvester.layout import datasets_file, resources_file
from harvester.records import DatasetRecord
from harvester.schema import DATASETS, RESOURCES, TABLE_COLUMNS


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write Parquet to a temporary file in the same folder, fsync, then rename over `path` (or the store's
    equivalent: harvester/store.py)."""
    store.write_table(table, path, compression="zstd")


def read_catalog(
    data_dir: Path, source_id: str, columns: list[str] | None = None
) -> tuple[pa.Table, pa.Table] | None:
    """The current snapshot of a source (datasets, resources), or None if it was never harvested.

    With `columns`, only those dataset columns are read, and resources are not (an empty table is returned).
    """
    ds_path = datasets_file(data_dir, source_id)
    if not ds_path.exists():
        return None
    datasets = store.read_table(ds_path, columns=columns)
    if columns is not None:
        return datasets, _no_resources()
    res_path = resources_file(data_dir, source_id)
    if not res_path.exists():
        return datasets, _no_resources()
    # a data dir written before the normalise index has table_* columns here too: they are not harvest's
    return datasets, store.read_table(res_path, columns=RESOURCES.names)


def _no_resources() -> pa.Table:
    return pa.Table.from_batches([], schema=RESOURCES)


def read_snapshot_count(data_dir: Path, source_id: str) -> int | None:
    path = datasets_file(data_dir, source_id)
    return store.footer(path).num_rows if path.exists() else None


def write_catalog(data_dir: Path, source_id: str, datasets: pa.Table, resources: pa.Table) -> None:
    """Replace the snapshot. Both files are written in full before either is renamed into place."""
    write_table_atomic(_as(resources, RESOURCES), resources_file(data_dir, source_id))
    write_table_atomic(_as(datasets, DATASETS), datasets_file(data_dir, source_id))


def _as(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table.cast(schema)`, skipped when the table has that schema already (a harvest builds its tables with it):
    `Table.cast` imports pyarrow.compute, ~70 ms of a CKAN harvest that needs nothing else from it."""
    return table if table.schema.equals(schema, check_metadata=True) else table.cast(schema)


# --- records → rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Defaults:
    license: str | None = None
    publisher: str | None = None


def _clean_list(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for v in values:
        v = " ".join(str(v).split())
        if v and v.lower() not in seen:
            seen.add(v.lower())
            out.append(v)
    return out


def _resource_key(dataset_key: str, remote_id: str | None, url: str) -> str:
    return f"{dataset_key}:{remote_id or hashlib.sha1(url.encode()).hexdigest()[:16]}"


def licence_share(datasets: pa.Table) -> dict[str, Any]:
    """Live datasets, how many have a known licence, the share, and the count per licence id."""
    ids = [
        lid
        for lid, gone in zip(
            datasets.column("license_id").to_pylist(),
            datasets.column("withdrawn_at").to_pylist(),
            strict=True,
        )
        if gone is None
    ]
    known = [i for i in ids if i]
    by_id: dict[str, int] = {}
    for lid in known:
        by_id[lid] = by_id.get(lid, 0) + 1
    share = round(len(known) / len(ids), 4) if ids else None
    return {"datasets": len(ids), "known": len(known), "share": share, "by_id": dict(sorted(by_id.items()))}


def _licence(rec: DatasetRecord, license_raw: str | None) -> tuple[str | None, str | None]:
    """(licence id, ``license_rule``: the field read and the rule of harvester/licenses.py that matched)."""
    field = rec.extras.get("license_field") or "license"
    if not rec.license_raw and license_raw:
        field = "defaults.license"
    return _licence_of(field, license_raw, rec.extras.get("license_title"), rec.extras.get("license_url"))


@lru_cache(maxsize=4096)  # a portal's records share a few licences
def _licence_of(
    field: str, license_raw: str | None, title: str | None, url: str | None
) -> tuple[str | None, str | None]:
    from harvester.licenses import explain_license

    for name, raw in ((field, license_raw), ("license_title", title), ("license_url", url)):
        license_id, rule = explain_license(raw)
        if license_id:
            return license_id, f"{name}: {rule}"
    return None, None


def record_rows(
    rec: DatasetRecord, defaults: Defaults, harvested_at: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Normalise one record into a datasets row and its resources rows (metadata_hash included)."""
    from harvester.formats import normalise_format
    from harvester.redact import without_userinfo

    key = rec.dataset_key
    license_raw = rec.license_raw or defaults.license
    license_id, license_rule = _licence(rec, license_raw)
    row: dict[str, Any] = {
        "dataset_key": key,
        "source_id": rec.source_id,
        "remote_id": rec.remote_id,
        "name": rec.name,
        "title": " ".join(rec.title.split()) if rec.title else rec.remote_id,
        "description": rec.description.strip() if rec.description else None,
        "landing_page": without_userinfo(rec.landing_page),
        "remote_url": without_userinfo(rec.remote_url),
        "publisher": rec.publisher or defaults.publisher,
        "contact_email": rec.contact_email,
        "keywords": _clean_list(rec.keywords),
        "themes": _clean_list(rec.themes),
        "license_raw": license_raw,
        "license_id": license_id,
        "issued": rec.issued,
        "modified": rec.modified,
        "frequency": rec.frequency,
        "spatial": rec.spatial,
        "extras": sorted((rec.extras | ({"license_rule": license_rule} if license_rule else {})).items()),
    }
    resources: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, r in enumerate(rec.resources):
        rkey = _resource_key(key, r.remote_id, r.url)
        if rkey in seen:
            rkey = f"{rkey}#{i}"
        seen.add(rkey)
        resources.append(
            {
                "dataset_key": key,
                "resource_key": rkey,
                "source_id": rec.source_id,
                "remote_id": r.remote_id,
                "url": without_userinfo(r.url),
                "title": r.title,
                "description": r.description,
                "format": normalise_format(r.format, r.media_type, r.url),
                "media_type": r.media_type,
                "size_bytes": r.size_bytes,
                "modified": r.modified,
            }
        )
    # The row and resources hold exactly the hashed keys here: content_hash without its filtering copies.
    row["metadata_hash"] = _digest(row, resources)
    row["harvested_at"] = harvested_at
    row["withdrawn_at"] = None
    # orjson: serialising every portal record (raw, and the hash below) is the harvest's hottest loop.
    # kept as UTF-8 bytes: Arrow stores them in the string column as they are (no decoding, no re-encoding)
    row["raw"] = orjson.dumps(rec.raw, default=str) if rec.raw is not None else None
    return row, resources


def _by_resource_key(resource: dict[str, Any]) -> str:
    return str(resource["resource_key"])


def content_hash(row: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    """Hash of the normalised content; volatile things (raw portal JSON, harvest times) are left out."""
    return _digest(
        {k: v for k, v in row.items() if k not in ("harvested_at", "withdrawn_at", "raw", "metadata_hash")},
        [{k: v for k, v in r.items() if k not in TABLE_COLUMNS} for r in resources],
    )


def _digest(dataset: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    """`metadata_hash`: SHA-256 of the dataset's and its resources' hashed fields (resources by key)."""
    payload = {"dataset": dataset, "resources": sorted(resources, key=_by_resource_key)}
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
