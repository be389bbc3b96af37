"""The merge stage: catalogues of a pipeline's sources → merged/<pipeline>/{datasets,resources,provenance}.parquet.

Shaped like the other stages: `plan_units` (one unit per pipeline: matching needs every source at once),
module-level `run_unit(unit, spec)` reading the catalogues and returning the decisions as tables, `commit`
writing them in the parent (temp files then renames; a file whose bytes would not change is not rewritten).
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from harvester import store
from harvester.catalog import read_catalog
from harvester.config import Config
from harvester.layout import datasets_file, merged_dir, resources_file
from harvester.merge.blocking import Edge
from harvester.merge.identity import previous_keys
from harvester.merge.keys import host_of, norm_url
from harvester.merge.provenance import build_tables
from harvester.merge.rules import RULES, MergeRecord, is_our_copy
from harvester.merge.scoring import decide
from harvester.normalise.index import table_columns
from harvester.pipelines import PipelineConfig
from harvester.runs import stage_exit_code
from harvester.runtime import RuntimeSpec

log = logging.getLogger(__name__)

FILES = ("datasets", "resources", "provenance")
STAMP = "inputs.json"  # what the files were merged from: `is_fresh` compares it with the inputs of now
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
    rules: tuple[str, ...] = RULES  # () is an identity merge


@dataclass
class Inputs:
    records: list[MergeRecord] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    withdrawn: list[dict[str, Any]] = field(default_factory=list)  # rows withdrawn at their source


@dataclass
class MergeOutcome:
    pipeline: str
    tables: dict[str, pa.Table]
    counts: dict[str, dict[str, int]]
    rules: dict[str, int]
    rejected: list[Edge]
    seconds: float
    written: list[str] = field(default_factory=list)
    stamp: dict[str, Any] = field(default_factory=dict)
    report_path: str | None = None  # runs/<run_id>/merge-report.json when a run wrote one
    kind: ClassVar[str] = "merge"

    def statuses(self) -> list[str]:
        """One unit, the pipeline: a merge that returned is ok (a failure raises)."""
        return ["ok"]

    @property
    def exit_code(self) -> int:
        return stage_exit_code(self.statuses())

    compared: dict[str, int] = field(default_factory=dict)  # candidate pairs by kind (scoring.Decisions)
    retried: list[dict[str, Any]] = field(default_factory=list)  # the unit, when a Dask cluster ran it twice

    def to_dict(self) -> dict[str, Any]:
        ds = self.tables["datasets"]
        live = [k for k, w in zip(ds.column("dataset_keys").to_pylist(), ds.column("withdrawn_at").to_pylist(), strict=True) if w is None]  # fmt: skip
        return {
            "pipeline": self.pipeline,
            "records": sum(c["used"] for c in self.counts.values()),
            "merged_datasets": len(live),
            "multi_source_datasets": sum(1 for k in live if len(k) > 1),
            "withdrawn_datasets": ds.num_rows - len(live),
            "resources": self.tables["resources"].num_rows,
            "links_by_rule": self.rules,
            "rejected_candidates": len(self.rejected),
            "compared": self.compared,
            "sources": self.counts,
            "written": self.written,
            "retried": self.retried,
            "seconds": round(self.seconds, 3),
            **({"report_path": self.report_path} if self.report_path else {}),
        }


def plan_units(cfg: Config | None, pipeline: PipelineConfig) -> list[MergeUnit]:
    """One unit for the pipeline. Without `cfg` (a library caller), sources are known by id only: their portal's
    host and type, which some rules use, are then unknown."""
    if cfg is None:
        sources = tuple(SourceInfo(sid, "", "") for sid in pipeline.sources)
    else:
        configs = [cfg.source(sid) for sid in pipeline.sources]
        sources = tuple(SourceInfo(s.id, s.type, host_of(s.url)) for s in configs)
    m = pipeline.merge
    return [MergeUnit(pipeline.name, sources, tuple(m.precedence), m.title_threshold, tuple(m.rules))]


def fingerprint(data_dir: Path, unit: MergeUnit) -> dict[str, Any]:
    """The unit's settings and, per source, the size and mtime of its catalogue files."""
    files: dict[str, list[list[Any]]] = {}
    for s in unit.sources:
        files[s.id] = [
            [p.name, st.st_size, st.st_mtime_ns]
            for p in (datasets_file(data_dir, s.id), resources_file(data_dir, s.id))
            if p.exists() and (st := p.stat())
        ]
    settings = {"precedence": unit.precedence, "threshold": unit.title_threshold, "rules": unit.rules,
                "sources": [[s.id, s.type, s.host] for s in unit.sources]}  # fmt: skip
    return {"version": 1, "settings": json.loads(json.dumps(settings)), "catalog": files}


def is_fresh(data_dir: Path, unit: MergeUnit) -> bool:
    """True when merged/<pipeline>/ was written from the catalogues and settings there are now."""
    d = merged_dir(data_dir, unit.pipeline)
    if not all((d / f"{name}.parquet").exists() for name in FILES):
        return False
    try:
        stamp = json.loads((d / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(stamp == fingerprint(data_dir, unit))


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
                out.withdrawn.append(row)
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


def merge_inputs(unit: MergeUnit, inputs: Inputs, previous: dict[str, str] | None = None) -> MergeOutcome:
    t0 = time.monotonic()
    decisions = decide(inputs.records, unit.title_threshold, unit.rules)
    tables = build_tables(
        decisions.groups,
        decisions.edges,
        inputs.records,
        inputs.rows,
        inputs.resources,
        list(unit.precedence),
        previous,
        inputs.withdrawn,
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
        compared=decisions.compared,
    )


def run_unit(unit: MergeUnit, spec: RuntimeSpec) -> MergeOutcome:
    t0 = time.monotonic()
    stamp = fingerprint(
        spec.data, unit
    )  # before reading: a catalogue written meanwhile makes the merge stale
    previous = previous_keys(merged_dir(spec.data, unit.pipeline))
    inputs = load_inputs(spec.data, unit.sources)
    log.info(
        "merge %s: matching %d records of %d sources", unit.pipeline, len(inputs.records), len(unit.sources),
        extra={"stage": "merge", "event": "merge_matching"},
    )  # fmt: skip
    outcome = merge_inputs(unit, inputs, previous)
    outcome.seconds = time.monotonic() - t0
    outcome.stamp = stamp
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
                tmp = store.tmp_or(d / f".{name}.parquet.{os.getpid()}.tmp", path)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                staged.append((tmp, path))
            for tmp, path in staged:
                store.commit(tmp, path)
                o.written.append(path.name)
            if o.stamp:
                (d / STAMP).write_text(json.dumps(o.stamp), encoding="utf-8")
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
    return outcomes


def merge_pipeline(cfg: Config | None, pipeline: PipelineConfig, data_dir: Path) -> MergeOutcome:
    from harvester.runner import run_units, take_retried

    spec = RuntimeSpec.for_data_dir(data_dir)
    outcomes = run_units(run_unit, plan_units(cfg, pipeline), spec, workers=1)
    outcome = commit(outcomes, data_dir)[0]
    outcome.retried = take_retried()
    return outcome


def ensure_merged(cfg: Config | None, pipeline: PipelineConfig, data_dir: Path) -> MergeOutcome | None:
    """Merge unless merged/<pipeline>/ is fresh; the outcome of the merge it ran, None when it was fresh."""
    if is_fresh(data_dir, plan_units(cfg, pipeline)[0]):
        return None
    return merge_pipeline(cfg, pipeline, data_dir)
