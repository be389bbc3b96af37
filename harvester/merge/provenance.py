"""The merged files: schemas, and the rows of datasets, resources and provenance built from the decisions."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from harvester.merge.blocking import Edge
from harvester.merge.identity import assign_keys, withdrawn_groups
from harvester.merge.precedence import fill, rank, union_resources
from harvester.merge.rules import STRENGTH, MergeRecord
from harvester.schema import DATASETS, RESOURCES, TABLE_FIELDS

_KEEP = [f for f in DATASETS if f.name not in ("dataset_key", "raw")]

MERGED_DATASETS = pa.schema(
    [
        pa.field("merged_key", pa.string(), nullable=False),  # stable: see harvester/merge/identity.py
        *_KEEP,
        pa.field("dataset_keys", pa.list_(pa.string())),  # every contributing record, the winner first
        pa.field("source_ids", pa.list_(pa.string())),
        pa.field("filled_from", pa.map_(pa.string(), pa.string())),  # field -> dataset_key it was taken from
    ]
)
MERGED_RESOURCES = pa.schema([pa.field("merged_key", pa.string(), nullable=False), *RESOURCES, *TABLE_FIELDS])
PROVENANCE = pa.schema(
    [
        pa.field("merged_key", pa.string(), nullable=False),
        pa.field("dataset_key", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("remote_id", pa.string(), nullable=False),
        pa.field("remote_url", pa.string()),
        pa.field("rule", pa.string(), nullable=False),  # single | harvest_provenance | … | withdrawn
        pa.field("score", pa.float64(), nullable=False),
        pa.field("linked_to", pa.string()),  # the record of the group it was linked to by that rule
        pa.field("key", pa.string()),  # the shared key, or the two titles compared
        pa.field("won", pa.bool_(), nullable=False),
    ]
)


def best_edges(edges: list[Edge]) -> dict[int, Edge]:
    """Per record, the strongest edge touching it (the rule that put it in its dataset)."""
    best: dict[int, Edge] = {}
    for e in edges:
        for i in (e.a, e.b):
            cur = best.get(i)
            if cur is None or (STRENGTH[e.rule], -e.score) < (STRENGTH[cur.rule], -cur.score):
                best[i] = e
    return best


def merged_hash(merged_key: str, rows: list[dict[str, Any]]) -> str | None:
    """A dataset made of one record keeps that record's hash; else a hash of its records' hashes, in rank order
    (the merged content is a function of them), so that any change of a contributing record changes it."""
    if len(rows) == 1:
        return rows[0].get("metadata_hash")
    parts = [merged_key, *(f"{r['dataset_key']}={r.get('metadata_hash') or ''}" for r in rows)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def build_tables(
    groups: list[list[int]],
    edges: list[Edge],
    records: list[MergeRecord],
    rows: list[dict[str, Any]],
    resources: dict[str, list[dict[str, Any]]],
    precedence: list[str],
    previous: dict[str, str] | None = None,
    withdrawn: list[dict[str, Any]] | None = None,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """`previous`: dataset key → merged key of the last merge; `withdrawn`: rows withdrawn at their source."""
    previous = previous or {}
    by_group: dict[int, list[Edge]] = {}
    where = {i: g[0] for g in groups for i in g}
    for edge in edges:
        by_group.setdefault(where[edge.a], []).append(edge)
    ds_rows: list[dict[str, Any]] = []
    res_rows: list[dict[str, Any]] = []
    prov_rows: list[dict[str, Any]] = []
    ranked_groups = [rank(g, records, by_group.get(g[0], []), precedence) for g in groups]
    keys = assign_keys([[records[i].key for i in r] for r in ranked_groups], previous)
    for g, ranked, merged_key in zip(groups, ranked_groups, keys, strict=True):
        g_edges = by_group.get(g[0], [])
        row = fill([rows[i] for i in ranked])
        row["merged_key"] = merged_key
        row["metadata_hash"] = merged_hash(merged_key, [rows[i] for i in ranked])
        row["dataset_keys"] = [records[i].key for i in ranked]
        row["source_ids"] = list(dict.fromkeys(records[i].source_id for i in ranked))
        ds_rows.append(row)
        res = union_resources([resources.get(records[i].key, []) for i in ranked])
        res_rows += [{**r, "merged_key": merged_key} for r in res]
        best = best_edges(g_edges)
        for i in ranked:
            e: Edge | None = best.get(i)
            other = None if e is None else (e.b if e.a == i else e.a)
            prov_rows.append(
                {
                    "merged_key": merged_key,
                    "dataset_key": records[i].key,
                    "source_id": records[i].source_id,
                    "remote_id": records[i].remote_id,
                    "remote_url": records[i].remote_url,
                    "rule": e.rule if e else "single",
                    "score": e.score if e else 1.0,
                    "linked_to": records[other].key if other is not None else None,
                    "key": e.key if e else None,
                    "won": i == ranked[0],
                }
            )
    gone = {r["dataset_key"]: r for r in withdrawn or []}
    live = {r.key for r in records}
    for merged_key, members in withdrawn_groups(list(gone), live, set(keys), previous).items():
        first = gone[members[0]]
        ds_rows.append(
            {**first, "merged_key": merged_key, "dataset_keys": members, "filled_from": [],
             "source_ids": list(dict.fromkeys(gone[k]["source_id"] for k in members))}
        )  # fmt: skip
        for k in members:
            prov_rows.append(
                {"merged_key": merged_key, "dataset_key": k, "source_id": gone[k]["source_id"],
                 "remote_id": gone[k]["remote_id"], "remote_url": gone[k]["remote_url"], "rule": "withdrawn", "score": 1.0, "linked_to": None,
                 "key": None, "won": k == members[0]}
            )  # fmt: skip
    ds_rows.sort(key=lambda r: r["merged_key"])
    res_rows.sort(key=lambda r: (r["merged_key"], r["resource_key"]))
    prov_rows.sort(key=lambda r: (r["merged_key"], not r["won"], r["dataset_key"]))
    return (
        pa.Table.from_pylist(ds_rows, schema=MERGED_DATASETS),
        pa.Table.from_pylist(res_rows, schema=MERGED_RESOURCES),
        pa.Table.from_pylist(prov_rows, schema=PROVENANCE),
    )
