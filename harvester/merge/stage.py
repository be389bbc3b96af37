"""The merge stage: catalogues of a pipeline's sources → merged/<pipeline>/{datasets,resources,provenance}.parquet.

Shaped like the other stages: `plan_units` (one unit per pipeline: matching needs every source at once),
module-level `run_unit(unit, spec)` reading the catalogues and returning the decisions as tables, `commit`
writing them in the parent (temp files then renames; a file whose bytes would not change is not rewritten).
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from harvester.catalog import read_catalog
from harvester.config import Config
from harvester.layout import merged_dir
from harvester.merge.blocking import Edge
from harvester.merge.keys import host_of, norm_url
from harvester.merge.provenance import build_tables
from harvester.merge.rules import MergeRecord, is_our_copy
from harvester.merge.scoring import decide
from harvester.normalise.index import table_columns
from harvester.pipelines import PipelineConfig
from harvester.runs import stage_exit_code
from harvester.runtime import RuntimeSpec

log = logging.getLogger(__name__)

FILES = ("datasets", "resources", "provenance")
_DATASET_COLUMNS = [
    "dataset_key",
    "source_id",
    "remote_id",
    "name",
    "title",
    "description",
    "landing_page",
    "remote_url",
    "publisher",
    "contact_email",
    "keywords",
    "themes",
    "license_raw",
    "license_id",
    "issued",
    "modified",
    "frequency",
    "spatial",
    "extras",
    "metadata_hash",
    "harvested_at",
    "withdrawn_at",
]


@dataclass(frozen=True)
class SourceInfo:
    id: str
    type: str
    host: str


@dataclass(frozen=True)
class MergeUnit:
    pipeline: str
    sources: tuple[SourceInfo, ...]
    precedence: tuple[str, ...]
    title_threshold: float


@dataclass
class Inputs:
    records: list[MergeRecord] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class MergeOutcome:
    pipeline: str
    tables: dict[str, pa.Table]
    counts: dict[str, dict[str, int]]
    rules: dict[str, int]
    rejected: list[Edge]
    seconds: float
    written: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "merge"

    def statuses(self) -> list[str]:
        """One unit, the pipeline: a merge that returned is ok (a failure raises)."""
        return ["ok"]

    @property
    def exit_code(self) -> int:
        return stage_exit_code(self.statuses())

    def to_dict(self) -> dict[str, Any]:
        ds = self.tables["datasets"]
        return {
            "pipeline": self.pipeline,
            "records": sum(c["used"] for c in self.counts.values()),
            "merged_datasets": ds.num_rows,
            "multi_source_datasets": sum(1 for k in ds.column("dataset_keys").to_pylist() if len(k) > 1),
            "resources": self.tables["resources"].num_rows,
            "links_by_rule": self.rules,
            "rejected_candidates": len(self.rejected),
            "sources": self.counts,
            "written": self.written,
            "seconds": round(self.seconds, 3),
        }


def plan_units(cfg: Config, pipeline: PipelineConfig) -> list[MergeUnit]:
    configs = [cfg.source(sid) for sid in pipeline.sources]
    sources = tuple(SourceInfo(s.id, s.type, host_of(s.url)) for s in configs)
    return [
        MergeUnit(pipeline.name, sources, tuple(pipeline.merge.precedence), pipeline.merge.title_threshold)
    ]


def load_inputs(data_dir: Path, sources: tuple[SourceInfo, ...]) -> Inputs:
    """Live records of every source; withdrawn ones and copies of what we publish are counted, not used."""
    out = Inputs()
    for rank, s in enumerate(sources):
        counts = {"records": 0, "used": 0, "withdrawn": 0, "our_copies": 0}
        out.counts[s.id] = counts
        snap = read_catalog(data_dir, s.id)
        if snap is None:
            continue
        datasets, resources = snap
        rows = datasets.select(_DATASET_COLUMNS).to_pylist()
        keep: set[str] = set()
        for row in rows:
            counts["records"] += 1
            extras = dict(row["extras"] or [])
            if row["withdrawn_at"] is not None:
                counts["withdrawn"] += 1
                continue
            if is_our_copy(extras):
                counts["our_copies"] += 1
                continue
            counts["used"] += 1
            keep.add(row["dataset_key"])
            out.rows.append(row)
            out.records.append(
                MergeRecord(
                    key=row["dataset_key"],
                    source_id=s.id,
                    remote_id=row["remote_id"],
                    title=row["title"] or row["remote_id"],
                    publisher=row["publisher"] or "",
                    source_host=s.host,
                    source_type=s.type,
                    source_rank=rank,
                    name=row["name"],
                    remote_url=row["remote_url"],
                    landing_page=row["landing_page"],
                    extras=extras,
                )
            )
        kept = [r for r in resources.to_pylist() if r["dataset_key"] in keep]
        for r in table_columns(data_dir, s.id, kept):  # the normalised table of each, from normalise's index
            out.resources.setdefault(r["dataset_key"], []).append(r)
    for rec in out.records:
        urls = (norm_url(r.get("url")) for r in out.resources.get(rec.key, []))
        rec.resource_urls = frozenset(u for u in urls if u)
    return out


def merge_inputs(unit: MergeUnit, inputs: Inputs) -> MergeOutcome:
    t0 = time.monotonic()
    decisions = decide(inputs.records, unit.title_threshold)
    tables = build_tables(
        decisions.groups,
        decisions.edges,
        inputs.records,
        inputs.rows,
        inputs.resources,
        list(unit.precedence),
    )
    rules: dict[str, int] = {}
    for e in decisions.edges:
        rules[e.rule] = rules.get(e.rule, 0) + 1
    return MergeOutcome(
        unit.pipeline,
        dict(zip(FILES, tables, strict=True)),
        inputs.counts,
        dict(sorted(rules.items())),
        decisions.rejected,
        time.monotonic() - t0,
    )


def run_unit(unit: MergeUnit, spec: RuntimeSpec) -> MergeOutcome:
    t0 = time.monotonic()
    inputs = load_inputs(spec.data, unit.sources)
    log.info(
        "merge %s: matching %d records of %d sources", unit.pipeline, len(inputs.records), len(unit.sources),
        extra={"stage": "merge", "event": "merge_matching"},
    )  # fmt: skip
    outcome = merge_inputs(unit, inputs)
    outcome.seconds = time.monotonic() - t0
    return outcome


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def commit(outcomes: list[MergeOutcome], data_dir: Path) -> list[MergeOutcome]:
    """Write each pipeline's three files: every changed file to a temp file first, then all renamed."""
    for o in outcomes:
        d = merged_dir(data_dir, o.pipeline)
        d.mkdir(parents=True, exist_ok=True)
        staged: list[tuple[Path, Path]] = []
        try:
            for name in FILES:
                path = d / f"{name}.parquet"
                data = _parquet_bytes(o.tables[name])
                if path.exists() and path.read_bytes() == data:
                    continue
                tmp = d / f".{name}.parquet.{os.getpid()}.tmp"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                staged.append((tmp, path))
            for tmp, path in staged:
                os.replace(tmp, path)
                o.written.append(path.name)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
    return outcomes


def merge_pipeline(cfg: Config, pipeline: PipelineConfig, data_dir: Path) -> MergeOutcome:
    from harvester.runner import run_units

    spec = RuntimeSpec.for_data_dir(data_dir)
    outcomes = run_units(run_unit, plan_units(cfg, pipeline), spec, workers=1)
    return commit(outcomes, data_dir)[0]
