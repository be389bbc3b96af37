"""The quality stage: merged/<pipeline>/ → merged/<pipeline>/quality.parquet and its summary.

Reads the merged datasets and resources, the normalise stage's index of each source (`sha256` tells a file that
was downloaded but not converted) and the contributing records' raw JSON in the catalogue (for the properties the
catalogue has no column for). Withdrawn datasets are not scored. No HTTP request is made.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester import store
from harvester.errors import UsageError
from harvester.layout import datasets_file, merged_dir
from harvester.normalise.index import index_rows
from harvester.quality.indicators import INDICATORS, MAX_SCORE, WEIGHTS, Evaluation, score_dataset
from harvester.quality.vocab import raw_properties

QUALITY_FILE = "quality.parquet"
BANDS = (("excellent", 351), ("good", 221), ("sufficient", 121), ("bad", 0))  # MQA's ratings, lower bounds

QUALITY = pa.schema(
    [
        pa.field("merged_key", pa.string(), nullable=False),
        pa.field("source_ids", pa.list_(pa.string())),
        pa.field("title", pa.string()),
        pa.field("total", pa.int32(), nullable=False),
        pa.field("rating", pa.string(), nullable=False),
        *(pa.field(dim, pa.int32(), nullable=False) for dim in WEIGHTS),
        *(pa.field(name, pa.int32(), nullable=False) for name in INDICATORS),
        pa.field("details", pa.string(), nullable=False),  # JSON: indicator -> {points, max, why}
    ]
)


def rating(total: float) -> str:
    return next(name for name, low in BANDS if total >= low)


def quality_file(data_dir: Path, pipeline: str) -> Path:
    return merged_dir(data_dir, pipeline) / QUALITY_FILE


def _raw_by_key(data_dir: Path, source_ids: set[str]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for sid in sorted(source_ids):
        path = datasets_file(data_dir, sid)
        if not path.exists():
            continue
        table = store.read_table(path, columns=["dataset_key", "raw"])
        for key, raw in zip(
            table.column("dataset_key").to_pylist(), table.column("raw").to_pylist(), strict=True
        ):
            try:
                out[key] = raw_properties(json.loads(raw)) if raw else {}
            except ValueError:
                out[key] = {}
    return out


def _merge_props(parts: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for p in parts:
        for prop, values in p.items():
            merged.setdefault(prop, []).extend(values)
    return merged


def row_of(ds: dict[str, Any], ev: Evaluation) -> dict[str, Any]:
    details = {n: {"points": ev.points[n], "max": w, "why": ev.details[n]} for n, w in INDICATORS.items()}
    return {
        "merged_key": ds["merged_key"],
        "source_ids": ds.get("source_ids") or [],
        "title": ds.get("title"),
        "total": ev.total,
        "rating": rating(ev.total),
        **ev.dimensions(),
        **ev.points,
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True),
    }


def compute(data_dir: Path, pipeline: str) -> pa.Table:
    """The quality table of a merged pipeline (one row per live merged dataset, by merged key)."""
    d = merged_dir(data_dir, pipeline)
    if not (d / "datasets.parquet").exists():
        raise UsageError(f"pipeline {pipeline}: nothing merged yet in {d} (run `harvester merge {pipeline}`)")
    datasets = [r for r in store.read_table(d / "datasets.parquet").to_pylist() if r["withdrawn_at"] is None]
    resources = store.read_table(d / "resources.parquet").to_pylist()
    sources = {s for r in datasets for s in r["source_ids"] or []}
    index: dict[str, dict[str, Any]] = {}
    for sid in sorted(sources):
        index.update(index_rows(data_dir, sid))
    by_ds: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        row = index.get(r["resource_key"]) or {}
        same = row.get("table_status") == r.get("table_status")  # the index row of the URL merge kept
        by_ds.setdefault(r["merged_key"], []).append({**r, "sha256": row.get("sha256") if same else None})
    raw = _raw_by_key(data_dir, sources)
    rows = []
    for ds in datasets:
        props = _merge_props([raw.get(k, {}) for k in ds["dataset_keys"] or []])
        rows.append(row_of(ds, score_dataset(ds, by_ds.get(ds["merged_key"], []), props)))
    rows.sort(key=lambda r: r["merged_key"])
    return pa.Table.from_pylist(rows, schema=QUALITY)


def write(data_dir: Path, pipeline: str, table: pa.Table) -> Path:
    from harvester.catalog import write_table_atomic

    path = quality_file(data_dir, pipeline)
    write_table_atomic(table, path)
    return path


def _stats(totals: list[int]) -> dict[str, Any]:
    bands = {name: 0 for name, _ in BANDS}
    for t in totals:
        bands[rating(t)] += 1
    return {
        "datasets": len(totals),
        "mean": round(statistics.fmean(totals), 1) if totals else None,
        "median": statistics.median(totals) if totals else None,
        "min": min(totals, default=None),
        "max": max(totals, default=None),
        "ratings": bands,
    }


def summary(table: pa.Table, worst: int = 10) -> dict[str, Any]:
    """Mean and distribution of the scores (MQA's ratings), per source, per indicator, and the worst datasets."""
    rows = table.to_pylist()
    per_source: dict[str, list[int]] = {}
    for r in rows:
        for sid in r["source_ids"] or []:
            per_source.setdefault(sid, []).append(r["total"])
    indicators = {
        name: {"max": w, "datasets_with_points": sum(1 for r in rows if r[name] > 0)}
        for name, w in INDICATORS.items()
    }
    low = sorted(rows, key=lambda r: (r["total"], r["merged_key"]))[:worst]
    return {
        "max_score": MAX_SCORE,
        **_stats([r["total"] for r in rows]),
        "sources": {sid: _stats(t) for sid, t in sorted(per_source.items())},
        "indicators": indicators,
        "worst": [
            {
                "merged_key": r["merged_key"],
                "title": r["title"],
                "total": r["total"],
                "rating": r["rating"],
                "missing": {n: d["why"] for n, d in json.loads(r["details"]).items() if d["points"] == 0},
            }
            for r in low
        ],
    }


def run_quality(data_dir: Path, pipeline: str, worst: int = 10) -> dict[str, Any]:
    table = compute(data_dir, pipeline)
    path = write(data_dir, pipeline, table)
    return {"pipeline": pipeline, "path": str(path), **summary(table, worst)}


def ckan_extra(data_dir: Path, pipeline: str, merged_key: str) -> dict[str, str]:
    """`{"quality_score": "312/405", "quality_rating": "good"}` for a merged key, from quality.parquet ({} when
    the dataset was not scored)."""
    path = quality_file(data_dir, pipeline)
    if not path.exists():
        return {}
    table = store.read_table(
        path, columns=["merged_key", "total", "rating"], filters=[("merged_key", "=", merged_key)]
    )
    if not table.num_rows:
        return {}
    row = table.to_pylist()[0]
    return {"quality_score": f"{row['total']}/{MAX_SCORE}", "quality_rating": row["rating"]}


def quality_extras(data_dir: Path, pipeline: str) -> dict[str, list[tuple[str, str]]]:
    """Score the pipeline's merge now (writing quality.parquet) and give each merged key its two CKAN extras."""
    table = compute(data_dir, pipeline)
    write(data_dir, pipeline, table)
    return {
        r["merged_key"]: [("quality_rating", r["rating"]), ("quality_score", f"{r['total']}/{MAX_SCORE}")]
        for r in table.select(["merged_key", "total", "rating"]).to_pylist()
    }
