"""The merge stage on 50,000 records: time, candidate pairs compared (no all-pairs comparison), precision, recall.

Records come from the merge evaluation set (tests/merge/eval/: real corpus records and their aggregator copies,
as the connectors map them), cloned into as many territories as needed: clone `c` of every record gets its ids
and URLs rewritten the same way everywhere (a claim still names its origin, a copy's file still is the origin's),
its publisher named after territory `c`, so each clone is a new set of datasets with the same duplicates and
look-alikes. The ground truth (entity of every record) gives precision and recall over pairs.

Timed: what `harvester merge` does: reading the catalogues (`load_inputs`), merging (`merge_inputs`: keys,
blocking, scoring, precedence, tables) and writing `merged/<pipeline>/` (`commit`).
`python -m bench merge` runs this section only; BENCH_MERGE_RECORDS sets the size.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harvester.merge import rules
from harvester.merge.stage import commit
from tests.merge.evaluation import EVAL, merge, write_catalogues

RECORDS = int(os.environ.get("BENCH_MERGE_RECORDS", "50000"))
GOAL_SECONDS = 30.0
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_HEX24 = re.compile(r"^[0-9a-f]{24}$", re.I)
# extras whose value names a record: the merge's own lists (rules.py), and every URL
ID_KEYS = frozenset(
    (*rules.ID_EXTRAS, *rules.IDENT_EXTRAS, "ods_dataset_id", "ods_source_dataset", "udata:slug")
)


def _id(value: str, c: int) -> str:
    if c == 0:
        return value
    if _UUID.match(value):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{value}#{c}"))
    if _HEX24.match(value):
        return hashlib.sha1(f"{value}#{c}".encode()).hexdigest()[:24]
    if "://" in value:
        return _url(value, c)
    return f"{value}-c{c}"


def _url(value: str | None, c: int) -> str | None:
    if not value or c == 0 or "://" not in value:
        return value
    p = urlsplit(value)
    return urlunsplit((p.scheme, p.netloc, f"/c{c}{p.path}", p.query, p.fragment))


def clone(r: dict[str, Any], c: int) -> dict[str, Any]:
    ex = {k: _id(v, c) if k in ID_KEYS else _url(v, c) or v for k, v in r["extras"].items()}
    publisher = r["publisher"]
    if c:
        publisher = f"{publisher} (territoire {c})" if publisher else None
    rid = _id(r["remote_id"], c)
    return {
        **r,
        "key": f"{r['source']['id']}:{rid}",
        "entity": f"{r['entity']}#{c}",
        "remote_id": rid,
        "name": _id(r["name"], c) if r["name"] else None,
        "publisher": publisher,
        "landing_page": _url(r["landing_page"], c),
        "remote_url": _url(r["remote_url"], c),
        "extras": ex,
        "resources": [_url(u, c) for u in r["resources"]],
    }


def records(n: int) -> list[dict[str, Any]]:
    import json

    with open(EVAL / "records.jsonl", encoding="utf-8") as fh:
        base = [json.loads(line) for line in fh]
    out: list[dict[str, Any]] = []
    c = 0
    while len(out) < n:
        out += [clone(r, c) for r in base]
        c += 1
    return out[:n]


def _pairs(counts: Counter[str]) -> int:
    return sum(k * (k - 1) // 2 for k in counts.values())


def run(out_dir: Path) -> str:
    data = out_dir / "merge-data"
    shutil.rmtree(data, ignore_errors=True)
    recs = records(RECORDS)
    t0 = time.monotonic()
    sources = write_catalogues(data, recs)
    t_write = time.monotonic() - t0
    load_before = os.getloadavg()
    t0, cpu0 = time.monotonic(), time.process_time()
    outcome = merge(data, sources)  # load_inputs (read the catalogues) + merge_inputs
    t_decide = outcome.seconds  # merge_inputs alone
    t1 = time.monotonic()
    commit([outcome], data)  # the three files of merged/<pipeline>/
    t_commit = time.monotonic() - t1
    t_merge, cpu = time.monotonic() - t0, time.process_time() - cpu0
    load_after = os.getloadavg()
    # score: pairs of records in one merged dataset, by entity
    entity = {r["key"]: r["entity"] for r in recs}
    groups: dict[str, list[str]] = defaultdict(list)
    for p in outcome.tables["provenance"].to_pylist():
        groups[p["merged_key"]].append(p["dataset_key"])
    merged_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    true_merged = sum(_pairs(Counter(entity[k] for k in g)) for g in groups.values())
    true_pairs = _pairs(Counter(entity.values()))
    unreachable = {r["entity"] for r in recs if "unlinkable" in r["kind"]}
    reach_pairs = _pairs(Counter(e for e in entity.values() if e not in unreachable))
    reach_merged = sum(
        _pairs(Counter(entity[k] for k in g if entity[k] not in unreachable)) for g in groups.values()
    )
    precision = true_merged / merged_pairs if merged_pairs else 1.0
    recall_all = true_merged / true_pairs if true_pairs else 1.0
    recall = reach_merged / reach_pairs if reach_pairs else 1.0
    compared = outcome.compared
    n = sum(c["used"] for c in outcome.counts.values())
    all_pairs = n * (n - 1) // 2
    candidates = compared["identifier_pairs"] + compared["resource_pairs"] + compared["title_pairs_scored"]
    shutil.rmtree(data, ignore_errors=True)
    verdict = "meets" if t_merge < GOAL_SECONDS else "MISSES"
    return f"""## merge

{n:,} records in {len(sources)} sources ({len(groups):,} merged datasets), built from the merge evaluation set
(`tests/merge/eval/`, real corpus records and their aggregator copies) cloned into {recs[-1]["entity"].rsplit("#", 1)[-1]}
territories with ids, URLs and publishers rewritten per clone (see `bench/merge.py`). Run alone with
`python -m bench merge` (`BENCH_MERGE_RECORDS` sets the size).

| measure | value |
|---|---|
| **merge time**, wall clock: read the catalogues, merge, write `merged/` (goal < {GOAL_SECONDS:.0f} s: {verdict}) | **{t_merge:.1f} s** |
| of which `merge_inputs` (keys, blocking, scoring, precedence, tables) / writing the files | {t_decide:.1f} s / {t_commit:.1f} s |
| CPU time of the process over the same span | {cpu:.1f} s |
| record pairs met on a shared identifier / provenance key | {compared["identifier_pairs"]:,} |
| record pairs met on a shared resource URL | {compared["resource_pairs"]:,} |
| title pairs scored inside publisher blocks (candidates above the threshold) | {compared["title_pairs_scored"]:,} ({compared["title_candidates"]:,}) |
| pairs compared in all / all pairs of records | {candidates:,} / {all_pairs:,} ({candidates / all_pairs:.5%}) |
| precision over pairs | {precision:.4f} ({merged_pairs - true_merged:,} false of {merged_pairs:,} merged pairs) |
| recall over pairs within reach of the rules | {recall:.4f} ({reach_merged:,} of {reach_pairs:,}) |
| recall over all pairs (with copies unlinkable on purpose) | {recall_all:.4f} ({true_merged:,} of {true_pairs:,}) |

Load average (1, 5, 15 min) before {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f}, after
{load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} on {os.cpu_count()} cores: the machine is shared,
times are wall-clock under that load. Writing the catalogues beforehand (not timed): {t_write:.0f} s.
"""
