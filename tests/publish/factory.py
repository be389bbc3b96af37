"""Builds test catalogues the way the harvest stage leaves them: real Parquet files under <data>/catalog/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester.catalog import content_hash, write_catalog
from harvester.schema import DATASETS, RESOURCES

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def dataset(source_id: str, remote_id: str, **fields: Any) -> dict[str, Any]:
    """A datasets row with plausible values; `fields` override them."""
    key = f"{source_id}:{remote_id}"
    row: dict[str, Any] = {
        "dataset_key": key,
        "source_id": source_id,
        "remote_id": remote_id,
        "name": f"jeu-{remote_id}",
        "title": f"Jeu de données {remote_id} — qualité de l'air",
        "description": f"Mesures {remote_id}.",
        "landing_page": f"https://portail.example.org/datasets/{remote_id}",
        "remote_url": f"https://portail.example.org/dataset/{remote_id}",
        "publisher": "Région Sud",
        "contact_email": "opendata@example.org",
        "keywords": ["Qualité de l'air", "pollution/ozone", "x"],
        "themes": ["Environnement"],
        "license_raw": "Licence Ouverte v2.0",
        "license_id": "lov2",
        "issued": T0,
        "modified": T0,
        "frequency": "daily",
        "spatial": None,
        "extras": [("origin", "test")],
        "metadata_hash": None,
        "harvested_at": T0,
        "withdrawn_at": None,
        "raw": "{}",
    }
    row.update(fields)
    return row


def resource(dataset_key: str, n: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dataset_key": dataset_key,
        "resource_key": f"{dataset_key}:r{n}",
        "source_id": dataset_key.split(":", 1)[0],
        "remote_id": f"r{n}",
        "url": f"https://portail.example.org/files/{dataset_key.split(':', 1)[1]}-{n}.csv",
        "title": f"Fichier {n}",
        "description": "Données brutes",
        "format": "CSV",
        "media_type": "text/csv",
        "size_bytes": 1234 + n,
        "modified": T0,
    }
    row.update(fields)
    return row


def rehash(rows: list[dict[str, Any]], resources: list[dict[str, Any]]) -> None:
    """Set each row's metadata_hash the way the harvest stage computes it."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_key.setdefault(r["dataset_key"], []).append(r)
    for row in rows:
        content = {
            k: v for k, v in row.items() if k not in ("metadata_hash", "harvested_at", "withdrawn_at", "raw")
        }
        row["metadata_hash"] = content_hash(content, by_key.get(row["dataset_key"], []))


def write_source(
    data_dir: Path, source_id: str, rows: list[dict[str, Any]], resources: list[dict[str, Any]]
) -> None:
    """Write a source's snapshot as real Parquet through the catalogue module (hashes filled in when missing)."""
    if any(r.get("metadata_hash") is None for r in rows):
        rehash([r for r in rows if r.get("metadata_hash") is None], resources)
    write_catalog(
        data_dir,
        source_id,
        pa.Table.from_pylist(rows, schema=DATASETS),
        pa.Table.from_pylist(resources, schema=RESOURCES),
    )


def catalogue(
    source_id: str, n: int, resources_per_dataset: int = 2
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [dataset(source_id, f"d{i:04d}") for i in range(n)]
    res = [resource(r["dataset_key"], j) for r in rows for j in range(resources_per_dataset)]
    rehash(rows, res)
    return rows, res
