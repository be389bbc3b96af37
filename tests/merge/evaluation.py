"""Run the merge stage on one part of the evaluation set (tests/merge/eval/) and score it over pairs.

The records are written as real catalogues (one per source, through the catalogue code), read back by the merge
stage's own `load_inputs` and merged by `merge_inputs`: the code path of `harvester merge`.

Precision = merged duplicate pairs / every merged pair (a merged pair of two distinct datasets counts against it,
labelled look-alike or not). Recall = merged duplicate pairs / labelled duplicate pairs, over the pairs within
reach of the rules (`reach == "rules"`) and over all (`recall_all`: with the copies made unlinkable on purpose).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester.catalog import Defaults, record_rows, write_catalog
from harvester.merge.keys import host_of
from harvester.merge.stage import MergeOutcome, MergeUnit, SourceInfo, load_inputs, merge_inputs
from harvester.records import DatasetRecord, ResourceRef
from harvester.schema import DATASETS, RESOURCES

EVAL = Path(__file__).parent / "eval"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Score:
    split: str
    records: int
    duplicate_pairs: int
    distinct_pairs: int
    true_merges: int
    false_merges: list[tuple[str, str, str]] = field(default_factory=list)  # (a, b, kind or "unlabelled")
    titles: dict[str, str] = field(default_factory=dict)
    missed: list[dict[str, str]] = field(default_factory=list)
    out_of_reach: int = 0  # duplicate pairs with no evidence any rule uses
    true_out_of_reach: int = 0
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        merged = self.true_merges + len(self.false_merges)
        return self.true_merges / merged if merged else 1.0

    @property
    def recall(self) -> float:
        reach = self.duplicate_pairs - self.out_of_reach
        return (self.true_merges - self.true_out_of_reach) / reach if reach else 1.0

    @property
    def recall_all(self) -> float:
        return self.true_merges / self.duplicate_pairs if self.duplicate_pairs else 1.0

    def summary(self) -> str:
        return (
            f"{self.split}: {self.records} records, {self.duplicate_pairs} duplicate pairs, "
            f"{self.distinct_pairs} distinct look-alike pairs; precision {self.precision:.4f}, "
            f"recall {self.recall:.4f} ({self.out_of_reach} pairs out of reach left out; with them "
            f"{self.recall_all:.4f}); {len(self.false_merges)} false merges, {len(self.missed)} missed pairs"
        )

    def misses(self) -> str:
        lines = [self.summary()]
        for a, b, kind in self.false_merges:
            lines.append(f"  FALSE MERGE [{kind}] {self.titles[a]!r} ({a}) + {self.titles[b]!r} ({b})")
        for p in self.missed:
            tag = "MISSED" if p["reach"] == "rules" else "missed (out of reach)"
            lines.append(f"  {tag} [{p['kind']}] {p['a_title']!r} ({p['a']}) / {p['b_title']!r} ({p['b']})")
        return "\n".join(lines)


def load_records(split: str) -> list[dict[str, Any]]:
    with open(EVAL / "records.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [r for r in rows if r["split"] == split]


def load_pairs(split: str) -> list[dict[str, str]]:
    with open(EVAL / "pairs.csv", encoding="utf-8", newline="") as fh:
        return [p for p in csv.DictReader(fh) if p["split"] == split]


def _record(r: dict[str, Any]) -> DatasetRecord:
    return DatasetRecord(
        source_id=r["source"]["id"],
        remote_id=r["remote_id"],
        name=r["name"],
        title=r["title"],
        publisher=r["publisher"],
        landing_page=r["landing_page"],
        remote_url=r["remote_url"],
        extras=r["extras"],
        resources=tuple(ResourceRef(url=u) for u in r["resources"]),
    )


def write_catalogues(data: Path, records: list[dict[str, Any]]) -> tuple[SourceInfo, ...]:
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    info: dict[str, SourceInfo] = {}
    for r in records:
        s = r["source"]
        by_source[s["id"]].append(r)
        info[s["id"]] = SourceInfo(s["id"], s["type"], host_of(s["url"]))
    for sid, recs in sorted(by_source.items()):
        rows, res = [], []
        for r in recs:
            row, resources = record_rows(_record(r), Defaults(), NOW)
            rows.append(row)
            res += resources
        write_catalog(
            data,
            sid,
            pa.Table.from_pylist(rows, schema=DATASETS),
            pa.Table.from_pylist(res, schema=RESOURCES),
        )
    return tuple(info[s] for s in sorted(info))


def merge(data: Path, sources: tuple[SourceInfo, ...], title_threshold: float = 92.0) -> MergeOutcome:
    unit = MergeUnit("eval", sources, (), title_threshold)
    return merge_inputs(unit, load_inputs(data, sources))


def score(split: str, tmp: Path) -> Score:
    records = load_records(split)
    pairs = load_pairs(split)
    outcome = merge(tmp, write_catalogues(tmp, records))
    group: dict[str, str] = {}
    members: dict[str, list[str]] = defaultdict(list)
    for p in outcome.tables["provenance"].to_pylist():
        group[p["dataset_key"]] = p["merged_key"]
        members[p["merged_key"]].append(p["dataset_key"])
    entity = {r["key"]: r["entity"] for r in records}
    labels = {tuple(sorted((p["a"], p["b"]))): p for p in pairs}
    dup = [p for p in pairs if p["label"] == "duplicate"]
    s = Score(split, len(records), len(dup), len(pairs) - len(dup), 0, seconds=outcome.seconds)
    s.titles = {r["key"]: r["title"] for r in records}
    for keys in members.values():
        for a, b in combinations(sorted(keys), 2):
            if entity[a] == entity[b]:
                s.true_merges += 1
            else:
                lab = labels.get((a, b))
                s.false_merges.append((a, b, lab["kind"] if lab else "unlabelled"))
    s.missed = [p for p in dup if group[p["a"]] != group[p["b"]]]
    s.out_of_reach = sum(p["reach"] == "none" for p in dup)
    s.true_out_of_reach = sum(p["reach"] == "none" and group[p["a"]] == group[p["b"]] for p in dup)
    return s
