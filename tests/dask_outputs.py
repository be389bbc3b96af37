"""What a run wrote that must not depend on the executor, for comparing a Dask run with the local run.

Left out, because they say *when* or *in which run* something was written, not *what*:
- `harvested_at` of `catalog/<source>/datasets.parquet` and of `merged/<pipeline>/datasets.parquet` (the clock at
  harvest time; the merged row carries its winning record's);
- `run_id` and `normalised_at` of `tables/<source>/index.parquet` (the run that wrote the row, and its clock);
- in CKAN package dicts: the ids CKAN draws (the package `id`, so resource `package_id`; the organisation `id`,
  so `owner_org`), its clocks (`metadata_created`, `metadata_modified`, resource `created` /
  `metadata_modified`, organisation `created`), and the `harvest_harvested_at` extra (the harvest clock above).
Everything else is compared exactly: catalogue rows (incl. `raw`), resources, every table cell, the rest of the
index (paths, rows, schema hash, status, sha256, columns), the merged datasets, resources and provenance, and
the rest of each package (names, extras, resource ids — harvester derives them — URLs, `last_modified`…).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

CATALOG_CLOCKS = {"harvested_at"}
INDEX_RUN_COLUMNS = {"run_id", "normalised_at"}
PACKAGE_DRAWN = {"id", "metadata_created", "metadata_modified"}
RESOURCE_DRAWN = {"package_id", "created", "metadata_modified"}
ORG_DRAWN = {"id", "created"}
EXTRA_CLOCKS = {"harvest_harvested_at"}


def _rows(path: Path, drop: set[str], key: str) -> list[dict[str, Any]]:
    table = pq.read_table(path)
    table = table.drop_columns([c for c in table.column_names if c in drop])
    return sorted(table.to_pylist(), key=lambda r: repr(r.get(key)) + repr(r))


def outputs(data: Path, sources: list[str], pipeline: str | None = None) -> dict[str, Any]:
    """Everything the stages wrote for `sources` (and merged for `pipeline`), minus the columns listed above."""
    out: dict[str, Any] = {}
    for sid in sources:
        out[f"catalog/{sid}/datasets"] = _rows(data / f"catalog/{sid}/datasets.parquet", CATALOG_CLOCKS,
                                               "dataset_key")  # fmt: skip
        out[f"catalog/{sid}/resources"] = _rows(
            data / f"catalog/{sid}/resources.parquet", set(), "resource_key"
        )
        index = data / f"tables/{sid}/index.parquet"
        if index.exists():
            rows = _rows(index, INDEX_RUN_COLUMNS, "resource_key")
            out[f"index/{sid}"] = rows
            for r in rows:
                if r["table_path"]:
                    out[r["table_path"]] = pq.read_table(data / r["table_path"]).to_pylist()
    if pipeline is not None:
        for path in sorted((data / "merged" / pipeline).glob("*.parquet")):
            out[f"merged/{path.name}"] = _rows(path, CATALOG_CLOCKS, "merged_key")
    return out


def package_snapshot(pkg: dict[str, Any]) -> dict[str, Any]:
    """A CKAN package dict minus what CKAN draws (ids, clocks) and the harvest clock extra."""
    out = {k: v for k, v in pkg.items() if k not in PACKAGE_DRAWN}
    out["extras"] = sorted(
        (e["key"], e["value"]) for e in pkg.get("extras") or [] if e["key"] not in EXTRA_CLOCKS
    )
    for k in EXTRA_CLOCKS:
        out.pop(k, None)  # the same extra, when CKAN's schema turns extras into root fields
    out["resources"] = sorted(
        ({k: v for k, v in r.items() if k not in RESOURCE_DRAWN} for r in pkg.get("resources") or []),
        key=lambda r: (str(r.get("url")), str(r.get("name"))),
    )
    if isinstance(pkg.get("organization"), dict):
        out["organization"] = {k: v for k, v in pkg["organization"].items() if k not in ORG_DRAWN}
    out.pop("owner_org", None)  # the organisation's id
    return out
